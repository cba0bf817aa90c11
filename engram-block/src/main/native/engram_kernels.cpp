// Fused kernels for the model's small, launch-bound computations, as TorchScript operators
// (ops.engram_kernels.* in serialized TorchScript); ai.engram.block.FusedKernels calls them. Built into
// libengram_cuda_graphs.so when CMake finds a CUDA compiler.

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cuda_runtime.h>

extern "C" cudaError_t engram_sinkhorn(const void* logits, void* out, int64_t matrices, int m, int iterations,
                                       int dtype, cudaStream_t stream);

namespace {

// Sinkhorn of exp(logits) over the last two dimensions ([..., M, M], M <= 8): `iterations` log-softmaxes over rows
// then columns, then exp; HyperConnection.sinkhornOfLogits in one kernel. No autograd (inference).
at::Tensor sinkhorn(const at::Tensor& logits, int64_t iterations) {
  TORCH_CHECK(logits.is_cuda(), "engram_kernels.sinkhorn: a CUDA tensor is needed, got one on ", logits.device());
  TORCH_CHECK(logits.dim() >= 2 && logits.size(-1) == logits.size(-2) && logits.size(-1) <= 8,
              "engram_kernels.sinkhorn: [..., M, M] with M <= 8 expected, got ", logits.sizes());
  int dtype;
  switch (logits.scalar_type()) {
    case at::kFloat: dtype = 0; break;
    case at::kHalf: dtype = 1; break;
    case at::kDouble: dtype = 2; break;
    default: TORCH_CHECK(false, "engram_kernels.sinkhorn: float32, float16 or float64 expected, got ",
                         logits.scalar_type());
  }
  c10::cuda::CUDAGuard guard(logits.device());
  at::Tensor in = logits.contiguous();
  at::Tensor out = at::empty_like(in);
  int64_t m = in.size(-1);
  int64_t matrices = m == 0 ? 0 : in.numel() / (m * m);
  cudaError_t error = engram_sinkhorn(in.data_ptr(), out.data_ptr(), matrices, static_cast<int>(m),
                                      static_cast<int>(iterations), dtype, c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(error == cudaSuccess, "engram_kernels.sinkhorn: ", cudaGetErrorString(error));
  return out;
}

}  // namespace

TORCH_LIBRARY(engram_kernels, m) {
  m.def("sinkhorn(Tensor logits, int iterations) -> Tensor", &sinkhorn);
}
