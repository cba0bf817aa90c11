// The hyper-connections' per-token coefficients in one kernel: pre, post and the Sinkhorn-normalised res of each
// token from its unnormalised projections and its stream norm (HyperConnection.prepareOnDevice's arithmetic after its
// one matrix product). The operations run ~58 small kernels per connection for this (41 of them Sinkhorn, engram_sinkhorn.cuh): 3,480 per
// decode step of engram-27b's 60 connections, most of a replayed step's kernels. One thread per token; float
// arithmetic for half and float inputs.

#include "engram_hyper_connection.cuh"

namespace {

using namespace engram;

template <typename T, typename A>
__global__ void coefficients_kernel(const T* projected, const T* norm, const T* alpha, const T* pre_bias,
                                    const T* post_bias, const T* res_bias, T* pre, T* mix, int64_t n, int m,
                                    A inv_width, A eps, int iterations) {
  int64_t token = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (token >= n) {
    return;
  }
  coefficients_of_token<T, A>(projected + token * (2 * m + m * m), norm[token], alpha, pre_bias, post_bias, res_bias,
                              pre + token * m, mix + token * m * (m + 1), m, inv_width, eps, iterations);
}

template <typename T, typename A>
cudaError_t launch(const void* const* in, void* pre, void* mix, int64_t n, int m, double inv_width, double eps,
                   int iterations, cudaStream_t stream) {
  const int threads = 128;
  const int64_t blocks = (n + threads - 1) / threads;
  coefficients_kernel<T, A><<<static_cast<unsigned int>(blocks), threads, 0, stream>>>(
      static_cast<const T*>(in[0]), static_cast<const T*>(in[1]), static_cast<const T*>(in[2]),
      static_cast<const T*>(in[3]), static_cast<const T*>(in[4]), static_cast<const T*>(in[5]), static_cast<T*>(pre),
      static_cast<T*>(mix), n, m, static_cast<A>(inv_width), static_cast<A>(eps), iterations);
  return cudaGetLastError();
}

}  // namespace

// in: projected, norm, alpha, pre_bias, post_bias, res_bias (contiguous, one type); dtype: 0 float32, 1 float16,
// 2 float64. Returns cudaErrorInvalidValue for an M above 8 or another type.
extern "C" cudaError_t engram_hc_coefficients(const void* const* in, void* pre, void* mix, int64_t n, int m,
                                              double inv_width, double eps, int iterations, int dtype,
                                              cudaStream_t stream) {
  if (m < 1 || m > kMaxM || n < 0 || iterations < 0) {
    return cudaErrorInvalidValue;
  }
  if (n == 0) {
    return cudaSuccess;
  }
  switch (dtype) {
    case 0:
      return launch<float, float>(in, pre, mix, n, m, inv_width, eps, iterations, stream);
    case 1:
      return launch<__half, float>(in, pre, mix, n, m, inv_width, eps, iterations, stream);
    case 2:
      return launch<double, double>(in, pre, mix, n, m, inv_width, eps, iterations, stream);
    default:
      return cudaErrorInvalidValue;
  }
}
