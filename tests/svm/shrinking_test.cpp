// Shrinking in smo_solve (SmoOptions::shrinking, LIBSVM's -h 1): the solver leaves
// variables stuck at a bound out of its scans and rebuilds their gradients before
// it stops. The model must be the one without shrinking (same optimum within the
// tolerance, exact final gradients, same support vectors and decisions) on several
// data sets, kernels, C values and row sources, and it must actually shrink.
#include <algorithm>
#include <cmath>

#include "svm/smo.hpp"
#include "svm/svc.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

std::vector<std::int8_t> labels(const LibsvmData& d) {
  std::vector<std::int8_t> y;
  for (std::int32_t v : d.y.to_vector<std::int32_t>()) y.push_back(static_cast<std::int8_t>(v));
  return y;
}

// G = Q alpha - e from the full kernel matrix, in double.
std::vector<double> exact_gradient(const Tensor& k, const std::vector<std::int8_t>& y,
                                   const std::vector<double>& alpha) {
  const std::size_t l = y.size();
  const float* kp = k.data<float>();
  std::vector<double> g(l, -1.0);
  for (std::size_t t = 0; t < l; ++t)
    for (std::size_t s = 0; s < l; ++s)
      if (alpha[s] != 0.0) g[t] += double(y[t]) * y[s] * alpha[s] * kp[t * l + s];
  return g;
}

struct Case {
  KernelParams kernel;
  double c;
  float spread;
  std::uint64_t seed;
};

SmoOptions options(bool shrinking, double eps = 1e-5) {
  SmoOptions o;
  o.eps = eps;
  o.shrinking = shrinking;
  return o;
}

void expect_same_solution(const SmoResult& on, const SmoResult& off, const Tensor& k,
                          const std::vector<std::int8_t>& y, double c, double eps) {
  EXPECT_TRUE(on.converged);
  EXPECT_TRUE(off.converged);
  EXPECT_LE(on.max_violation, eps);
  // The returned gradient is exact for every variable, shrunk ones included.
  const std::vector<double> g = exact_gradient(k, y, on.alpha);
  double worst = 0.0;
  for (std::size_t t = 0; t < g.size(); ++t)
    worst = std::max(worst, std::fabs(g[t] - on.grad[t]) / std::max(1.0, std::fabs(g[t])));
  EXPECT_LE(worst, 1e-5) << "largest gradient error";
  EXPECT_LE(max_kkt_violation(on.alpha, g, y, c, c), 1.5 * eps);
  EXPECT_NEAR(on.objective, off.objective, 1e-6 * std::max(1.0, std::fabs(off.objective)));
  EXPECT_NEAR(on.rho, off.rho, 1e-3);
  // Same support vectors, up to a variable or two sitting at 0 by a hair.
  std::int64_t differ = 0;
  for (std::size_t t = 0; t < y.size(); ++t) differ += (on.alpha[t] > 0) != (off.alpha[t] > 0);
  EXPECT_LE(differ, 2);
  // Same decisions on the training samples: y f = G + 1 - y rho, compared by sign.
  std::int64_t flips = 0;
  for (std::size_t t = 0; t < y.size(); ++t) {
    const double a = on.grad[t] + 1.0 - y[t] * on.rho;
    const double b = off.grad[t] + 1.0 - y[t] * off.rho;
    flips += (a > 0) != (b > 0) && std::fabs(a) > 1e-3 && std::fabs(b) > 1e-3;
  }
  EXPECT_EQ(flips, 0);
}

TEST(Shrinking, SameSolutionAsWithoutOnSeveralProblems) {
  const std::vector<Case> cases = {
      {{KernelType::Rbf, 0.3, 0.0, 3}, 1.0, 1.2f, 31},
      {{KernelType::Rbf, 0.5, 0.0, 3}, 10.0, 0.8f, 32},
      {{KernelType::Linear, 1.0, 0.0, 3}, 0.5, 1.0f, 33},
      {{KernelType::Polynomial, 0.2, 1.0, 3}, 2.0, 1.0f, 34},
      {{KernelType::Sigmoid, 0.02, 0.0, 3}, 1.0, 0.9f, 35},
  };
  std::int64_t shrunk_cases = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(detail::concat(kernel_name(c.kernel.type), " C=", c.c));
    const LibsvmData d = svm_test::make_blobs(1500, 5, {1, -1}, c.spread, c.seed);
    const std::vector<std::int8_t> y = labels(d);
    Tensor k;
    kernel_matrix(d.x, d.x, k, c.kernel);
    std::vector<std::int64_t> idx(y.size());
    for (std::size_t t = 0; t < idx.size(); ++t) idx[t] = static_cast<std::int64_t>(t);
    auto rows_on = subset_kernel_rows(k.data<float>(), 1500, idx, 1 << 22);
    auto rows_off = subset_kernel_rows(k.data<float>(), 1500, idx, 1 << 22);
    const SmoResult on = smo_solve(*rows_on, y, c.c, c.c, options(true));
    const SmoResult off = smo_solve(*rows_off, y, c.c, c.c, options(false));
    expect_same_solution(on, off, k, y, c.c, 1e-5);
    EXPECT_EQ(off.smallest_active, 1500);
    EXPECT_LE(on.smallest_active, 1500);
    shrunk_cases += on.smallest_active < 1500 / 2 ? 1 : 0;
  }
  // Overlapping classes leave many variables at a bound: shrinking drops them.
  EXPECT_GE(shrunk_cases, 3);
}

