package ai.engram.block;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Pattern;

/**
 * CUDA graph capture and replay through {@code libengram_cuda_graphs.so} (engram-block/src/main/native), whose
 * operators DJL reaches as TorchScript functions ({@link ScriptedFunction}; serialized TorchScript names a custom
 * operator {@code ops.<namespace>.<name>}, not {@code torch.ops...}). DJL 0.36's PyTorch JNI has no graph or
 * stream API; the library sets the thread's current CUDA stream to a capturing one between {@link #begin} and
 * {@link #end}, so every DJL operation the thread issues meanwhile is recorded into the graph, with its memory from a
 * private pool that replays reuse ({@link CapturedRegion} builds on this).
 *
 * <p>The library is built against the libtorch DJL loads (examples/scripts/build-cuda-graphs.sh) and named by
 * {@code -Dengram.cudaGraphs.library=PATH} or the environment variable {@code ENGRAM_CUDA_GRAPHS_LIBRARY}. Without
 * it, or with {@code -Dengram.cudaGraphs=false}, or where it cannot load, {@link #available} is false and every
 * forward runs its operations as before (logged once).
 */
public final class CudaGraphs {

    private static final Logger logger = LoggerFactory.getLogger(CudaGraphs.class);
    private static final String LIBRARY_PROPERTY = "engram.cudaGraphs.library";
    private static final String LIBRARY_VARIABLE = "ENGRAM_CUDA_GRAPHS_LIBRARY";
    private static final boolean ENABLED = !"false".equals(System.getProperty("engram.cudaGraphs"));
    private static final NDManager HOST = NDManager.newBaseManager(Device.cpu());
    private static final Map<Device, NDArray> ANCHORS = new ConcurrentHashMap<>();
    private static final Object LOADING = new Object();
    private static volatile Boolean loaded;
    /** The functions that set the fusion strategy (kept loaded, as every scripted function's module is). */
    private static final List<ScriptedFunction> FUSION_STRATEGY_FUNCTIONS = new CopyOnWriteArrayList<>();
    private static volatile String fusionStrategySpec;

    /**
     * {@code -Dengram.fusionStrategy=KIND:COUNT,...}: libtorch's TorchScript fusion strategy, set when the library
     * loads, before any scripted function runs on a GPU; unset, libtorch's own ({@code STATIC:2,DYNAMIC:10}) stays.
     * libtorch's fuses a function's first two input shapes into kernels for exactly those shapes and the next ten into
     * shape-generic kernels. On an H100, engram-27b's prefill of 16 × 1024 tokens after decoding at batch 1 and 32
     * (its fifth shape) took 432 ms with shape-generic kernels, 417 ms unfused and 401 ms with {@code STATIC:20}
     * (kernels for its own shape, as in a process that only prefills: 406 ms). {@code STATIC:20} is not the default:
     * each new shape costs a compile, up to 20 per function, and a server meets a new prompt length with nearly every
     * request, where libtorch's compiles one shape-generic set after two. (In one of two H100 runs with it on,
     * model-zoo's 300-request test saw resident memory grow by 458 MiB; which change of that run did it is open.)
     */
    private static final String FUSION_STRATEGY_PROPERTY = "engram.fusionStrategy";
    private static final Pattern FUSION_STRATEGY = Pattern.compile(
            "(STATIC|DYNAMIC):\\d{1,4}(,(STATIC|DYNAMIC):\\d{1,4})*");

    private static final ScriptedFunction BEGIN = operation("GraphCaptureBegin",
            "    ops.engram_graphs.capture_begin(anchor, int(ids[0]), int(ids[1]))\n");
    private static final ScriptedFunction END = operation("GraphCaptureEnd",
            "    ops.engram_graphs.capture_end(anchor)\n");
    private static final ScriptedFunction ABORT = operation("GraphCaptureAbort",
            "    ops.engram_graphs.capture_abort(anchor)\n");
    private static final ScriptedFunction DROP_GRAPH = operation("GraphDrop",
            "    ops.engram_graphs.drop_graph(int(ids[0]))\n");
    private static final ScriptedFunction DROP_POOL = operation("GraphPoolDrop",
            "    ops.engram_graphs.drop_pool(int(ids[1]))\n");
    /** {@link #replayFunction} by the number of inputs and outputs. */
    private static final Map<Long, ScriptedFunction> REPLAY = new ConcurrentHashMap<>();

