package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * DeepSeek-V3's multi-head latent attention: queries through an optional low-rank bottleneck
 * ({@code q_lora_rank}), keys and values decompressed per head from a shared latent of width
 * {@code kv_lora_rank}, and a decoupled rotary part ({@code qk_rope_head_dim}) whose key is shared by all
 * heads. The cache stores only the latent and the rotary key, {@code kv_lora_rank + qk_rope_head_dim} values per
 * position instead of {@code 2·H·head_dim}.
 *
 * <p>Input {@code [B, T, d]}, output {@code [B, T, d]}.
 */
public class MultiHeadLatentAttention extends ProjectionBlock implements Attention {

    private static final byte VERSION = 1;

    private final int hiddenSize;
    private final int numHeads;
    private final int qLoraRank;
    private final int kvLoraRank;
    private final int nopeDim;
    private final int ropeDim;
    private final int valueDim;
    private final RopeScaling rope;
    private final boolean ropeInterleaved;
    private final DataType reducedOpsType;
    private final Parameter qA;
    private final RMSNorm qNorm;
    private final Parameter qB;
    private final Parameter kvA;
    private final RMSNorm kvNorm;
    private final Parameter kvB;
    private final Parameter output;

    protected MultiHeadLatentAttention(Builder b) {
        super(VERSION);
        hiddenSize = b.hiddenSize;
        numHeads = b.numHeads;
        qLoraRank = b.qLoraRank;
        kvLoraRank = b.kvLoraRank;
        nopeDim = b.nopeDim;
        ropeDim = b.ropeDim;
        valueDim = b.valueDim;
        rope = b.rope;
        ropeInterleaved = b.ropeInterleaved;
        reducedOpsType = b.reducedOpsType;
        long qWidth = (long) numHeads * (nopeDim + ropeDim);
        if (qLoraRank > 0) {
            qA = projection("q_a_proj", qLoraRank, hiddenSize);
            qNorm = addChildBlock("q_a_layernorm",
                    RMSNorm.builder().setGainShape(new Shape(qLoraRank)).optEpsilon(b.normEpsilon)
                            .optComputeType(b.reducedOpsType).build());
            qB = projection("q_b_proj", qWidth, qLoraRank);
        } else {
            qA = null;
            qNorm = null;
            qB = projection("q_proj", qWidth, hiddenSize);
        }
        kvA = projection("kv_a_proj_with_mqa", (long) kvLoraRank + ropeDim, hiddenSize);
        kvNorm = addChildBlock("kv_a_layernorm",
                RMSNorm.builder().setGainShape(new Shape(kvLoraRank)).optEpsilon(b.normEpsilon)
                        .optComputeType(b.reducedOpsType).build());
        kvB = projection("kv_b_proj", (long) numHeads * (nopeDim + valueDim), kvLoraRank);
        output = projection("o_proj", hiddenSize, (long) numHeads * valueDim);
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
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
            throw new IllegalArgumentException("MLA expects [B, T, " + hiddenSize + "], got " + shape);
        }
        long b = shape.get(0);
        long t = shape.get(1);
        long past = cache == null ? 0 : cache.length(layer);

        NDArray q;
        if (qA != null) {
            NDArray latentQ = Linear.linear(x, ps.getValue(qA, x.getDevice(), training)).singletonOrThrow();
            latentQ = qNorm.forward(ps, new NDList(latentQ), training).singletonOrThrow();
            q = Linear.linear(latentQ, ps.getValue(qB, x.getDevice(), training)).singletonOrThrow();
        } else {
            q = Linear.linear(x, ps.getValue(qB, x.getDevice(), training)).singletonOrThrow();
        }
        q = q.reshape(b, t, numHeads, nopeDim + ropeDim);
        NDArray qNope = q.get(new NDIndex("..., :{}", nopeDim));
        LeftPadding padding = LeftPadding.of(params);
        RotaryTables shared = RotaryTables.of(params);
        NDArray[] cosSin;
        if (shared != null) {
            cosSin = shared.cosSin(past, t, (int) b, ropeDim, rope, reducedOpsType, x.getDataType(), padding);
        } else if (padding == null) {
            cosSin = RotaryEmbedding.cosSin(x.getManager(), past, t, ropeDim, rope, reducedOpsType, x.getDataType());
        } else {
            cosSin = RotaryEmbedding.cosSin(x.getManager(), padding.positions(past, t), (int) b, ropeDim, rope,
                    reducedOpsType, x.getDataType());
        }
        NDArray qRope = RotaryEmbedding.apply(q.get(new NDIndex("..., {}:", nopeDim)), cosSin, ropeInterleaved);

