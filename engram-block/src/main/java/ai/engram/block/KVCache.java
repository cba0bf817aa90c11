package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * Per-layer key/value state for incremental decoding. Each attention layer stores what it needs to attend to
 * past positions (full keys and values for multi-head attention, the compressed latent and the shared rotary
 * key for MLA) and appends the new positions on every step. The cache owns its arrays in its own manager, so
 * forward scopes can be closed between steps.
 *
 * <p>Each entry lives in a buffer with room for more positions than it holds: a step writes its new positions
 * into the buffer and reads the history as a view of it, so the work per step does not grow with the history (a
 * concatenation copies the whole history of every layer on every step: at 4,096 positions, batch 32 and MLA's 576
 * values per position, 18 GB of copies per step of a 30-layer model). The first buffers hold the prefill and 64
 * positions more; a full buffer is replaced by one twice as long, so the copies stay amortised O(1) per position,
 * at most twice the memory of the history itself.
 */
public final class KVCache implements AutoCloseable {

    /** Positions a layer's buffers hold at first beyond what the prefill writes. */
    private static final long INITIAL_ROOM = 64;

    private final NDManager manager;
    /** Per layer, one buffer per entry, {@code [B, capacity, ...]}; positions {@code [0, length)} are filled. */
    private final NDList[] layers;
    private final long[] lengths;
    private final NDArray[] convHistory;

    /**
     * @param parent manager whose device the cache lives on
     * @param numLayers decoder layers
     */
    public KVCache(NDManager parent, int numLayers) {
        this.manager = parent.newSubManager();
        this.layers = new NDList[numLayers];
        this.lengths = new long[numLayers];
        this.convHistory = new NDArray[numLayers];
    }

    /**
     * @param layer layer index
     * @return number of cached positions of that layer
     */
    public long length(int layer) {
        return lengths[layer];
    }

    /**
     * Appends new positions along the time axis (axis 1) and returns the full history.
     *
     * @param layer layer index
     * @param fresh the new entries, each {@code [B, T_new, ...]}
     * @return each entry's history including the new positions, {@code [B, T_past + T_new, ...]}: views of the
     *     cache's buffers that belong to the fresh entries' manager, so that what a step computes from them (DJL puts
     *     a result in its first operand's manager) is the step's and freed with it; valid until the cache closes
     */
    public NDList append(int layer, NDList fresh) {
        long past = lengths[layer];
        long length = past + fresh.get(0).getShape().get(1);
        NDList buffers = reserve(layer, fresh);
        NDList history = new NDList(fresh.size());
        NDIndex newPositions = new NDIndex(":, {}:{}", past, length);
        NDIndex filled = new NDIndex(":, :{}", length);
        for (int i = 0; i < fresh.size(); i++) {
            NDArray buffer = buffers.get(i);
            buffer.set(newPositions, fresh.get(i));
            NDArray view = buffer.get(filled);
            view.attach(fresh.get(i).getManager());
            history.add(view);
        }
        lengths[layer] = length;
        return history;
    }

    /**
     * Room for new positions without writing them: for a caller that writes them into the buffers itself (a decode
     * step's scripted attention, which saves the slices and copies of {@link #append}, six DJL operations per layer
     * and step) and then {@link #commit commits} them.
     *
     * @param layer layer index
     * @param fresh the entries about to be written, each {@code [B, T_new, ...]} (shapes, type and device)
     * @return the layer's buffers, {@code [B, capacity, ...]} with capacity for the new positions after the
     *     {@link #length} filled ones; owned by the cache: write only positions {@code [length, length + T_new)}
     */
    public NDList reserve(int layer, NDList fresh) {
        long past = lengths[layer];
        long length = past + fresh.get(0).getShape().get(1);
        NDList buffers = layers[layer];
        long capacity = buffers == null ? 0 : buffers.get(0).getShape().get(1);
        if (capacity < length) {
            // The first buffers fit the prefill and a little more (a long prompt with a short answer should not
            // cost twice its cache); later ones double, so the copies stay amortised O(1) per position.
            buffers = grown(buffers, past, fresh, buffers == null ? length + INITIAL_ROOM
                    : Math.max(length + INITIAL_ROOM, 2 * capacity));
            layers[layer] = buffers;
        }
        return buffers;
    }

    /**
     * Counts positions written into {@link #reserve}'s buffers as cached.
     *
     * @param layer layer index
     * @param added positions written after the filled ones
     * @throws IllegalStateException if the buffers have no room for them
     */
    public void commit(int layer, long added) {
        NDList buffers = layers[layer];
        long length = lengths[layer] + added;
        if (buffers == null || buffers.get(0).getShape().get(1) < length) {
            throw new IllegalStateException("layer " + layer + " has no room reserved for " + added + " positions");
        }
        lengths[layer] = length;
    }

    /**
     * @param old the layer's buffers, or null
     * @param filled the positions of {@code old} to keep
     * @param like the entries about to be appended (batch, trailing shape, type and device)
     * @param capacity positions of the new buffers
     * @return new buffers owned by the cache, holding {@code old}'s filled positions; {@code old} is closed
     */
    private NDList grown(NDList old, long filled, NDList like, long capacity) {
        NDList buffers = new NDList(like.size());
        for (int i = 0; i < like.size(); i++) {
            NDArray entry = like.get(i);
            Shape shape = entry.getShape();
            long[] dims = shape.getShape().clone(); // DJL's Shape hands out its own array: a change would
            dims[1] = capacity;                      // resize the entry as the rest of the step sees it
            NDArray buffer = manager.zeros(new Shape(dims), entry.getDataType(), entry.getDevice());
            if (old != null && filled > 0) {
                NDIndex kept = new NDIndex(":, :{}", filled);
                try (NDArray keptPositions = old.get(i).get(kept)) {
                    buffer.set(kept, keptPositions);
                }
            }
            buffers.add(buffer);
        }
        if (old != null) {
            old.close();
        }
        return buffers;
    }

    /**
     * @param layer layer index
     * @param scope the manager of the step that reads it
     * @return the last inputs of that layer's Engram short convolution ({@code [B, P, M, d]}), or null; owned by
     *     the cache, lent to {@code scope} until it closes (see {@link #lend})
     */
    public NDArray convHistory(int layer, NDManager scope) {
        NDArray history = convHistory[layer];
        if (history != null) {
            lend(history, scope);
        }
        return history;
    }

    /**
     * DJL puts an operation's result in the manager of its first operand: whatever a step computes from the
     * convolution history would otherwise belong to the cache and live until the generation ends. Lent to the step's
     * manager, the history is the first operand's owner only while the step runs; when that manager closes, the
     * history returns to the cache and the step's results are freed with it. (Attention's history is handed out as
     * views that belong to the step, {@link #append}, for the same reason: before either, the results computed from
     * it held about 1 GB per step at 27B scale and batch 32.)
     */
    private void lend(NDArray history, NDManager scope) {
        if (scope != manager && scope.isOpen()) {
            history.tempAttach(scope);
        }
    }

    /**
     * Replaces a layer's convolution history; the cache takes ownership of a copy.
     *
     * @param layer layer index
     * @param history the most recent convolution inputs, {@code [B, P, M, d]}
     */
    public void setConvHistory(int layer, NDArray history) {
        NDArray copy = history.duplicate();
        copy.attach(manager);
        if (convHistory[layer] != null) {
            convHistory[layer].close();
        }
        convHistory[layer] = copy;
    }

    @Override
    public void close() {
        manager.close();
    }
}
