package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Causal multi-head attention with rotary positions and grouped key/value heads (GQA: {@code numKvHeads}
 * divides {@code numHeads}; 1 is multi-query, {@code numHeads} is plain multi-head). The cache stores rotated
 * keys and values per KV head.
 *
 * <p>Input {@code [B, T, d]}, output {@code [B, T, d]}.
 */
public class CausalSelfAttention extends ProjectionBlock implements Attention {

    private static final byte VERSION = 1;

    private final int hiddenSize;
    private final int numHeads;
    private final int numKvHeads;
    private final int headDim;
    private final double ropeTheta;
    private final Parameter query;
    private final Parameter key;
    private final Parameter value;
    private final Parameter output;

    /**
     * @param hiddenSize d
     * @param numHeads query heads
     * @param numKvHeads key/value heads, dividing numHeads
     * @param headDim width per head (even, for RoPE)
     * @param ropeTheta RoPE base
     */
    public CausalSelfAttention(int hiddenSize, int numHeads, int numKvHeads, int headDim, double ropeTheta) {
        super(VERSION);
        if (numHeads < 1 || numKvHeads < 1 || numHeads % numKvHeads != 0 || headDim < 2 || headDim % 2 != 0) {
            throw new IllegalArgumentException("attention needs num_key_value_heads (" + numKvHeads
                    + ") dividing num_attention_heads (" + numHeads + ") and an even head_dim (" + headDim + ")");
        }
        this.hiddenSize = hiddenSize;
        this.numHeads = numHeads;
        this.numKvHeads = numKvHeads;
        this.headDim = headDim;
        this.ropeTheta = ropeTheta;
        query = projection("q_proj", (long) numHeads * headDim, hiddenSize);
        key = projection("k_proj", (long) numKvHeads * headDim, hiddenSize);
        value = projection("v_proj", (long) numKvHeads * headDim, hiddenSize);
        output = projection("o_proj", hiddenSize, (long) numHeads * headDim);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Input {@code [B, T, d]}; with a {@link CacheSlot} in the parameters the positions continue after the
     * layer's cached ones, which they extend. Output {@code [B, T, d]}.
     */
    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        CacheSlot slot = CacheSlot.of(params);
        KVCache cache = slot == null ? null : slot.cache();
        int layer = slot == null ? 0 : slot.layer();
        Shape shape = x.getShape();
        if (shape.dimension() != 3 || shape.get(2) != hiddenSize) {
            throw new IllegalArgumentException("attention expects [B, T, " + hiddenSize + "], got " + shape);
        }
        long b = shape.get(0);
        long t = shape.get(1);
        long past = cache == null ? 0 : cache.length(layer);
        NDArray q = Linear.linear(x, ps.getValue(query, x.getDevice(), training)).singletonOrThrow()
                .reshape(b, t, numHeads, headDim);
        NDArray k = Linear.linear(x, ps.getValue(key, x.getDevice(), training)).singletonOrThrow()
                .reshape(b, t, numKvHeads, headDim);
        NDArray v = Linear.linear(x, ps.getValue(value, x.getDevice(), training)).singletonOrThrow()
                .reshape(b, t, numKvHeads, headDim);
        LeftPadding padding = LeftPadding.of(params);
        RotaryTables shared = RotaryTables.of(params);
        RopeScaling plain = RopeScaling.plain(ropeTheta);
        NDArray[] tables;
        if (shared != null) {
            tables = shared.cosSin(past, t, (int) b, headDim, plain, DataType.FLOAT32, x.getDataType(), padding);
        } else if (padding == null) {
            tables = RotaryEmbedding.cosSin(x.getManager(), past, t, headDim, plain, DataType.FLOAT32,
                    x.getDataType());
        } else {
            tables = RotaryEmbedding.cosSin(x.getManager(), padding.positions(past, t), (int) b, headDim, plain,
                    DataType.FLOAT32, x.getDataType());
        }
        q = RotaryEmbedding.apply(q, tables, false);
        k = RotaryEmbedding.apply(k, tables, false);
        if (cache != null) {
            NDList history = cache.append(layer, new NDList(k, v));
            k = history.get(0);
            v = history.get(1);
        }
        int group = numHeads / numKvHeads;
        if (group > 1) {
            k = k.repeat(2, group);
            v = v.repeat(2, group);
        }
        NDArray keyBias = padding == null ? null
                : padding.keyBias(x.getManager(), k.getShape().get(1), x.getDataType());
        NDArray attended = Attention.causalAttention(q.transpose(0, 2, 1, 3), k.transpose(0, 2, 1, 3),
                v.transpose(0, 2, 1, 3), 1.0 / Math.sqrt(headDim), keyBias);
        NDArray merged = attended.transpose(0, 2, 1, 3).reshape(b, t, (long) numHeads * headDim);
        return Linear.linear(merged, ps.getValue(output, x.getDevice(), training));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }
}
