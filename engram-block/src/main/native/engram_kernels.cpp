// Fused kernels for the model's small, launch-bound computations, as TorchScript operators
// (ops.engram_kernels.* in serialized TorchScript); ai.engram.block.FusedKernels calls them. Built into
// libengram_cuda_graphs.so when CMake finds a CUDA compiler.

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <tuple>
#include <vector>

extern "C" cudaError_t engram_hc_coefficients(const void* const* in, void* pre, void* mix, int64_t n, int m,
                                              double inv_width, double eps, int iterations, int dtype,
                                              cudaStream_t stream);
extern "C" cudaError_t engram_gathered_experts(const void* x, const void* gate, const void* up, const void* down,
                                               const int64_t* chosen, const void* weights, void* hidden, void* routed,
                                               int64_t n, int k, int f, int d, int64_t experts, int dtype,
                                               bool vectorised, cudaStream_t stream);

extern "C" cudaError_t engram_swiglu(const void* g, const void* u, void* h, int64_t count, int dtype,
                                     cudaStream_t stream);
extern "C" cudaError_t engram_moe_combine(const void* out, const int64_t* positions, const void* weights, void* routed,
                                          int64_t n, int k, int64_t d, int64_t rows, int dtype, cudaStream_t stream);
extern "C" cudaError_t engram_rms_norm(const void* x, const void* gain, void* y, int64_t n, int64_t d, double eps,
                                       int dtype, cudaStream_t stream);
extern "C" cudaError_t engram_hc_stream(bool update, const void* coefficients, const void* h, const void* f,
                                        void* out, int64_t n, int m, int64_t d, int dtype, bool vectorised,
                                        cudaStream_t stream);

namespace {

// Fails the op with the CUDA error of a kernel launch, if any.
void check(cudaError_t error, const char* op) {
  TORCH_CHECK(error == cudaSuccess, op, ": ", cudaGetErrorString(error));
}

// Whether every defined tensor's data starts on 16 bytes (the kernels' vector loads need it).
bool start_on_16_bytes(std::initializer_list<const at::Tensor*> tensors) {
  for (const at::Tensor* t : tensors) {
    if (t->defined() && reinterpret_cast<uintptr_t>(t->data_ptr()) % 16 != 0) {
      return false;
    }
  }
  return true;
}

// The kernels' code for a tensor type: 0 float32, 1 float16, 2 float64.
int type_code(const at::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case at::kFloat: return 0;
    case at::kHalf: return 1;
    case at::kDouble: return 2;
    default: TORCH_CHECK(false, op, ": float32, float16 or float64 expected, got ", t.scalar_type());
  }
  return -1;
}

// A hyper-connection's coefficients from its unnormalised projections [..., 2M + M^2] and stream norms [..., 1]:
// pre [..., 1, M] and the mix [res | post] [..., M, M + 1] (HyperConnection.prepareOnDevice after its product).
// inv_width is 1 / (M d), eps the norm's epsilon. No autograd (inference).
std::tuple<at::Tensor, at::Tensor> hc_coefficients(const at::Tensor& projected, const at::Tensor& norm,
                                                   const at::Tensor& alpha, const at::Tensor& pre_bias,
                                                   const at::Tensor& post_bias, const at::Tensor& res_bias,
                                                   double inv_width, double eps, int64_t iterations) {
  const char* op = "engram_kernels.hc_coefficients";
  int64_t m = pre_bias.numel();
  TORCH_CHECK(m >= 1 && m <= 8, op, ": M <= 8 expected, got ", m);
  TORCH_CHECK(projected.is_cuda() && projected.dim() >= 1 && projected.size(-1) == 2 * m + m * m, op,
              ": a CUDA tensor [..., ", 2 * m + m * m, "] expected, got ", projected.sizes(), " on ",
              projected.device());
  int64_t n = projected.numel() / projected.size(-1);
  TORCH_CHECK(norm.numel() == n && alpha.numel() == 3 && post_bias.numel() == m && res_bias.numel() == m * m, op,
              ": norm [..., 1], alpha [3], post_bias [M] and res_bias [M, M] expected");
  int dtype = type_code(projected, op);
  for (const at::Tensor* t : {&norm, &alpha, &pre_bias, &post_bias, &res_bias}) {
    TORCH_CHECK(t->scalar_type() == projected.scalar_type() && t->device() == projected.device(), op,
                ": every input of one type and device");
  }
  c10::cuda::CUDAGuard guard(projected.device());
  at::Tensor inputs[] = {projected.contiguous(), norm.contiguous(), alpha.contiguous(), pre_bias.contiguous(),
                         post_bias.contiguous(), res_bias.contiguous()};
  const void* pointers[6];
  for (int i = 0; i < 6; ++i) {
    pointers[i] = inputs[i].data_ptr();
  }
  std::vector<int64_t> pre_shape(projected.sizes().begin(), projected.sizes().end() - 1);
  std::vector<int64_t> mix_shape = pre_shape;
  pre_shape.push_back(1);
  pre_shape.push_back(m);
  mix_shape.push_back(m);
  mix_shape.push_back(m + 1);
  at::Tensor pre = at::empty(pre_shape, projected.options());
  at::Tensor mix = at::empty(mix_shape, projected.options());
  cudaError_t error = engram_hc_coefficients(pointers, pre.data_ptr(), mix.data_ptr(), n, static_cast<int>(m),
                                             inv_width, eps, static_cast<int>(iterations), dtype,
                                             c10::cuda::getCurrentCUDAStream());
  check(error, op);
  return {pre, mix};
}

