// The decomposition SMO's working-set rule (svm/working_set.hpp): the order it
// selects in, ties to the lowest index, and its consequence: two fits of one
// problem are bitwise identical. The GPU cases (names with "Parity") compare the
// GPU kernel's selection with the CPU's and fit twice on the GPU; they skip
// without one.
#include "svm/working_set.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "svm/smo.hpp"
#include "svm/svc.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

// The rule written the slow way: every candidate of a side sorted by (float score
// descending, -0 below +0, index ascending), the first `half` taken, then listed by index.
std::vector<std::int64_t> oracle(const std::vector<std::int8_t>& y,
                                 const std::vector<double>& alpha,
                                 const std::vector<double>& grad,
                                 const std::vector<double>& cbox, int half) {
  std::vector<bool> taken(y.size(), false);
  std::vector<std::int64_t> out;
  for (int side = 0; side < 2; ++side) {
    std::vector<std::int64_t> cand;
    for (std::size_t t = 0; t < y.size(); ++t) {
      const bool up = (y[t] > 0 && alpha[t] < cbox[t]) || (y[t] < 0 && alpha[t] > 0);
      const bool low = (y[t] > 0 && alpha[t] > 0) || (y[t] < 0 && alpha[t] < cbox[t]);
      if (!taken[t] && (side == 0 ? up : low)) cand.push_back(static_cast<std::int64_t>(t));
    }
    const auto score = [&](std::int64_t t) {
      const auto T = static_cast<std::size_t>(t);
      return static_cast<float>(side == 0 ? -y[T] * grad[T] : y[T] * grad[T]);
    };
    // -0 ranks below +0 (as an ordered float key would).
    std::stable_sort(cand.begin(), cand.end(), [&](std::int64_t a, std::int64_t b) {
      const float sa = score(a), sb = score(b);
      return sa > sb || (sa == sb && !std::signbit(sa) && std::signbit(sb));
    });
    cand.resize(std::min(cand.size(), static_cast<std::size_t>(half)));
    std::sort(cand.begin(), cand.end());
    for (std::int64_t t : cand) {
      out.push_back(t);
      taken[static_cast<std::size_t>(t)] = true;
    }
  }
  return out;
}

struct Problem {
  std::vector<std::int8_t> y;
  std::vector<double> alpha, grad, cbox;
};

// Gradients drawn from a few values (many ties), alphas at 0, at C or in between.
Problem random_problem(std::size_t l, std::uint32_t seed) {
  std::mt19937 gen(seed);
  Problem p;
  for (std::size_t t = 0; t < l; ++t) {
    p.y.push_back(gen() % 2 == 0 ? 1 : -1);
    p.cbox.push_back(p.y.back() > 0 ? 2.0 : 0.5);
    const auto where = static_cast<unsigned>(gen() % 3);
    p.alpha.push_back(where == 0 ? 0.0 : where == 1 ? p.cbox.back() : 0.25);
    p.grad.push_back(static_cast<double>(static_cast<int>(gen() % 7) - 3) * 0.5);
  }
  return p;
}

TEST(WorkingSet, FirstIterationTiesGoToTheLowestIndices) {
  // alpha = 0, G = -1: every score is 1. I_up holds the y = +1 indices, I_low the
  // y = -1 ones; each side takes its `half` lowest.
  const std::vector<std::int8_t> y{-1, 1, 1, -1, 1, -1, 1, -1, 1, -1};
  const std::vector<double> alpha(y.size(), 0.0), grad(y.size(), -1.0), cbox(y.size(), 1.0);
  EXPECT_EQ(select_working_set(y, alpha, grad, cbox, 3),
            (std::vector<std::int64_t>{1, 2, 4, 0, 3, 5}));
  EXPECT_EQ(select_working_set(y, alpha, grad, cbox, 0), std::vector<std::int64_t>{});
  // More than there are: every candidate, still by index.
  EXPECT_EQ(select_working_set(y, alpha, grad, cbox, 50),
            (std::vector<std::int64_t>{1, 2, 4, 6, 8, 0, 3, 5, 7, 9}));
}

