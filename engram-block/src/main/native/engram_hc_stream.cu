// The hyper-connections' two passes over the residual stream H [n, M, d], each one kernel that reads the stream once:
//   input:  x[t, c]      = sum_j pre[t, j] * H[t, j, c]                      (the sub-layer's input, [n, d])
//   update: H'[t, i, c]  = mix[t, i, M] * F[t, c] + sum_j mix[t, i, j] * H[t, j, c]
//                                                   (mix = [res | post] [n, M, M + 1], F the sub-layer's output [n, d])
// HyperConnection ran them as a batched matrix product of n tiny matrices (a concatenation first for the update) or,
// for long forwards, as M + 1 broadcast products that libtorch's graph executor fuses; both read or write the stream
// more than once. The stream is the model's widest array (M = 4: [16,384, 4, 2,560] in a 16x1024 prefill, 335 MB in
// fp16), so these are bound by memory: one read of H (and F) and one write is their floor.
//
// A thread computes V consecutive columns of one token (V = 8 halves, 4 floats or 2 doubles: 16-byte loads when the
// arrays allow, else 1) for every branch i, accumulating in float (double for double) in the order HyperConnection's
// terms add: post first, then j ascending. M is a template parameter so the per-branch values stay in registers.

#include "engram_element.cuh"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace {

using engram::dispatch_type;
using engram::narrow;
using engram::widen;

constexpr int kThreads = 256;
constexpr int kMaxM = 8;

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T, typename A, int V>
__device__ __forceinline__ void load(const T* p, A (&out)[V]) {
  const Pack<T, V> pack = *reinterpret_cast<const Pack<T, V>*>(p);
#pragma unroll
  for (int v = 0; v < V; ++v) {
    out[v] = widen<A>(pack.v[v]);
  }
}

template <typename T, typename A, int V>
__device__ __forceinline__ void store(T* p, const A (&in)[V]) {
  Pack<T, V> pack;
#pragma unroll
  for (int v = 0; v < V; ++v) {
    pack.v[v] = narrow<T>(in[v]);
  }
  *reinterpret_cast<Pack<T, V>*>(p) = pack;
}

// work item w: token w / chunks, columns [(w % chunks) * V, + V)
template <typename T, typename A, int M, int V>
__global__ void input_kernel(const T* pre, const T* h, T* x, int64_t n, int64_t d) {
  const int64_t chunks = d / V;
  for (int64_t w = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; w < n * chunks;
       w += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = w / chunks;
    const int64_t c = (w - t * chunks) * V;
    A acc[V];
    A row[V];
#pragma unroll
    for (int j = 0; j < M; ++j) {
      const A p = widen<A>(pre[t * M + j]);
      load<T, A, V>(h + (t * M + j) * d + c, row);
#pragma unroll
      for (int v = 0; v < V; ++v) {
        acc[v] = j == 0 ? p * row[v] : acc[v] + p * row[v];
      }
    }
    store<T, A, V>(x + t * d + c, acc);
  }
}

template <typename T, typename A, int M, int V>
__global__ void update_kernel(const T* mix, const T* h, const T* f, T* out, int64_t n, int64_t d) {
  const int64_t chunks = d / V;
  for (int64_t w = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; w < n * chunks;
       w += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = w / chunks;
    const int64_t c = (w - t * chunks) * V;
    A rows[M][V];
#pragma unroll
    for (int j = 0; j < M; ++j) {
      load<T, A, V>(h + (t * M + j) * d + c, rows[j]);
    }
    A fresh[V];
    load<T, A, V>(f + t * d + c, fresh);
    const T* m = mix + t * M * (M + 1);
#pragma unroll
    for (int i = 0; i < M; ++i) {
      A acc[V];
      const A post = widen<A>(m[i * (M + 1) + M]);
#pragma unroll
      for (int v = 0; v < V; ++v) {
        acc[v] = post * fresh[v];
      }
#pragma unroll
      for (int j = 0; j < M; ++j) {
        const A r = widen<A>(m[i * (M + 1) + j]);
#pragma unroll
        for (int v = 0; v < V; ++v) {
          acc[v] += r * rows[j][v];
        }
      }
      store<T, A, V>(out + (t * M + i) * d + c, acc);
    }
  }
}

