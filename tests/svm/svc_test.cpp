#include "svm/svc.hpp"

#include "svm/primal.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

SvcOptions rbf(double c, double gamma = 0.3, double tol = 1e-4) {
  SvcOptions o;
  o.C = c;
  o.gamma_mode = GammaMode::Value;
  o.gamma = gamma;
  o.tol = tol;
  return o;
}

TEST(Svc, BadInput) {
  const LibsvmData d = svm_test::make_blobs(30, 3, {1, -1}, 1.0f, 1);
  MINIDL_EXPECT_THROW_WITH(SVC().fit(d.x, full({30}, 4.0, Device::cpu(), DType::Int32)), ValueError,
                           "single class", "4");
  std::vector<float> xv = d.x.to_vector<float>();
  xv[7] = std::numeric_limits<float>::quiet_NaN();
  MINIDL_EXPECT_THROW_WITH(SVC().fit(from_vector(xv, {30, 3}), d.y), ValueError, "x[2, 1]",
                           "not finite");
  xv[7] = std::numeric_limits<float>::infinity();
  MINIDL_EXPECT_THROW_WITH(SVC().fit(from_vector(xv, {30, 3}), d.y), ValueError, "not finite");
  MINIDL_EXPECT_THROW_WITH(SVC().fit(d.x, from_vector({1, -1}, {2})), ShapeError,
                           "different numbers of samples");
  MINIDL_EXPECT_THROW_WITH(SVC(rbf(0.0)).fit(d.x, d.y), ValueError, "C must be");
  MINIDL_EXPECT_THROW_WITH(SVC(rbf(-1.0)).fit(d.x, d.y), ValueError, "C must be");
  MINIDL_EXPECT_THROW_WITH(SVC(rbf(1.0, -2.0)).fit(d.x, d.y), ValueError, "gamma");
  SvcOptions w = rbf(1.0);
  w.class_weight[9] = 2.0;
  MINIDL_EXPECT_THROW_WITH(SVC(w).fit(d.x, d.y), ValueError, "label 9");
  MINIDL_EXPECT_THROW_WITH(SVC().predict(d.x), ValueError, "not fitted");
  SVC svc(rbf(1.0));
  svc.fit(d.x, d.y);
  MINIDL_EXPECT_THROW_WITH(svc.predict(ones({2, 4})), ShapeError, "[m, 3]");
  MINIDL_EXPECT_THROW_WITH(svc.coef(), ValueError, "linear kernel");
}

// Zero rows used to read classes[0] of an empty vector (SIGSEGV).
TEST(Svc, ZeroSamplesIsAnError) {
  MINIDL_EXPECT_THROW_WITH(SVC().fit(zeros({0, 784}), zeros({0}, Device::cpu(), DType::Int32)),
                           ValueError, "SVC::fit", "no samples", "[0, 784]");
  MINIDL_EXPECT_THROW_WITH(
      train_linear_svm_primal(zeros({0, 3}), zeros({0}, Device::cpu(), DType::Int32)),
      ValueError, "two classes");
}

TEST(Svc, LibsvmClassOrder) {
  // First appearance, except {-1, +1} which is (+1, -1).
  const Tensor x = from_vector({0.f, 1.f, 2.f, 3.f}, {4, 1});
  SVC a(rbf(1.0));
  a.fit(x, from_vector({-1, -1, 1, 1}, {4}));
  EXPECT_EQ(a.classes(), (std::vector<std::int32_t>{1, -1}));
  SVC b(rbf(1.0));
  b.fit(x, from_vector({5, 2, 5, 2}, {4}));
  EXPECT_EQ(b.classes(), (std::vector<std::int32_t>{5, 2}));
}

