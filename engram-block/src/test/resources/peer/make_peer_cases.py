# Run on a machine with transformers 5.17 (the GPU machine): OUT=dir python3 make_peer_cases.py
# Writes more DeepSeek-V3 peer cases with transformers (random weights): golden logits with transformers' own
# numerics, and "exact" logits with its float32 islands (RMSNorm cast, float32 router, float32 RoPE tables) removed.
import os, json, math, shutil, torch
import torch.nn.functional as F
from safetensors.torch import save_file, load_file
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as M
OUT = os.environ["OUT"]
orig_norm, orig_router, orig_rope = M.DeepseekV3RMSNorm.forward, M.DeepseekV3TopkRouter.forward, M.DeepseekV3RotaryEmbedding.forward
def norm64(self, h):
    v = h.pow(2).mean(-1, keepdim=True); return self.weight * (h * torch.rsqrt(v + self.variance_epsilon))
def router64(self, hidden_states):
    hidden_states = hidden_states.view(-1, self.hidden_dim)
    router_logits = F.linear(hidden_states, self.weight)
    scores = router_logits.sigmoid()
    scores_for_choice = scores + self.e_score_correction_bias
    group_scores = scores_for_choice.view(-1, self.num_group, self.num_experts // self.num_group).topk(2, dim=-1)[0].sum(dim=-1)
    group_idx = torch.topk(group_scores, k=self.topk_group, dim=-1, sorted=False)[1]
    group_mask = torch.zeros_like(group_scores); group_mask.scatter_(1, group_idx, 1)
    score_mask = group_mask.unsqueeze(-1).expand(-1, self.num_group, self.num_experts // self.num_group).reshape(-1, self.num_experts)
    scores_for_choice = scores_for_choice.masked_fill(~score_mask.bool(), float("-inf"))
    topk_indices = torch.topk(scores_for_choice, k=self.top_k, dim=-1, sorted=False)[1]
    topk_weights = scores.gather(1, topk_indices)
    if self.norm_topk_prob:
        topk_weights /= topk_weights.sum(dim=-1, keepdim=True) + 1e-20
    topk_weights = topk_weights * self.routed_scaling_factor
    return router_logits, topk_weights, topk_indices
def yarn_inv64(rp, dim):
    base = rp["rope_theta"]; factor = rp["factor"]; omax = rp.get("original_max_position_embeddings")
    pos = base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    ext, inter = 1.0 / pos, 1.0 / (factor * pos)
    bf, bs = rp.get("beta_fast") or 32, rp.get("beta_slow") or 1
    cd = lambda r: (dim * math.log(omax / (r * 2 * math.pi))) / (2 * math.log(base))
    low, high = math.floor(cd(bf)), math.ceil(cd(bs)); low, high = max(low, 0), min(high, dim - 1)
    if low == high: high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
    ef = 1 - ramp
    return inter * (1 - ef) + ext * ef
def rope64(self, x, position_ids):
    rp = self.config.rope_parameters; dim = self.config.qk_rope_head_dim
    inv = yarn_inv64(rp, dim) if rp["rope_type"] == "yarn" else 1.0 / (rp["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = (inv[None, :, None] @ position_ids[:, None, :].double()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * self.attention_scaling).to(x.dtype), (emb.sin() * self.attention_scaling).to(x.dtype)
def logits(d, ids, exact):
    M.DeepseekV3RMSNorm.forward, M.DeepseekV3TopkRouter.forward, M.DeepseekV3RotaryEmbedding.forward = \
        (norm64, router64, rope64) if exact else (orig_norm, orig_router, orig_rope)
    m = DeepseekV3ForCausalLM.from_pretrained(d, dtype=torch.float64, attn_implementation="sdpa", experts_implementation="eager").eval()
    with torch.no_grad():
        return m(input_ids=ids).logits.double().contiguous()
cases = {
  "dsv3-yarn-nolora": dict(vocab_size=384, hidden_size=96, num_hidden_layers=3, intermediate_size=160, moe_intermediate_size=48,
      n_shared_experts=2, n_routed_experts=12, num_experts_per_tok=3, n_group=4, topk_group=2, first_k_dense_replace=0,
      routed_scaling_factor=1.5, norm_topk_prob=False, num_attention_heads=3, num_key_value_heads=3, q_lora_rank=None,
      kv_lora_rank=24, qk_nope_head_dim=16, qk_rope_head_dim=16, v_head_dim=20, max_position_embeddings=256,
      rope_interleave=False, tie_word_embeddings=True, rms_norm_eps=1e-5,
      rope_parameters=dict(rope_type="yarn", rope_theta=50000.0, factor=4.0, original_max_position_embeddings=64,
                           beta_fast=32, beta_slow=1, mscale=0.707, mscale_all_dim=0.707)),
  "dsv3-grouped": dict(vocab_size=256, hidden_size=80, num_hidden_layers=4, intermediate_size=144, moe_intermediate_size=24,
      n_shared_experts=1, n_routed_experts=16, num_experts_per_tok=4, n_group=4, topk_group=2, first_k_dense_replace=2,
      routed_scaling_factor=2.5, norm_topk_prob=True, num_attention_heads=4, num_key_value_heads=4, q_lora_rank=40,
      kv_lora_rank=32, qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=12, max_position_embeddings=128,
      rope_interleave=True, tie_word_embeddings=False, rope_parameters=dict(rope_type="default", rope_theta=10000.0)),
}
g = torch.Generator().manual_seed(7)
for name, kw in cases.items():
    torch.manual_seed(len(name))
    cfg = DeepseekV3Config(**kw)
    model = DeepseekV3ForCausalLM(cfg).to(torch.float32)
    with torch.no_grad():   # non-trivial norms, biases and routing
        for n, p in model.named_parameters():
            if n.endswith("layernorm.weight") or n.endswith("norm.weight"): p.uniform_(0.5, 1.5)
        for mod in model.modules():
            if isinstance(mod, M.DeepseekV3TopkRouter): mod.e_score_correction_bias.uniform_(-0.05, 0.05)
    d = f"{OUT}/{name}"; model.save_pretrained(d)
    ids = torch.randint(0, kw["vocab_size"], (2, 40), generator=g)
    gold = logits(d, ids, False); exact = logits(d, ids, True)
    save_file({"input_ids": ids, "logits": gold}, f"{d}/golden.safetensors")
    save_file({"input_ids": ids, "logits": exact}, f"{d}/exact.safetensors")
    print(name, "islands vs exact", (gold - exact).abs().max().item(), os.listdir(d), flush=True)
# The float64 reference of the public case: ENGRAM_GOLDEN_DIR's peer/dsv3-tiny, copied beside this script.
d = os.environ.get("PEER_TINY", "dsv3-tiny"); g0 = load_file(d + "/golden.safetensors")
e0 = logits(d, g0["input_ids"], True)
save_file({"input_ids": g0["input_ids"], "logits": e0}, f"{OUT}/dsv3-tiny-exact.safetensors")
print("dsv3-tiny islands vs exact", (e0 - g0["logits"]).abs().max().item())
