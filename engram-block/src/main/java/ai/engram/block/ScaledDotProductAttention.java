package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.Optional;

/**
 * {@code softmax(q · kᵀ · scale + mask) · v} with the causal mask of cached positions and optional per-row key
 * masks: PyTorch's fused kernel where the engine can run it ({@link FusedAttention}), else the scores written out.
 */
final class ScaledDotProductAttention {

    private ScaledDotProductAttention() {}

    /**
     * @param q {@code [B, H, Tq, dk]}, the last Tq of Tk positions
     * @param k {@code [B, H, Tk, dk]}
     * @param v {@code [B, H, Tk, dv]}
     * @param scale multiplier of the scores
     * @param keyBias added to the scores, {@code [B, 1, 1, Tk]} ({@link LeftPadding#keyBias}), or null
     * @return {@code [B, H, Tq, dv]}
     */
    static NDArray compute(NDArray q, NDArray k, NDArray v, double scale, NDArray keyBias) {
        long tq = q.getShape().get(2);
        long tk = k.getShape().get(2);
        long past = tk - tq;
        boolean causal = tq > 1 || past < 0;
        if (causal && past == 0 && keyBias == null) {           // PyTorch's own causal mask is right only here
            Optional<NDArray> fused = FusedAttention.attend(q, k, v, scale, FusedAttention.Variant.CAUSAL, null);
            // Where the causal module has run before, its failure is the inputs' (or the memory's): the written-out
            // path reports it, and the masked module, which may not have run yet, is not tried with them (a first
            // failure would turn it off for good).
            return fused.orElseGet(() -> materialised(q, k, v, scale, causalBias(q, 0, tq, tk)));
        }
        NDArray causalBias = causal ? causalBias(q, past, tq, tk) : null;
        NDArray bias = keyBias == null ? causalBias : causalBias == null ? keyBias : causalBias.add(keyBias);
        Optional<NDArray> fused = bias == null
                ? FusedAttention.attend(q, k, v, scale, FusedAttention.Variant.PLAIN, null)
                : FusedAttention.attend(q, k, v, scale, FusedAttention.Variant.MASKED, bias);
        return fused.orElseGet(() -> materialised(q, k, v, scale, bias));
    }

    /**
     * The scores written out: two products, the mask and a softmax.
     *
     * @param bias added to the scores, broadcastable to {@code [B, H, Tq, Tk]}, or null
     * @return {@code [B, H, Tq, dv]}
     */
    static NDArray materialised(NDArray q, NDArray k, NDArray v, double scale, NDArray bias) {
        NDArray scores = Scalars.times(q.matMul(k.transpose(0, 1, 3, 2)), scale);
        return (bias == null ? scores : scores.add(bias)).softmax(-1).matMul(v);
    }

    /**
     * @return {@code [1, 1, Tq, Tk]} in q's type: 0 where query i (absolute position past + i) may see the key
     *     (keys 0..past + i), −∞ elsewhere
     */
    static NDArray causalBias(NDArray q, long past, long tq, long tk) {
        NDManager manager = q.getManager();
        NDArray queryPos = manager.arange((int) past, (int) (past + tq), 1, DataType.INT64).reshape(tq, 1);
        NDArray keyPos = manager.arange(0, (int) tk, 1, DataType.INT64).reshape(1, tk);
        NDArray future = keyPos.gt(queryPos);
        Shape maskShape = new Shape(tq, tk);
        return NDArrays.where(future, manager.full(maskShape, Float.NEGATIVE_INFINITY, q.getDataType()),
                manager.zeros(maskShape, q.getDataType())).reshape(1, 1, tq, tk);
    }
}