TEST(Svc, DiagnosticsAreConsistent) {
  const LibsvmData d = svm_test::make_blobs(150, 4, {1, -1}, 0.5f, 3);
  const double c = 2.0;
  SVC svc(rbf(c, 0.3, 1e-5));
  svc.fit(d.x, d.y);
  ASSERT_EQ(svc.binary_results().size(), 1u);
  const BinaryResult& r = svc.binary_results()[0];
  const std::vector<float> dec = svc.decision_function(d.x).to_vector<float>();
  double primal_hinge = 0;
  std::int64_t counted_sv = 0;
  for (std::size_t t = 0; t < r.samples.size(); ++t) {
    const double yz = r.y[t] * double(dec[static_cast<std::size_t>(r.samples[t])]);
    EXPECT_NEAR(r.margin[t], yz, 1e-4);  // from the gradient vs recomputed by predict's path
    EXPECT_NEAR(r.slack[t], std::max(0.0, 1.0 - r.margin[t]), 1e-12);
    // KKT: alpha = 0 -> y z >= 1; alpha = C -> y z <= 1; free -> y z = 1 (to tol).
    if (r.alpha[t] <= 0) {
      EXPECT_GE(r.margin[t], 1.0 - 1e-4);
    }
    if (r.alpha[t] >= c) {
      EXPECT_LE(r.margin[t], 1.0 + 1e-4);
    }
    if (r.alpha[t] > 0 && r.alpha[t] < c) {
      EXPECT_EQ(r.category[t], MarginCategory::OnMargin);
    }
    if (r.margin[t] < 0) {
      EXPECT_EQ(r.category[t], MarginCategory::Misclassified);
    }
    if (r.alpha[t] > 0) ++counted_sv;
    primal_hinge += r.slack[t];
  }
  EXPECT_EQ(counted_sv, r.n_sv);
  EXPECT_EQ(static_cast<std::int64_t>(svc.support().size()), r.n_sv);
  EXPECT_EQ(svc.n_support()[0] + svc.n_support()[1], r.n_sv);
  // Strong duality: the primal C sum xi + ||w||^2/2, with ||w||^2 = a^T Q a, equals
  // the dual e^T a - a^T Q a / 2, so C sum xi = 2 D - e^T a ... i.e. P - D ~ 0.
  double sum_a = 0;
  for (double a : r.alpha) sum_a += a;
  const double wq = 2.0 * (sum_a - r.dual_objective);  // a^T Q a
  const double primal = c * primal_hinge + wq / 2;
  EXPECT_NEAR(primal, r.dual_objective, 1e-3 * std::fabs(r.dual_objective));
  EXPECT_LE(std::fabs(r.sum_alpha_y), 1e-9);
  EXPECT_LE(r.max_kkt_violation, 1e-5);
}

TEST(Svc, LinearWeightsGiveTheDecision) {
  const LibsvmData d = svm_test::make_blobs(100, 3, {1, -1}, 1.0f, 5);
  SvcOptions o;
  o.kernel = KernelType::Linear;
  o.C = 1.0;
  SVC svc(o);
  svc.fit(d.x, d.y);
  const std::vector<float> w = svc.coef().to_vector<float>();
  const double b = svc.intercept()[0];
  const std::vector<float> dec = svc.decision_function(d.x).to_vector<float>();
  const std::vector<float> xv = d.x.to_vector<float>();
  for (std::size_t i = 0; i < 100; ++i)
    EXPECT_NEAR(dec[i], w[0] * xv[i * 3] + w[1] * xv[i * 3 + 1] + w[2] * xv[i * 3 + 2] + b, 1e-4);
}

TEST(Svc, FullMatrixAndRowCacheAgree) {
  const LibsvmData d = svm_test::make_blobs(120, 4, {0, 1, 2}, 1.0f, 6);
  SvcOptions o = rbf(1.0, 0.3, 1e-5);
  SVC full(o);
  full.fit(d.x, d.y);
  o.memory_budget = 1000;  // far below 120^2 floats: per-pair row caches
  SVC cached(o);
  cached.fit(d.x, d.y);
  ASSERT_EQ(full.binary_results().size(), 3u);
  for (std::size_t p = 0; p < 3; ++p)
    EXPECT_NEAR(full.binary_results()[p].dual_objective, cached.binary_results()[p].dual_objective,
                1e-6 * std::fabs(full.binary_results()[p].dual_objective));
  EXPECT_EQ(full.predict(d.x).to_vector<std::int32_t>(),
            cached.predict(d.x).to_vector<std::int32_t>());
  // The decomposition solver on batched GEMM rows reaches the same optimum.
  o.cpu_decomposition = true;
  o.working_set = 16;
  SVC decomposed(o);
  decomposed.fit(d.x, d.y);
  for (std::size_t p = 0; p < 3; ++p)
    EXPECT_NEAR(full.binary_results()[p].dual_objective,
                decomposed.binary_results()[p].dual_objective,
                1e-5 * std::fabs(full.binary_results()[p].dual_objective));
}

