// svm/distributed_fit: the assignment of sub-problems to ranks, and the world of
// one (no launcher). Two ranks against one process: tests/apps/dist_cli_test.cpp.
#include "svm/distributed_fit.hpp"

#include "svm/model_file.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

TEST(AssignProblems, LargestFirstOntoTheLeastLoadedRank) {
  EXPECT_EQ(assign_problems({5, 7, 9}, 1), (std::vector<int>{0, 0, 0}));
  // Equal sizes alternate (ties go to the lowest rank).
  EXPECT_EQ(assign_problems({10, 10, 10, 10}, 2), (std::vector<int>{0, 1, 0, 1}));
  // One large problem outweighs many small ones (cost l^2: 10000 vs 4 x 100).
  EXPECT_EQ(assign_problems({10, 100, 10, 10, 10}, 2), (std::vector<int>{1, 0, 1, 1, 1}));
  // After 10 (100) and two 6s (72) the last 6 still goes to the lighter rank 1.
  EXPECT_EQ(assign_problems({10, 6, 6, 6}, 2), (std::vector<int>{0, 1, 1, 1}));
  // A fourth 6 then goes to rank 0 (100 < 108).
  EXPECT_EQ(assign_problems({6, 10, 6, 6, 6}, 2), (std::vector<int>{1, 0, 1, 1, 0}));
  // More ranks than problems: the rest get none.
  EXPECT_EQ(assign_problems({3, 2, 1}, 5), (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(assign_problems({}, 3).empty());
}

TEST(AssignProblems, BadArgumentsAreErrors) {
  MINIDL_EXPECT_THROW_WITH(assign_problems({1, 2}, 0), ValueError, "world", ">= 1");
  MINIDL_EXPECT_THROW_WITH(assign_problems({1, -2}, 2), ValueError, "problem 1", "-2");
}

// Without a launcher (dist not initialised) it is fit(x, y): the same model file.
TEST(FitDistributed, AloneIsFit) {
  Generator gen(3);
  const std::int64_t n = 60;
  auto x = normal({n, 4}, 0.0f, 1.0f, gen).to_vector<float>();
  std::vector<std::int32_t> y;
  for (std::int64_t i = 0; i < n; ++i) {
    y.push_back(static_cast<std::int32_t>(i % 3));
    x[static_cast<std::size_t>(i * 4 + i % 3)] += 2.5f;
  }
  const Tensor xt = from_vector(x, {n, 4});
  const Tensor yt = from_vector(y, {n});
  SVC a(SvcOptions{}.with_gamma(0.5)), b(SvcOptions{}.with_gamma(0.5));
  a.fit(xt, yt);
  fit_distributed(b, xt, yt);
  ASSERT_TRUE(b.fitted());
  EXPECT_EQ(a.rho(), b.rho());
  EXPECT_EQ(a.decision_coef(), b.decision_coef());
  EXPECT_EQ(a.support(), b.support());
}

}  // namespace
}  // namespace minidl::svm
