package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import ai.engram.block.Attention;
import ai.engram.block.CacheSlot;
import ai.engram.block.CapturedRegion;
import ai.engram.block.CausalSelfAttention;
import ai.engram.block.EngramBlock;
import ai.engram.block.HyperConnection;
import ai.engram.block.MoEBlock;
import ai.engram.block.MultiHeadLatentAttention;
import ai.engram.block.PreNorm;
import ai.engram.block.RMSNorm;
import ai.engram.block.SwiGLU;
import ai.engram.hash.NgramHasher;

import java.util.function.UnaryOperator;

/**
 * One decoder layer on the widened residual stream {@code H [B, T, M, d]}: optional Engram
 * ({@code H ← H + Engram(H, hash ids)}), then pre-norm attention and pre-norm FFN (dense SwiGLU or
 * DeepSeekMoE), each behind its own {@link HyperConnection}.
 *
 * <p>Inputs: {@code H [B, T, M, d]} and, for Engram layers, hash ids {@code [B, T, (N-1)·K]} (without them the
 * Engram module is skipped). With a decoding cache in the forward's parameters ({@link CacheSlot#withCache}) the
 * layer attends to, and extends, its slot of it. Output {@code [B, T, M, d]}.
 */
public class DecoderLayer extends AbstractBlock {

    private static final byte VERSION = 1;

    private final int index;
    private final int hiddenSize;
    private final EngramBlock engram;
    private final RMSNorm attentionNorm;
    private final Attention attention;
    private final HyperConnection attentionConnection;
    private final RMSNorm ffnNorm;
    private final Block ffn;
    private final HyperConnection ffnConnection;
    /** A decode step's work before and after the attention, replayed as CUDA graphs ({@link #decodeByGraphs}). */
    private final CapturedRegion beforeAttention;
    private final CapturedRegion afterAttention;

    /**
     * @param config the model config
     * @param index this layer's index
     * @param hasher the hasher for Engram layers; may be null if the config has no Engram
     */
    public DecoderLayer(EngramModelConfig config, int index, NgramHasher hasher) {
        this(config, index, hasher, false);
    }

    /**
     * @param config architecture
     * @param index layer index
     * @param hasher the model's hasher (null without Engram)
     * @param externalTables whether Engram tables live off the device (no table parameter; rows arrive gathered)
     */
    public DecoderLayer(EngramModelConfig config, int index, NgramHasher hasher, boolean externalTables) {
        super(VERSION);
        this.index = index;
        this.hiddenSize = config.getHiddenSize();
        int d = hiddenSize;
        int m = config.getHcMult();
        double eps = config.getRmsNormEps();
        engram = config.isEngramLayer(index)
                ? addChildBlock("engram", EngramBlock.builder().setHashing(hasher, index).setHiddenSize(d)
                        .optBranches(m).optValidateIds(false).optExternalTable(externalTables).build())
                : null;
        // The backbone's norms compute in float32 whatever the weights' type, as DeepSeek-V3 and transformers do
        // (unless the config's float32_ops is false).
        attentionNorm = addChildBlock("input_layernorm", backboneNorm(d, eps, config.getReducedOpsType()));
        attention = addChildBlock("self_attn", config.isMla()
                ? MultiHeadLatentAttention.builder().setHiddenSize(d).setNumHeads(config.getNumAttentionHeads())
                        .optQLoraRank(config.getQLoraRank()).setKvLoraRank(config.getKvLoraRank())
                        .setQkNopeHeadDim(config.getQkNopeHeadDim()).setQkRopeHeadDim(config.getQkRopeHeadDim())
                        .setVHeadDim(config.getVHeadDim()).optRope(config.getRope())
                        .optRopeInterleaved(config.isRopeInterleave())
                        .optReducedOpsType(config.getReducedOpsType()).build()
                : new CausalSelfAttention(d, config.getNumAttentionHeads(), config.getNumKeyValueHeads(),
                        config.getHeadDim(), config.getRopeTheta()));
        attentionConnection = addChildBlock("attn_hc", HyperConnection.builder().optBranches(m).setHiddenSize(d)
                .optNormEpsilon(eps).setSublayer(new PreNorm(attentionNorm, attention)).build());
        ffnNorm = addChildBlock("post_attention_layernorm", backboneNorm(d, eps, config.getReducedOpsType()));
        ffn = addChildBlock("mlp", config.isMoeLayer(index)
                ? MoEBlock.builder().setHiddenSize(d).setRoutedExperts(config.getNRoutedExperts())
                        .setExpertsPerToken(config.getNumExpertsPerTok()).setExpertSize(config.getMoeIntermediateSize())
                        .optSharedExperts(config.getNSharedExperts())
                        .optRoutedScalingFactor(config.getRoutedScalingFactor())
                        .optGroups(config.getNGroup(), config.getTopkGroup())
                        .optNormalizeTopK(config.isNormTopkProb())
                        .optRouterType(config.getReducedOpsType()).build()
                : new SwiGLU(d, config.getIntermediateSize()));
        ffnConnection = addChildBlock("mlp_hc", HyperConnection.builder().optBranches(m).setHiddenSize(d)
                .optNormEpsilon(eps).setSublayer(new PreNorm(ffnNorm, ffn)).build());
        beforeAttention = new CapturedRegion("layer " + index + " before attention");
        afterAttention = new CapturedRegion("layer " + index + " after attention");
    }

