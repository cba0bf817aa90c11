// One token's hyper-connection coefficients (engram_hyper_connection.cu's kernel body), host and device.
#pragma once

#include "engram_sinkhorn.cuh"

namespace engram {

ENGRAM_HD inline float sigmoid_of(float v) { return 1.0f / (1.0f + expf(-v)); }
ENGRAM_HD inline double sigmoid_of(double v) { return 1.0 / (1.0 + exp(-v)); }

// p [2m + m*m] (unnormalised projections), norm (the stream's euclidean norm), alpha [3], biases [m], [m], [m*m]
// -> pre [m], mix [m, m + 1] ([res | post]); HyperConnection.prepareOnDevice's arithmetic after its product
template <typename T, typename A>
ENGRAM_HD inline void coefficients_of_token(const T* p, T norm, const T* alpha, const T* pre_bias,
                                            const T* post_bias, const T* res_bias, T* pre, T* mix, int m,
                                            A inv_width, A eps, int iterations) {
  // the norm's per-token scale: rsqrt(mean square + eps), the mean square from the euclidean norm
  A r_norm = static_cast<A>(to_compute(norm));
  A scale = A(1) / sqrt(r_norm * r_norm * inv_width + eps);
  A a0 = static_cast<A>(to_compute(alpha[0]));
  A a1 = static_cast<A>(to_compute(alpha[1]));
  A a2 = static_cast<A>(to_compute(alpha[2]));
  A x[kMaxM * kMaxM];
  for (int k = 0; k < m * m; ++k) {
    x[k] = scale * static_cast<A>(to_compute(p[2 * m + k])) * a2 + static_cast<A>(to_compute(res_bias[k]));
  }
  sinkhorn_in_place(x, m, iterations);
  for (int i = 0; i < m; ++i) {
    pre[i] = from_compute<T>(sigmoid_of(scale * static_cast<A>(to_compute(p[i])) * a0
                                        + static_cast<A>(to_compute(pre_bias[i]))));
    T* row = mix + i * (m + 1);
    for (int j = 0; j < m; ++j) {
      row[j] = from_compute<T>(exp_of(x[i * m + j]));
    }
    row[m] = from_compute<T>(A(2) * sigmoid_of(scale * static_cast<A>(to_compute(p[m + i])) * a1
                                               + static_cast<A>(to_compute(post_bias[i]))));
  }
}

}  // namespace engram
