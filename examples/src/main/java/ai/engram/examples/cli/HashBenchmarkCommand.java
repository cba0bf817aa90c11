package ai.engram.examples.cli;

import ai.engram.config.EngramConfig;
import ai.engram.data.NpmPackageFile;
import ai.engram.hash.NgramHasher;
import ai.engram.io.TemporaryDirectory;
import ai.engram.tokenizer.CompressedVocabulary;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;

/**
 * Hashing throughput of {@link NgramHasher} against the reference formula in plain numpy, on the same ids in
 * the same run, for the Engram-27B hashing config (N = 3, K = 8, layers [2, 15], DeepSeek-V3 compression).
 * Both sides include the compression lookup; a checksum proves they computed the same indices.
 */
@Command(name = "bench-hash", mixinStandardHelpOptions = true,
        description = "Benchmark N-gram hashing (Java vs. numpy, same ids, same run).")
final class HashBenchmarkCommand implements Callable<Integer> {

    private static final BigInteger CHECKSUM_MODULUS = BigInteger.ONE.shiftLeft(61);

    @Spec
    CommandSpec spec;

    @Option(names = "--tokens", description = "Tokens per hashing call (default ${DEFAULT-VALUE})")
    int tokens = 1 << 20;

    @Option(names = "--seq-len", description = "Sequence length T; batch = tokens / T (default ${DEFAULT-VALUE})")
    int seqLen = 4096;

    @Option(names = "--repeats", description = "Timed repetitions per contender (default ${DEFAULT-VALUE})")
    int repeats = 15;

    @Option(names = "--python", description = "Python with numpy (default ${DEFAULT-VALUE})")
    String python = "python3";

    @Override
    public Integer call() throws Exception {
        if (tokens < seqLen || tokens % seqLen != 0 || repeats < 1) {
            throw new IllegalArgumentException("--tokens must be a positive multiple of --seq-len and --repeats >= 1");
        }
        PrintWriter out = spec.commandLine().getOut();
        EngramConfig config = EngramConfig.builder()
                .engramVocabSize(2_262_400, 2_262_400).maxNgramSize(3).nHeadPerNgram(8).nEmbedPerNgram(640)
                .layerIds(2, 15).padId(2).seed(0).build();
        CompressedVocabulary vocabulary =
                CompressedVocabulary.fromTokenizer(NpmPackageFile.DEEPSEEK_V3_TOKENIZER.resolve());
        NgramHasher hasher = new NgramHasher(config, vocabulary);
        int batch = tokens / seqLen;
        long[] ids = new SplittableRandom(0).longs(tokens, 0, vocabulary.rawSize()).toArray();

        int cores = Runtime.getRuntime().availableProcessors();
        // hashAll allocates fresh int64 outputs like numpy does; hashAllInto fills reused int32 buffers like
        // the prefetcher does.
        int[][] buffers = new int[hasher.getLayerIds().length][tokens * hasher.headsPerLayer()];
        Runnable allocating = () -> hasher.hashAll(ids, batch, seqLen);
        Runnable reusing = () -> hasher.hashAllInto(ids, batch, seqLen, buffers);
        ForkJoinPool single = new ForkJoinPool(1);
        Timing[] timings = {
            time(allocating, single), time(allocating, ForkJoinPool.commonPool()),
            time(reusing, single), time(reusing, ForkJoinPool.commonPool())};
        single.shutdown();
        String[] names = {"hashAll int64, 1 thread", "hashAll int64, " + cores + " threads",
            "hashAllInto int32, 1 thread", "hashAllInto int32, " + cores + " threads"};
        long javaChecksum = checksum(hasher.hashAll(ids, batch, seqLen));

        JsonObject numpy = runNumpy(hasher, vocabulary, ids, batch, config);
        double numpyRate = numpy.get("tokens_per_second").getAsDouble();
        long numpyChecksum = numpy.get("checksum").getAsLong();
        if (numpyChecksum != javaChecksum) {
            throw new IllegalStateException("Java and numpy hashes differ: checksum " + javaChecksum + " vs "
                    + numpyChecksum);
        }
        out.printf("Hashing %,d tokens ([%d, %d]), Engram-27B config: N=3, K=8, layers [2, 15], %,d compressed ids%n",
                tokens, batch, seqLen, vocabulary.compressedSize());
        out.printf("%-32s %16s %12s %10s%n", "contender", "tokens/s (best)", "median ms", "vs numpy");
        out.printf("%-32s %,16.0f %12.1f %9.1fx%n", "numpy " + numpy.get("numpy").getAsString() + " (1 thread)",
                numpyRate, numpy.get("median_seconds").getAsDouble() * 1e3, 1.0);
        for (int i = 0; i < timings.length; i++) {
            double rate = tokens / timings[i].best;
            out.printf("%-32s %,16.0f %12.1f %9.1fx%n", names[i], rate, timings[i].median * 1e3, rate / numpyRate);
        }
        out.printf("checksums agree: %d%n", javaChecksum);
        out.flush();
        return 0;
    }

