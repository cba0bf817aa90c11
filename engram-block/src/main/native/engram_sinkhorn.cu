// The hyper-connections' Sinkhorn normalisation of many small M x M matrices in one kernel.
//
// Why: HyperConnection.sinkhornOfLogits is 20 iterations of a log-softmax over rows then columns: 41 libtorch
// kernels per connection, whatever the number of matrices. A decode step of engram-27b has 60 connections (2,460
// kernels, each a few microseconds of a mostly idle GPU), and a prefill's Sinkhorn took 17 ms of softmax kernels over
// 16,384 matrices per connection. One thread per matrix keeps its M x M values in registers for all iterations.
// Same arithmetic as the operations (log domain, max-shifted log-sum-exp), in float for half and float inputs.

#include "engram_sinkhorn.cuh"

namespace {

using namespace engram;

template <typename T, typename A>
__global__ void sinkhorn_kernel(const T* logits, T* out, int64_t matrices, int m, int iterations) {
  int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= matrices) {
    return;
  }
  const int size = m * m;
  sinkhorn_matrix<T, A>(logits + index * size, out + index * size, m, iterations);
}

template <typename T, typename A>
cudaError_t launch(const void* logits, void* out, int64_t matrices, int m, int iterations, cudaStream_t stream) {
  const int threads = 128;
  const int64_t blocks = (matrices + threads - 1) / threads;
  sinkhorn_kernel<T, A><<<static_cast<unsigned int>(blocks), threads, 0, stream>>>(
      static_cast<const T*>(logits), static_cast<T*>(out), matrices, m, iterations);
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 float64. Returns cudaErrorInvalidValue for an M above 8 or another type.
extern "C" cudaError_t engram_sinkhorn(const void* logits, void* out, int64_t matrices, int m, int iterations,
                                       int dtype, cudaStream_t stream) {
  if (m < 1 || m > kMaxM || matrices < 0 || iterations < 0) {
    return cudaErrorInvalidValue;
  }
  if (matrices == 0) {
    return cudaSuccess;
  }
  switch (dtype) {
    case 0:
      return launch<float, float>(logits, out, matrices, m, iterations, stream);
    case 1:
      return launch<__half, float>(logits, out, matrices, m, iterations, stream);
    case 2:
      return launch<double, double>(logits, out, matrices, m, iterations, stream);
    default:
      return cudaErrorInvalidValue;
  }
}
