// The hyper-connections' per-token coefficients in one kernel: pre, post and the Sinkhorn-normalised res of each
// token from its unnormalised projections and its stream norm (HyperConnection.prepareOnDevice's arithmetic after its
// one matrix product). The operations run ~58 small kernels per connection for this (41 of them Sinkhorn, engram_sinkhorn.cuh): 3,480 per
// decode step of engram-27b's 60 connections, most of a replayed step's kernels. Float arithmetic for half and float.
//
// Why a block of tokens with one thread per row: the kernel is latency-bound (a decode step has 1-32 tokens, and each
// token's 20 Sinkhorn iterations are a chain of dependent exps and logs). With one thread per token it took 75 us per
// call on an H100 (Nsight Compute, batches 1 and 32 alike: 4.5 ms of a 26 ms decode step); the M threads of a token
// split each half-iteration's rows (then columns) between them, in shared memory.

#include "engram_element.cuh"
#include "engram_hyper_connection.cuh"

namespace {

using namespace engram;

constexpr int kTokensPerBlock = 16;  // block (kMaxM, kTokensPerBlock): 128 threads

template <typename T, typename A>
__global__ void coefficients_kernel(const T* projected, const T* norm, const T* alpha, const T* pre_bias,
                                    const T* post_bias, const T* res_bias, T* pre, T* mix, int64_t n, int m,
                                    A inv_width, A eps, int iterations) {
  __shared__ A logits[kTokensPerBlock][kMaxM * kMaxM];
  const int lane = threadIdx.x;  // the row, then the column, this thread normalises
  const int64_t token = static_cast<int64_t>(blockIdx.x) * kTokensPerBlock + threadIdx.y;
  const bool active = token < n;  // inactive threads still reach every barrier
  const bool owns_row = active && lane < m;
  A* x = logits[threadIdx.y];
  const T* p = projected + (active ? token : 0) * (2 * m + m * m);
  const A scale = active ? norm_scale<T, A>(norm[token], inv_width, eps) : A(0);
  if (active) {
    for (int k = lane; k < m * m; k += kMaxM) {
      x[k] = res_logit<T, A>(p, scale, alpha, res_bias, k, m);
    }
  }
  __syncthreads();
  for (int it = 0; it < iterations; ++it) {
    if (owns_row) {
      log_normalise(x, lane * m, 1, m);  // row `lane`
    }
    __syncthreads();
    if (owns_row) {
      log_normalise(x, lane, m, m);      // column `lane`
    }
    __syncthreads();
  }
  if (owns_row) {
    write_row<T, A>(p, scale, alpha, pre_bias, post_bias, x, pre + token * m, mix + token * m * (m + 1), lane, m);
  }
}

template <typename T, typename A>
cudaError_t launch(const void* const* in, void* pre, void* mix, int64_t n, int m, double inv_width, double eps,
                   int iterations, cudaStream_t stream) {
  const int64_t blocks = (n + kTokensPerBlock - 1) / kTokensPerBlock;
  coefficients_kernel<T, A><<<static_cast<unsigned int>(blocks), dim3(kMaxM, kTokensPerBlock), 0, stream>>>(
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
  return dispatch_type(dtype, [&](auto stored, auto accumulated) {
    return launch<typename decltype(stored)::type, typename decltype(accumulated)::type>(
        in, pre, mix, n, m, inv_width, eps, iterations, stream);
  });
}
