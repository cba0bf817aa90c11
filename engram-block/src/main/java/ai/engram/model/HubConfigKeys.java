package ai.engram.model;

import ai.engram.block.RopeScaling;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.Map;
import java.util.Set;

/**
 * The keys a {@code config.json} may hold — this project's, and those Hugging Face and DeepSeek write for
 * DeepSeek-V3-family models — and the values this implementation supports. Anything else is rejected by name:
 * silently ignoring an architecture key would load a different model than the checkpoint's.
 */
final class HubConfigKeys {

    /** Keys read into {@link EngramModelConfig} (their values are validated there). */
    private static final Set<String> ARCHITECTURE = Set.of("model_type", "vocab_size", "hidden_size",
            "num_hidden_layers", "intermediate_size", "moe_intermediate_size", "n_shared_experts", "n_routed_experts",
            "num_experts_per_tok", "first_k_dense_replace", "routed_scaling_factor", "n_group", "topk_group",
            "norm_topk_prob", "moe_layer_freq", "attention_type", "num_attention_heads", "num_key_value_heads",
            "head_dim", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
            "rope_theta", "rope_scaling", "rope_parameters", "rope_interleave", "rms_norm_eps", "float32_ops", "hc_mult",
            "max_position_embeddings", "num_nextn_predict_layers", "tie_word_embeddings", "bos_token_id", "eos_token_id", "tokenizer", "engram");

    /** Keys that do not change the forward pass (training-only, bookkeeping, multi-token-prediction heads). */
    private static final Set<String> NO_EFFECT_ON_INFERENCE = Set.of("architectures", "auto_map",
            "transformers_version", "_name_or_path", "initializer_range", "use_cache", "attention_dropout",
            "aux_loss_alpha", "seq_aux", "ep_size", "dtype", "torch_dtype",
            "pad_token_id", "output_router_logits", "router_aux_loss_coef", "return_dict", "output_hidden_states",
            "output_attentions", "use_return_dict", "tokenizer_class", "quantization_config", "qk_head_dim");

    /** Keys whose only supported value is the one given (anything else is another architecture). */
    private static final Map<String, String> FIXED = Map.of("hidden_act", "silu", "attention_bias", "false",
            "scoring_func", "sigmoid", "topk_method", "noaux_tc", "pretraining_tp", "1", "mlp_bias", "false");

    private HubConfigKeys() {}

    /**
     * @param json the whole config
     * @throws IllegalArgumentException naming the first unknown key or unsupported value
     */
    static void check(JsonObject json) {
        for (Map.Entry<String, JsonElement> e : json.entrySet()) {
            String key = e.getKey();
            JsonElement value = e.getValue();
            if (FIXED.containsKey(key)) {
                String text = value.isJsonNull() ? "null" : value.getAsString();
                if (!FIXED.get(key).equals(text)) {
                    throw new IllegalArgumentException("config key '" + key + "' = " + value + " is not supported (only "
                            + FIXED.get(key) + ")");
                }
            } else if (!ARCHITECTURE.contains(key) && !NO_EFFECT_ON_INFERENCE.contains(key)) {
                throw new IllegalArgumentException("unknown config key '" + key + "': this implementation does not "
                        + "know what it changes, so it refuses to guess");
            }
        }
        checkQuantization(json.get("quantization_config"));
        checkHeadDims(json);
    }

    /** Only DeepSeek-V3's own FP8 layout (E4M3, 128×128 blocks of {@code weight_scale_inv}) is dequantised. */
    private static void checkQuantization(JsonElement element) {
        if (element == null || element.isJsonNull()) {
            return;
        }
        JsonObject q = element.getAsJsonObject();
        String method = q.has("quant_method") ? q.get("quant_method").getAsString() : "";
        String blocks = q.has("weight_block_size") ? q.get("weight_block_size").toString() : "";
        if (!method.equals("fp8") || !blocks.equals("[128,128]")) {
            throw new IllegalArgumentException("quantization_config " + q + " is not supported (fp8 with "
                    + "weight_block_size [128, 128] is)");
        }
    }

    /** transformers writes {@code head_dim} = qk_rope_head_dim and qk_head_dim = nope + rope for MLA. */
    private static void checkHeadDims(JsonObject json) {
        if (!json.has("qk_head_dim") || json.get("qk_head_dim").isJsonNull()) {
            return;
        }
        int expected = intOr(json, "qk_nope_head_dim", 0) + intOr(json, "qk_rope_head_dim", 0);
        if (json.get("qk_head_dim").getAsInt() != expected) {
            throw new IllegalArgumentException("qk_head_dim " + json.get("qk_head_dim") + " is not qk_nope_head_dim "
                    + "+ qk_rope_head_dim = " + expected);
        }
    }

    private static int intOr(JsonObject json, String key, int fallback) {
        JsonElement e = json.get(key);
        return e == null || e.isJsonNull() ? fallback : e.getAsInt();
    }

    private static double doubleOr(JsonObject json, String key, double fallback) {
        JsonElement e = json.get(key);
        return e == null || e.isJsonNull() ? fallback : e.getAsDouble();
    }

    /**
     * Rotary parameters from transformers 5's {@code rope_parameters} or the Hub's {@code rope_theta} +
     * {@code rope_scaling} (either may be absent or null).
     *
     * @param json the whole config
     * @param ropeTheta {@code rope_theta} as parsed (default 10000)
     * @return the rotary parameters
     */
    static RopeScaling rope(JsonObject json, double ropeTheta) {
        JsonElement parameters = json.get("rope_parameters");
        JsonElement scaling = json.get("rope_scaling");
        JsonObject p;
        if (parameters != null && !parameters.isJsonNull()) {
            p = parameters.getAsJsonObject();
        } else if (scaling != null && !scaling.isJsonNull()) {
            p = scaling.getAsJsonObject();
        } else {
            return RopeScaling.plain(ropeTheta);
        }
        String type = p.has("rope_type") ? p.get("rope_type").getAsString()
                : p.has("type") ? p.get("type").getAsString() : "default";
        double theta = doubleOr(p, "rope_theta", ropeTheta);
        double originalMax = doubleOr(p, "original_max_position_embeddings",
                doubleOr(json, "max_position_embeddings", 0));
        return new RopeScaling(type, theta, doubleOr(p, "factor", 1), originalMax, doubleOr(p, "beta_fast", 32),
                doubleOr(p, "beta_slow", 1), doubleOr(p, "mscale", 0), doubleOr(p, "mscale_all_dim", 0),
                doubleOr(p, "attention_factor", Double.NaN), !p.has("truncate") || p.get("truncate").getAsBoolean());
    }

    /**
     * @param rope rotary parameters
     * @return {@code rope_scaling} as the Hub writes it, or null for plain RoPE
     */
    static JsonObject ropeScalingJson(RopeScaling rope) {
        if (!rope.isYarn()) {
            return null;
        }
        JsonObject o = new JsonObject();
        o.addProperty("type", "yarn");
        o.addProperty("factor", rope.factor());
        o.addProperty("original_max_position_embeddings", rope.originalMaxPositions());
        o.addProperty("beta_fast", rope.betaFast());
        o.addProperty("beta_slow", rope.betaSlow());
        o.addProperty("mscale", rope.mscale());
        o.addProperty("mscale_all_dim", rope.mscaleAllDim());
        if (!Double.isNaN(rope.attentionFactor())) {
            o.addProperty("attention_factor", rope.attentionFactor());
        }
        if (!rope.truncate()) {
            o.addProperty("truncate", false);
        }
        return o;
    }
}
