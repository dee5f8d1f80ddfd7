// SVC against LIBSVM itself (svm-train / svm-predict from Debian's libsvm-tools):
// the same data files, C, gamma, coef0, degree, tolerance and shrinking (-h 0 or
// -h 1, as minidl's SvcOptions::shrinking); the dual objective, rho, the support vectors, the predictions
// and (for the full solver) the iteration count must agree.
#include <algorithm>
#include <cmath>

#include "data/fashion_mnist.hpp"
#include "svm/svc.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

struct OracleCase {
  KernelType kernel;
  double c;
  std::vector<std::int32_t> labels;
  double gamma;
  double coef0;
  int degree;
  float spread;
};

std::string case_name(const OracleCase& oc) {
  return detail::concat(kernel_name(oc.kernel), " C=", oc.c, " classes=", oc.labels.size());
}

void compare_with_libsvm(const OracleCase& oc, const LibsvmData& train, const LibsvmData& test,
                         int decomposition_ws = 0, bool shrinking = false) {
  SCOPED_TRACE(case_name(oc) + (shrinking ? " shrinking" : ""));
  svm_test::TempDir dir;
  write_libsvm(dir.file("train"), train.x, train.y);
  write_libsvm(dir.file("test"), test.x, test.y);
  const double eps = 1e-5;
  const int t = static_cast<int>(oc.kernel);  // LIBSVM's -t numbering is the same order
  const std::string args = detail::concat(
      "-s 0 -t ", t, " -c ", svm_test::fmt17(oc.c), " -g ", svm_test::fmt17(oc.gamma), " -r ",
      svm_test::fmt17(oc.coef0), " -d ", oc.degree, " -e ", svm_test::fmt17(eps), " -m 100 -h ", shrinking ? 1 : 0);
  const svm_test::LibsvmRun ref =
      svm_test::svm_train(args, dir.file("train"), dir.file("model"), dir.file("train.log"));
  const std::vector<std::int32_t> ref_pred = svm_test::svm_predict(
      dir.file("test"), dir.file("model"), dir.file("pred"), dir.file("predict.log"));

  SvcOptions o;
  o.C = oc.c;
  o.kernel = oc.kernel;
  o.gamma_mode = GammaMode::Value;
  o.gamma = oc.gamma;
  o.coef0 = oc.coef0;
  o.degree = oc.degree;
  o.tol = eps;
  o.shrinking = shrinking;
  o.cpu_decomposition = decomposition_ws > 0;
  o.working_set = decomposition_ws > 0 ? decomposition_ws : o.working_set;
  SVC svc(o);
  svc.fit(train.x, train.y);

  const auto& results = svc.binary_results();
  ASSERT_EQ(ref.obj.size(), results.size()) << ref.output;
  const double n = static_cast<double>(train.x.size(0));
  std::int64_t iterations = 0, ref_iterations = 0;
  for (std::size_t p = 0; p < results.size(); ++p) {
    const BinaryResult& r = results[p];
    SCOPED_TRACE(detail::concat("pair ", p));
    EXPECT_TRUE(r.converged);
    EXPECT_NEAR(-r.dual_objective, ref.obj[p], 1e-4 * std::fabs(ref.obj[p]));
    EXPECT_NEAR(r.rho, ref.rho[p], 1e-3);
    EXPECT_LE(r.max_kkt_violation, eps);
    EXPECT_LE(std::fabs(r.sum_alpha_y), 1e-6 * oc.c * n);
    for (std::size_t s = 0; s < r.alpha.size(); ++s) {
      ASSERT_GE(r.alpha[s], 0.0);
      ASSERT_LE(r.alpha[s], r.y[s] > 0 ? r.cp : r.cn);
    }
    const auto sv_tol = std::max<std::int64_t>(1, ref.nsv[p] / 100);
    EXPECT_LE(std::llabs(r.n_sv - ref.nsv[p]), sv_tol);
    if (p < ref.iterations.size()) {
      iterations += r.iterations;
      ref_iterations += ref.iterations[p];
    }
  }
  if (decomposition_ws == 0) {
    // The full solver is LIBSVM's (with the same -h): the same maximal violator, the
    // same second-order (WSS2) partner, the same updates and shrinking, so nearly the
    // same path; it drifts only through float kernel values where LIBSVM has doubles
    // (within 11% over these cases; a wrong WSS2 curvature took 18-70% more). With
    // shrinking the path also turns where the gradients are rebuilt, and a drift moves
    // those points: in the polynomial C = 10 three-class case LIBSVM itself takes 44,281
    // iterations with -h 1 and 26,891 with -h 0, minidl 36,672 and 27,190; the other
    // shrinking cases agree within 8%.
    ASSERT_EQ(ref.iterations.size(), results.size()) << ref.output;
    EXPECT_NEAR(static_cast<double>(iterations), static_cast<double>(ref_iterations),
                (shrinking ? 0.3 : 0.15) * static_cast<double>(ref_iterations) + 10.0)
        << "iterations over all pairs, minidl vs svm-train -h " << (shrinking ? 1 : 0);
  }
  const auto total = static_cast<std::int64_t>(svc.support().size());
  EXPECT_LE(std::llabs(total - ref.total_nsv), std::max<std::int64_t>(1, ref.total_nsv / 100));

  const std::vector<std::int32_t> pred = svc.predict(test.x).to_vector<std::int32_t>();
  ASSERT_EQ(pred.size(), ref_pred.size());
  std::size_t agree = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) agree += pred[i] == ref_pred[i];
  EXPECT_GE(static_cast<double>(agree), 0.995 * static_cast<double>(pred.size()))
      << agree << " of " << pred.size() << " predictions agree";
}

