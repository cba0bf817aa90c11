package ai.engram.block;

import ai.djl.ndarray.NDArray;
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
        return ScaledDotProductAttention.compute(q, k, v, scale, keyBias);
    }
}