    /**
     * @param width normalised width
     * @param eps rms_norm_eps
     * @param computeType float32 for DeepSeek-V3's numerics, null for the input's type
     * @return a backbone norm
     */
    public static RMSNorm backboneNorm(long width, double eps, DataType computeType) {
        return RMSNorm.builder().setGainShape(new Shape(width)).optEpsilon(eps).optComputeType(computeType).build();
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        PairList<String, Object> own = CacheSlot.forLayer(params, index);
        NDArray h = inputs.get(0);
        if (engram != null && inputs.size() > 1) { // no hash ids: Engram switched off for this forward
            h = h.add(engram.forward(ps, new NDList(h, inputs.get(1)), training, own).singletonOrThrow());
        }
        if (!training && h.getShape().get(1) == 1 && CapturedRegion.capturing(h.getDevice())) {
            return new NDList(decodeByGraphs(ps, h, own));
        }
        h = attentionConnection.forward(ps, new NDList(h), training, own).singletonOrThrow();
        return ffnConnection.forward(ps, new NDList(h), training, own);
    }

    /**
     * A decode step's layer as two CUDA graphs around the attention: everything but the attention's use of the cache
     * depends only on the stream, the parameters and (MLA's projections) the rotary tables of the position, so it is
     * captured once and replayed ({@link CapturedRegion}), the tables passed in as inputs; what moves with the
     * position (the rotary tables' lookup, extending the cache, attending over it) runs its operations between the
     * two. Same arithmetic as the other path, except that the hyper-connections' coefficients stay on the device (no
     * read back to the host inside a graph).
     *
     * @param h the stream {@code [B, 1, M, d]} (after Engram)
     * @return the updated stream {@code [B, 1, M, d]}
     */
    private NDArray decodeByGraphs(ParameterStore ps, NDArray h, PairList<String, Object> own) {
        NDManager owner = ps.getValue(ffnNorm.getGain(), h.getDevice(), false).getManager();
        String signature = "decode step " + h.getShape();
        if (!(attention instanceof MultiHeadLatentAttention)) {
            // (the attention's normalised input, the mix)
            NDList prepared = beforeAttention.run(owner, signature, new NDList(h),
                    in -> normalisedAttentionInput(ps, in.get(0)));
            NDArray attended = attention.forward(ps, new NDList(prepared.get(0)), false, own).singletonOrThrow();
            return afterAttention(owner, signature, ps, h, attended, prepared.subNDList(1), own, out -> out);
        }
        MultiHeadLatentAttention mla = (MultiHeadLatentAttention) attention;
        NDArray[] cosSin = mla.rotary(h, own);
        // (MLA's four projections of the new position, the mix)
        NDList prepared = beforeAttention.run(owner, signature, new NDList(h, cosSin[0], cosSin[1]), in -> {
            NDList normedAndMix = normalisedAttentionInput(ps, in.get(0));
            NDList out = mla.projectNew(ps, normedAndMix.get(0), new NDArray[] {in.get(1), in.get(2)}, false);
            out.addAll(normedAndMix.subNDList(1));
            return out;
        });
        NDArray attended = mla.attend(ps, prepared.subNDList(0, 4), own, false);
        return afterAttention(owner, signature, ps, h, attended, prepared.subNDList(4), own,
                values -> mla.outputProjection(ps, values, false));
    }

    /** @return the attention's normalised input and (M &gt; 1) the hyper-connection's mix */
    private NDList normalisedAttentionInput(ParameterStore ps, NDArray stream) {
        NDList connection = attentionConnection.prepare(ps, stream);
        NDList out = new NDList(attentionNorm.forward(ps, new NDList(connection.get(0)), false).singletonOrThrow());
        out.addAll(connection.subNDList(1));
        return out;
    }

    /**
     * @param attended what the eager part of the attention computed
     * @param mix the hyper-connection's mix from before the attention (empty for M = 1)
     * @param attentionOutput the rest of the attention, inside the graph (MLA's output projection)
     * @return the stream after the attention's update and the FFN's connection
     */
    private NDArray afterAttention(NDManager owner, String signature, ParameterStore ps, NDArray h, NDArray attended,
            NDList mix, PairList<String, Object> own, UnaryOperator<NDArray> attentionOutput) {
        NDList inputs = new NDList(h, attended);
        inputs.addAll(mix);
        return afterAttention.run(owner, signature, inputs, in -> {
            NDArray out = attentionOutput.apply(in.get(1));
            NDArray stream = attentionConnection.finish(in.size() > 2 ? in.get(2) : null, in.get(0), out);
            return ffnConnection.forward(ps, new NDList(stream), false, own);
        }).singletonOrThrow();
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape stream = inputShapes[0];
        Shape flat = new Shape(stream.get(0), stream.get(1), hiddenSize);
        if (engram != null) {
            engram.initialize(manager, dataType, stream, inputShapes[1]);
        }
        attentionNorm.initialize(manager, dataType, flat);
        attention.initialize(manager, dataType, flat);
        attentionConnection.initialize(manager, dataType, stream);
        ffnNorm.initialize(manager, dataType, flat);
        ffn.initialize(manager, dataType, flat);
        ffnConnection.initialize(manager, dataType, stream);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** @return the Engram module, or null */
    public EngramBlock getEngram() {
        return engram;
    }

    /** @return the MoE, or null for a dense layer */
    public MoEBlock getMoE() {
        return ffn instanceof MoEBlock ? (MoEBlock) ffn : null;
    }

    /** @return this layer's index */
    public int getIndex() {
        return index;
    }
}
