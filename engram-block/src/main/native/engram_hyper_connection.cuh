// One token's hyper-connection coefficients (engram_hyper_connection.cu's kernel body), host and device.
#pragma once

#include "engram_sinkhorn.cuh"

namespace engram {

ENGRAM_HD inline float sigmoid_of(float v) { return 1.0f / (1.0f + expf(-v)); }
ENGRAM_HD inline double sigmoid_of(double v) { return 1.0 / (1.0 + exp(-v)); }

// The norm's per-token scale: rsqrt(mean square + eps), the mean square from the stream's euclidean norm.
template <typename T, typename A>
ENGRAM_HD inline A norm_scale(T norm, A inv_width, A eps) {
  A r_norm = static_cast<A>(to_compute(norm));
  return A(1) / sqrt(r_norm * r_norm * inv_width + eps);
}

// Entry k of the res matrix's logits (before Sinkhorn), from the projections p [2m + m*m].
template <typename T, typename A>
ENGRAM_HD inline A res_logit(const T* p, A scale, const T* alpha, const T* res_bias, int k, int m) {
  return scale * static_cast<A>(to_compute(p[2 * m + k])) * static_cast<A>(to_compute(alpha[2]))
         + static_cast<A>(to_compute(res_bias[k]));
}

// Row i of the outputs: pre[i] and mix row i ([res row i | post i]), res from its Sinkhorn-normalised logits x.
template <typename T, typename A>
ENGRAM_HD inline void write_row(const T* p, A scale, const T* alpha, const T* pre_bias, const T* post_bias,
                                const A* x, T* pre, T* mix, int i, int m) {
  A a0 = static_cast<A>(to_compute(alpha[0]));
  A a1 = static_cast<A>(to_compute(alpha[1]));
  pre[i] = from_compute<T>(sigmoid_of(scale * static_cast<A>(to_compute(p[i])) * a0
                                      + static_cast<A>(to_compute(pre_bias[i]))));
  T* row = mix + i * (m + 1);
  for (int j = 0; j < m; ++j) {
    row[j] = from_compute<T>(exp_of(x[i * m + j]));
  }
  row[m] = from_compute<T>(A(2) * sigmoid_of(scale * static_cast<A>(to_compute(p[m + i])) * a1
                                             + static_cast<A>(to_compute(post_bias[i]))));
}

// p [2m + m*m] (unnormalised projections), norm (the stream's euclidean norm), alpha [3], biases [m], [m], [m*m]
// -> pre [m], mix [m, m + 1] ([res | post]); HyperConnection.prepareOnDevice's arithmetic after its product, one
// token serially. The kernel runs the same steps with one thread per row (and column): rows are independent within
// a Sinkhorn half-iteration, so its results are these, bit for bit.
template <typename T, typename A>
ENGRAM_HD inline void coefficients_of_token(const T* p, T norm, const T* alpha, const T* pre_bias,
                                            const T* post_bias, const T* res_bias, T* pre, T* mix, int m,
                                            A inv_width, A eps, int iterations) {
  A scale = norm_scale<T, A>(norm, inv_width, eps);
  A x[kMaxM * kMaxM];
  for (int k = 0; k < m * m; ++k) {
    x[k] = res_logit<T, A>(p, scale, alpha, res_bias, k, m);
  }
  sinkhorn_in_place(x, m, iterations);
  for (int i = 0; i < m; ++i) {
    write_row<T, A>(p, scale, alpha, pre_bias, post_bias, x, pre, mix, i, m);
  }
}

}  // namespace engram
