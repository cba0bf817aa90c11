package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

/**
 * What each Engram layer of a forward reads: hash ids {@code [B, T, (N-1)·K]} for device tables, or rows
 * {@code [B, T, (N-1)·K·D]} gathered from off-device tables. The model asks for a layer's input only when it
 * reaches that layer, so a prefetcher's later layers keep gathering while earlier layers compute.
 */
public interface EngramInputs {

    /**
     * @param engramIndex position of the layer in {@code engram.layer_ids}
     * @param manager the forward's manager (its device is the compute device)
     * @return the layer's hash ids or gathered rows
     */
    NDArray forLayer(int engramIndex, NDManager manager);

    /**
     * @param perLayer one array per Engram layer, in config order
     * @return inputs that hand them out
     */
    static EngramInputs of(NDList perLayer) {
        return (i, manager) -> perLayer.get(i);
    }
}
