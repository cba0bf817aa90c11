package ai.engram.examples.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.engram.model.Devices;
import ai.engram.block.ParameterValues;
import ai.engram.hash.NgramHasher;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ParameterCounter;
import ai.engram.model.ParameterNames;
import ai.engram.offload.EngramPrefetcher;
import ai.engram.offload.EngramTable;
import ai.engram.offload.EngramTables;
import ai.engram.offload.HostMemoryTable;
import ai.engram.offload.HostTable;
import ai.engram.offload.HostTransfer;
import ai.engram.offload.HotRowCache;
import ai.engram.offload.MappedTable;
import ai.engram.offload.PinningMode;
import ai.engram.offload.RowFormat;
import ai.engram.offload.TableFile;
import ai.engram.io.SafetensorsFile;
import ai.engram.data.PublicTexts;
import ai.engram.tokenizer.CompressedVocabulary;
import ai.engram.data.NpmPackageFile;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * End-to-end cost of keeping Engram tables off the device: forward tokens/s of one backbone (a) without Engram,
 * (b) with Engram tables on the device, (c) with tables in host memory (pinned on CUDA) and prefetch, (d) with
 * memory-mapped tables and prefetch, plus (c) without prefetch and, optionally, with a hot-row cache. Same
 * backbone weights and token batches for every variant, measured in one run; runs unchanged on a GPU
 * ({@code --device gpu}).
 */
@Command(name = "bench-offload", mixinStandardHelpOptions = true,
        description = "Tokens/s with Engram tables on the device, in host memory, or memory-mapped (vs. no Engram).")