void compare_with_libsvm(const OracleCase& oc, std::uint64_t seed, int decomposition_ws = 0,
                         bool shrinking = false) {
  const std::int64_t d = 5;
  const LibsvmData train = svm_test::make_blobs(90 * static_cast<std::int64_t>(oc.labels.size()), d,
                                                oc.labels, oc.spread, seed);
  const LibsvmData test = svm_test::make_blobs(400, d, oc.labels, oc.spread, seed + 1000);
  compare_with_libsvm(oc, train, test, decomposition_ws, shrinking);
}

// The GPU solver's decomposition algorithm on the CPU, small working sets.
TEST(LibsvmOracleDecomposition, SmallWorkingSets) {
  MINIDL_REQUIRE_LIBSVM();
  compare_with_libsvm({KernelType::Rbf, 1.0, {1, -1}, 0.2, 0.0, 3, 0.8f}, 300, 16);
  compare_with_libsvm({KernelType::Rbf, 10.0, {2, 0, 5}, 0.2, 0.0, 3, 1.0f}, 301, 32);
  compare_with_libsvm({KernelType::Polynomial, 1.0, {2, 0, 5}, 0.2, 1.0, 3, 1.0f}, 302, 64);
  compare_with_libsvm({KernelType::Linear, 0.1, {1, -1}, 0.2, 0.0, 3, 0.8f}, 303, 1024);
}