// The routed experts of a few tokens read where they lie (engram_experts.cu): x [n, d], gate and up [E, f, d], down
// [E, d, f], chosen [n, k] (int64 expert ids), weights [n, k] -> the weighted sum of each token's experts [n, d], in
// float32 for float16 and float32 weights (float64 for float64), as MoEBlock's gathered path computes it. No autograd.
at::Tensor gathered_experts(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& up, const at::Tensor& down,
                            const at::Tensor& chosen, const at::Tensor& weights) {
  const char* op = "engram_kernels.gathered_experts";
  TORCH_CHECK(x.is_cuda() && x.dim() == 2, op, ": a CUDA tensor [n, d] expected, got ", x.sizes(), " on ", x.device());
  TORCH_CHECK(gate.dim() == 3 && up.sizes() == gate.sizes() && down.dim() == 3, op,
              ": gate and up [E, f, d] and down [E, d, f] expected, got ", gate.sizes(), ", ", up.sizes(), ", ",
              down.sizes());
  int64_t n = x.size(0), d = x.size(1), experts = gate.size(0), f = gate.size(1);
  TORCH_CHECK(gate.size(2) == d && down.size(0) == experts && down.size(1) == d && down.size(2) == f, op,
              ": experts of [", experts, ", ", f, ", ", d, "] and [", experts, ", ", d, ", ", f, "] expected, got ",
              gate.sizes(), " and ", down.sizes(), " for x ", x.sizes());
  TORCH_CHECK(chosen.dim() == 2 && chosen.size(0) == n && chosen.scalar_type() == at::kLong
                  && weights.sizes() == chosen.sizes(), op, ": chosen int64 [n, k] and weights [n, k] expected, got ",
              chosen.sizes(), " ", chosen.scalar_type(), " and ", weights.sizes());
  int dtype = type_code(x, op);
  for (const at::Tensor* t : {&gate, &up, &down, &chosen, &weights}) {
    TORCH_CHECK(t->device() == x.device(), op, ": every input on ", x.device());
  }
  for (const at::Tensor* t : {&gate, &up, &down}) {
    TORCH_CHECK(t->scalar_type() == x.scalar_type(), op, ": experts of x's type ", x.scalar_type(), " expected, got ",
                t->scalar_type());
  }
  c10::cuda::CUDAGuard guard(x.device());
  at::ScalarType accumulation = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor xs = x.contiguous(), gates = gate.contiguous(), ups = up.contiguous(), downs = down.contiguous();
  at::Tensor ids = chosen.contiguous();
  at::Tensor w = weights.to(accumulation).contiguous();
  int64_t k = ids.size(1);
  at::Tensor hidden = at::empty({n, k, f}, x.options().dtype(accumulation));
  at::Tensor routed = at::empty({n, d}, x.options().dtype(accumulation));
  bool vectorised = dtype == 1 && d % 8 == 0 && f % 8 == 0 && start_on_16_bytes({&xs, &gates, &ups, &downs, &hidden});
  cudaError_t error = engram_gathered_experts(xs.data_ptr(), gates.data_ptr(), ups.data_ptr(), downs.data_ptr(),
                                              ids.data_ptr<int64_t>(), w.data_ptr(), hidden.data_ptr(),
                                              routed.data_ptr(), n, static_cast<int>(k), static_cast<int>(f),
                                              static_cast<int>(d), experts, dtype, vectorised,
                                              c10::cuda::getCurrentCUDAStream());
  check(error, op);
  return routed;
}

