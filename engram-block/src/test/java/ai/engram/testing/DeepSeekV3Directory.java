package ai.engram.testing;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ModelDirectory;
import ai.engram.data.NpmPackageFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A small random model in DeepSeek-V3's Hub layout — {@code model_type: deepseek_v3}, transformers 5's config keys,
 * DeepSeek-V3's tokenizer.json — as a user's directory would look.
 */
public final class DeepSeekV3Directory {

    /** transformers-style config: no q-LoRA, interleaved RoPE, one dense layer then MoE, MTP layer declared. */
    public static final String CONFIG = """
            {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "transformers_version": "5.17.0",
             "vocab_size": 129280, "hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64,
             "moe_intermediate_size": 16, "n_shared_experts": 1, "n_routed_experts": 4, "num_experts_per_tok": 2,
             "n_group": 2, "topk_group": 1, "topk_method": "noaux_tc", "scoring_func": "sigmoid",
             "norm_topk_prob": true, "routed_scaling_factor": 2.5, "first_k_dense_replace": 1,
             "num_attention_heads": 2, "num_key_value_heads": 2, "q_lora_rank": null, "kv_lora_rank": 16,
             "qk_nope_head_dim": 8, "qk_rope_head_dim": 8, "qk_head_dim": 16, "head_dim": 8, "v_head_dim": 8,
             "rope_interleave": true, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
             "rms_norm_eps": 1e-6, "max_position_embeddings": 512, "tie_word_embeddings": false,
             "bos_token_id": 0, "eos_token_id": 1, "hidden_act": "silu", "attention_bias": false,
             "num_nextn_predict_layers": 1, "initializer_range": 0.02, "use_cache": true, "dtype": "bfloat16"}
            """;

    private DeepSeekV3Directory() {}

    /**
     * @param dir an empty directory
     * @return dir, holding config.json (the Hub's keys), model.safetensors and tokenizer.json
     * @throws IOException if writing fails
     */
    public static Path write(Path dir) throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = new EngramLM(EngramModelConfig.fromJson(CONFIG), null);
            lm.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            ModelDirectory.save(lm, dir, DataType.FLOAT16);
        }
        // The user's own config.json, not ours re-serialised: the loader must read the Hub's keys as they are.
        Files.writeString(dir.resolve("config.json"), CONFIG);
        Files.copy(NpmPackageFile.DEEPSEEK_V3_TOKENIZER.resolve(), dir.resolve("tokenizer.json"));
        return dir;
    }
}