// Real data: Fashion-MNIST images (from the test split, the smaller file) of 3
// classes (T-shirt, pullover, shirt: hard to separate),
// standardised per pixel, 300 for training and 400 for testing.
TEST(LibsvmOracleReal, FashionMnistThreeClasses) {
  MINIDL_REQUIRE_LIBSVM();
  Dataset train_set;
  try {
    train_set = load_fashion_mnist(FashionMnistSplit::Test);  // the smaller file
  } catch (const IoError& e) {
    GTEST_SKIP() << e.what();
  }
  const std::vector<float> xv = train_set.images.to_vector<float>();
  const std::vector<std::int32_t> yv = train_set.labels.to_vector<std::int32_t>();
  std::vector<float> x;
  std::vector<std::int32_t> y;
  for (std::size_t i = 0; i < yv.size() && y.size() < 700; ++i)
    if (yv[i] == 0 || yv[i] == 2 || yv[i] == 6) {
      x.insert(x.end(), xv.begin() + static_cast<std::ptrdiff_t>(i * 784),
               xv.begin() + static_cast<std::ptrdiff_t>((i + 1) * 784));
      y.push_back(yv[i]);
    }
  // Standardise with the 300 training images' statistics.
  std::vector<double> mean(784, 0.0), sd(784, 0.0);
  for (std::size_t i = 0; i < 300; ++i)
    for (std::size_t j = 0; j < 784; ++j) mean[j] += x[i * 784 + j] / 300.0;
  for (std::size_t i = 0; i < 300; ++i)
    for (std::size_t j = 0; j < 784; ++j)
      sd[j] += (x[i * 784 + j] - mean[j]) * (x[i * 784 + j] - mean[j]) / 300.0;
  for (std::size_t i = 0; i < y.size(); ++i)
    for (std::size_t j = 0; j < 784; ++j)
      x[i * 784 + j] =
          sd[j] > 0 ? static_cast<float>((x[i * 784 + j] - mean[j]) / std::sqrt(sd[j])) : 0.0f;
  const LibsvmData train{
      from_vector(std::vector<float>(x.begin(), x.begin() + 300 * 784), {300, 784}),
      from_vector(std::vector<std::int32_t>(y.begin(), y.begin() + 300), {300})};
  const LibsvmData test{from_vector(std::vector<float>(x.begin() + 300 * 784, x.end()), {400, 784}),
                        from_vector(std::vector<std::int32_t>(y.begin() + 300, y.end()), {400})};
  for (double c : {1.0, 10.0}) {
    compare_with_libsvm({KernelType::Rbf, c, {0, 2, 6}, 1.0 / 784, 0.0, 3, 0.0f}, train, test);
    compare_with_libsvm({KernelType::Linear, c / 100, {0, 2, 6}, 1.0 / 784, 0.0, 3, 0.0f}, train,
                        test);
  }
  // Shrinking on both sides (LIBSVM's default).
  compare_with_libsvm({KernelType::Rbf, 10.0, {0, 2, 6}, 1.0 / 784, 0.0, 3, 0.0f}, train, test, 0,
                      true);
}

class LibsvmOracle : public ::testing::TestWithParam<KernelType> {};

TEST_P(LibsvmOracle, TwoAndThreeClassesSeveralC) {
  MINIDL_REQUIRE_LIBSVM();
  const KernelType k = GetParam();
  const double gamma = k == KernelType::Rbf ? 0.2 : k == KernelType::Sigmoid ? 0.02 : 0.2;
  const double coef0 = k == KernelType::Polynomial ? 1.0 : 0.0;
  std::uint64_t seed = 100;
  for (double c : {0.1, 1.0, 10.0}) {
    compare_with_libsvm({k, c, {1, -1}, gamma, coef0, 3, 0.8f}, seed++);
    compare_with_libsvm({k, c, {2, 0, 5}, gamma, coef0, 3, 1.0f}, seed++);
  }
  // Shrinking (svm-train -h 1 against SvcOptions::shrinking; both first shrink after
  // min(l, 1000) iterations).
  compare_with_libsvm({k, 1.0, {1, -1}, gamma, coef0, 3, 1.2f}, seed++, 0, true);
  compare_with_libsvm({k, 10.0, {2, 0, 5}, gamma, coef0, 3, 1.0f}, seed++, 0, true);
}

INSTANTIATE_TEST_SUITE_P(Kernels, LibsvmOracle,
                         ::testing::Values(KernelType::Linear, KernelType::Polynomial,
                                           KernelType::Rbf, KernelType::Sigmoid),
                         [](const ::testing::TestParamInfo<KernelType>& param_info) {
                           return std::string(kernel_name(param_info.param));
                         });

}  // namespace
}  // namespace minidl::svm
