// The hyper-connections' per-token coefficients in one kernel: pre, post and the Sinkhorn-normalised res of each
// token from its unnormalised projections and its stream norm (HyperConnection.prepareOnDevice's arithmetic after its
// one matrix product). The operations run ~58 small kernels per connection for this (41 of them Sinkhorn): 3,480 per
// decode step of engram-27b's 60 connections, most of a replayed step's kernels. One thread per token; float
// arithmetic for half and float inputs.

#include "engram_sinkhorn.cuh"

namespace {

using namespace engram;

__device__ inline float sigmoid_of(float v) { return 1.0f / (1.0f + expf(-v)); }
__device__ inline double sigmoid_of(double v) { return 1.0 / (1.0 + exp(-v)); }

// projected [n, 2m + m*m], norm [n], alpha [3], pre_bias [m], post_bias [m], res_bias [m*m]
// -> pre [n, m], mix [n, m, m + 1] ([res | post])
template <typename T, typename A>
__global__ void coefficients_kernel(const T* projected, const T* norm, const T* alpha, const T* pre_bias,
                                    const T* post_bias, const T* res_bias, T* pre, T* mix, int64_t n, int m,
                                    A inv_width, A eps, int iterations) {
  int64_t token = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (token >= n) {
    return;
  }
  const int width = 2 * m + m * m;
  const T* p = projected + token * width;
  // the norm's per-token scale: rsqrt(mean square + eps), the mean square from the euclidean norm
  A r_norm = to_compute(norm[token]);
  A scale = A(1) / sqrt(r_norm * r_norm * inv_width + eps);
  A a0 = to_compute(alpha[0]);
  A a1 = to_compute(alpha[1]);
  A a2 = to_compute(alpha[2]);
  A x[kMaxM * kMaxM];
  for (int k = 0; k < m * m; ++k) {
    x[k] = scale * to_compute(p[2 * m + k]) * a2 + to_compute(res_bias[k]);
  }
  sinkhorn_in_place(x, m, iterations);
  for (int i = 0; i < m; ++i) {
    pre[token * m + i] = from_compute<T>(sigmoid_of(scale * to_compute(p[i]) * a0 + to_compute(pre_bias[i])));
    T* row = mix + (token * m + i) * (m + 1);
    for (int j = 0; j < m; ++j) {
      row[j] = from_compute<T>(exp_of(x[i * m + j]));
    }
    row[m] = from_compute<T>(A(2) * sigmoid_of(scale * to_compute(p[m + i]) * a1 + to_compute(post_bias[i])));
  }
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
