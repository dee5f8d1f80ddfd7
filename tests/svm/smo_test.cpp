#include "svm/smo.hpp"

#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

std::unique_ptr<KernelRows> full_rows(const Tensor& x, const KernelParams& p, Tensor& storage,
                                      std::size_t budget = 1 << 20) {
  storage = empty({x.size(0), x.size(0)});
  kernel_matrix(x, x, storage, p);
  std::vector<std::int64_t> idx(static_cast<std::size_t>(x.size(0)));
  for (std::size_t t = 0; t < idx.size(); ++t) idx[t] = static_cast<std::int64_t>(t);
  return subset_kernel_rows(storage.data<float>(), x.size(0), idx, budget);
}

TEST(Smo, TwoPointsClosedForm) {
  // x = +1 (y = +1), x = -1 (y = -1), linear: a = 1/2 each, w = 1, b = 0, f = -1/2.
  const Tensor x = from_vector({1.0f, -1.0f}, {2, 1});
  Tensor kst;
  auto rows = full_rows(x, {KernelType::Linear, 0, 0, 3}, kst);
  const SmoResult r = smo_solve(*rows, {1, -1}, 10.0, 10.0, {1e-6, 0});
  EXPECT_TRUE(r.converged);
  EXPECT_NEAR(r.alpha[0], 0.5, 1e-9);
  EXPECT_NEAR(r.alpha[1], 0.5, 1e-9);
  EXPECT_NEAR(r.rho, 0.0, 1e-9);
  EXPECT_NEAR(r.objective, -0.5, 1e-9);
  // C = 0.1 binds: both at the bound, b from the midpoint rule is still 0.
  const SmoResult c = smo_solve(*rows, {1, -1}, 0.1, 0.1);
  EXPECT_DOUBLE_EQ(c.alpha[0], 0.1);
  EXPECT_DOUBLE_EQ(c.alpha[1], 0.1);
  EXPECT_NEAR(c.rho, 0.0, 1e-12);
}

TEST(Smo, CacheEvictionKeepsRowsRight) {
  const LibsvmData d = svm_test::make_blobs(40, 3, {1, -1}, 1.0f, 4);
  const KernelParams p{KernelType::Rbf, 0.5, 0, 3};
  Tensor kst_big, kst_tiny;
  auto big = full_rows(d.x, p, kst_big, 1 << 20);
  auto tiny = full_rows(d.x, p, kst_tiny, 1);  // two rows only
  auto computed = computed_kernel_rows(d.x, p, 3 * 40 * 4);
  for (std::int64_t i : {0, 5, 39, 5, 17, 0, 22, 5}) {
    const std::vector<float> ref(big->row(i), big->row(i) + 40);
    EXPECT_EQ(std::vector<float>(tiny->row(i), tiny->row(i) + 40), ref);
    EXPECT_TRUE(test::all_close(std::vector<float>(computed->row(i), computed->row(i) + 40), ref,
                                1e-6f, 1e-5f));
    EXPECT_NEAR(computed->diag(i), 1.0f, 1e-6f);
  }
  // A batch of rows (hits and misses, computed together by one GEMM) equals row().
  const std::vector<std::int64_t> batch{3, 5, 0, 39, 12, 5};
  std::vector<float> got(batch.size() * 40);
  computed->rows(batch, got.data());
  std::vector<float> ref_batch;
  for (std::int64_t i : batch) ref_batch.insert(ref_batch.end(), big->row(i), big->row(i) + 40);
  EXPECT_TRUE(test::all_close(got, ref_batch, 1e-6f, 1e-5f));
  tiny->rows(batch, got.data());
  EXPECT_EQ(got, ref_batch);
  std::vector<std::int8_t> y;
  for (std::int32_t v : d.y.to_vector<std::int32_t>()) y.push_back(static_cast<std::int8_t>(v));
  const SmoResult a = smo_solve(*big, y, 1.0, 1.0, {1e-5, 0});
  const SmoResult b = smo_solve(*tiny, y, 1.0, 1.0, {1e-5, 0});
  EXPECT_EQ(a.alpha, b.alpha);  // same rows, same arithmetic
  EXPECT_EQ(a.iterations, b.iterations);
}

