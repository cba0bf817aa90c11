package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * A piece of an inference forward that, once warm, runs as one replayed CUDA graph ({@link CudaGraphs}) instead of
 * its operations one by one: a decode step issues ~4,400 libtorch operators, and their host cost (5-15 µs each to
 * dispatch and launch, against ~2 µs a kernel takes to start inside a graph) bounds it (docs/BENCHMARKS.md).
 *
 * <p>A region's computation must depend only on its inputs and the model's parameters, with shapes fixed by the
 * inputs' shapes, and read nothing back to the host: everything position-dependent (rotary tables, the attention
 * cache) stays outside. For each pool ({@link GraphPool}: thread, model, batch) and input shapes the region runs its
 * operations {@link #WARM_UP_CALLS} times (libtorch's graph executor profiles and optimises the scripted functions on
 * their first calls, and lazily built caches are made outside the graph), then captures them once with copies of the
 * inputs as static inputs, and from then on copies each call's inputs into those and replays, in one call.
 *
 * <p>A graph reads the parameters at the addresses it was captured with: updates in place (an optimizer's step) are
 * seen, a parameter given a new array is not (nothing in the project does that to a loaded model).
 *
 * <p>The outputs are the graph's own arrays, handed out as new handles of the caller's manager: valid until this
 * region's next call in the same pool, which overwrites them. {@link #isActive()} tells computations inside a region
 * (warm-up or capture) to keep their work on the device.
 */
public final class CapturedRegion {

    /** Calls that run the operations before a graph is captured. */
    public static final int WARM_UP_CALLS = 3;
    private static final ThreadLocal<int[]> ACTIVE = ThreadLocal.withInitial(() -> new int[1]);
    private static final ThreadSwitch OFF_ON_THIS_THREAD = new ThreadSwitch();
    private static final AtomicLong REPLAYS = new AtomicLong();

    private final String name;
    private final Map<GraphKey, Graph> graphs = new ConcurrentHashMap<>();

    private record GraphKey(GraphPool pool, List<Shape> shapes, List<DataType> types) {}

    /** @param name what the region computes, for messages */
    public CapturedRegion(String name) {
        this.name = name;
    }

    /**
     * @return whether this thread runs inside a region's computation (warming up or being captured): no host reads,
     *     no synchronisation, no lazily built device caches there
     */
    public static boolean isActive() {
        return ACTIVE.get()[0] > 0;
    }

    /**
     * @param device the forward's device
     * @return whether regions capture graphs for a forward there: a GPU with the library, graphs on, and nothing
     *     recording autograd (graphs are for inference only; asked last, as it crosses into the engine)
     */
    public static boolean capturing(Device device) {
        return !OFF_ON_THIS_THREAD.isOff() && !ScriptedFunction.offOnThisThread() && CudaGraphs.available(device)
                && !TorchGradMode.isRecording();
    }

    /**
     * Runs a computation with graphs off on this thread (its forwards run their operations), to compare the two.
     *
     * @param computation what to compute
     * @param <T> its result
     * @return the result
     */
    public static <T> T withoutGraphs(Supplier<T> computation) {
        return OFF_ON_THIS_THREAD.offWhile(computation);
    }

    /** @return how many graph replays all regions have run in this process (for tests and benchmarks) */
    public static long replays() {
        return REPLAYS.get();
    }

    /**
     * @param owner the model's manager (a parameter's): closing the model frees the graphs
     * @param signature what all regions called in one forward have in common (kind of forward and batch size)
     * @param inputs the computation's inputs, on a GPU
     * @param computation what to run, from the inputs alone
     * @return the computation's outputs
     */
    public NDList run(NDManager owner, String signature, NDList inputs, UnaryOperator<NDList> computation) {
        GraphPool pool = GraphPool.of(owner, inputs.get(0).getDevice(), signature);
        if (pool.failed()) {
            return computation.apply(inputs);
        }
        List<Shape> shapes = new ArrayList<>(inputs.size());
        List<DataType> types = new ArrayList<>(inputs.size());
        for (NDArray input : inputs) {
            shapes.add(input.getShape());
            types.add(input.getDataType());
        }
        GraphKey key = new GraphKey(pool, shapes, types);
        Graph graph = graphs.get(key);
        if (graph == null) {
            graphs.keySet().removeIf(k -> k.pool().failed()); // pools closed with their model or evicted
            graph = new Graph(pool);
            graphs.put(key, graph);
        }
        if (graph.calls < WARM_UP_CALLS) {
            graph.calls++;
            return inside(() -> computation.apply(inputs));
        }
        if (!graph.captured && !graph.capture(inputs, computation)) {
            return computation.apply(inputs);
        }
        Optional<NDList> out = CudaGraphs.replay(inputs, graph.statics, graph.ids, graph.outputs);
        if (out.isEmpty()) {
            pool.fail(name + "'s replay", null);
            return computation.apply(inputs);
        }
        REPLAYS.incrementAndGet();
        return out.get();
    }

    private static NDList inside(Supplier<NDList> computation) {
        int[] depth = ACTIVE.get();
        depth[0]++;
        try {
            return computation.get();
        } finally {
            depth[0]--;
        }
    }

    /** One captured graph: its static inputs and outputs, in its pool's manager. */
    final class Graph {
        private final GraphPool pool;
        private final long number = GraphPool.nextGraphNumber();
        private int calls;
        private boolean captured;
        private NDList statics;
        private NDList outputs;
        private NDArray ids;

        private Graph(GraphPool pool) {
            this.pool = pool;
        }

        /** @return whether the graph was captured; false when the pool gave up (it then runs operations) */
        private boolean capture(NDList inputs, UnaryOperator<NDList> computation) {
            NDManager manager = pool.manager();
            // what the computation makes is the capture's: kept in the graph's pool; the intermediates' handles are
            // closed with this scope, the static inputs' and the outputs' kept
            try (NDManager scope = manager.newSubManager()) {
                statics = new NDList(inputs.size());
                for (NDArray input : inputs) {
                    NDArray copy = input.duplicate();
                    copy.attach(scope);
                    statics.add(copy);
                }
                ids = CudaGraphs.ids(number, pool.number());
                NDArray anchor = statics.get(0);
                if (!CudaGraphs.begin(anchor, ids)) {
                    pool.fail(name + "'s capture", null);
                    return false;
                }
                pool.add(this);
                NDList out;
                try {
                    out = inside(() -> computation.apply(statics));
                } catch (RuntimeException e) {
                    CudaGraphs.abort(anchor, ids);
                    pool.fail(name + "'s capture", e);
                    return false;
                }
                if (!CudaGraphs.end(anchor, ids)) {
                    pool.fail(name + "'s capture", null);
                    return false;
                }
                for (NDArray s : statics) {
                    s.attach(manager);
                }
                outputs = new NDList(out.size());
                for (NDArray o : out) {
                    o.attach(manager);
                    outputs.add(o);
                }
            }
            captured = true;
            return true;
        }

        void drop(NDArray anchor) {
            if (ids != null) {
                CudaGraphs.dropGraph(anchor, ids);
                ids.close();
                ids = null;
            }
            captured = false;
            statics = null;
            outputs = null;
        }
    }
}
