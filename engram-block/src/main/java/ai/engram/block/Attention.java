package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;

/**
 * A causal self-attention layer: {@code forward(ps, [x [B, T, d]], training, params)} returns {@code [B, T, d]};
 * with a {@link CacheSlot} in {@code params} it decodes incrementally, attending to the slot's cached positions and
 * appending the new ones.
 */
public interface Attention extends Block {

    /**
     * Softmax attention with a causal mask that accounts for cached positions, shared by all attention kinds.
     *
     * @param q {@code [B, H, Tq, dk]}
     * @param k {@code [B, H, Tk, dk]}
     * @param v {@code [B, H, Tk, dv]}
     * @param scale multiplier of the scores (usually {@code 1/sqrt(dk)})
     * @return {@code [B, H, Tq, dv]}
     */
    static NDArray causalAttention(NDArray q, NDArray k, NDArray v, double scale) {
        return causalAttention(q, k, v, scale, null);
    }

    /**
     * {@link #causalAttention(NDArray, NDArray, NDArray, double)} with keys hidden per row.
     *
     * @param q {@code [B, H, Tq, dk]}
     * @param k {@code [B, H, Tk, dk]}
     * @param v {@code [B, H, Tk, dv]}
     * @param scale multiplier of the scores
     * @param keyBias added to the scores, {@code [B, 1, 1, Tk]} ({@link LeftPadding#keyBias}), or null
     * @return {@code [B, H, Tq, dv]}
     */
    static NDArray causalAttention(NDArray q, NDArray k, NDArray v, double scale, NDArray keyBias) {
        long tq = q.getShape().get(2);
        long tk = k.getShape().get(2);
        long past = tk - tq;
        NDManager manager = q.getManager();
        NDArray scores = Scalars.times(q.matMul(k.transpose(0, 1, 3, 2)), scale);
        if (tq > 1 || past < 0) {
            // Query i (absolute position past + i) may see keys 0..past + i.
            NDArray queryPos = manager.arange((int) past, (int) (past + tq), 1, DataType.INT64).reshape(tq, 1);
            NDArray keyPos = manager.arange(0, (int) tk, 1, DataType.INT64).reshape(1, tk);
            NDArray future = keyPos.gt(queryPos);
            Shape maskShape = new Shape(tq, tk);
            NDArray bias = NDArrays.where(future, manager.full(maskShape, Float.NEGATIVE_INFINITY, scores.getDataType()),
                    manager.zeros(maskShape, scores.getDataType()));
            scores = scores.add(bias.reshape(1, 1, tq, tk));
        }
        if (keyBias != null) {
            scores = scores.add(keyBias);
        }
        return scores.softmax(-1).matMul(v);
    }
}
