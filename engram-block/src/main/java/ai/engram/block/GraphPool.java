package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The CUDA graphs one thread captures for one kind of forward (a decode step at one batch size) of one model, and
 * the memory they share. Graphs of a pool share one private memory pool: each graph's intermediates are dead once it
 * has run, so the next one may reuse them (a step's 60 graphs need the memory of the largest, not of all); what
 * outlives a graph (its outputs) is never freed while the pool lives. One thread replays a pool's graphs: a graph's
 * static inputs and outputs are one set of buffers, which two threads would overwrite for each other.
 *
 * <p>Pools belong to the model's manager (closing the model frees them) and to the thread that captured them; a
 * thread keeps at most {@link #PER_THREAD} pools per model, dropping the least recently used.
 */
final class GraphPool implements AutoCloseable {

    private static final Logger logger = LoggerFactory.getLogger(GraphPool.class);
    private static final int PER_THREAD = 4;
    private static final AtomicLong NUMBERS = new AtomicLong(1);
    /** Each thread's pools, by owner and signature, least recently used first. */
    private static final ThreadLocal<LinkedHashMap<Key, GraphPool>> POOLS =
            ThreadLocal.withInitial(() -> new LinkedHashMap<>(8, 0.75f, true));

    private record Key(NDManager owner, String signature) {}

    private final long number = NUMBERS.getAndIncrement();
    private final String signature;
    private final NDManager owner;
    private final NDManager manager;
    /** Names the device to the native operations; shared, outlives the pool (its manager may close first). */
    private final NDArray anchor;
    private final NDArray ids;
    private final List<CapturedRegion.Graph> graphs = new ArrayList<>();
    private boolean failed;
    private boolean closed;

    private GraphPool(NDManager owner, Device device, String signature) {
        this.signature = signature;
        this.owner = owner;
        // not a child of the model's manager, whose arrays are the model's (a benchmark counts them for leaks); the
        // model's manager closes the pool as one of its resources
        this.manager = NDManager.newBaseManager(device);
        this.anchor = CudaGraphs.anchor(device);
        this.ids = CudaGraphs.ids(0, number);
        owner.attachInternal(resourceId(), this);
    }

    private String resourceId() {
        return "engram-graph-pool-" + number;
    }

    /**
     * @param owner the model's manager: its closing frees the pool
     * @param device the device
     * @param signature what the pool's graphs have in common (the forward's kind and batch size)
     * @return this thread's pool for them, made on first use
     */
    static GraphPool of(NDManager owner, Device device, String signature) {
        LinkedHashMap<Key, GraphPool> pools = POOLS.get();
        Key key = new Key(owner, signature);
        GraphPool pool = pools.get(key);
        if (pool == null || pool.closed) {
            pools.values().removeIf(p -> p.closed); // closed with their models: let those be collected
            pool = new GraphPool(owner, device, signature);
            pools.put(key, pool);
            int same = 0;
            for (Key k : pools.keySet()) {
                same += k.owner() == owner ? 1 : 0;
            }
            Iterator<Map.Entry<Key, GraphPool>> oldest = pools.entrySet().iterator();
            while (same > PER_THREAD && oldest.hasNext()) {
                Map.Entry<Key, GraphPool> e = oldest.next();
                if (e.getKey().owner() == owner && e.getValue() != pool) {
                    GraphPool evicted = e.getValue();
                    evicted.owner.detachInternal(evicted.resourceId());
                    evicted.close();
                    oldest.remove();
                    same--;
                }
            }
        }
        return pool;
    }

    /** @return the pool's number, for the native operations */
    long number() {
        return number;
    }

    /** @return the manager of the pool's static arrays */
    NDManager manager() {
        return manager;
    }

    /** @return whether a capture in this pool failed: its regions then run their operations */
    boolean failed() {
        return failed || closed;
    }

    /** @return the graph numbers' source, shared by all pools */
    static long nextGraphNumber() {
        return NUMBERS.getAndIncrement();
    }

    void add(CapturedRegion.Graph graph) {
        graphs.add(graph);
    }

    /**
     * Gives up on graphs for this pool: its graphs are dropped and its regions run their operations from now on.
     *
     * @param what what failed
     * @param cause why, if known
     */
    void fail(String what, Throwable cause) {
        if (!failed) {
            failed = true;
            logger.warn("CUDA graphs off for {} on {}: {} failed{}; its steps run operation by operation", signature,
                    Thread.currentThread().getName(), what, cause == null ? "" : " (" + cause + ")");
            dropGraphs();
        }
    }

    private void dropGraphs() {
        for (CapturedRegion.Graph graph : graphs) {
            graph.drop(anchor);
        }
        graphs.clear();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            dropGraphs();
            CudaGraphs.dropPool(anchor, ids);
            ids.close();
            manager.close();
        }
    }
}
