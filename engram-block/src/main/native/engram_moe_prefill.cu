// Two memory-bound steps of a prefill's routed experts (MoEBlock over rows sorted by expert), one kernel each:
//   swiglu:  h = g * sigmoid(g) * u (each expert's gate and up products, [n, f], in place over g; the shared experts'
//            and dense layers' SwiGLU through ops.engram_kernels.silu_mul);
//   combine: routed[t, :] = sum_j w[t, j] * out[position[t, j], :] (each token's k expert outputs, taken from the
//            sorted rows where they lie, weighted and added in slot order).
// With operations the first was three kernels (sigmoid, two products: nine passes over [n, f] where three suffice) and
// the second a gather back to slot order, a product with the weights into a float32 [N, k, d] and a sum over k: on an
// H100 prefill of 16x1024 tokens these took ~43 ms and ~60 ms of the forward's 520 ms of kernels (Nsight Compute).
// Float accumulation (double for double), one rounding to the output type.

#include "engram_element.cuh"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace {

using engram::dispatch_type;
using engram::narrow;
using engram::widen;

constexpr int kThreads = 256;

template <typename A>
__device__ __forceinline__ A sigmoid(A x) {
  return A(1) / (A(1) + exp(-x));
}

// h may be g (in place): each element is read before it is written, by the same thread
template <typename T, typename A>
__global__ void swiglu_kernel(const T* g, const T* u, T* h, int64_t count) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const A x = widen<A>(g[i]);
    h[i] = narrow<T>(x * sigmoid(x) * widen<A>(u[i]));
  }
}

// one thread per (token, column): k rows of `out` at the token's positions
template <typename T, typename W, typename A>
__global__ void combine_kernel(const T* out, const int64_t* positions, const W* weights, T* routed, int64_t n, int k,
                               int64_t d, int64_t rows) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n * d;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / d;
    const int64_t c = i - t * d;
    A acc = 0;
    for (int j = 0; j < k; ++j) {
      const int64_t p = positions[t * k + j];
      const A value = p >= 0 && p < rows ? widen<A>(out[p * d + c]) : A(NAN);  // NaN for a position out of range
      acc += widen<A>(weights[t * k + j]) * value;
    }
    routed[i] = narrow<T>(acc);
  }
}

unsigned int blocks_for(int64_t items) {
  const int64_t blocks = (items + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(blocks < 65536 * 8 ? blocks : 65536 * 8);  // the rest by the grid stride
}

}  // namespace

// g, u and h [count] of one type (dtype 0 float32, 1 float16, 2 float64); h may be g.
extern "C" cudaError_t engram_swiglu(const void* g, const void* u, void* h, int64_t count, int dtype,
                                     cudaStream_t stream) {
  if (count <= 0) {
    return count == 0 ? cudaSuccess : cudaErrorInvalidValue;
  }
  const unsigned int blocks = blocks_for(count);
  return dispatch_type(dtype, [&](auto stored, auto accumulated) {
    using T = typename decltype(stored)::type;
    using A = typename decltype(accumulated)::type;
    swiglu_kernel<T, A><<<blocks, kThreads, 0, stream>>>(static_cast<const T*>(g), static_cast<const T*>(u),
                                                         static_cast<T*>(h), count);
    return cudaGetLastError();
  });
}

// out [rows, d] (the experts' outputs in sorted order), positions [n, k] int64, weights [n, k] of the accumulation type
// (float for float16 and float32, double for float64), routed [n, d] of out's type (dtype as above).
extern "C" cudaError_t engram_moe_combine(const void* out, const int64_t* positions, const void* weights, void* routed,
                                          int64_t n, int k, int64_t d, int64_t rows, int dtype, cudaStream_t stream) {
  if (n < 0 || k < 1 || d < 1) {
    return cudaErrorInvalidValue;
  }
  if (n == 0) {
    return cudaSuccess;
  }
  const unsigned int blocks = blocks_for(n * d);
  return dispatch_type(dtype, [&](auto stored, auto accumulated) {
    using T = typename decltype(stored)::type;
    using A = typename decltype(accumulated)::type;
    combine_kernel<T, A, A><<<blocks, kThreads, 0, stream>>>(static_cast<const T*>(out), positions,
                                                             static_cast<const A*>(weights), static_cast<T*>(routed),
                                                             n, k, d, rows);
    return cudaGetLastError();
  });
}
