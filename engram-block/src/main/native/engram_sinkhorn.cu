// The hyper-connections' Sinkhorn normalisation of many small M x M matrices in one kernel.
//
// Why: HyperConnection.sinkhornOfLogits is 20 iterations of a log-softmax over rows then columns: 41 libtorch
// kernels per connection, whatever the number of matrices. A decode step of engram-27b has 60 connections (2,460
// kernels, each a few microseconds of a mostly idle GPU), and a prefill's Sinkhorn took 17 ms of softmax kernels over
// 16,384 matrices per connection. One thread per matrix keeps its M x M values in registers for all iterations.
// Same arithmetic as the operations (log domain, max-shifted log-sum-exp), in float for half and float inputs.

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace {

constexpr int kMaxM = 8;

__device__ inline float to_compute(float v) { return v; }
__device__ inline float to_compute(__half v) { return __half2float(v); }
__device__ inline double to_compute(double v) { return v; }

template <typename T> __device__ inline T from_compute(float v);
template <> __device__ inline float from_compute<float>(float v) { return v; }
template <> __device__ inline __half from_compute<__half>(float v) { return __float2half(v); }
template <typename T> __device__ inline T from_compute(double v) { return static_cast<T>(v); }

__device__ inline float exp_of(float v) { return expf(v); }
__device__ inline double exp_of(double v) { return exp(v); }
__device__ inline float log_of(float v) { return logf(v); }
__device__ inline double log_of(double v) { return log(v); }

// x[start + k * stride], k < m, minus its log-sum-exp
template <typename A>
__device__ inline void log_normalise(A* x, int start, int stride, int m) {
  A top = x[start];
  for (int k = 1; k < m; ++k) {
    top = fmax(top, x[start + k * stride]);
  }
  A sum = 0;
  for (int k = 0; k < m; ++k) {
    sum += exp_of(x[start + k * stride] - top);
  }
  A shift = top + log_of(sum);
  for (int k = 0; k < m; ++k) {
    x[start + k * stride] -= shift;
  }
}

template <typename T, typename A>
__global__ void sinkhorn_kernel(const T* logits, T* out, int64_t matrices, int m, int iterations) {
  int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= matrices) {
    return;
  }
  const int size = m * m;
  const T* in = logits + index * size;
  A x[kMaxM * kMaxM];
  for (int k = 0; k < size; ++k) {
    x[k] = to_compute(in[k]);
  }
  for (int it = 0; it < iterations; ++it) {
    for (int i = 0; i < m; ++i) {
      log_normalise(x, i * m, 1, m);  // row i
    }
    for (int j = 0; j < m; ++j) {
      log_normalise(x, j, m, m);      // column j
    }
  }
  T* o = out + index * size;
  for (int k = 0; k < size; ++k) {
    o[k] = from_compute<T>(exp_of(x[k]));
  }
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