TEST(Smo, KktAndBoxAtTheSolution) {
  const LibsvmData d = svm_test::make_blobs(120, 4, {1, -1}, 0.6f, 9);
  std::vector<std::int8_t> y;
  for (std::int32_t v : d.y.to_vector<std::int32_t>()) y.push_back(static_cast<std::int8_t>(v));
  Tensor kst;
  auto rows = full_rows(d.x, {KernelType::Rbf, 0.3, 0, 3}, kst);
  const SmoResult r = smo_solve(*rows, y, 2.0, 0.5, {1e-4, 0});
  EXPECT_TRUE(r.converged);
  EXPECT_LE(r.max_violation, 1e-4);
  EXPECT_LE(max_kkt_violation(r.alpha, r.grad, y, 2.0, 0.5), 1e-4);
  double sum = 0;
  for (std::size_t t = 0; t < y.size(); ++t) {
    EXPECT_GE(r.alpha[t], 0.0);
    EXPECT_LE(r.alpha[t], y[t] > 0 ? 2.0 : 0.5);
    sum += r.alpha[t] * y[t];
  }
  EXPECT_LE(std::fabs(sum), 1e-9);
  // The iteration cap stops it early and says so.
  const SmoResult capped = smo_solve(*rows, y, 2.0, 0.5, {1e-4, 3});
  EXPECT_FALSE(capped.converged);
  EXPECT_EQ(capped.iterations, 3);
}

TEST(Smo, DecompositionMatchesTwoVariableSmo) {
  // The GPU solver's algorithm, run on the CPU: same optimum as smo_solve.
  for (int ws : {2, 8, 64, 1024}) {
    SCOPED_TRACE(ws);
    const LibsvmData d = svm_test::make_blobs(200, 4, {1, -1}, 0.5f, 13);
    std::vector<std::int8_t> y;
    for (std::int32_t v : d.y.to_vector<std::int32_t>()) y.push_back(static_cast<std::int8_t>(v));
    Tensor kst;
    auto rows = full_rows(d.x, {KernelType::Rbf, 0.3, 0, 3}, kst);
    const SmoResult a = smo_solve(*rows, y, 1.5, 0.7, {1e-6, 0});
    const SmoResult b = smo_solve_decomposition(*rows, y, 1.5, 0.7, {1e-6, 0}, ws);
    EXPECT_TRUE(b.converged);
    EXPECT_LE(b.max_violation, 1e-6);
    EXPECT_NEAR(b.objective, a.objective, 1e-7 * std::fabs(a.objective));
    EXPECT_NEAR(b.rho, a.rho, 1e-4);
    double sum = 0;
    for (std::size_t t = 0; t < y.size(); ++t) {
      EXPECT_GE(b.alpha[t], 0.0);
      EXPECT_LE(b.alpha[t], y[t] > 0 ? 1.5 : 0.7);
      sum += b.alpha[t] * y[t];
    }
    EXPECT_LE(std::fabs(sum), 1e-9);
  }
}

TEST(Smo, BadArguments) {
  const Tensor x = from_vector({1.0f, -1.0f}, {2, 1});
  Tensor kst;
  auto rows = full_rows(x, {KernelType::Linear, 0, 0, 3}, kst);
  MINIDL_EXPECT_THROW_WITH(smo_solve(*rows, {1, 1}, 1, 1), ValueError, "both classes");
  MINIDL_EXPECT_THROW_WITH(smo_solve(*rows, {1, -1}, 0, 1), ValueError, "C must be");
  MINIDL_EXPECT_THROW_WITH(smo_solve(*rows, {1, 2}, 1, 1), ValueError, "+1 or -1");
  MINIDL_EXPECT_THROW_WITH(smo_solve(*rows, {1}, 1, 1), ShapeError, "labels");
  MINIDL_EXPECT_THROW_WITH(smo_solve_decomposition(*rows, {1, 1}, 1, 1, {}, 8), ValueError,
                           "both classes");
  MINIDL_EXPECT_THROW_WITH(smo_solve_decomposition(*rows, {1, -1}, 1, 1, {}, 1), ValueError,
                           "working_set");
}

}  // namespace
}  // namespace minidl::svm
