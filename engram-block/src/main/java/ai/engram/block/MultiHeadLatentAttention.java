package ai.engram.block;

import ai.djl.Device;
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

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

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
    private static final String KEYS_AND_VALUES_PARAMETERS = "qNope: Tensor, qRope: Tensor, latent: Tensor, "
            + "kRope: Tensor, kv_gain: Tensor, kvB: Tensor";
    /** The attention's output heads merged and projected: {@code o_proj(attended as [B, T, H·v])}. */
    private static final ScriptedFunction OUTPUT = new ScriptedFunction("MlaOutput", "attended: Tensor, o: Tensor",
            "Tensor", "    merged = torch.transpose(attended, 1, 2)\n"
                    + "    return torch.linear(torch.reshape(merged, [merged.size(0), merged.size(1), -1]), o)\n",
            "scripted MLA output", true);

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
    /** The scripted functions by input type (their source depends on it through the norms' compute type). */
    private final Map<DataType, Optional<ScriptedFunction>> projectFunctions = new ConcurrentHashMap<>();
    private final Map<DataType, Optional<ScriptedFunction>> keysAndValuesFunctions = new ConcurrentHashMap<>();
    /**
     * {@link #decodeAttentionFunction} by input type, whether rows hide keys (left padding) and whether the call
     * writes into a cache.
     */
    private final Map<List<Object>, Optional<ScriptedFunction>> decodeAttentionFunctions = new ConcurrentHashMap<>();

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
     * layer's cached ones, which they extend. Output {@code [B, T, d]}. The three steps are public for a decode step
     * that replays the first and the last as CUDA graphs ({@code DecoderLayer}): {@link #rotary} and
     * {@link #attend} move with the position, {@link #projectNew} and {@link #outputProjection} do not.
     */
    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        Shape shape = x.getShape();
        if (shape.dimension() != 3 || shape.get(2) != hiddenSize) {
            throw new IllegalArgumentException("MLA expects [B, T, " + hiddenSize + "], got " + shape);
        }
        NDList projected = projectNew(ps, x, rotary(x, params), training);
        return new NDList(outputProjection(ps, attend(ps, projected, params, training), training));
    }

    /**
     * @param x the input {@code [B, T, d]} (or anything {@code [B, T, ...]} of its type and manager)
     * @param params the forward's parameters (cache slot, left padding, shared rotary tables)
     * @return the rotary tables {@code cos, sin} of the new positions, after the layer's cached ones
     */
    public NDArray[] rotary(NDArray x, PairList<String, Object> params) {
        CacheSlot slot = CacheSlot.of(params);
        long past = slot == null ? 0 : slot.cache().length(slot.layer());
        long b = x.getShape().get(0);
        long t = x.getShape().get(1);
        LeftPadding padding = LeftPadding.of(params);
        RotaryTables shared = RotaryTables.of(params);
        if (shared != null) {
            return shared.cosSin(past, t, (int) b, ropeDim, rope, reducedOpsType, x.getDataType(), padding);
        } else if (padding == null) {
            return RotaryEmbedding.cosSin(x.getManager(), past, t, ropeDim, rope, reducedOpsType, x.getDataType());
        }
        return RotaryEmbedding.cosSin(x.getManager(), padding.positions(past, t), (int) b, ropeDim, rope,
                reducedOpsType, x.getDataType());
    }

    /**
     * The new positions' projections: one scripted call in inference, else DJL operations ({@link #project}).
     *
     * @param x the input {@code [B, T, d]}
     * @param cosSin {@link #rotary}'s tables
     * @return {@code qNope [B, T, H, nope]}, {@code qRope [B, T, H, rope]}, {@code latent [B, T, kv_lora_rank]},
     *     {@code kRope [B, T, 1, rope]}
     */
    public NDList projectNew(ParameterStore ps, NDArray x, NDArray[] cosSin, boolean training) {
        NDList projected = training ? null : scripted(projectFunctions.computeIfAbsent(x.getDataType(),
                type -> Optional.ofNullable(projectFunction(type))), projectArguments(ps, x, cosSin));
        return projected != null ? projected : project(ps, x, cosSin, training);
    }

    /**
     * Extends the cache (if any) with the new positions and attends over every position.
     *
     * @param projected {@link #projectNew}'s four arrays
     * @param params the forward's parameters (cache slot, left padding)
     * @return the attended values {@code [B, H, T, v]}
     */
    public NDArray attend(ParameterStore ps, NDList projected, PairList<String, Object> params, boolean training) {
        CacheSlot slot = CacheSlot.of(params);
        NDArray latent = projected.get(2);
        NDArray kRope = projected.get(3);
        double scale = rope.softmaxScaleFactor() / Math.sqrt(nopeDim + ropeDim);
        LeftPadding padding = LeftPadding.of(params);
        if (!training && projected.get(0).getShape().get(1) == 1 && FusedAttention.enabled()) {
            NDArray attended = decodeAttention(ps, projected, slot, padding, scale);
            if (attended != null) {
                return attended;
            }
        }
        if (slot != null) {
            NDList history = slot.cache().append(slot.layer(), new NDList(latent, kRope));
            latent = history.get(0);
            kRope = history.get(1);
        }
        long total = latent.getShape().get(1);
        NDArray keyBias = padding == null ? null : padding.keyBias(latent.getManager(), total,
                projected.get(0).getDataType());
        NDList qkv = null;
        if (!training) {
            NDList arguments = new NDList(projected.get(0), projected.get(1), latent, kRope);
            NDList norm = kvNorm.scriptArguments(ps, latent);
            if (norm != null) {
                arguments.addAll(norm);
                arguments.add(ps.getValue(kvB, latent.getDevice(), false));
                qkv = scripted(keysAndValuesFunctions.computeIfAbsent(latent.getDataType(),
                        type -> Optional.ofNullable(keysAndValuesFunction(type))), arguments);
            }
        }
        if (qkv == null) {
            qkv = keysAndValues(ps, projected.get(0), projected.get(1), latent, kRope, training);
        }
        return Attention.causalAttention(qkv.get(0), qkv.get(1), qkv.get(2), scale, keyBias);
    }

    /**
     * One new position per row (a decode step): the keys and values of every position and the fused attention over
     * them as one scripted call instead of two (one query may see every key, so no causal mask). With a cache the
     * call also writes the new position into the cache's buffers ({@link KVCache#reserve}) and reads the history as
     * slices of them, where {@link KVCache#append} costs six DJL operations per layer and step (a slice and a copy
     * per entry, a view per entry).
     *
     * @param slot the layer's cache, or null (the new position is then every position)
     * @param padding the rows' left padding, or null
     * @return the attended values {@code [B, H, 1, v]}, or null where there is no scripted form (a cache then holds
     *     nothing new: {@link KVCache#append} writes the same position again)
     */
    private NDArray decodeAttention(ParameterStore ps, NDList projected, CacheSlot slot, LeftPadding padding,
            double scale) {
        NDArray latent = projected.get(2);
        NDList norm = kvNorm.scriptArguments(ps, latent);
        if (norm == null) {
            return null;
        }
        boolean intoCache = slot != null;
        NDList arguments = new NDList(projected.get(0), projected.get(1));
        long past = 0;
        if (intoCache) {
            past = slot.cache().length(slot.layer());
            arguments.addAll(slot.cache().reserve(slot.layer(), projected.subNDList(2, 4)));
        }
        arguments.add(latent);
        arguments.add(projected.get(3));
        arguments.addAll(norm);
        arguments.add(ps.getValue(kvB, latent.getDevice(), false));
        arguments.add(ScriptedFunction.hostScalar(scale));
        if (intoCache) {
            arguments.add(ScriptedFunction.hostScalar(past));
        }
        NDArray keyBias = padding == null ? null : padding.keyBias(latent.getManager(),
                past + latent.getShape().get(1), projected.get(0).getDataType());
        if (keyBias != null) {
            arguments.add(keyBias);
        }
        DataType type = latent.getDataType();
        boolean masked = keyBias != null;
        Optional<ScriptedFunction> function = decodeAttentionFunctions.computeIfAbsent(
                List.of(type, masked, intoCache),
                k -> Optional.ofNullable(decodeAttentionFunction(type, masked, intoCache)));
        NDList out = scripted(function, arguments);
        if (out == null) {
            return null;
        }
        if (intoCache) {
            slot.cache().commit(slot.layer(), 1);
        }
        return out.singletonOrThrow();
    }

    /**
     * @param device a device
     * @return whether a decode step wrote into its cache from the scripted attention there (for tests)
     */
    boolean cachedDecodeAttentionHasRun(Device device) {
        return decodeAttentionFunctions.entrySet().stream().anyMatch(e -> Boolean.TRUE.equals(e.getKey().get(2))
                && e.getValue().isPresent() && e.getValue().get().hasRun(device));
    }

    /**
     * @param attended {@link #attend}'s values {@code [B, H, T, v]}
     * @return the heads merged and projected, {@code [B, T, d]}
     */
    public NDArray outputProjection(ParameterStore ps, NDArray attended, boolean training) {
        NDArray weight = ps.getValue(output, attended.getDevice(), training);
        if (!training) {
            Optional<NDArray> out = OUTPUT.callSingle(new NDList(attended, weight));
            if (out.isPresent()) {
                return out.get();
            }
        }
        Shape shape = attended.getShape();
        NDArray merged = attended.transpose(0, 2, 1, 3).reshape(shape.get(0), shape.get(2),
                (long) numHeads * valueDim);
        return Linear.linear(merged, weight).singletonOrThrow();
    }

    /**
     * The projections before the cache: queries (through the low-rank bottleneck and its norm) split into their
     * plain and rotated parts, and the compressed latent and rotary key of the new positions.
     *
     * @return {@code qNope [B, T, H, nope]}, {@code qRope [B, T, H, rope]}, {@code latent [B, T, kv_lora_rank]},
     *     {@code kRope [B, T, 1, rope]}
     */
    private NDList project(ParameterStore ps, NDArray x, NDArray[] cosSin, boolean training) {
        Shape shape = x.getShape();
        long b = shape.get(0);
        long t = shape.get(1);
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
        NDArray qRope = RotaryEmbedding.apply(q.get(new NDIndex("..., {}:", nopeDim)), cosSin, ropeInterleaved);
        NDArray compressed = Linear.linear(x, ps.getValue(kvA, x.getDevice(), training)).singletonOrThrow();
        NDArray latent = compressed.get(new NDIndex("..., :{}", kvLoraRank));
        NDArray kRope = RotaryEmbedding.apply(
                compressed.get(new NDIndex("..., {}:", kvLoraRank)).reshape(b, t, 1, ropeDim), cosSin, ropeInterleaved);
        return new NDList(qNope, qRope, latent, kRope);
    }

    /**
     * The keys and values of every position from the (cached) latent and rotary keys, and the queries, in the
     * attention's layout.
     *
     * @return queries {@code [B, H, T, nope + rope]}, keys {@code [B, H, Tk, nope + rope]}, values
     *     {@code [B, H, Tk, v]}
     */
    private NDList keysAndValues(ParameterStore ps, NDArray qNope, NDArray qRope, NDArray latent, NDArray kRope,
            boolean training) {
        long b = latent.getShape().get(0);
        long total = latent.getShape().get(1);
        NDArray kv = Linear.linear(kvNorm.forward(ps, new NDList(latent), training).singletonOrThrow(),
                ps.getValue(kvB, latent.getDevice(), training)).singletonOrThrow()
                .reshape(b, total, numHeads, nopeDim + valueDim);
        NDArray kNope = kv.get(new NDIndex("..., :{}", nopeDim));
        NDArray v = kv.get(new NDIndex("..., {}:", nopeDim));
        NDArray queries = NDArrays.concat(new NDList(qNope, qRope), -1).transpose(0, 2, 1, 3);
        NDArray keys = NDArrays.concat(new NDList(kNope, kRope.repeat(2, numHeads)), -1).transpose(0, 2, 1, 3);
        return new NDList(queries, keys, v.transpose(0, 2, 1, 3));
    }

    /** @return the arguments of {@link #projectFunction}, or null where it has no scripted form */
    private NDList projectArguments(ParameterStore ps, NDArray x, NDArray[] cosSin) {
        Device device = x.getDevice();
        NDList arguments = new NDList(x);
        if (qA != null) {
            // the norm's input is q_a_proj's output, of x's type
            NDList norm = qNorm.scriptArguments(ps, x);
            if (norm == null) {
                return null;
            }
            arguments.add(ps.getValue(qA, device, false));
            arguments.addAll(norm);
        }
        arguments.add(ps.getValue(qB, device, false));
        arguments.add(ps.getValue(kvA, device, false));
        arguments.add(cosSin[0]);
        arguments.add(cosSin[1]);
        return arguments;
    }

    private static NDList scripted(Optional<ScriptedFunction> function, NDList arguments) {
        return function.isEmpty() || arguments == null ? null : function.get().call(arguments).orElse(null);
    }

    /** @return {@link #project} as one TorchScript call for inputs of this type, or null where there is none */
    private ScriptedFunction projectFunction(DataType type) {
        Boolean float32 = qA == null ? Boolean.FALSE : RMSNorm.scriptedInFloat32(type, qNorm.getComputeType());
        if (float32 == null) {
            return null;
        }
        StringBuilder body = new StringBuilder();
        body.append("    b = x.size(0)\n    t = x.size(1)\n");
        if (qA != null) {
            body.append("    latentQ = torch.linear(x, qA)\n")
                    .append(RMSNorm.scriptLines("latentQ", "normedQ", "q_", float32, qNorm.epsilonFor(type)))
                    .append("    qAll = torch.linear(normedQ, qB)\n");
        } else {
            body.append("    qAll = torch.linear(x, qB)\n");
        }
        int width = nopeDim + ropeDim;
        body.append(ScriptedFunction.line("q = torch.reshape(qAll, [b, t, %d, %d])", numHeads, width))
                .append(ScriptedFunction.line("qNope = torch.slice(q, -1, 0, %d)", nopeDim))
                .append(rotate(ScriptedFunction.line("qr = torch.slice(q, -1, %d, %d)", nopeDim, width), "qr", "qRope"))
                .append("    compressed = torch.linear(x, kvA)\n")
                .append(ScriptedFunction.line("latent = torch.slice(compressed, -1, 0, %d)", kvLoraRank))
                .append(rotate(ScriptedFunction.line("kr = torch.reshape(torch.slice(compressed, -1, %d, %d), [b, t, 1, %d])",
                        kvLoraRank, kvLoraRank + ropeDim, ropeDim), "kr", "kRope"))
                .append("    return (qNope, qRope, latent, kRope)\n");
        String parameters = "x: Tensor, " + (qA != null ? "qA: Tensor, q_gain: Tensor, " : "")
                + "qB: Tensor, kvA: Tensor, cos: Tensor, sin: Tensor";
        return ScriptedFunction.shared("MlaProject", parameters, "Tuple[Tensor, Tensor, Tensor, Tensor]", body.toString(),
                "scripted MLA");
    }

    /** @return {@link #keysAndValues} as one TorchScript call, or null where there is none */
    private ScriptedFunction keysAndValuesFunction(DataType type) {
        String lines = keysAndValuesLines(type);
        return lines == null ? null : ScriptedFunction.shared("MlaKeysValues", KEYS_AND_VALUES_PARAMETERS,
                "Tuple[Tensor, Tensor, Tensor]", lines + "    return (queries, keys, values)\n", "scripted MLA");
    }

    /**
     * @param intoCache whether the call first writes the new position into the cache's buffers (in place, at
     *     {@code past}) and attends over their first {@code past + 1} positions
     * @return {@link #decodeAttention}'s script for inputs of this type, or null where there is none
     */
    private ScriptedFunction decodeAttentionFunction(DataType type, boolean masked, boolean intoCache) {
        String lines = keysAndValuesLines(type);
        if (lines == null) {
            return null;
        }
        String parameters = KEYS_AND_VALUES_PARAMETERS + ", scale: Tensor";
        if (intoCache) {
            parameters = "qNope: Tensor, qRope: Tensor, latentCache: Tensor, kRopeCache: Tensor, newLatent: Tensor, "
                    + "newKRope: Tensor, kv_gain: Tensor, kvB: Tensor, scale: Tensor, past: Tensor";
            lines = "    p = int(past)\n"
                    + "    torch.narrow(latentCache, 1, p, 1).copy_(newLatent)\n"
                    + "    torch.narrow(kRopeCache, 1, p, 1).copy_(newKRope)\n"
                    + "    latent = torch.narrow(latentCache, 1, 0, p + 1)\n"
                    + "    kRope = torch.narrow(kRopeCache, 1, 0, p + 1)\n"
                    + lines;
        }
        return ScriptedFunction.shared(intoCache ? "MlaCachedDecodeAttention" : "MlaDecodeAttention",
                parameters + (masked ? ", bias: Tensor" : ""), "Tensor", lines
                        + "    return torch.scaled_dot_product_attention(queries, keys, values, "
                        + (masked ? "bias" : "None") + ", 0., False, scale=float(scale))\n",
                intoCache ? "scripted MLA decode attention into the cache" : "scripted MLA decode attention");
    }

    /**
     * @return the body of {@link #keysAndValues} in TorchScript, defining {@code queries}, {@code keys} and
     *     {@code values} from {@link #KEYS_AND_VALUES_PARAMETERS}, or null where the norm has no scripted form
     */
    private String keysAndValuesLines(DataType type) {
        Boolean float32 = RMSNorm.scriptedInFloat32(type, kvNorm.getComputeType());
        if (float32 == null) {
            return null;
        }
        return "    b = latent.size(0)\n    total = latent.size(1)\n"
                + RMSNorm.scriptLines("latent", "normedLatent", "kv_", float32, kvNorm.epsilonFor(type))
                + ScriptedFunction.line("kv = torch.reshape(torch.linear(normedLatent, kvB), [b, total, %d, %d])", numHeads,
                        nopeDim + valueDim)
                + ScriptedFunction.line("kNope = torch.slice(kv, -1, 0, %d)", nopeDim)
                + ScriptedFunction.line("v = torch.slice(kv, -1, %d, %d)", nopeDim, nopeDim + valueDim)
                + "    queries = torch.transpose(torch.cat([qNope, qRope], -1), 1, 2)\n"
                + ScriptedFunction.line("keys = torch.transpose(torch.cat([kNope, kRope.expand([b, total, %d, %d])], -1), 1, 2)",
                        numHeads, ropeDim)
                + "    values = torch.transpose(v, 1, 2)\n";
    }

    /**
     * {@link RotaryEmbedding#apply} in TorchScript: {@code x · cos + rotate_half(x) · sin}, on de-interleaved
     * channels when they are interleaved. The operations path moves channels by products with ±1 permutation
     * matrices, which are exact, so slicing gives the same numbers.
     */
    private String rotate(String inputLine, String in, String out) {
        int half = ropeDim / 2;
        StringBuilder s = new StringBuilder(inputLine);
        if (ropeInterleaved) {
            s.append(ScriptedFunction.line("%s = torch.cat([torch.slice(%s, -1, 0, %d, 2), torch.slice(%s, -1, 1, %d, 2)], -1)", in,
                    in, ropeDim, in, ropeDim));
        }
        s.append(ScriptedFunction.line("%s = torch.add(torch.mul(%s, cos), torch.mul(torch.cat([torch.neg(torch.slice(%s, -1, %d, "
                + "%d)), torch.slice(%s, -1, 0, %d)], -1), sin))", out, in, in, half, ropeDim, in, half));
        return s.toString();
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