    private CudaGraphs() {}

    private static ScriptedFunction operation(String className, String body) {
        return new ScriptedFunction(className, "anchor: Tensor, ids: Tensor", "Tensor", body + "    return ids\n",
                "CUDA graph " + className, true);
    }

    /**
     * @param device a device
     * @return whether graphs can be captured there: a GPU, the library loaded, graphs not switched off
     */
    public static boolean available(Device device) {
        return ENABLED && device.isGpu() && loadLibrary();
    }

    /**
     * @param device a device
     * @return whether the native library (graphs and fused kernels) is loaded for it: a GPU, whatever
     *     {@code engram.cudaGraphs} says
     */
    static boolean libraryLoaded(Device device) {
        return device.isGpu() && loadLibrary();
    }

    private static boolean loadLibrary() {
        Boolean state = loaded;
        if (state != null) {
            return state;
        }
        synchronized (LOADING) {
            if (loaded == null) {
                loaded = load();
            }
            return loaded;
        }
    }

    private static boolean load() {
        String name = System.getProperty(LIBRARY_PROPERTY, System.getenv(LIBRARY_VARIABLE));
        if (name == null || name.isBlank()) {
            logger.info("CUDA graphs off: no {} (-D{}); decode steps run operation by operation", LIBRARY_VARIABLE,
                    LIBRARY_PROPERTY);
            return false;
        }
        Path path = Paths.get(name).toAbsolutePath();
        if (!Files.isRegularFile(path)) {
            logger.warn("CUDA graphs off: {} is not a file", path);
            return false;
        }
        try {
            // libtorch first: the library links against the copy DJL loaded, not another one its loader would find
            Engine.getEngine("PyTorch");
            System.load(path.toString());
            logger.info("CUDA graphs on ({})", path);
            String strategy = System.getProperty(FUSION_STRATEGY_PROPERTY);
            if (strategy != null) {
                setFusionStrategy(strategy);
            }
            return true;
        } catch (RuntimeException | LinkageError e) {
            logger.warn("CUDA graphs off: {} did not load ({})", path, e.toString());
            return false;
        }
    }

    /**
     * Sets libtorch's fusion strategy for the graph executors created from now on (each scripted function creates
     * its own at its first call), see {@link #FUSION_STRATEGY_PROPERTY}. Needs the library loaded.
     *
     * @param strategy {@code KIND:COUNT[,KIND:COUNT...]}, KIND {@code STATIC} or {@code DYNAMIC}
     * @return whether it was set (a malformed one is refused with a warning)
     */
    static boolean setFusionStrategy(String strategy) {
        if (!FUSION_STRATEGY.matcher(strategy).matches()) {
            logger.warn("-D{}={} ignored: not KIND:COUNT[,KIND:COUNT...] with KIND STATIC or DYNAMIC",
                    FUSION_STRATEGY_PROPERTY, strategy);
            return false;
        }
        ScriptedFunction function = new ScriptedFunction("FusionStrategy", "anchor: Tensor, ids: Tensor", "Tensor",
                "    ops.engram_graphs.set_fusion_strategy(\"" + strategy + "\")\n    return ids\n",
                "TorchScript fusion strategy", true);
        FUSION_STRATEGY_FUNCTIONS.add(function);
        try (NDArray ids = HOST.create(new long[] {0})) {
            Optional<NDArray> out = function.callSingle(new NDList(ids, ids));
            out.ifPresent(NDArray::close);
            if (out.isEmpty()) {
                return false;
            }
        }
        fusionStrategySpec = strategy;
        logger.info("TorchScript fusion strategy {}", strategy);
        return true;
    }

    /** @return the fusion strategy {@link #setFusionStrategy} set last, or null (libtorch's own) */
    static String fusionStrategy() {
        return fusionStrategySpec;
    }

