# Host cost per operator on this GPU machine, torch alone: the floor under any way DJL can issue a decode step.
# One decode-shaped chain (per "layer": an RMSNorm written as the model's script writes it, a [1, 2560] x
# [2560, 2560] product, SiLU, a residual add), repeated, run four ways: eager Python, TorchScript with the
# profiling executor (it may fuse elementwise runs after warm-up), TorchScript with the graph optimizer off (the
# plain interpreter), and one CUDA graph replay of the eager chain. Reports microseconds per operator issued
# and the GPU time of the chain alone (from the graph replay). Run by examples/scripts/device-check.sh launch.
import time
import torch

dev = 'cuda'
dt = torch.float16
d = 2560
layers = 64
torch.manual_seed(0)
x0 = torch.randn(1, d, device=dev, dtype=dt)
ws = [torch.randn(d, d, device=dev, dtype=dt) * d ** -0.5 for _ in range(layers)]
gs = [torch.rand(d, device=dev, dtype=dt) + 0.5 for _ in range(layers)]
W = torch.stack(ws)
G = torch.stack(gs)
OPS_PER_LAYER = 11  # to, square, mean, add, pow, mul, to, mul, linear, silu, add


def chain(x, w, g):
    for i in range(w.size(0)):
        h = x.float()
        ms = torch.mean(torch.square(h), [-1], True)
        n = torch.mul(h, torch.pow(torch.add(ms, 1e-6), -0.5)).to(x.dtype)
        y = torch.nn.functional.linear(torch.mul(n, g[i]), w[i])
        x = torch.add(x, torch.nn.functional.silu(y))
    return x


scripted = torch.jit.script(chain)


def timed(name, fn, runs=30):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    ts.sort()
    med = ts[len(ts) // 2]
    print(f"{name:44s} {med * 1e3:8.3f} ms  {med * 1e6 / (layers * OPS_PER_LAYER):6.2f} us per operator "
          f"(min {ts[0] * 1e3:.3f})", flush=True)
    return med


with torch.inference_mode():
    ref = chain(x0, W, G)
    timed('eager Python', lambda: chain(x0, W, G))
    timed('TorchScript, profiling executor', lambda: scripted(x0, W, G))
    print('  max diff scripted vs eager', (scripted(x0, W, G) - ref).abs().max().item())
    with torch.jit.optimized_execution(False):   # what -Dai.djl.pytorch.graph_optimizer=false does
        plain = torch.jit.script(chain)
        timed('TorchScript, graph optimizer off', lambda: plain(x0, W, G))

torch.set_grad_enabled(False)
static_x = x0.clone()
s = torch.cuda.Stream()
s.wait_stream(torch.cuda.current_stream())
with torch.cuda.stream(s):
    for _ in range(3):
        chain(static_x, W, G)
torch.cuda.current_stream().wait_stream(s)
graph = torch.cuda.CUDAGraph()
with torch.cuda.graph(graph):
    static_out = chain(static_x, W, G)
graph.replay()
torch.cuda.synchronize()
print('  max diff graph vs eager', (static_out - ref).abs().max().item())
timed('CUDA graph replay of the eager chain', graph.replay)


# Host cost of single operators, eager, by kind: where a decode step's per-operator time goes.
def per_op(name, fn, n=2000):
    for _ in range(50):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    print(f"  {name:44s} {(time.perf_counter() - t) * 1e6 / n:7.2f} us per call", flush=True)


with torch.inference_mode():
    a = torch.randn(1, d, device=dev, dtype=dt)
    w0 = ws[0]
    print('eager, one operator at a time:')
    per_op('mul [1, 2560]', lambda: torch.mul(a, a))
    per_op('linear [1, 2560] x [2560, 2560]', lambda: torch.nn.functional.linear(a, w0))
    per_op('sort [1, 6]', lambda: torch.sort(a[:, :6], -1))
    idx = torch.randperm(72, device=dev)[:6].reshape(1, 6)
    per_op('sort of 6 expert ids (the MoE decode script)', lambda: torch.sort(idx, -1))
    per_op('the same ordered by topk (smallest first)', lambda: torch.topk(idx, 6, -1, False, True))
    per_op('reshape (a view, no kernel)', lambda: a.reshape(2560))
    for backend in ('cublas', 'cublaslt'):
        try:
            torch.backends.cuda.preferred_blas_library(backend)
            per_op(f'linear with preferred_blas_library {backend}', lambda: torch.nn.functional.linear(a, w0))
        except Exception as e:  # a build without one of them
            print(f'  {backend}: {e}')
