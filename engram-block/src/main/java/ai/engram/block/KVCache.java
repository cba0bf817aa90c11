package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

/**
 * Per-layer key/value state for incremental decoding. Each attention layer stores what it needs to attend to
 * past positions (full keys and values for multi-head attention, the compressed latent and the shared rotary
 * key for MLA) and appends the new positions on every step. The cache owns its arrays in its own manager, so
 * forward scopes can be closed between steps.
 */
public final class KVCache implements AutoCloseable {

    private final NDManager manager;
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
     * @return each entry concatenated with its history, {@code [B, T_past + T_new, ...]}; owned by the cache, lent
     *     to the fresh entries' manager until it closes (see {@link #lend})
     */
    public NDList append(int layer, NDList fresh) {
        NDList previous = layers[layer];
        NDList combined = new NDList(fresh.size());
        for (int i = 0; i < fresh.size(); i++) {
            NDArray entry = previous == null ? fresh.get(i).duplicate()
                    : NDArrays.concat(new NDList(previous.get(i), fresh.get(i)), 1);
            entry.attach(manager);
            lend(entry, fresh.get(i).getManager());
            combined.add(entry);
        }
        if (previous != null) {
            previous.close();
        }
        layers[layer] = combined;
        lengths[layer] = combined.get(0).getShape().get(1);
        return combined;
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
     * DJL puts an operation's result in the manager of its first operand: whatever a step computes from the history
     * (MLA's normalised latent and key/value expansion, repeated keys, the convolution window) would otherwise
     * belong to the cache and live until the generation ends — about 1 GB per step at 27B scale and batch 32. Lent
     * to the step's manager, the history is the first operand's owner only while the step runs; when that manager
     * closes, the history returns to the cache and the step's results are freed with it.
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