// A hyper-connection's pass over the stream H [..., M, d] (engram_hc_stream.cu): with f undefined, the sub-layer's
// input pre · H from pre [..., 1, M] -> [..., d]; with f [..., d], the update [res | post] · [H ; f] from the mix
// [..., M, M + 1] -> [..., M, d]. One type for all, no autograd.
at::Tensor hc_stream(const char* op, const at::Tensor& coefficients, const at::Tensor& stream, const at::Tensor* f) {
  TORCH_CHECK(stream.is_cuda() && stream.dim() >= 3, op, ": a CUDA stream [..., M, d] expected, got ", stream.sizes(),
              " on ", stream.device());
  int64_t m = stream.size(-2), d = stream.size(-1);
  TORCH_CHECK(m >= 1 && m <= 8, op, ": M <= 8 expected, got ", m);
  int64_t n = stream.numel() / (m * d);
  std::vector<int64_t> tokens(stream.sizes().begin(), stream.sizes().end() - 2);
  std::vector<int64_t> expected = tokens;
  if (f == nullptr) {
    expected.push_back(1);
    expected.push_back(m);
  } else {
    expected.push_back(m);
    expected.push_back(m + 1);
  }
  TORCH_CHECK(coefficients.sizes() == at::IntArrayRef(expected), op, ": coefficients ", at::IntArrayRef(expected),
              " expected, got ", coefficients.sizes());
  std::vector<int64_t> row = tokens;
  row.push_back(d);
  TORCH_CHECK(f == nullptr || f->sizes() == at::IntArrayRef(row), op, ": the sub-layer's output ", at::IntArrayRef(row),
              " expected, got ", f == nullptr ? stream.sizes() : f->sizes());
  int dtype = type_code(stream, op);
  for (const at::Tensor* t : {&coefficients, f}) {
    TORCH_CHECK(t == nullptr || (t->scalar_type() == stream.scalar_type() && t->device() == stream.device()), op,
                ": every input of the stream's type and device");
  }
  c10::cuda::CUDAGuard guard(stream.device());
  at::Tensor c = coefficients.contiguous(), h = stream.contiguous();
  at::Tensor fresh = f == nullptr ? at::Tensor() : f->contiguous();
  at::Tensor out = f == nullptr ? at::empty(row, stream.options()) : at::empty_like(h);
  int64_t vector = 16 / static_cast<int64_t>(h.element_size());
  bool vectorised = d % vector == 0 && start_on_16_bytes({&h, &fresh, &out});
  cudaError_t error = engram_hc_stream(f != nullptr, c.data_ptr(), h.data_ptr(),
                                       fresh.defined() ? fresh.data_ptr() : nullptr, out.data_ptr(), n,
                                       static_cast<int>(m), d, dtype, vectorised, c10::cuda::getCurrentCUDAStream());
  check(error, op);
  return out;
}

