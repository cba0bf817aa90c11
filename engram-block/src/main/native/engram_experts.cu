// The routed experts of a few tokens (a decode step) straight from the stacked expert weights: each token's k chosen
// experts' SwiGLU, weighted and summed (MoEBlock's gathered-experts path). The operations gather the chosen experts'
// weights with index_select first, a copy of every chosen matrix before the products read it again: on an H100,
// engram-27b's batch-1 decode step spent 8.3 ms of its 25.6 ms of GPU time in those copies (Nsight Compute, 88
// indexSelectSmallIndex kernels). Here each weight row is read once, where it lies.
//
// Two kernels, one warp per output value, float accumulation for half and float (double for double):
//   hidden[t, s, r] = silu(gate[e, r] . x[t]) * (up[e, r] . x[t])        e = chosen[t, s], r < f
//   routed[t, j]    = sum_s weight[t, s] * (down[e, j] . hidden[t, s])    j < d
// An expert index outside [0, E) (never made by the router's top-k) gives NaN rows rather than a read out of bounds.

#include "engram_element.cuh"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace {

using engram::dispatch_type;

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 8;

__device__ inline float to_float(float v) { return v; }
__device__ inline float to_float(__half v) { return __half2float(v); }
__device__ inline double to_float(double v) { return v; }

template <typename A>
__device__ inline A warp_sum(A v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

// This lane's share of a . b over `length` elements (A accumulates).
template <typename T, typename B, typename A>
__device__ inline A lane_dot(const T* a, const B* b, int length, int lane) {
  A sum = 0;
  for (int j = lane; j < length; j += kWarp) {
    sum += static_cast<A>(to_float(a[j])) * static_cast<A>(to_float(b[j]));
  }
  return sum;
}

// Elements 8j..8j+7 of a row as floats: one 16-byte load of halves, two of floats.
__device__ inline void load_eight(const __half* row, int j, float* out) {
  uint4 v = reinterpret_cast<const uint4*>(row)[j];
  const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 f = __half22float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

__device__ inline void load_eight(const float* row, int j, float* out) {
  float4 lo = reinterpret_cast<const float4*>(row)[2 * j];
  float4 hi = reinterpret_cast<const float4*>(row)[2 * j + 1];
  out[0] = lo.x; out[1] = lo.y; out[2] = lo.z; out[3] = lo.w;
  out[4] = hi.x; out[5] = hi.y; out[6] = hi.z; out[7] = hi.w;
}

// Half weight rows 16-byte aligned, length a multiple of 8: eight elements per load (the weight rows dominate the
// traffic); b is a half row (x) or a float one (the hidden activations).
template <typename B>
__device__ inline float lane_dot_vectorised(const __half* a, const B* b, int length, int lane) {
  float sum = 0;
#pragma unroll 4
  for (int j = lane; j < length / 8; j += kWarp) {
    float fa[8];
    float fb[8];
    load_eight(a, j, fa);
    load_eight(b, j, fb);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      sum += fa[i] * fb[i];
    }
  }
  return sum;
}

template <typename T, typename B, typename A, bool kVectorised>
__device__ inline A dot(const T* a, const B* b, int length, int lane) {
  if constexpr (kVectorised) {
    return lane_dot_vectorised(a, b, length, lane);
  } else {
    return lane_dot<T, B, A>(a, b, length, lane);
  }
}

template <typename A>
__device__ inline A not_a_number();
template <>
__device__ inline float not_a_number<float>() { return nanf(""); }
template <>
__device__ inline double not_a_number<double>() { return nan(""); }

// One warp per (token, slot, row r of the expert's f): hidden [n, k, f] in A.
template <typename T, typename A, bool kVectorised>
__global__ void hidden_kernel(const T* x, const T* gate, const T* up, const int64_t* chosen, A* hidden, int64_t rows,
                              int k, int f, int d, int64_t experts) {
  const int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) {
    return;
  }
  const int64_t slot = row / f;
  const int64_t r = row % f;
  const int64_t e = chosen[slot];
  if (e < 0 || e >= experts) {
    if (lane == 0) {
      hidden[row] = not_a_number<A>();
    }
    return;
  }
  const T* token = x + (slot / k) * d;
  const int64_t offset = (e * f + r) * d;
  A g = warp_sum(dot<T, T, A, kVectorised>(gate + offset, token, d, lane));
  A u = warp_sum(dot<T, T, A, kVectorised>(up + offset, token, d, lane));
  if (lane == 0) {
    hidden[row] = g / (A(1) + exp(-g)) * u;
  }
}