final class OffloadBenchmarkCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--device", description = "cpu, gpu, gpuN or gpu:N (default cpu)")
    String device = "cpu";

    @Option(names = "--hidden", description = "Backbone hidden size (default ${DEFAULT-VALUE})")
    int hidden = 256;

    @Option(names = "--layers", description = "Decoder layers (default ${DEFAULT-VALUE}); Engram at layers 1 and 2")
    int layers = 4;

    @Option(names = "--random-ids", description = "Random token ids over a 32k vocabulary instead of Moby-Dick "
            + "tokenized with DeepSeek-V3 (real text has Zipfian N-grams; random ids defeat any cache)")
    boolean randomIds;

    @Option(names = "--table-rows",
            description = "Rows per hash head before rounding to primes (default ${DEFAULT-VALUE})")
    int tableRows = 1_000_000;

    @Option(names = "--row-dim",
            description = "Values per head row; 80 = 160-byte fp16 rows (default ${DEFAULT-VALUE})")
    int rowDim = 80;

    @Option(names = "--batch", description = "Sequences per forward (default ${DEFAULT-VALUE})")
    int batch = 4;

    @Option(names = "--seq-len", description = "Tokens per sequence (default ${DEFAULT-VALUE})")
    int seqLen = 256;

    @Option(names = "--batches", description = "Timed forwards per variant (default ${DEFAULT-VALUE})")
    int batches = 12;

    @Option(names = "--hot-rows",
            description = "Also run (c) with a device hot-row cache of this many rows per layer (0 = skip)")
    int hotRows = 0;

    @Option(names = "--pinning", description = "required, fallback or off (default ${DEFAULT-VALUE})")
    String pinning = "required";

    @Option(names = "--work-dir", description = "Where the table file for (d) is written (default: a temp dir)")
    Path workDir;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (batches < 5) {
            throw new IllegalArgumentException("--batches must be at least 5: each figure is a median of timed forwards");
        }
        CompressedVocabulary vocabulary = null;
        long[] text = null;
        int vocab = 32_768;
        if (!randomIds) {
            Path tokenizerPath = NpmPackageFile.DEEPSEEK_V3_TOKENIZER.resolve();
            vocabulary = CompressedVocabulary.fromTokenizer(tokenizerPath);
            try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizerPath)
                    .optAddSpecialTokens(false).optTruncation(false).build()) {
                text = tokenizer.encode(Files.readString(PublicTexts.MOBY_DICK.resolve())).getIds();
            }
            vocab = 129_280;
        }
        int heads = 4;
        String engram = String.format("{\"engram_vocab_size\": [%d, %d], \"max_ngram_size\": 3, "
                + "\"n_embed_per_ngram\": %d, \"n_head_per_ngram\": %d, \"layer_ids\": [1, 2], \"pad_id\": 2, "
                + "\"seed\": 0, \"kernel_size\": 4}", tableRows, tableRows, rowDim * heads, heads);
        EngramModelConfig withEngram = EngramModelConfig.named("tiny-engram").with(String.format(
                "{\"vocab_size\": %d, \"hidden_size\": %d, \"num_hidden_layers\": %d, \"intermediate_size\": %d, "
                        + "\"moe_intermediate_size\": %d, \"engram\": %s}",
                vocab, hidden, layers, hidden * 3, hidden, engram));
        EngramModelConfig withoutEngram = withEngram.with("{\"engram\": null}");
        ParameterCounter.Counts counts = ParameterCounter.count(withEngram);
        Device target = Devices.parse(device);
        out.printf("Token ids: %s%n", text == null ? "random" : "Moby-Dick, DeepSeek-V3 tokenizer (" + text.length
                + " tokens)");
        out.printf("Backbone: d=%d, %d layers, vocab %,d; Engram at layers [1, 2]: %,d table parameters "
                + "(%.2f GB as fp16 rows of %d bytes), backbone %,d parameters; batches of %d x %d tokens on %s%n",
                hidden, layers, vocab, counts.engram(), counts.engram() * 2 / 1e9, rowDim * 2,
                counts.total() - counts.engram(), batch, seqLen, target);
        out.flush();

        SplittableRandom random = new SplittableRandom(1);
        List<long[]> inputs = new ArrayList<>();
        int tokensPerBatch = batch * seqLen;
        for (int i = 0; i < batches + 2; i++) {
            if (text == null) {
                inputs.add(random.longs(tokensPerBatch, 3, vocab).toArray());
            } else {
                int start = (int) (((long) i * tokensPerBatch) % (text.length - tokensPerBatch));
                inputs.add(Arrays.copyOfRange(text, start, start + tokensPerBatch));
            }
        }
        List<String> names = new ArrayList<>();
        List<Double> rates = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager(target)) {
            EngramLM baseline = new EngramLM(withoutEngram, null);
            baseline.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            // A discarded pass first: the first variant timed would otherwise also pay the JIT's and the allocator's
            // warm-up, and every other variant would look faster than no Engram at all.
            run(baseline, manager, inputs, null);
            record(out, names, rates, "(a) no Engram", run(baseline, manager, inputs, null));

            EngramLM onDevice = new EngramLM(withEngram, vocabulary);
            onDevice.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            copyShared(baseline, onDevice);
            float[] reference = firstLogits(onDevice, manager, inputs.get(0));
            record(out, names, rates, "(b) Engram tables on the device", run(onDevice, manager, inputs, null));

            EngramLM offloaded = new EngramLM(withEngram, vocabulary, true);
            offloaded.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            copyShared(onDevice, offloaded);
            HostTransfer transfer = new HostTransfer(target, PinningMode.parse(pinning),
                    Runtime.getRuntime().availableProcessors());
            List<HostTable> hostTables = new ArrayList<>();
            int[] engramLayers = onDevice.getHasher().getLayerIds();
            for (int layer : engramLayers) {
                NDArray table = onDevice.getLayers().get(layer).getEngram().getEmbedding().getTable().getArray();
                hostTables.add(copyToHost(table, transfer));
            }
            onDevice = null; // the device tables are no longer needed
            NgramHasher hasher = offloaded.getHasher();
            try (EngramTables host = EngramTables.of(hasher, hostTables, transfer)) {
                offloaded.setEngramMemories(host.memories());
                float difference = maxDifference(firstLogits(offloaded, manager, inputs.get(0)), reference);
                out.printf("    host fp16 rows vs device fp32 tables: max |logit difference| %.2e%n", difference);
                record(out, names, rates, "(c) host memory, synchronous", run(offloaded, manager, inputs, null));
                try (EngramPrefetcher prefetcher = new EngramPrefetcher(hasher, host.memories())) {
                    offloaded.setEngramMemories(prefetcher.memories());
                    record(out, names, rates, "(c) host memory + prefetch", run(offloaded, manager, inputs, prefetcher));
                    out.printf("    prefetch waits: %s%n", prefetcher.statistics());
                    offloaded.setEngramMemories(host.memories());
                }
                if (hotRows > 0) {
                    List<EngramTable> cached = new ArrayList<>();
                    for (HostTable table : hostTables) {
                        cached.add(new HotRowCache(table, hotRows, manager, DataType.FLOAT32, 4));
                    }
                    try (EngramTables withCache = EngramTables.of(hasher, cached, null);
                            EngramPrefetcher prefetcher = new EngramPrefetcher(hasher, withCache.memories())) {
                        offloaded.setEngramMemories(prefetcher.memories());
                        record(out, names, rates, "(c) + hot-row cache " + hotRows,
                                run(offloaded, manager, inputs, prefetcher));
                        out.printf("    cache hit rate: %.1f %%%n", 100 * ((HotRowCache) cached.get(0)).hitRate());
                    }
                    offloaded.setEngramMemories(host.memories());
                }

                // The table file goes to --work-dir (a disk of the user's choice), else to a temporary directory removed after
                Path temporary = workDir == null ? Files.createTempDirectory("engram-bench") : null;
                Path dir = temporary != null ? temporary : Files.createDirectories(workDir);
                Path file = dir.resolve(TableFile.FILE_NAME);
                TableFile.write(hostTables, engramLayers, file);
                HostTransfer mappedTransfer = new HostTransfer(target, PinningMode.parse(pinning),
                        Runtime.getRuntime().availableProcessors());
                List<EngramTable> mapped = new ArrayList<>();
                try (SafetensorsFile opened = SafetensorsFile.open(file)) {
                    for (int layer : engramLayers) {
                        mapped.add(MappedTable.open(opened, layer, mappedTransfer, 1L << 30));
                    }
                }
                try (EngramTables mappedTables = EngramTables.of(hasher, mapped, mappedTransfer);
                        EngramPrefetcher prefetcher = new EngramPrefetcher(hasher, mappedTables.memories())) {
                    offloaded.setEngramMemories(prefetcher.memories());
                    record(out, names, rates, "(d) memory-mapped file + prefetch",
                            run(offloaded, manager, inputs, prefetcher));
                    out.printf("    prefetch waits: %s%n", prefetcher.statistics());
                    offloaded.setEngramMemories(host.memories());
                } finally {
                    Files.deleteIfExists(file);
                    if (temporary != null) {
                        Files.deleteIfExists(temporary); // empty now; left behind before, one per run
                    }
                }
            }
        }
        out.println();
        out.printf("%-40s %12s %14s%n", "variant", "tokens/s", "vs (a)");
        for (int i = 0; i < names.size(); i++) {
            double overhead = rates.get(0) / rates.get(i) - 1;
            out.printf("%-40s %,12.0f %13.1f%%%n", names.get(i), rates.get(i), 100 * overhead);
        }
        out.println("vs (a): extra time per token relative to the backbone without Engram (lower is better)");
        out.flush();
        return 0;
    }

    /** Tokens/s of a variant: the median forward's, and the slowest and fastest timed forwards'. */
    private record Rate(double median, double slowest, double fastest) {}

    private static void record(PrintWriter out, List<String> names, List<Double> rates, String name, Rate rate) {
        names.add(name);
        rates.add(rate.median());
        out.printf("  %-40s %,10.0f tokens/s (%,.0f-%,.0f)%n", name, rate.median(), rate.slowest(), rate.fastest());
        out.flush();
    }

    /**
     * Median tokens/s over the timed batches (with the slowest and fastest), each timed until a logit is read back
     * (so the device has finished); with a prefetcher, batch i+1's rows are gathered while batch i runs.
     */
    private Rate run(EngramLM lm, NDManager manager, List<long[]> inputs, EngramPrefetcher prefetcher) {
        ParameterStore ps = new ParameterStore(manager, false);
        double[] seconds = new double[inputs.size()];
        EngramPrefetcher.Batch next = prefetcher == null ? null : prefetcher.prefetch(inputs.get(0), batch, seqLen);
        for (int i = 0; i < inputs.size(); i++) {
            long start = System.nanoTime();
            try (NDManager scope = manager.newSubManager()) {
                NDArray logits;
                if (prefetcher == null) {
                    NDArray ids = scope.create(inputs.get(i), new Shape(batch, seqLen));
                    logits = lm.forward(ps, new NDList(ids), false).singletonOrThrow();
                } else {
                    EngramPrefetcher.Batch current = next;
                    next = i + 1 < inputs.size() ? prefetcher.prefetch(inputs.get(i + 1), batch, seqLen) : null;
                    logits = lm.forward(ps, current.inputs(scope), false).singletonOrThrow();
                }
                logits.get(new NDIndex("0, 0, 0")).getFloat(); // wait for the device
            }
            seconds[i] = (System.nanoTime() - start) / 1e9;
        }
        double[] timed = Arrays.copyOfRange(seconds, 2, seconds.length); // first two batches warm up
        Arrays.sort(timed);
        double tokens = batch * seqLen;
        return new Rate(tokens / timed[timed.length / 2], tokens / timed[timed.length - 1], tokens / timed[0]);
    }

    private float[] firstLogits(EngramLM lm, NDManager manager, long[] ids) {
        try (NDManager scope = manager.newSubManager()) {
            NDArray input = scope.create(ids, new Shape(batch, seqLen));
            return lm.forward(new ParameterStore(manager, false), new NDList(input), false).singletonOrThrow()
                    .toFloatArray();
        }
    }

    private static float maxDifference(float[] a, float[] b) {
        float max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    /** Gives {@code to} the values of every parameter it shares by name with {@code from}. */
    private static void copyShared(EngramLM from, EngramLM to) {
        Map<String, Parameter> source = ParameterNames.of(from);
        for (Map.Entry<String, Parameter> e : ParameterNames.of(to).entrySet()) {
            Parameter p = source.get(e.getKey());
            if (p != null) {
                ParameterValues.assign(e.getValue(), p.getArray(), e.getKey());
            }
        }
    }

    private static HostTable copyToHost(NDArray table, HostTransfer transfer) {
        long rows = table.getShape().get(0);
        int dim = (int) table.getShape().get(1);
        HostMemoryTable host = HostMemoryTable.allocate(rows, dim, RowFormat.FP16, transfer, 1L << 30);
        int block = 1 << 16;
        for (long start = 0; start < rows; start += block) {
            try (NDManager scope = table.getManager().newSubManager()) {
                NDArray part = table.get(new NDIndex("{}:{}", start, Math.min(rows, start + block)));
                part.attach(scope);
                host.write(start, part.toFloatArray());
            }
        }
        return host;
    }
}
