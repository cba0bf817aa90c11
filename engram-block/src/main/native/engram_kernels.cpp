// Fused kernels for the model's small, launch-bound computations, as TorchScript operators
// (ops.engram_kernels.* in serialized TorchScript); ai.engram.block.FusedKernels calls them. Built into
// libengram_cuda_graphs.so when CMake finds a CUDA compiler.

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cuda_runtime.h>

#include <tuple>
#include <vector>

extern "C" cudaError_t engram_hc_coefficients(const void* const* in, void* pre, void* mix, int64_t n, int m,
                                              double inv_width, double eps, int iterations, int dtype,
                                              cudaStream_t stream);

namespace {

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
  TORCH_CHECK(error == cudaSuccess, op, ": ", cudaGetErrorString(error));
  return {pre, mix};
}

}  // namespace

TORCH_LIBRARY(engram_kernels, m) {
  m.def("hc_coefficients(Tensor projected, Tensor norm, Tensor alpha, Tensor pre_bias, Tensor post_bias, "
        "Tensor res_bias, float inv_width, float eps, int iterations) -> (Tensor, Tensor)",
        &hc_coefficients);
}