TEST(Shrinking, ComputedRowsUnderASmallCache) {
  // Rows computed in batches under a cache of 1/8 of the matrix: the gradient
  // rebuild prefetches the rows it needs in batches, and the result is unchanged.
  // (1200 samples at C = 4 took 40 s of CPU here, most of it without shrinking.)
  const LibsvmData d = svm_test::make_blobs(600, 6, {1, -1}, 1.1f, 41);
  const std::vector<std::int8_t> y = labels(d);
  const KernelParams p{KernelType::Rbf, 0.25, 0.0, 3};
  Tensor k;
  kernel_matrix(d.x, d.x, k, p);
  auto on_rows = computed_kernel_rows(d.x, p, 600 * 600 * 4 / 8);
  auto off_rows = computed_kernel_rows(d.x, p, 600 * 600 * 4 / 8);
  const SmoResult on = smo_solve(*on_rows, y, 1.0, 1.0, options(true));
  const SmoResult off = smo_solve(*off_rows, y, 1.0, 1.0, options(false));
  expect_same_solution(on, off, k, y, 1.0, 1e-5);
  EXPECT_LT(on.smallest_active, 600);
}

TEST(Shrinking, IterationCapStillReturnsExactGradients) {
  // Stopped by max_iter while variables are shrunk: their gradients are rebuilt.
  const LibsvmData d = svm_test::make_blobs(1500, 5, {1, -1}, 1.2f, 51);
  const std::vector<std::int8_t> y = labels(d);
  const KernelParams p{KernelType::Rbf, 0.3, 0.0, 3};
  Tensor k;
  kernel_matrix(d.x, d.x, k, p);
  std::vector<std::int64_t> idx(y.size());
  for (std::size_t t = 0; t < idx.size(); ++t) idx[t] = static_cast<std::int64_t>(t);
  auto rows = subset_kernel_rows(k.data<float>(), 1500, idx, 1 << 22);
  SmoOptions o = options(true, 1e-6);
  o.max_iter = 1800;  // past the first shrinking (after 1000 iterations)
  const SmoResult r = smo_solve(*rows, y, 1.0, 1.0, o);
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.iterations, 1800);
  EXPECT_LT(r.smallest_active, 1500);
  const std::vector<double> g = exact_gradient(k, y, r.alpha);
  for (std::size_t t = 0; t < g.size(); ++t)
    ASSERT_NEAR(r.grad[t], g[t], 1e-5 * std::max(1.0, std::fabs(g[t]))) << t;
  EXPECT_NEAR(r.max_violation, max_kkt_violation(r.alpha, g, y, 1.0, 1.0), 1e-9);
}

TEST(Shrinking, SvcModelsAgreeDenseAndSparse) {
  // Multi-class fits (class blocks, row caches, CSR samples) with and without.
  const LibsvmData d = svm_test::make_blobs(900, 6, {0, 1, 2}, 1.0f, 61);
  for (std::size_t budget : {std::size_t{0}, std::size_t{900 * 900}}) {
    for (bool sparse : {false, true}) {
      SCOPED_TRACE(detail::concat("budget ", budget, sparse ? " sparse" : " dense"));
      SvcOptions o;
      o.C = 5.0;
      o.gamma_mode = GammaMode::Value;
      o.gamma = 0.2;
      o.tol = 1e-5;
      o.memory_budget = budget;
      o.storage = sparse ? Storage::Sparse : Storage::Dense;
      SVC on(o);
      on.fit(d.x, d.y);
      o.shrinking = false;
      SVC off(o);
      off.fit(d.x, d.y);
      ASSERT_EQ(on.binary_results().size(), 3u);
      for (std::size_t p = 0; p < 3; ++p) {
        const double a = off.binary_results()[p].dual_objective;
        EXPECT_NEAR(on.binary_results()[p].dual_objective, a, 1e-6 * std::fabs(a));
        EXPECT_NEAR(on.rho()[p], off.rho()[p], 1e-3);
        EXPECT_LE(on.binary_results()[p].max_kkt_violation, 1e-5);
      }
      const auto sv_on = on.support();
      const auto sv_off = off.support();
      EXPECT_LE(std::llabs(static_cast<long long>(sv_on.size()) -
                           static_cast<long long>(sv_off.size())),
                2);
      EXPECT_EQ(on.predict(d.x).to_vector<std::int32_t>(),
                off.predict(d.x).to_vector<std::int32_t>());
    }
  }
}

}  // namespace
}  // namespace minidl::svm