TEST(WorkingSet, LargestScoresFirstThenLowestIndexListedByIndex) {
  // All y = +1 with 0 < alpha < C: in I_up (score -G) and in I_low (score G).
  const std::vector<std::int8_t> y(6, 1);
  const std::vector<double> alpha(6, 0.5), cbox(6, 1.0);
  const std::vector<double> grad{-1.0, -3.0, -2.0, -3.0, 5.0, 4.0};
  // Side 0 (-G): 3 at 1 and 3, then 2 at 2: {1, 3}. Side 1 (G) from the rest: 5 at 4, 4 at 5.
  EXPECT_EQ(select_working_set(y, alpha, grad, cbox, 2),
            (std::vector<std::int64_t>{1, 3, 4, 5}));
  // A tie across the cut: -G = 3 at indices 1 and 3, only one wanted -> index 1.
  EXPECT_EQ(select_working_set(y, alpha, grad, cbox, 1), (std::vector<std::int64_t>{1, 4}));
  // -0 ranks below +0 (the float32 key order both solvers use): side 0 of
  // G = {+0, -0} scores {-0, +0}, so index 1 wins.
  EXPECT_EQ(select_working_set({1, 1}, {0.5, 0.5}, {0.0, -0.0}, {1.0, 1.0}, 1),
            (std::vector<std::int64_t>{1, 0}));
  EXPECT_LT(ws_order_key(-0.0f), ws_order_key(0.0f));
  EXPECT_LT(ws_order_key(-2.0f), ws_order_key(-1.0f));
  EXPECT_LT(ws_order_key(1.0f), ws_order_key(2.0f));
}

TEST(WorkingSet, MatchesTheSortOracleWithManyTies) {
  for (std::uint32_t seed = 1; seed <= 40; ++seed) {
    const Problem p = random_problem(5 + seed * 7, seed);
    for (int half : {1, 2, 5, 16, 1000}) {
      SCOPED_TRACE(detail::concat("seed ", seed, " half ", half));
      EXPECT_EQ(select_working_set(p.y, p.alpha, p.grad, p.cbox, half),
                oracle(p.y, p.alpha, p.grad, p.cbox, half));
    }
  }
}

TEST(WorkingSet, BadArguments) {
  MINIDL_EXPECT_THROW_WITH(select_working_set({1, -1}, {0.0}, {-1.0, -1.0}, {1.0, 1.0}, 1),
                           ShapeError, "2 labels but 1 alphas");
  MINIDL_EXPECT_THROW_WITH(select_working_set({1, -1}, {0, 0}, {-1, -1}, {1, 1}, -1), ValueError,
                           "half must be >= 0");
}

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

SvcOptions decomposition_options(int working_set) {
  SvcOptions o;
  o.kernel = KernelType::Rbf;
  o.C = 2.0;
  o.gamma_mode = GammaMode::Value;
  o.gamma = 0.3;
  o.tol = 1e-4;
  o.cpu_decomposition = true;
  o.working_set = working_set;
  return o;
}

void expect_identical_fits(const SVC& a, const SVC& b) {
  ASSERT_EQ(a.binary_results().size(), b.binary_results().size());
  for (std::size_t p = 0; p < a.binary_results().size(); ++p) {
    const BinaryResult& ra = a.binary_results()[p];
    const BinaryResult& rb = b.binary_results()[p];
    SCOPED_TRACE(detail::concat("pair ", p));
    EXPECT_TRUE(bitwise_equal(ra.alpha, rb.alpha));
    EXPECT_EQ(ra.iterations, rb.iterations);
    EXPECT_EQ(ra.n_sv, rb.n_sv);
    EXPECT_EQ(std::memcmp(&ra.rho, &rb.rho, sizeof(double)), 0);
  }
}

