// The fused kernel's Sinkhorn and per-token arithmetic (engram_sinkhorn.cuh, engram_hyper_connection.cuh) run on
// the host against a plain double-precision transcription of HyperConnection's operations, for M = 1..8, in float64,
// float32 and float16: their indexing and numerics checked on a machine without a GPU (nvcc compiles it; nothing is
// launched). examples/scripts/check-kernels-on-host.sh builds and runs it; FusedKernelsTest checks the kernels
// themselves on a GPU.

#include "../../main/native/engram_hyper_connection.cuh"

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

int failures = 0;

void expect_near(double actual, double expected, double tolerance, const char* what, int m, int index) {
  if (!(std::fabs(actual - expected) <= tolerance)) {
    if (failures < 20) {
      std::printf("FAIL %s M=%d [%d]: %.9g, expected %.9g (tolerance %g)\n", what, m, index, actual, expected,
                  tolerance);
    }
    ++failures;
  }
}

// HyperConnection.sinkhornOfLogits written plainly: 20 x (log-softmax over rows, then over columns), then exp
std::vector<double> sinkhorn_reference(std::vector<double> x, int m, int iterations) {
  for (int it = 0; it < iterations; ++it) {
    for (int i = 0; i < m; ++i) {
      double sum = 0;
      for (int j = 0; j < m; ++j) sum += std::exp(x[i * m + j]);
      for (int j = 0; j < m; ++j) x[i * m + j] -= std::log(sum);
    }
    for (int j = 0; j < m; ++j) {
      double sum = 0;
      for (int i = 0; i < m; ++i) sum += std::exp(x[i * m + j]);
      for (int i = 0; i < m; ++i) x[i * m + j] -= std::log(sum);
    }
  }
  for (double& v : x) v = std::exp(v);
  return x;
}

// The kernel's Sinkhorn of one matrix, loaded and stored in T and computed in A as coefficients_of_token does
template <typename T, typename A>
void sinkhorn_matrix(const T* in, T* out, int m, int iterations) {
  A x[engram::kMaxM * engram::kMaxM];
  for (int k = 0; k < m * m; ++k) x[k] = static_cast<A>(engram::to_compute(in[k]));
  engram::sinkhorn_in_place(x, m, iterations);
  for (int k = 0; k < m * m; ++k) out[k] = engram::from_compute<T>(engram::exp_of(x[k]));
}

double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

template <typename T>
T of(double v);
template <> double of<double>(double v) { return v; }
template <> float of<float>(double v) { return static_cast<float>(v); }
template <> __half of<__half>(double v) { return __float2half(static_cast<float>(v)); }

double back(double v) { return v; }
double back(float v) { return v; }
double back(__half v) { return __half2float(v); }

template <typename T, typename A>
void check_type(const char* type, double tolerance, std::mt19937_64& random) {
  std::uniform_real_distribution<double> uniform(-1, 1);
  const int iterations = 20;
  const int d = 16;
  const double eps = 1e-6;
  for (int m = 1; m <= engram::kMaxM; ++m) {
    for (int trial = 0; trial < 20; ++trial) {
      // Sinkhorn of one matrix: a diagonal near 8 and the rest near -8, as hyper-connections start, plus noise
      std::vector<T> logits(m * m);
      std::vector<double> rounded(m * m);
      for (int k = 0; k < m * m; ++k) {
        logits[k] = of<T>((k % (m + 1) == 0 ? 8 : -8) * (0.5 + 0.5 * uniform(random)) + uniform(random));
        rounded[k] = back(logits[k]);
      }
      std::vector<T> out(m * m);
      sinkhorn_matrix<T, A>(logits.data(), out.data(), m, iterations);
      std::vector<double> expected = sinkhorn_reference(rounded, m, iterations);
      for (int k = 0; k < m * m; ++k) {
        expect_near(back(out[k]), expected[k], tolerance, type, m, k);
      }
      // one token's coefficients
      const int width = 2 * m + m * m;
      std::vector<T> p(width), alpha(3), pre_bias(m), post_bias(m), res_bias(m * m), pre(m), mix(m * (m + 1));
      for (T& v : p) v = of<T>(3 * uniform(random));
      for (T& v : alpha) v = of<T>(uniform(random));
      for (T& v : pre_bias) v = of<T>(uniform(random));
      for (T& v : post_bias) v = of<T>(uniform(random));
      for (int k = 0; k < m * m; ++k) res_bias[k] = of<T>(k % (m + 1) == 0 ? 0 : -8 + uniform(random));
      T norm = of<T>(10 + 5 * uniform(random));
      engram::coefficients_of_token<T, A>(p.data(), norm, alpha.data(), pre_bias.data(), post_bias.data(),
                                          res_bias.data(), pre.data(), mix.data(), m, A(1.0 / (m * d)), A(eps),
                                          iterations);
      double scale = 1 / std::sqrt(back(norm) * back(norm) / (m * d) + eps);
      std::vector<double> res_logits(m * m);
      for (int k = 0; k < m * m; ++k) {
        res_logits[k] = scale * back(p[2 * m + k]) * back(alpha[2]) + back(res_bias[k]);
      }
      std::vector<double> res = sinkhorn_reference(res_logits, m, iterations);
      for (int i = 0; i < m; ++i) {
        expect_near(back(pre[i]), sigmoid(scale * back(p[i]) * back(alpha[0]) + back(pre_bias[i])), tolerance,
                    "pre", m, i);
        expect_near(back(mix[i * (m + 1) + m]),
                    2 * sigmoid(scale * back(p[m + i]) * back(alpha[1]) + back(post_bias[i])), 2 * tolerance, "post",
                    m, i);
        for (int j = 0; j < m; ++j) {
          expect_near(back(mix[i * (m + 1) + j]), res[i * m + j], tolerance, "res", m, i * m + j);
        }
      }
    }
  }
  std::printf("%s: checked M = 1..%d\n", type, engram::kMaxM);
}

}  // namespace

int main() {
  std::mt19937_64 random(5);
  check_type<double, double>("float64", 1e-12, random);
  check_type<float, float>("float32", 2e-5, random);
  check_type<__half, float>("float16", 2e-3, random);
  if (failures > 0) {
    std::printf("%d mismatches\n", failures);
    return 1;
  }
  std::printf("kernels on host: all match\n");
  return 0;
}
