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
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

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
            return true;
        } catch (RuntimeException | LinkageError e) {
            logger.warn("CUDA graphs off: {} did not load ({})", path, e.toString());
            return false;
        }
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
