package ai.engram.examples.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.block.CapturedRegion;
import ai.engram.io.TemporaryDirectory;
import ai.engram.model.DecodingState;
import ai.engram.model.Devices;
import ai.engram.model.EngramGenerator;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.GenerationSettings;
import ai.engram.model.GenerationTask;
import ai.engram.model.ModelDirectory;
import ai.engram.model.NoGradientScope;
import ai.engram.model.ParameterCounter;
import ai.engram.model.StepTimings;
import ai.engram.offload.EngramPrefetcher;
import ai.engram.offload.EngramTables;
import ai.engram.offload.OffloadSettings;
import ai.engram.offload.TablePlacement;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Generation speed of a randomly initialised model of any size, through the production path ({@link
 * EngramGenerator#generateAll}, what Criteria and DJL Serving run): batches of random prompts decoded together,
 * greedy, no early end. For each batch size it times prefill-only runs (prompt + the first token) and full runs;
 * decode time per step is (full - median prefill) / (new tokens - 1). Every timed call ends by copying logits to the
 * host, which waits for the GPU, so the clock is read after the device work. Medians of {@code --runs} runs with
 * min-max. Prefill throughput is timed on full forwards without a cache (all positions' logits), as the
 * transformers peer ({@code transformers-deepseek-v3-bench.py}) does. {@code --engram-tables paired} measures host
 * against device tables in one process ({@link PairedTablePlacement}).
 */
@Command(name = "bench-generate", mixinStandardHelpOptions = true,
        description = "Decode and prefill speed of a random-weight model (any zoo config) on a device")
class GenerateBenchmarkCommand implements Callable<Integer> {

    @Option(names = "--config", description = "Zoo config (default ${DEFAULT-VALUE})")
    String config = "engram-27b";

    @Option(names = "--layers", description = "Override num_hidden_layers (0 keeps the config's)")
    int layers;

    @Option(names = "--override", paramLabel = "JSON", description = "Config keys to change, e.g. "
            + "'{\"hc_mult\": 1}' (to see what each part of the model costs)")
    String override;

    @Option(names = "--device", description = "cpu, gpu, gpuN or gpu:N (default: DJL's default device)")
    String device;

    @Option(names = "--dtype", description = "f16 (default) or f32")
    String dtype = "f16";

    @Option(names = "--engram-tables", description = "device (default), host (pinned host memory, fp16 rows, "
            + "prefetched as served), or paired: both in this process, each timed run once with each (alternating "
            + "which goes first), reported as host against device per pair")
    String engramTables = "device";

    @Option(names = "--batch", split = ",", description = "Batch sizes to decode (default 1,32)")
    int[] batches = {1, 32};

    @Option(names = "--prompt-len", description = "Prompt tokens per row (default ${DEFAULT-VALUE})")
    int promptLength = 32;

    @Option(names = "--new-tokens", description = "Tokens generated per row (default ${DEFAULT-VALUE})")
    int newTokens = 64;

    @Option(names = "--runs", description = "Timed runs per measurement, at least 5 for reported figures "
            + "(default ${DEFAULT-VALUE})")
    int runs = 5;

    @Option(names = "--prefill", split = ",", description = "Prefill shapes BxT, e.g. 1x1024,16x1024 (default none)")
    String[] prefill = {};

    @Option(names = "--prefill-only", description = "Only the prefill shapes, no decoding")
    boolean prefillOnly;

    @Option(names = "--concurrent", description = "Generations at once, each of --batch rows from its own thread "
            + "(as DJL Serving's workers on one GPU); tok/s is their aggregate (default ${DEFAULT-VALUE})")
    int concurrent = 1;

    @Option(names = "--memory", description = "After each batch and prefill shape, the most GPU memory in use "
            + "during it (cudaMemGetInfo sampled every 2 ms; needs a GPU)")
    boolean memory;

    @Option(names = "--profile", description = "After each batch, profile one decode step, and after each prefill "
            + "shape one prefill: host time inside libtorch (launches, waits for the GPU) against DJL/JNI/Java, and "
            + "the operators that take most")
    boolean profile;

    @Option(names = "--profile-trace", paramLabel = "DIR", description = "With --profile: keep each profiled "
            + "step's trace in DIR as decode-batch-B.json and prefill-BxT.json (Chrome trace format: "
            + "chrome://tracing, Perfetto)")
    Path profileTrace;

    @Option(names = "--profiler-range", description = "Mark the first timed run of each prefill shape, and one "
            + "decode step per batch size after the timed runs (replayed as CUDA graphs where they are on), with "
            + "cudaProfilerStart/Stop, so that `ncu --profile-from-start off` or `nsys profile --capture-range="
            + "cudaProfilerApi` measure those kernels alone")
    boolean profilerRange;

    @Option(names = "--hbm-tbps", description = "Memory bandwidth for the limit, TB/s (default: from nvidia-smi's "
            + "GPU name: H200 4.8, H100 3.35)")
    double hbmTerabytesPerSecond;

    @Option(names = "--fp16-tflops", description = "Dense fp16 peak for the prefill's compute limit, TFLOP/s "
            + "(default: from nvidia-smi's GPU name: H100 and H200 989.4)")
    double fp16Teraflops;

    @Spec
    CommandSpec spec;

    /** The threads of {@code --concurrent} generations. */
    private ExecutorService issuers;
    /** Prefill tokens/s at the GPU's dense fp16 peak (2 × activated parameters per token), or 0 where unknown. */
    private double computeLimit;
    /** {@code --memory}'s sampler, or null. */
    private GpuMemoryPeak memoryPeak;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (runs < 1 || newTokens < 2 || promptLength < 1 || concurrent < 1) {
            throw new IllegalArgumentException("--runs must be >= 1, --new-tokens >= 2, --prompt-len >= 1, "
                    + "--concurrent >= 1");
        }
        DataType type = ConvertCommand.parse(dtype);
        boolean paired = engramTables.equals("paired");
        boolean host = switch (engramTables) {
            case "device", "paired" -> false;
            case "host" -> true;
            default -> throw new IllegalArgumentException("--engram-tables must be device, host or paired, got '"
                    + engramTables + "'");
        };
        Device target = Devices.parse(device);
        EngramModelConfig cfg = EngramModelConfig.named(config);
        if (layers > 0) {
            cfg = cfg.with("{\"num_hidden_layers\": " + layers + "}");
        }
        if (override != null) {
            cfg = cfg.with(override);
        }
        ParameterCounter.Counts counts = ParameterCounter.count(cfg);
        int bytesPerValue = type == DataType.FLOAT16 ? 2 : 4;
        GpuSpec gpu = GpuSpec.of(target);
        double tbps = hbmTerabytesPerSecond > 0 ? hbmTerabytesPerSecond : gpu.hbmTerabytesPerSecond();
        double tflops = fp16Teraflops > 0 ? fp16Teraflops : gpu.fp16Teraflops();
        out.printf(Locale.ROOT, "%s on %s, %s, Engram tables on the %s: %,d parameters, %,d activated per token "
                + "(%.2f GB read per decode step at batch 1)%n", config + (layers > 0 ? " (" + layers + " layers)" : ""),
                target, dtype, paired ? "device and the host (pinned), paired" : host ? "host (pinned)" : "device",
                counts.total(), counts.activated(),
                counts.activated() * (double) bytesPerValue / 1e9);
        if (tbps > 0) {
            out.printf(Locale.ROOT, "bandwidth limit at batch 1: %.0f tok/s (%.2f TB/s / activated bytes)%n",
                    tbps * 1e12 / (counts.activated() * (double) bytesPerValue), tbps);
        }
        // Model FLOPs: a multiply and an add per activated parameter and token (the attention scores, a few percent
        // at 1,024 positions, are not counted), as the prefill's share of the peak is usually given.
        computeLimit = tflops > 0 ? tflops * 1e12 / (2.0 * counts.activated()) : 0;
        if (computeLimit > 0) {
            out.printf(Locale.ROOT, "compute limit: %,.0f tok/s (%s TFLOP/s dense fp16 / 2 x activated parameters)%n",
                    computeLimit, BigDecimal.valueOf(tflops).stripTrailingZeros().toPlainString());
        }
        out.flush();

        memoryPeak = null;
        if (memory) {
            try {
                memoryPeak = new GpuMemoryPeak(target);
            } catch (IllegalArgumentException e) { // a benchmark run is worth more than its memory figures
                err.println("warning: " + e.getMessage() + "; no memory figures");
            }
        }
        issuers = concurrent > 1 ? Executors.newFixedThreadPool(concurrent) : null;
        try (TemporaryDirectory tmp = TemporaryDirectory.create("engram-bench-generate");
                NDManager manager = NDManager.newBaseManager(target)) {
            Path dir = tmp.path();
            Files.writeString(dir.resolve("config.json"), cfg.toJson(), StandardCharsets.UTF_8);
            long start = System.nanoTime();
            EngramLM lm = ModelDirectory.loader(dir).optDataType(type).optRandomInit(true).optExternalTables(host)
                    .load(manager);
            EngramPrefetcher prefetcher = null;
            if (host || paired) {
                // As the block factory serves host tables: gathers start when a step's ids are hashed.
                EngramTables tables = hostTables(lm, target);
                manager.attachInternal("bench-host-tables", tables);
                prefetcher = tables.prefetcher();
                if (host) {
                    lm.setEngramMemories(prefetcher.memories());
                }
            }
            PairedTablePlacement pairs = paired ? new PairedTablePlacement(lm, prefetcher.memories()) : null;
            err.printf(Locale.ROOT, "initialised in %.1f s%n", (System.nanoTime() - start) / 1e9);
            err.flush();
            ParameterStore ps = new ParameterStore(manager, false);
            EngramGenerator generator = new EngramGenerator(lm);
            int vocab = lm.getHasher() == null ? cfg.getVocabSize()
                    : Math.min(cfg.getVocabSize(), lm.getHasher().getVocabulary().rawSize());
            SplittableRandom random = new SplittableRandom(7);
            if (!prefillOnly) {
                // One short generation first: the first forward makes the model's one-time arrays (the unnamed
                // views of weights passed to scripted functions), which the leak check below must not count.
                generator.generateAll(ps, greedyTasks(List.of(random.longs(promptLength, 3, vocab).toArray()), 2),
                        manager);
                if (pairs == null) {
                    out.printf("%-6s %12s %14s %22s %14s %12s%n", "batch", "prefill ms", "decode ms/step",
                            "(min-max)", "decode tok/s", "arrays/step");
                }
                for (int batch : batches) {
                    List<long[]> prompts = new ArrayList<>();
                    for (int b = 0; b < batch; b++) {
                        prompts.add(random.longs(promptLength, 3, vocab).toArray());
                    }
                    if (pairs != null) {
                        out.println(pairs.alternate(runs, () -> decodeStepSeconds(generator, ps, manager, prompts))
                                .describe("decode batch " + batch, "ms/step"));
                        out.flush();
                        continue;
                    }
                    int before = manager.getManagedArrays().size();
                    decodeRow(out, err, generator, lm, ps, manager, prompts);
                    int after = manager.getManagedArrays().size();
                    if (after != before) {
                        err.printf("warning: %d arrays left in the model's manager by batch %d%n", after - before,
                                batch);
                    }
                }
            }
            if (prefetcher != null) {
                out.printf("host-table prefetch: %s%n", prefetcher.statistics());
            }
            if (prefill.length > 0 && pairs == null) {
                out.printf("%-10s %12s %22s %14s %14s%n", "prefill", "ms", "(min-max)", "tok/s", "arrays/forward");
            }
            if (prefill.length > 0) {
                for (String shape : prefill) {
                    String[] bt = shape.toLowerCase(Locale.ROOT).split("x");
                    if (bt.length != 2) {
                        throw new IllegalArgumentException("--prefill shapes are BxT, got '" + shape + "'");
                    }
                    int b = Integer.parseInt(bt[0].strip());
                    int t = Integer.parseInt(bt[1].strip());
                    long[] ids = random.longs((long) b * t, 3, vocab).toArray();
                    if (pairs != null) {
                        out.println(pairs.alternate(runs, () -> {
                            long began = System.nanoTime();
                            prefillOnce(lm, ps, manager, ids, b, t);
                            return (System.nanoTime() - began) / 1e9;
                        }).describe("prefill " + b + "x" + t, "ms"));
                        out.flush();
                        continue;
                    }
                    prefillRow(out, lm, ps, manager, ids, b, t);
                }
            }
        } finally {
            if (issuers != null) {
                issuers.shutdownNow();
            }
            if (memoryPeak != null) {
                memoryPeak.close();
            }
        }
        return 0;
    }

    private void decodeRow(PrintWriter out, PrintWriter err, EngramGenerator generator, EngramLM lm,
            ParameterStore ps, NDManager manager, List<long[]> prompts) {
        int batch = prompts.size();
        int rows = batch * concurrent;
        if (memoryPeak != null) {
            memoryPeak.reset();
        }
        generate(generator, ps, manager, prompts, 2); // warm-up: kernels, allocator pools, JIT
        double[] prefillSeconds = new double[runs];
        for (int i = 0; i < runs; i++) {
            prefillSeconds[i] = generate(generator, ps, manager, prompts, 1);
        }
        double prefillMedian = median(prefillSeconds);
        double[] stepSeconds = new double[runs];
        long replaysBefore = CapturedRegion.replays();
        for (int i = 0; i < runs; i++) {
            stepSeconds[i] = (generate(generator, ps, manager, prompts, newTokens) - prefillMedian) / (newTokens - 1);
            err.printf(Locale.ROOT, "  batch %d run %d: %.1f ms/step%n", batch, i + 1, stepSeconds[i] * 1e3);
            err.flush();
        }
        double step = median(stepSeconds);
        String label = concurrent == 1 ? String.valueOf(batch) : concurrent + "x" + batch;
        out.printf(Locale.ROOT, "%-6s %12.1f %14.2f %22s %14.1f %12d%n", label, prefillMedian * 1e3, step * 1e3,
                String.format(Locale.ROOT, "(%.2f-%.2f)", min(stepSeconds) * 1e3, max(stepSeconds) * 1e3),
                rows / step, arraysPerDecodeStep(lm, ps, manager, prompts));
        long replays = CapturedRegion.replays() - replaysBefore;
        if (replays > 0) {
            out.printf(Locale.ROOT, "  batch %s: %.1f CUDA graph replays per decode step%n", label,
                    replays / ((double) runs * (newTokens - 1)));
        }
        // One more run, untimed, split into parts: timing the parts adds a read back per step.
        StepTimings timings = new StepTimings();
        generator.setStepTimings(timings);
        try {
            generate(generator, ps, manager, prompts, newTokens);
        } finally {
            generator.setStepTimings(null);
        }
        out.printf(Locale.ROOT, "  batch %s: %s%n", label, timings.snapshot().describe());
        printMemory(out, "batch " + label);
        if (profilerRange) {
            markDecodeStep(lm, ps, manager, prompts);
        }
        if (profile) {
            try {
                out.print(profileDecodeStep(lm, ps, manager, prompts, traceFile("decode-batch-" + label)).describe());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        out.flush();
    }

    /**
     * One paired decode measurement: a generation of the prompt's first token and one of {@code --new-tokens}, next
     * to each other with the same tables, so that the step time does not borrow a prefill time from other runs.
     */
    private double decodeStepSeconds(EngramGenerator generator, ParameterStore ps, NDManager manager,
            List<long[]> prompts) {
        double prefillSeconds = generate(generator, ps, manager, prompts, 1);
        return (generate(generator, ps, manager, prompts, newTokens) - prefillSeconds) / (newTokens - 1);
    }

    private void printMemory(PrintWriter out, String what) {
        if (memoryPeak != null) {
            out.printf(Locale.ROOT, "  %s: at most %.1f GiB of GPU memory in use%n", what,
                    memoryPeak.peakBytes() / (double) (1L << 30));
        }
    }

    /**
     * One decode step inside a profiler range, after as many steps as a CUDA graph's warm-up and capture take (the
     * graphs of this batch size are captured by the timed runs already; the extra steps make sure).
     */
    private void markDecodeStep(EngramLM lm, ParameterStore ps, NDManager manager, List<long[]> prompts) {
        try (PrefilledState prefilled = new PrefilledState(lm, ps, manager, prompts)) {
            for (int i = 0; i <= CapturedRegion.WARM_UP_CALLS; i++) {
                prefilled.step();
            }
            try (CudaProfilerRange range = profilerRange()) {
                prefilled.step();
            }
        }
    }

    /** One decode step after a prefill and one more step, under PyTorch's profiler. */
    private static HostTimeProfile.Summary profileDecodeStep(EngramLM lm, ParameterStore ps, NDManager manager,
            List<long[]> prompts, Path trace) throws IOException {
        try (PrefilledState prefilled = new PrefilledState(lm, ps, manager, prompts)) {
            prefilled.step();
            return HostTimeProfile.of(prefilled::step, 6, trace);
        }
    }

    /**
     * Seconds for {@code --concurrent} production generations of {@code tokens} new tokens per row, started
     * together, each from its own thread with its own manager (each ends with host copies).
     */
    private double generate(EngramGenerator generator, ParameterStore ps, NDManager manager, List<long[]> prompts,
            int tokens) {
        long start = System.nanoTime();
        if (concurrent == 1) {
            generator.generateAll(ps, greedyTasks(prompts, tokens), manager);
        } else {
            List<CompletableFuture<Void>> running = new ArrayList<>();
            for (int i = 0; i < concurrent; i++) {
                running.add(CompletableFuture.runAsync(() -> {
                    try (NDManager own = manager.newSubManager()) {   // as a predictor per worker: own store
                        generator.generateAll(new ParameterStore(own, false), greedyTasks(prompts, tokens), own);
                    }
                }, issuers));
            }
            running.forEach(CompletableFuture::join);
        }
        return (System.nanoTime() - start) / 1e9;
    }

    private static List<GenerationTask> greedyTasks(List<long[]> prompts, int tokens) {
        List<GenerationTask> tasks = new ArrayList<>();
        for (long[] prompt : prompts) {
            tasks.add(GenerationTask.of(prompt, GenerationSettings.greedy(tokens, -1)));
        }
        return tasks;
    }

    /**
     * NDArrays created by one decode step (a proxy for the DJL operations it issues: each operation returns a new
     * array).
     */
    private static int arraysPerDecodeStep(EngramLM lm, ParameterStore ps, NDManager manager, List<long[]> prompts) {
        try (PrefilledState prefilled = new PrefilledState(lm, ps, manager, prompts)) {
            long before = lm.layerArraysCreated();
            int kept = prefilled.step();
            // Inside the decoder layers (freed layer by layer) plus what the step keeps around them.
            return (int) (lm.layerArraysCreated() - before) + kept;
        }
    }

    /** A decoding state after a prefill of the prompts, for single decode steps that each feed token 3 to every row. */
    private static final class PrefilledState implements AutoCloseable {
        private final EngramLM lm;
        private final ParameterStore ps;
        private final NDManager scope;
        private final DecodingState state;
        private final long[] next;

        PrefilledState(EngramLM lm, ParameterStore ps, NDManager manager, List<long[]> prompts) {
            this.lm = lm;
            this.ps = ps;
            scope = manager.newSubManager();
            state = lm.newDecodingState(scope, prompts.size());
            lm.prefill(ps, prompts, scope, state);
            next = new long[prompts.size()];
            Arrays.fill(next, 3);
        }

        /**
         * One decode step in its own scope, ended by a host copy of one logit (which waits for the device).
         *
         * @return the arrays the step's scope held at its end (its input, the logits, the copy)
         */
        int step() {
            try (NDManager step = scope.newSubManager()) {
                NDArray logits = lm.decode(ps, step.create(next, new Shape(next.length, 1)), state);
                logits.get(new NDIndex("0, 0, 0")).toType(DataType.FLOAT32, false).toFloatArray();
                return step.getManagedArrays().size();
            }
        }

        @Override
        public void close() {
            state.close();
            scope.close();
        }
    }

    /** One prefill forward of {@code ids} as {@code [b, t]}, as generation runs it, waited for on the device. */
    private static void prefillOnce(EngramLM lm, ParameterStore ps, NDManager manager, long[] ids, int b, int t) {
        try (NoGradientScope noGradient = NoGradientScope.open(manager.getEngine()); // as generation does
                NDManager scope = manager.newSubManager()) {
            NDArray logits = lm.forward(ps, new NDList(scope.create(ids, new Shape(b, t))), false).singletonOrThrow();
            // Reading one value waits for the whole forward on the device (so a profiler range holds all its kernels).
            logits.get(new NDIndex("-1, -1, 0")).toType(DataType.FLOAT32, false).toFloatArray();
        }
    }

    /**
     * @param name a profiled run's name
     * @return where {@code --profile-trace} keeps its trace ({@code name.json}, the directory created), or null
     * @throws IOException if the directory cannot be created
     */
    private Path traceFile(String name) throws IOException {
        if (profileTrace == null) {
            return null;
        }
        Files.createDirectories(profileTrace);
        return profileTrace.resolve(name + ".json");
    }

    private void prefillRow(PrintWriter out, EngramLM lm, ParameterStore ps, NDManager manager, long[] ids, int b,
            int t) {
        if (memoryPeak != null) {
            memoryPeak.reset();
        }
        double[] seconds = new double[runs];
        long arraysPerForward = 0;
        for (int i = -1; i < runs; i++) {
            long arraysBefore = lm.layerArraysCreated();
            long start = System.nanoTime();
            try (CudaProfilerRange range = i == 0 ? profilerRange() : null) {
                prefillOnce(lm, ps, manager, ids, b, t);
            }
            if (i >= 0) {
                seconds[i] = (System.nanoTime() - start) / 1e9;
            }
            if (i == 0) {
                arraysPerForward = lm.layerArraysCreated() - arraysBefore;
            }
        }
        double median = median(seconds);
        HostTimeProfile.Summary profiled = null;
        if (profile) {
            try {
                profiled = HostTimeProfile.of(() -> prefillOnce(lm, ps, manager, ids, b, t), 8,
                        traceFile("prefill-" + b + "x" + t));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        out.printf(Locale.ROOT, "%-10s %12.1f %22s %,14.0f %14d%n", b + "x" + t, median * 1e3,
                String.format(Locale.ROOT, "(%.1f-%.1f)", min(seconds) * 1e3, max(seconds) * 1e3), b * t / median,
                arraysPerForward);
        if (computeLimit > 0) {
            out.printf(Locale.ROOT, "  prefill %dx%d: %.1f %% of the compute limit%n", b, t,
                    100 * b * t / median / computeLimit);
        }
        printMemory(out, "prefill " + b + "x" + t);
        if (profiled != null) {
            out.print(profiled.describe("prefill " + b + "x" + t));
        }
        out.flush();
    }

    /** A profiler range for {@code --profiler-range}, or null (not asked for, or no CUDA runtime: said once). */
    private CudaProfilerRange profilerRange() {
        if (!profilerRange) {
            return null;
        }
        try {
            return CudaProfilerRange.start();
        } catch (IllegalStateException e) {
            spec.commandLine().getErr().println("warning: " + e.getMessage() + "; no profiler range");
            profilerRange = false;
            return null;
        }
    }

    /** Pinned host tables of the model's shapes, filled in place with N(0, 1) rows (fp16), in parallel. */
    private static EngramTables hostTables(EngramLM lm, Device target) {
        if (lm.getHasher() == null) {
            throw new IllegalArgumentException("the config has no Engram layers: --engram-tables host needs some");
        }
        return EngramTables.random(lm.getHasher(), lm.getConfig().getEngram().headDim(),
                OffloadSettings.of(TablePlacement.HOST), target, 0);
    }

    /** @return the median (the mean of the middle two for an even count); shared by the benchmarks here */
    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    static double min(double[] values) {
        return Arrays.stream(values).min().orElse(Double.NaN);
    }

    static double max(double[] values) {
        return Arrays.stream(values).max().orElse(Double.NaN);
    }
}