    private record Timing(double best, double median) {}

    private Timing time(Runnable task, ForkJoinPool pool) throws Exception {
        for (int i = 0; i < 5; i++) {
            pool.submit(task).get(); // JIT warm-up
        }
        double[] seconds = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long start = System.nanoTime();
            pool.submit(task).get();
            seconds[i] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(seconds);
        return new Timing(seconds[0], seconds[repeats / 2]);
    }

    /** Same checksum as hash_numpy.py: per layer the wrapping uint64 sum, folded mod 2^61. */
    private static long checksum(Map<Integer, long[]> hashes) {
        BigInteger checksum = BigInteger.ZERO;
        for (long[] layer : hashes.values()) {
            long sum = 0;
            for (long h : layer) {
                sum += h;
            }
            checksum = checksum.multiply(BigInteger.valueOf(31))
                    .add(new BigInteger(Long.toUnsignedString(sum))).mod(CHECKSUM_MODULUS);
        }
        return checksum.longValueExact();
    }

    private JsonObject runNumpy(NgramHasher hasher, CompressedVocabulary vocabulary, long[] ids, int batch,
            EngramConfig config) throws IOException, InterruptedException {
        try (TemporaryDirectory tmp = TemporaryDirectory.create("engram-bench-hash")) {
            Path dir = tmp.path();
            Path idsFile = dir.resolve("ids.bin");
            ByteBuffer bytes = ByteBuffer.allocate(ids.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            bytes.asLongBuffer().put(ids);
            try (FileChannel channel = FileChannel.open(idsFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                channel.write(bytes);
            }
            JsonObject job = new JsonObject();
            job.addProperty("ids_file", idsFile.toString());
            job.addProperty("batch", batch);
            job.addProperty("seq_len", seqLen);
            job.addProperty("repeats", repeats);
            job.addProperty("max_ngram_size", config.getMaxNgramSize());
            job.addProperty("compressed_pad_id", vocabulary.compressPadId(config.getPadId()));
            JsonArray lookup = new JsonArray();
            Arrays.stream(vocabulary.toArray()).forEach(lookup::add);
            job.add("lookup", lookup);
            JsonArray layers = new JsonArray();
            for (int layerId : hasher.getLayerIds()) {
                JsonObject layer = new JsonObject();
                JsonArray multipliers = new JsonArray();
                Arrays.stream(hasher.multipliers(layerId)).forEach(multipliers::add);
                layer.add("multipliers", multipliers);
                JsonArray sizes = new JsonArray();
                for (long[] order : hasher.tableSizes(layerId)) {
                    JsonArray row = new JsonArray();
                    Arrays.stream(order).forEach(row::add);
                    sizes.add(row);
                }
                layer.add("table_sizes", sizes);
                layers.add(layer);
            }
            job.add("layers", layers);
            Path jobFile = dir.resolve("job.json");
            Files.writeString(jobFile, job.toString());
            Path script = dir.resolve("hash_numpy.py");
            try (InputStream in = HashBenchmarkCommand.class.getResourceAsStream("/ai/engram/examples/hash_numpy.py")) {
                Files.copy(in, script);
            }
            Process process = new ProcessBuilder(python, script.toString(), jobFile.toString())
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(30, TimeUnit.MINUTES) || process.exitValue() != 0) {
                throw new IOException(python + " " + script + " failed (is numpy installed?): " + output);
            }
            return JsonParser.parseString(output.trim()).getAsJsonObject();
        }
    }
}
