// The hyper-connections' Sinkhorn normalisation of one small M x M matrix, for engram_hyper_connection.cuh: a row's
// (or column's) log-softmax, and the whole normalisation serially. HyperConnection.sinkhornOfLogits is 20 iterations
// of a log-softmax over rows then columns, 41 libtorch kernels per connection whatever the number of matrices; the
// kernel normalises each row (column) of a matrix in its own thread. Host and device functions, so that
// engram-block/src/test/native/kernels-on-host.cu checks the kernels' arithmetic on a machine without a GPU.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#define ENGRAM_HD __host__ __device__

namespace engram {

constexpr int kMaxM = 8;

ENGRAM_HD inline float to_compute(float v) { return v; }
ENGRAM_HD inline float to_compute(__half v) { return __half2float(v); }
ENGRAM_HD inline double to_compute(double v) { return v; }

template <typename T> ENGRAM_HD inline T from_compute(float v);
template <> ENGRAM_HD inline float from_compute<float>(float v) { return v; }
template <> ENGRAM_HD inline __half from_compute<__half>(float v) { return __float2half(v); }
template <typename T> ENGRAM_HD inline T from_compute(double v) { return static_cast<T>(v); }

ENGRAM_HD inline float exp_of(float v) { return expf(v); }
ENGRAM_HD inline double exp_of(double v) { return exp(v); }
ENGRAM_HD inline float log_of(float v) { return logf(v); }
ENGRAM_HD inline double log_of(double v) { return log(v); }

// x[start + k * stride], k < m, minus its log-sum-exp
template <typename A>
ENGRAM_HD inline void log_normalise(A* x, int start, int stride, int m) {
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

// Sinkhorn of exp(x) in place, in the log domain: `iterations` log-softmaxes over each row, then each column
// (HyperConnection.sinkhornOfLogits); x stays in the log domain (exp it for the matrix).
template <typename A>
ENGRAM_HD inline void sinkhorn_in_place(A* x, int m, int iterations) {
  for (int it = 0; it < iterations; ++it) {
    for (int i = 0; i < m; ++i) {
      log_normalise(x, i * m, 1, m);  // row i
    }
    for (int j = 0; j < m; ++j) {
      log_normalise(x, j, m, m);      // column j
    }
  }
}

}  // namespace engram