// The routed experts of many tokens (a prefill) over rows sorted by expert: x [S, d] holds expert 0's counts[0] rows,
// then expert 1's, ...; counts [E] int64 on the host; gate and up [E, f, d], down [E, d, f]. Each expert's SwiGLU
// runs on its slice, into the same rows of the output [S, d]: the loop of MoEBlock's TorchScript function, issued from
// C++ (an H100 prefill of 16x1024 tokens: 471 ms against the TorchScript loop's 533; spreading the experts over 4
// CUDA streams measured 484 ms, so they run on the current stream), with the SwiGLU's elementwise part one kernel.
// Same arithmetic as the loop: g = x·gateᵀ, h = g·sigmoid(g)·(x·upᵀ) (engram_moe_prefill.cu, one rounding),
// out = h·downᵀ. No autograd.
at::Tensor sorted_experts(const at::Tensor& x, const at::Tensor& counts, const at::Tensor& gate, const at::Tensor& up,
                          const at::Tensor& down) {
  const char* op = "engram_kernels.sorted_experts";
  TORCH_CHECK(x.is_cuda() && x.dim() == 2, op, ": a CUDA tensor [S, d] expected, got ", x.sizes(), " on ", x.device());
  TORCH_CHECK(gate.dim() == 3 && up.sizes() == gate.sizes() && down.dim() == 3 && down.size(0) == gate.size(0)
                  && down.size(1) == gate.size(2) && down.size(2) == gate.size(1) && gate.size(2) == x.size(1),
              op, ": gate and up [E, f, d] and down [E, d, f] for x ", x.sizes(), " expected, got ", gate.sizes(), ", ",
              up.sizes(), ", ", down.sizes());
  TORCH_CHECK(!counts.is_cuda() && counts.dim() == 1 && counts.size(0) == gate.size(0)
                  && counts.scalar_type() == at::kLong, op, ": counts [E] int64 on the host expected, got ",
              counts.sizes(), " ", counts.scalar_type(), " on ", counts.device());
  for (const at::Tensor* t : {&gate, &up, &down}) {
    TORCH_CHECK(t->device() == x.device() && t->scalar_type() == x.scalar_type(), op,
                ": experts of x's type and device expected");
  }
  at::Tensor sizes = counts.contiguous();
  const int64_t* n = sizes.data_ptr<int64_t>();
  int64_t total = 0;
  for (int64_t e = 0; e < sizes.size(0); ++e) {
    TORCH_CHECK(n[e] >= 0, op, ": negative count ", n[e], " for expert ", e);
    total += n[e];
  }
  TORCH_CHECK(total == x.size(0), op, ": counts add up to ", total, ", x has ", x.size(0), " rows");
  int dtype = type_code(x, op);
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor rows = x.contiguous();
  at::Tensor out = at::empty_like(rows);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  int64_t start = 0;
  for (int64_t e = 0; e < sizes.size(0); ++e) {
    if (n[e] == 0) {
      continue;
    }
    at::Tensor slice = rows.narrow(0, start, n[e]);
    // g, then h = g * sigmoid(g) * u in place; the kernel indexes both as dense rows (a no-op for mm's own output)
    at::Tensor h = at::mm(slice, gate[e].t()).contiguous();
    at::Tensor u = at::mm(slice, up[e].t()).contiguous();
    check(engram_swiglu(h.data_ptr(), u.data_ptr(), h.data_ptr(), h.numel(), dtype, stream), op);
    at::Tensor target = out.narrow(0, start, n[e]);
    at::mm_out(target, h, down[e].t());
    start += n[e];
  }
  return out;
}

// SwiGLU's elementwise part g * sigmoid(g) * u in one kernel (engram_moe_prefill.cu), float accumulation and one
// rounding: g and u of one shape and type -> a new tensor. No autograd.
at::Tensor silu_mul(const at::Tensor& g, const at::Tensor& u) {
  const char* op = "engram_kernels.silu_mul";
  TORCH_CHECK(g.is_cuda() && u.sizes() == g.sizes() && u.scalar_type() == g.scalar_type() && u.device() == g.device(),
              op, ": two CUDA tensors of one shape and type expected, got ", g.sizes(), " ", g.scalar_type(), " on ",
              g.device(), " and ", u.sizes(), " ", u.scalar_type(), " on ", u.device());
  int dtype = type_code(g, op);
  c10::cuda::CUDAGuard guard(g.device());
  at::Tensor gs = g.contiguous(), us = u.contiguous();
  at::Tensor h = at::empty_like(gs);
  cudaError_t error = engram_swiglu(gs.data_ptr(), us.data_ptr(), h.data_ptr(), gs.numel(), dtype,
                                    c10::cuda::getCurrentCUDAStream());
  check(error, op);
  return h;
}