TEST(Svc, OneVsRestAndWeights) {
  const LibsvmData d = svm_test::make_blobs(150, 4, {3, 1, 2}, 1.5f, 8);
  SvcOptions o = rbf(1.0);
  o.multi_class = MultiClass::OneVsRest;
  SVC ovr(o);
  ovr.fit(d.x, d.y);
  EXPECT_EQ(ovr.n_decisions(), 3);
  const std::vector<std::int32_t> yv = d.y.to_vector<std::int32_t>();
  const std::vector<std::int32_t> pred = ovr.predict(d.x).to_vector<std::int32_t>();
  int right = 0;
  for (std::size_t i = 0; i < yv.size(); ++i) right += pred[i] == yv[i];
  EXPECT_GE(right, 135);
  MINIDL_EXPECT_THROW_WITH(ovr.dual_coef(), ValueError, "one-vs-one");
  // Weights scale C per class; balanced weights n / (k n_c).
  SvcOptions w = rbf(1.0);
  w.class_weight[3] = 4.0;
  SVC weighted(w);
  weighted.fit(d.x, d.y);
  const auto index_of = [&](std::int32_t label) {
    const auto& cl = weighted.classes();
    return static_cast<std::int32_t>(std::find(cl.begin(), cl.end(), label) - cl.begin());
  };
  const std::int32_t c3 = index_of(3);
  std::int64_t n3 = 0;
  for (std::int32_t v : yv) n3 += v == 3;
  SvcOptions bal = rbf(2.0);
  bal.balanced = true;
  SVC balanced(bal);
  balanced.fit(d.x, d.y);
  for (std::size_t p = 0; p < 3; ++p) {
    const BinaryResult& r = weighted.binary_results()[p];
    EXPECT_DOUBLE_EQ(r.cp, r.positive_class == c3 ? 4.0 : 1.0);
    EXPECT_DOUBLE_EQ(r.cn, r.negative_class == c3 ? 4.0 : 1.0);
    const BinaryResult& b = balanced.binary_results()[p];
    const double expected = 2.0 * 150.0 / (3.0 * double(n3));
    if (b.positive_class == c3) {
      EXPECT_NEAR(b.cp, expected, 1e-12);
    }
    if (b.negative_class == c3) {
      EXPECT_NEAR(b.cn, expected, 1e-12);
    }
  }
}

TEST(Svc, DualCoefLayoutIsLibsvms) {
  const LibsvmData d = svm_test::make_blobs(90, 3, {0, 1, 2}, 1.0f, 12);
  SVC svc(rbf(1.0));
  svc.fit(d.x, d.y);
  const std::vector<double> dc = svc.dual_coef();
  const auto n_sv = static_cast<std::int64_t>(svc.support().size());
  ASSERT_EQ(dc.size(), static_cast<std::size_t>(2 * n_sv));
  // Class 0's SVs: pair (0,1) in row 0, pair (0,2) in row 1, positive coefficients.
  const std::int64_t n0 = svc.n_support()[0];
  for (std::int64_t s = 0; s < n0; ++s) {
    EXPECT_GE(dc[static_cast<std::size_t>(s)], 0.0);
    EXPECT_GE(dc[static_cast<std::size_t>(n_sv + s)], 0.0);
    EXPECT_GT(dc[static_cast<std::size_t>(s)] + dc[static_cast<std::size_t>(n_sv + s)], 0.0);
  }
}

}  // namespace
}  // namespace minidl::svm
