// The kernel memory budget (SvcOptions::memory_budget, LIBSVM's -m): the row
// caches, their batch buffers and the full kernel matrix never hold more than the
// budget (KernelMemory's peak, counted where they are allocated), and a fit under
// a budget far below n^2 floats gives the model of an uncapped fit.
#include <cmath>

#include "core/info.hpp"
#include "core/parallel.hpp"
#include "svm/kernel_rows.hpp"
#include "svm/probability.hpp"
#include "svm/svc.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

SvcOptions rbf(double c) {
  SvcOptions o;
  o.C = c;
  o.gamma_mode = GammaMode::Value;
  o.gamma = 0.2;
  o.tol = 1e-5;
  return o;
}

TEST(MemoryBudget, CapHoldsAndTheModelIsTheUncappedOne) {
  const std::int64_t n = 900;
  const LibsvmData d = svm_test::make_blobs(n, 6, {0, 1, 2}, 0.8f, 17);
  SVC uncapped(rbf(5.0));
  KernelMemory::reset_peak();
  uncapped.fit(d.x, d.y);
  // Uncapped: every own-class segment (svm/class_segments.hpp: a third of the n x n
  // matrix for three classes) and the row caches, which hold what is asked.
  EXPECT_GE(KernelMemory::peak(), std::size_t(n * n * 4) / 3);

  SvcOptions o = rbf(5.0);
  o.memory_budget = 200 * 1024;  // 200 KB, 1/16 of the 3.2 MB of n^2 floats
  SVC capped(o);
  KernelMemory::reset_peak();
  const std::size_t before = KernelMemory::current();
  capped.fit(d.x, d.y);
  const std::size_t peak = KernelMemory::peak() - before;
  EXPECT_LE(peak, o.memory_budget);
  EXPECT_GT(peak, o.memory_budget / 4);  // the caches use the budget they get
  EXPECT_EQ(KernelMemory::current(), before);  // all released

  // The same model: same support vectors, the same optimum and predictions. (Rows
  // computed in batches and the full matrix come from different sgemm calls, so
  // the values can differ in the last bit: the dual objectives agree to 1e-6.)
  EXPECT_EQ(capped.support(), uncapped.support());
  ASSERT_EQ(capped.binary_results().size(), 3u);
  for (std::size_t p = 0; p < 3; ++p) {
    const double a = uncapped.binary_results()[p].dual_objective;
    EXPECT_NEAR(capped.binary_results()[p].dual_objective, a, 1e-6 * std::fabs(a));
    EXPECT_NEAR(capped.rho()[p], uncapped.rho()[p], 1e-3);
  }
  const std::vector<double>& ca = capped.decision_coef();
  const std::vector<double>& ua = uncapped.decision_coef();
  ASSERT_EQ(ca.size(), ua.size());
  for (std::size_t t = 0; t < ca.size(); ++t) EXPECT_NEAR(ca[t], ua[t], 1e-3 * 5.0);
  EXPECT_EQ(capped.predict(d.x).to_vector<std::int32_t>(),
            uncapped.predict(d.x).to_vector<std::int32_t>());
}

// Probability's fold fits run two at a time here (two threads): they split the budget,
// as cross-validation's folds do. Each had all of it (found in review: -b 1 with -m 100
// peaked at 418 MB on two threads against 342 MB on one).
TEST(MemoryBudget, ProbabilityFoldFitsShareTheBudget) {
  const LibsvmData d = svm_test::make_blobs(900, 6, {1, -1}, 0.8f, 21);
  SvcOptions o = rbf(5.0);
  o.memory_budget = 200 * 1024;
  SVC svc(o);
  svc.fit(d.x, d.y);
  const int threads = cpu_threads();
  set_cpu_threads(2);
  KernelMemory::reset_peak();
  const std::size_t before = KernelMemory::current();
  fit_probability(svc, d.x, d.y);
  const std::size_t peak = KernelMemory::peak() - before;
  set_cpu_threads(threads);
  EXPECT_LE(peak, o.memory_budget);
  EXPECT_TRUE(svc.has_probability());
}

TEST(MemoryBudget, FullMatrixOnlyWhenItFitsWithTheCaches) {
  const std::int64_t n = 400;
  const LibsvmData d = svm_test::make_blobs(n, 3, {1, -1}, 1.0f, 2);
  SvcOptions o = rbf(1.0);
  o.memory_budget = n * n * 4;  // the matrix alone: no room for the caches, so rows
  KernelMemory::reset_peak();
  const std::size_t before = KernelMemory::current();
  SVC rows(o);
  rows.fit(d.x, d.y);
  EXPECT_LE(KernelMemory::peak() - before, o.memory_budget);
  SVC full(rbf(1.0));
  full.fit(d.x, d.y);
  EXPECT_EQ(rows.support(), full.support());
  EXPECT_EQ(rows.predict(d.x).to_vector<std::int32_t>(), full.predict(d.x).to_vector<std::int32_t>());
}

TEST(MemoryBudget, CacheSizesFollowTheBudget) {
  const LibsvmData d = svm_test::make_blobs(100, 3, {1, -1}, 1.0f, 4);
  const KernelParams p{KernelType::Rbf, 0.5, 0, 3};
  const std::size_t row = 100 * 4;
  KernelMemory::reset_peak();
  const std::size_t before = KernelMemory::current();
  {
    auto rows = computed_kernel_rows(d.x, p, 50 * row);
    auto* cached = dynamic_cast<CachedKernelRows*>(rows.get());
    ASSERT_NE(cached, nullptr);
    EXPECT_LE(cached->bytes(), 50 * row);
    EXPECT_EQ(KernelMemory::current() - before, cached->bytes());
    EXPECT_GE(cached->prefetch_limit(), 2);
    // A prefetch computes the rows together and caches them; values as row() gives.
    const std::vector<std::int64_t> want{4, 9, 1, 4, 77};
    rows->prefetch(want);
    for (std::int64_t i : want) EXPECT_TRUE(rows->cached(i));
    EXPECT_FALSE(rows->cached(50));
    Tensor k;
    kernel_matrix(d.x, d.x, k, p);
    for (std::int64_t i : want)
      EXPECT_TRUE(test::all_close(std::vector<float>(rows->row(i), rows->row(i) + 100),
                                  std::vector<float>(k.data<float>() + i * 100,
                                                     k.data<float>() + i * 100 + 100),
                                  1e-6f, 1e-5f));
  }
  EXPECT_EQ(KernelMemory::current(), before);
  EXPECT_LE(KernelMemory::peak() - before, 50 * row);
  // A budget under the floor (two rows plus a two-row batch buffer) gets the floor.
  auto tiny = computed_kernel_rows(d.x, p, 10);
  auto* cached = dynamic_cast<CachedKernelRows*>(tiny.get());
  ASSERT_NE(cached, nullptr);
  EXPECT_EQ(cached->capacity(), 2);
  EXPECT_EQ(cached->bytes(), 2 * row);  // the batch buffer; rows are allocated as cached
  tiny->row(3);
  tiny->row(7);
  tiny->row(9);
  EXPECT_EQ(cached->bytes(), 4 * row);
  EXPECT_EQ(cached->prefetch_limit(), 0);
}

}  // namespace
}  // namespace minidl::svm