        NDArray compressed = Linear.linear(x, ps.getValue(kvA, x.getDevice(), training)).singletonOrThrow();
        NDArray latent = compressed.get(new NDIndex("..., :{}", kvLoraRank));
        NDArray kRope = RotaryEmbedding.apply(
                compressed.get(new NDIndex("..., {}:", kvLoraRank)).reshape(b, t, 1, ropeDim), cosSin, ropeInterleaved);
        if (cache != null) {
            NDList history = cache.append(layer, new NDList(latent, kRope));
            latent = history.get(0);
            kRope = history.get(1);
        }
        long total = latent.getShape().get(1);
        NDArray kv = Linear.linear(kvNorm.forward(ps, new NDList(latent), training).singletonOrThrow(),
                ps.getValue(kvB, x.getDevice(), training)).singletonOrThrow()
                .reshape(b, total, numHeads, nopeDim + valueDim);
        NDArray kNope = kv.get(new NDIndex("..., :{}", nopeDim));
        NDArray v = kv.get(new NDIndex("..., {}:", nopeDim));

        NDArray queries = NDArrays.concat(new NDList(qNope, qRope), -1).transpose(0, 2, 1, 3);
        NDArray keys = NDArrays.concat(new NDList(kNope, kRope.repeat(2, numHeads)), -1).transpose(0, 2, 1, 3);
        NDArray keyBias = padding == null ? null : padding.keyBias(x.getManager(), total, queries.getDataType());
        NDArray attended = Attention.causalAttention(queries, keys, v.transpose(0, 2, 1, 3),
                rope.softmaxScaleFactor() / Math.sqrt(nopeDim + ropeDim), keyBias);
        NDArray merged = attended.transpose(0, 2, 1, 3).reshape(b, t, (long) numHeads * valueDim);
        return Linear.linear(merged, ps.getValue(output, x.getDevice(), training));
    }

    @Override
    protected void initializeChildBlocks(ai.djl.ndarray.NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape in = inputShapes[0];
        if (qNorm != null) {
            qNorm.initialize(manager, dataType, new Shape(in.get(0), in.get(1), qLoraRank));
        }
        kvNorm.initialize(manager, dataType, new Shape(in.get(0), in.get(1), kvLoraRank));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** Builds a {@link MultiHeadLatentAttention} from DeepSeek-V3's config names. */
    public static final class Builder {
        private int hiddenSize;
        private int numHeads;
        private int qLoraRank;
        private int kvLoraRank;
        private int nopeDim;
        private int ropeDim;
        private int valueDim;
        private RopeScaling rope = RopeScaling.plain(10000);
        private boolean ropeInterleaved;
        private DataType reducedOpsType = DataType.FLOAT32;
        /** DeepSeek-V3 builds q_a_layernorm and kv_a_layernorm with RMSNorm's default eps, not rms_norm_eps. */
        private double normEpsilon = 1e-6;

        private Builder() {}

        public Builder setHiddenSize(int d) {
            hiddenSize = d;
            return this;
        }

        public Builder setNumHeads(int heads) {
            numHeads = heads;
            return this;
        }

        /**
         * @param rank q_lora_rank; 0 for a full-rank query projection
         * @return this
         */
        public Builder optQLoraRank(int rank) {
            qLoraRank = rank;
            return this;
        }

        public Builder setKvLoraRank(int rank) {
            kvLoraRank = rank;
            return this;
        }

        public Builder setQkNopeHeadDim(int dim) {
            nopeDim = dim;
            return this;
        }

        public Builder setQkRopeHeadDim(int dim) {
            ropeDim = dim;
            return this;
        }

        public Builder setVHeadDim(int dim) {
            valueDim = dim;
            return this;
        }

        /**
         * @param scaling rotary frequencies (base, and yarn's long-context scaling)
         * @return this
         */
        public Builder optRope(RopeScaling scaling) {
            rope = scaling;
            return this;
        }

        /**
         * @param interleaved whether the rotary channels of q_b_proj and kv_a_proj_with_mqa are interleaved pairs
         *     (DeepSeek-V3 checkpoints: {@code rope_interleave: true})
         * @return this
         */
        public Builder optRopeInterleaved(boolean interleaved) {
            ropeInterleaved = interleaved;
            return this;
        }

        /**
         * @param type the type the q/kv norms and the RoPE tables are computed in (float32, as DeepSeek-V3 and
         *     transformers); null computes them in the input's type
         * @return this
         */
        public Builder optReducedOpsType(DataType type) {
            reducedOpsType = type;
            return this;
        }

        public Builder optNormEpsilon(double eps) {
            normEpsilon = eps;
            return this;
        }

        /** @return the block */
        public MultiHeadLatentAttention build() {
            if (hiddenSize < 1 || numHeads < 1 || kvLoraRank < 1 || nopeDim < 0 || ropeDim < 2 || ropeDim % 2 != 0
                    || valueDim < 1 || qLoraRank < 0) {
                throw new IllegalArgumentException("invalid MLA dimensions: hidden_size=" + hiddenSize + ", heads="
                        + numHeads + ", q_lora_rank=" + qLoraRank + ", kv_lora_rank=" + kvLoraRank
                        + ", qk_nope_head_dim=" + nopeDim + ", qk_rope_head_dim=" + ropeDim + " (even), v_head_dim="
                        + valueDim);
            }
            return new MultiHeadLatentAttention(this);
        }
    }
}