// Each token's k expert outputs weighted and added (engram_moe_prefill.cu): out [S, d] the experts' outputs in sorted
// order, positions [n, k] int64 where each token's slot j lies in it, weights [n, k] -> routed [n, d] of out's type
// (accumulated in float, double for double; a position outside [0, S) gives NaN, not a read out of bounds).
at::Tensor moe_combine(const at::Tensor& out, const at::Tensor& positions, const at::Tensor& weights) {
  const char* op = "engram_kernels.moe_combine";
  TORCH_CHECK(out.is_cuda() && out.dim() == 2, op, ": a CUDA tensor [S, d] expected, got ", out.sizes(), " on ",
              out.device());
  TORCH_CHECK(positions.dim() == 2 && positions.scalar_type() == at::kLong && weights.sizes() == positions.sizes()
                  && positions.device() == out.device() && weights.device() == out.device(),
              op, ": positions int64 [n, k] and weights [n, k] on ", out.device(), " expected, got ", positions.sizes(),
              " ", positions.scalar_type(), " and ", weights.sizes());
  int dtype = type_code(out, op);
  c10::cuda::CUDAGuard guard(out.device());
  at::ScalarType accumulation = out.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor rows = out.contiguous(), where = positions.contiguous(), w = weights.to(accumulation).contiguous();
  int64_t n = where.size(0), k = where.size(1), d = rows.size(1);
  at::Tensor routed = at::empty({n, d}, rows.options());
  cudaError_t error = engram_moe_combine(rows.data_ptr(), where.data_ptr<int64_t>(), w.data_ptr(), routed.data_ptr(), n,
                                         static_cast<int>(k), d, rows.size(0), dtype,
                                         c10::cuda::getCurrentCUDAStream());
  check(error, op);
  return routed;
}

// RMSNorm over the last axis (engram_rms_norm.cu): x [..., d], gain [d] of x's type -> [..., d], the mean square in
// float (double for double), the normalised row rounded to x's type before the gain. No autograd.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& gain, double eps) {
  const char* op = "engram_kernels.rms_norm";
  TORCH_CHECK(x.is_cuda() && x.dim() >= 1 && x.size(-1) >= 1, op, ": a CUDA tensor [..., d] expected, got ", x.sizes(),
              " on ", x.device());
  int64_t d = x.size(-1);
  TORCH_CHECK(gain.numel() == d && gain.scalar_type() == x.scalar_type() && gain.device() == x.device(), op,
              ": a gain of ", d, " values of x's type and device expected, got ", gain.sizes(), " ",
              gain.scalar_type());
  int dtype = type_code(x, op);
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor rows = x.contiguous(), g = gain.contiguous();
  at::Tensor y = at::empty_like(rows);
  cudaError_t error = engram_rms_norm(rows.data_ptr(), g.data_ptr(), y.data_ptr(), rows.numel() / d, d, eps, dtype,
                                      c10::cuda::getCurrentCUDAStream());
  check(error, op);
  return y;
}

at::Tensor hc_input(const at::Tensor& pre, const at::Tensor& stream) {
  return hc_stream("engram_kernels.hc_input", pre, stream, nullptr);
}

at::Tensor hc_update(const at::Tensor& mix, const at::Tensor& stream, const at::Tensor& out) {
  return hc_stream("engram_kernels.hc_update", mix, stream, &out);
}

}  // namespace

TORCH_LIBRARY(engram_kernels, m) {
  m.def("hc_coefficients(Tensor projected, Tensor norm, Tensor alpha, Tensor pre_bias, Tensor post_bias, "
        "Tensor res_bias, float inv_width, float eps, int iterations) -> (Tensor, Tensor)",
        &hc_coefficients);
  m.def("gathered_experts(Tensor x, Tensor gate, Tensor up, Tensor down, Tensor chosen, Tensor weights) -> Tensor",
        &gathered_experts);
  m.def("sorted_experts(Tensor x, Tensor counts, Tensor gate, Tensor up, Tensor down) -> Tensor", &sorted_experts);
  m.def("moe_combine(Tensor out, Tensor positions, Tensor weights) -> Tensor", &moe_combine);
  m.def("silu_mul(Tensor g, Tensor u) -> Tensor", &silu_mul);
  m.def("rms_norm(Tensor x, Tensor gain, float eps) -> Tensor", &rms_norm);
  m.def("hc_input(Tensor pre, Tensor stream) -> Tensor", &hc_input);
  m.def("hc_update(Tensor mix, Tensor stream, Tensor out) -> Tensor", &hc_update);
}