    /**
     * @param device a GPU
     * @return a one-element array there, never closed: names the device to the operations that need none of their
     *     own (dropping a graph while its pool's arrays are being closed)
     */
    static NDArray anchor(Device device) {
        return ANCHORS.computeIfAbsent(device, d -> HOST.newSubManager(d).zeros(new ai.djl.ndarray.types.Shape(1)));
    }

    /**
     * @param graph the graph's number
     * @param pool its memory pool's number
     * @return the CPU array {@code [graph, pool]} the operations read their numbers from; the caller closes it
     */
    static NDArray ids(long graph, long pool) {
        return HOST.create(new long[] {graph, pool});
    }

    /**
     * Starts recording this thread's CUDA work into graph {@code ids[0]} with memory from pool {@code ids[1]}.
     *
     * @param anchor an array on the device
     * @param ids see {@link #ids}
     * @return whether the capture started
     */
    static boolean begin(NDArray anchor, NDArray ids) {
        return run(BEGIN, anchor, ids);
    }

    /** @return whether the capture begun on this thread ended with a graph ready to replay */
    static boolean end(NDArray anchor, NDArray ids) {
        return run(END, anchor, ids);
    }

    /** Ends this thread's capture, if any, without a graph (after an error inside it). */
    static void abort(NDArray anchor, NDArray ids) {
        run(ABORT, anchor, ids);
    }

    /** Forgets graph {@code ids[0]}: its memory goes back to its pool. */
    static void dropGraph(NDArray anchor, NDArray ids) {
        run(DROP_GRAPH, anchor, ids);
    }

    /** Forgets pool {@code ids[1]}'s handle (after its graphs are dropped). */
    static void dropPool(NDArray anchor, NDArray ids) {
        run(DROP_POOL, anchor, ids);
    }

    private static boolean run(ScriptedFunction operation, NDArray anchor, NDArray ids) {
        Optional<NDArray> out = operation.callSingle(new NDList(anchor, ids));
        out.ifPresent(NDArray::close);
        return out.isPresent();
    }

    /**
     * One call that copies each input into its static array and replays the graph: the graph reads its inputs from
     * the static arrays, whose addresses it recorded.
     *
     * @param inputs {@code n} new inputs
     * @param statics the graph's {@code n} static inputs, same shapes
     * @param ids see {@link #ids}
     * @param outputs the graph's outputs (written by the replay)
     * @return the outputs as arrays of the first input's manager, or empty where the call failed
     */
    static Optional<NDList> replay(NDList inputs, NDList statics, NDArray ids, NDList outputs) {
        int n = inputs.size();
        int m = outputs.size();
        ScriptedFunction function = REPLAY.computeIfAbsent(((long) n << 32) | m, k -> replayFunction(n, m));
        NDList arguments = new NDList(2 * n + m + 1);
        arguments.add(inputs.get(0));
        arguments.add(ids);
        arguments.add(statics.get(0));
        for (int i = 1; i < n; i++) {
            arguments.add(inputs.get(i));
            arguments.add(statics.get(i));
        }
        arguments.addAll(outputs);
        return function.call(arguments);
    }

    private static ScriptedFunction replayFunction(int n, int m) {
        StringBuilder parameters = new StringBuilder("x0: Tensor, ids: Tensor, s0: Tensor");
        StringBuilder body = new StringBuilder("    s0.copy_(x0)\n");
        for (int i = 1; i < n; i++) {
            parameters.append(", x").append(i).append(": Tensor, s").append(i).append(": Tensor");
            body.append(ScriptedFunction.line("s%d.copy_(x%d)", i, i));
        }
        body.append("    ops.engram_graphs.replay(int(ids[0]))\n");
        StringBuilder returned = new StringBuilder();
        StringBuilder types = new StringBuilder();
        for (int j = 0; j < m; j++) {
            parameters.append(", o").append(j).append(": Tensor");
            returned.append(j == 0 ? "" : ", ").append('o').append(j);
            types.append(j == 0 ? "" : ", ").append("Tensor");
        }
        body.append("    return (").append(returned).append(m == 1 ? ",)\n" : ")\n");
        return ScriptedFunction.shared("GraphReplay", parameters.toString(), "Tuple[" + types + "]", body.toString(),
                "CUDA graph replay");
    }
}