unsigned int blocks_for(int64_t items) {
  const int64_t blocks = (items + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(blocks < 65536 * 8 ? blocks : 65536 * 8);  // the rest by the grid stride
}

template <typename T, typename A, int M, int V>
cudaError_t launch_vector(bool update, const void* coefficients, const void* h, const void* f, void* out, int64_t n,
                          int64_t d, cudaStream_t stream) {
  const unsigned int blocks = blocks_for(n * (d / V));
  if (update) {
    update_kernel<T, A, M, V><<<blocks, kThreads, 0, stream>>>(
        static_cast<const T*>(coefficients), static_cast<const T*>(h), static_cast<const T*>(f), static_cast<T*>(out),
        n, d);
  } else {
    input_kernel<T, A, M, V><<<blocks, kThreads, 0, stream>>>(static_cast<const T*>(coefficients),
                                                             static_cast<const T*>(h), static_cast<T*>(out), n, d);
  }
  return cudaGetLastError();
}

template <typename T, typename A, int M>
cudaError_t launch_m(bool update, bool vectorised, const void* coefficients, const void* h, const void* f, void* out,
                     int64_t n, int64_t d, cudaStream_t stream) {
  constexpr int kVector = 16 / sizeof(T);
  return vectorised ? launch_vector<T, A, M, kVector>(update, coefficients, h, f, out, n, d, stream)
                    : launch_vector<T, A, M, 1>(update, coefficients, h, f, out, n, d, stream);
}

template <typename T, typename A>
cudaError_t launch_type(bool update, bool vectorised, int m, const void* coefficients, const void* h, const void* f,
                        void* out, int64_t n, int64_t d, cudaStream_t stream) {
  switch (m) {
    case 1: return launch_m<T, A, 1>(update, vectorised, coefficients, h, f, out, n, d, stream);
    case 2: return launch_m<T, A, 2>(update, vectorised, coefficients, h, f, out, n, d, stream);
    case 3: return launch_m<T, A, 3>(update, vectorised, coefficients, h, f, out, n, d, stream);
    case 4: return launch_m<T, A, 4>(update, vectorised, coefficients, h, f, out, n, d, stream);
    case 5: return launch_m<T, A, 5>(update, vectorised, coefficients, h, f, out, n, d, stream);
    case 6: return launch_m<T, A, 6>(update, vectorised, coefficients, h, f, out, n, d, stream);
    case 7: return launch_m<T, A, 7>(update, vectorised, coefficients, h, f, out, n, d, stream);
    case 8: return launch_m<T, A, 8>(update, vectorised, coefficients, h, f, out, n, d, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

// update false: coefficients = pre [n, M], f unused, out = x [n, d]; update true: coefficients = mix [n, M, M + 1],
// f = F [n, d], out = H' [n, M, d]. h = H [n, M, d]. All contiguous, one type (dtype 0 float32, 1 float16, 2
// float64). vectorised: d is a multiple of 16 / sizeof(type) and h, f and out start on 16 bytes. Returns
// cudaErrorInvalidValue for an M outside 1..8 or another type.
extern "C" cudaError_t engram_hc_stream(bool update, const void* coefficients, const void* h, const void* f,
                                        void* out, int64_t n, int m, int64_t d, int dtype, bool vectorised,
                                        cudaStream_t stream) {
  if (m < 1 || m > kMaxM || n < 0 || d < 1) {
    return cudaErrorInvalidValue;
  }
  if (n == 0) {
    return cudaSuccess;
  }
  return dispatch_type(dtype, [&](auto stored, auto accumulated) {
    return launch_type<typename decltype(stored)::type, typename decltype(accumulated)::type>(
        update, vectorised, m, coefficients, h, f, out, n, d, stream);
  });
}