TEST(WorkingSet, TwoCpuDecompositionFitsAreBitwiseIdentical) {
  const LibsvmData d = svm_test::make_blobs(240, 5, {0, 1, 2}, 0.7f, 7);
  for (int ws : {4, 16, 64}) {
    SCOPED_TRACE(ws);
    SVC a(decomposition_options(ws)), b(decomposition_options(ws));
    a.fit(d.x, d.y);
    b.fit(d.x, d.y);
    expect_identical_fits(a, b);
  }
}

TEST(WorkingSet, SolverBufferBytesCountEveryWorker) {
  // 60k one-vs-rest (10 problems) with the full matrix: 8 workers, each with a
  // [1024, 60000] float block of kernel rows.
  const std::size_t one = cuda::solver_buffer_bytes(60000, 784, 1024, true, 1);
  const std::size_t ten = cuda::solver_buffer_bytes(60000, 784, 1024, true, 10);
  EXPECT_EQ(cuda::solver_workers(true, 10), 8);
  EXPECT_EQ(cuda::solver_workers(true, 3), 3);
  EXPECT_EQ(cuda::solver_workers(false, 10), 1);
  EXPECT_EQ(ten, 8 * one);
  EXPECT_GE(one, std::size_t{1024} * 60000 * 4);
  // The row-computing path adds the sub-problem's features but runs one worker.
  EXPECT_GT(cuda::solver_buffer_bytes(60000, 784, 1024, false, 10), one);
  EXPECT_LT(cuda::solver_buffer_bytes(60000, 784, 1024, false, 10), ten);
  // The working set never exceeds the problem.
  EXPECT_EQ(cuda::solver_buffer_bytes(10, 4, 1024, true, 1),
            cuda::solver_buffer_bytes(10, 4, 10, true, 1));
}

TEST(WorkingSetParity, CudaKernelSelectsTheCpuSet) {
  MINIDL_REQUIRE_CUDA();
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    // Up to 3000 candidates: several 1024-thread chunks in the kernel's compaction.
    const Problem p = random_problem(seed * 250, seed);
    for (int half : {1, 7, 64, 512}) {
      SCOPED_TRACE(detail::concat("seed ", seed, " l ", p.y.size(), " half ", half));
      EXPECT_EQ(cuda::select_working_set(p.y, p.alpha, p.grad, p.cbox, half, 0),
                select_working_set(p.y, p.alpha, p.grad, p.cbox, half));
    }
  }
  // The first iteration: everything ties.
  const std::vector<std::int8_t> y(3000, 1);
  std::vector<std::int8_t> y2 = y;
  for (std::size_t t = 0; t < y2.size(); t += 3) y2[t] = -1;
  const std::vector<double> a(3000, 0.0), g(3000, -1.0), c(3000, 1.0);
  EXPECT_EQ(cuda::select_working_set(y2, a, g, c, 512, 0), select_working_set(y2, a, g, c, 512));
}

TEST(WorkingSetParity, TwoCudaFitsAreBitwiseIdentical) {
  MINIDL_REQUIRE_CUDA();
  const LibsvmData d = svm_test::make_blobs(600, 8, {0, 1, 2, 3}, 0.7f, 9);
  const Tensor xd = d.x.to(Device::cuda());
  for (std::size_t budget : {std::size_t{0}, std::size_t{1} << 16}) {  // full matrix, GEMM rows
    for (int ws : {16, 1024}) {
      SCOPED_TRACE(detail::concat("budget ", budget, " ws ", ws));
      SvcOptions o = decomposition_options(ws);
      o.cpu_decomposition = false;
      o.memory_budget = budget;
      SVC a(o), b(o);
      a.fit(xd, d.y);
      b.fit(xd, d.y);
      expect_identical_fits(a, b);
    }
  }
}

}  // namespace
}  // namespace minidl::svm
