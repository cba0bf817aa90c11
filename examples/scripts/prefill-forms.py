# Prefill formulations timed on the GPU with the torch operators DJL issues for them (CUDA events, medians of 20):
# the hyper-connection's coefficients (RMSNorm then projection, against the norm's scale applied after the product),
# its input and update (elementwise against batched matrix products), and attention at MLA's prefill shapes
# (scores written out against fused scaled_dot_product_attention). engram-27b's dims: 16 x 1024 tokens, M = 4,
# d = 2560, float16. Run by examples/scripts/device-check.sh forms; needs PyTorch with CUDA.
import torch, time
torch.manual_seed(0)
dev = 'cuda'; dt = torch.float16
B, T, M, d = 16, 1024, 4, 2560
H = torch.randn(B, T, M, d, device=dev, dtype=dt)
out = torch.randn(B, T, d, device=dev, dtype=dt)
g = torch.rand(M * d, device=dev, dtype=dt) + 0.5
phi = torch.randn(2 * M + M * M, M * d, device=dev, dtype=dt) * 0.01
alpha = torch.full((3,), 0.01, device=dev, dtype=dt)
preb = torch.zeros(M, device=dev, dtype=dt); postb = torch.zeros(M, device=dev, dtype=dt)
resb = torch.eye(M, device=dev, dtype=dt) * 8 - 8
eps = 1e-6

def bench(name, fn, n=20):
    for _ in range(3): fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(n):
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e))
    ts.sort(); print(f"{name:48s} {ts[len(ts)//2]:8.3f} ms (min {ts[0]:.3f})", flush=True)

def norm_cur(x):
    ms = x.square().mean(-1, keepdim=True)
    return x * (ms + eps).pow(-0.5) * g
def coeff_cur():
    flat = H.reshape(B, T, M * d)
    return torch.matmul(norm_cur(flat), phi.t())
def coeff_fused():
    flat = H.reshape(B, T, M * d)
    n = flat.norm(2, dim=-1, keepdim=True)
    r = (n.square() / (M * d) + eps).pow(-0.5)
    return torch.matmul(flat, (phi * g).t()) * r
def sinkhorn(l):
    x = l
    for _ in range(20): x = x.log_softmax(-1).log_softmax(-2)
    return x.exp()
def small(c):
    pre = torch.sigmoid(c[..., :M] * alpha[0] + preb)
    post = torch.sigmoid(c[..., M:2*M] * alpha[1] + postb) * 2
    res = sinkhorn(c[..., 2*M:].reshape(B, T, M, M) * alpha[2] + resb)
    return pre, post, res
c = coeff_cur(); pre, post, res = small(c)
def input_cur(): return (pre.unsqueeze(-1) * H).sum(2)
def input_mm(): return torch.matmul(pre.unsqueeze(-2), H).reshape(B, T, d)
def update_cur(): return torch.matmul(res, H) + post.unsqueeze(-1) * out.unsqueeze(2)
def update_cat(): return torch.matmul(torch.cat([res, post.unsqueeze(-1)], -1), torch.cat([H, out.unsqueeze(2)], 2))
def update_outer(): return torch.matmul(res, H) + torch.matmul(post.unsqueeze(-1), out.unsqueeze(2))
def update_einsum_free():  # explicit sum over m: res[..., i, j] * H[..., j, :]
    acc = post.unsqueeze(-1) * out.unsqueeze(2)
    for j in range(M): acc = acc + res[..., :, j:j+1] * H[:, :, j:j+1, :]
    return acc
def update_flat():  # one GEMM per token batch as [BT, M, M+1] x [BT, M+1, d]
    A = torch.cat([res, post.unsqueeze(-1)], -1).reshape(B*T, M, M+1)
    X = torch.cat([H, out.unsqueeze(2)], 2).reshape(B*T, M+1, d)
    return torch.bmm(A, X)
print('cur vs fused coeff max rel diff', ((coeff_cur()-coeff_fused()).abs().max() / coeff_cur().abs().max()).item())
print('update cat vs cur', (update_cat()-update_cur()).abs().max().item())
bench('stream copy (one read + write of H)', lambda: H.clone())
bench('coeff current (norm + linear)', coeff_cur)
bench('coeff fused (norm() + x @ (g*phi)^T * r)', coeff_fused)
bench('  norm() alone', lambda: H.reshape(B, T, M*d).norm(2, dim=-1, keepdim=True))
bench('  linear alone', lambda: torch.matmul(H.reshape(B, T, M*d), phi.t()))
bench('small coefficient math + sinkhorn', lambda: small(c))
bench('input current (mul + sum)', input_cur)
bench('input matmul (pre[1xM] @ H)', input_mm)
bench('update current (res@H + post*out)', update_cur)
bench('update cat ([res|post] @ [H;out])', update_cat)
bench('update outer (res@H + post@out)', update_outer)
bench('update by M mul-adds', update_einsum_free)
bench('update flat bmm', update_flat)
bench('total current', lambda: (small(coeff_cur()), input_cur(), update_cur()))
bench('total fused+mm+cat', lambda: (small(coeff_fused()), input_mm(), update_cat()))
# attention at MLA prefill shapes: materialised (ours) vs fused SDPA (the peer's default)
del H, out
q = torch.randn(16, 32, 1024, 192, device=dev, dtype=dt); k = torch.randn_like(q); v = torch.randn(16, 32, 1024, 128, device=dev, dtype=dt)
sc = 192 ** -0.5
mask = torch.triu(torch.full((1024, 1024), float('-inf'), device=dev, dtype=dt), 1)
def att_mat(): return ((q @ k.transpose(-1, -2)) * sc + mask).softmax(-1) @ v
def att_sdpa(): return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=sc)
def att_sdpa_mask(): return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=sc)
print('sdpa vs materialised max diff', (att_mat() - att_sdpa()).abs().max().item())
bench('attention materialised (per layer)', att_mat)
bench('attention SDPA causal', att_sdpa)
bench('attention SDPA additive mask', att_sdpa_mask)