// One warp per (token, output j): routed [n, d] in A.
template <typename T, typename A, bool kVectorised>
__global__ void down_kernel(const T* down, const A* hidden, const int64_t* chosen, const A* weights, A* routed,
                            int64_t outputs, int k, int f, int d, int64_t experts) {
  const int64_t out = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (out >= outputs) {
    return;
  }
  const int64_t token = out / d;
  const int64_t j = out % d;
  A total = 0;
  for (int s = 0; s < k; ++s) {
    const int64_t slot = token * k + s;
    const int64_t e = chosen[slot];
    if (e < 0 || e >= experts) {
      total = not_a_number<A>();
      break;
    }
    A value = warp_sum(dot<T, A, A, kVectorised>(down + (e * d + j) * f, hidden + slot * f, f, lane));
    total += weights[slot] * value;
  }
  if (lane == 0) {
    routed[out] = total;
  }
}

template <typename T, typename A, bool kVectorised>
cudaError_t launch(const void* x, const void* gate, const void* up, const void* down, const int64_t* chosen,
                   const void* weights, void* hidden, void* routed, int64_t n, int k, int f, int d, int64_t experts,
                   cudaStream_t stream) {
  const int threads = kWarp * kWarpsPerBlock;
  const int64_t rows = n * k * f;
  hidden_kernel<T, A, kVectorised><<<static_cast<unsigned int>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock), threads,
                                     0, stream>>>(static_cast<const T*>(x), static_cast<const T*>(gate),
                                                  static_cast<const T*>(up), chosen, static_cast<A*>(hidden), rows, k,
                                                  f, d, experts);
  cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    return error;
  }
  const int64_t outputs = n * d;
  down_kernel<T, A, kVectorised><<<static_cast<unsigned int>((outputs + kWarpsPerBlock - 1) / kWarpsPerBlock), threads,
                                   0, stream>>>(static_cast<const T*>(down), static_cast<const A*>(hidden), chosen,
                                                static_cast<const A*>(weights), static_cast<A*>(routed), outputs, k, f,
                                                d, experts);
  return cudaGetLastError();
}

}  // namespace

// x [n, d], gate and up [E, f, d], down [E, d, f] (contiguous, one type), chosen [n, k] int64, weights [n, k] and the
// scratch hidden [n, k, f] and result routed [n, d] in the accumulation type (float32 for float16 and float32,
// float64 for float64). dtype: 0 float32, 1 float16, 2 float64. vectorised (float16 only): every row 16-byte aligned,
// d and f multiples of 8.
extern "C" cudaError_t engram_gathered_experts(const void* x, const void* gate, const void* up, const void* down,
                                               const int64_t* chosen, const void* weights, void* hidden, void* routed,
                                               int64_t n, int k, int f, int d, int64_t experts, int dtype,
                                               bool vectorised, cudaStream_t stream) {
  if (n < 0 || k < 1 || f < 1 || d < 1 || experts < 1) {
    return cudaErrorInvalidValue;
  }
  if (n == 0) {
    return cudaSuccess;
  }
  return dispatch_type(dtype, [&](auto stored, auto accumulated) {
    using T = typename decltype(stored)::type;
    using A = typename decltype(accumulated)::type;
    // 16-byte loads of eight float16 values: float16 only
    if constexpr (std::is_same_v<T, __half>) {
      if (vectorised) {
        return launch<T, A, true>(x, gate, up, down, chosen, weights, hidden, routed, n, k, f, d, experts, stream);
      }
    }
    return launch<T, A, false>(x, gate, up, down, chosen, weights, hidden, routed, n, k, f, d, experts, stream);
  });
}
