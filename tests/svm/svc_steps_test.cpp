// SVC::fit as three steps (plan -> solve -> assemble): solving the one-vs-one
// pairs in separate subsets (as separate processes would) gives the fit's model,
// bad subsets and mismatched solutions are refused, and the progress callback
// reports every sub-problem.
#include "svm/svc.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

SvcOptions rbf(double c) {
  SvcOptions o;
  o.C = c;
  o.gamma_mode = GammaMode::Value;
  o.gamma = 0.4;
  o.tol = 1e-4;
  return o;
}

void expect_same_model(const SVC& a, const SVC& b) {
  ASSERT_EQ(a.classes(), b.classes());
  EXPECT_EQ(a.support(), b.support());
  EXPECT_EQ(a.n_support(), b.n_support());
  EXPECT_EQ(a.rho(), b.rho());
  EXPECT_EQ(a.decision_coef(), b.decision_coef());
  EXPECT_EQ(a.support_vectors().to_vector<float>(), b.support_vectors().to_vector<float>());
}

TEST(SvcSteps, PlanListsThePairsInDecisionOrder) {
  const LibsvmData d = svm_test::make_blobs(60, 3, {5, 2, 9, 7}, 1.5f, 3);
  const SvcPlan plan = SVC(rbf(1.0)).plan(d.x, d.y);
  ASSERT_EQ(plan.problems.size(), 6u);
  ASSERT_EQ(plan.problem_classes.size(), 6u);
  EXPECT_EQ(plan.n_samples, 60);
  EXPECT_EQ(plan.n_features, 3);
  EXPECT_FALSE(plan.one_vs_rest);
  std::size_t p = 0;
  for (std::int32_t i = 0; i < 4; ++i)
    for (std::int32_t j = i + 1; j < 4; ++j, ++p) {
      EXPECT_EQ(plan.problem_classes[p], std::make_pair(i, j));
      const BinaryProblem& b = plan.problems[p];
      ASSERT_EQ(b.samples.size(), b.y.size());
      for (std::size_t t = 0; t < b.samples.size(); ++t) {
        const std::int32_t c = plan.sample_class[static_cast<std::size_t>(b.samples[t])];
        EXPECT_EQ(c, b.y[t] > 0 ? i : j);
      }
    }
}

TEST(SvcSteps, SubsetsSolvedApartAssembleTheFitsModel) {
  const LibsvmData d = svm_test::make_blobs(90, 4, {1, 2, 3, 4}, 1.2f, 11);
  SVC whole(rbf(2.0));
  whole.fit(d.x, d.y);

  SVC parts(rbf(2.0));
  const SvcPlan plan = parts.plan(d.x, d.y);
  // Two "ranks": the even and the odd pairs, solved by separate calls, in reverse order.
  std::vector<SmoResult> all(plan.problems.size());
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<std::int64_t> mine;
    for (std::int64_t p = static_cast<std::int64_t>(plan.problems.size()) - 1; p >= 0; --p)
      if (p % 2 == rank) mine.push_back(p);
    std::vector<SmoResult> solved = parts.solve(plan, d.x, mine);
    ASSERT_EQ(solved.size(), mine.size());
    for (std::size_t t = 0; t < mine.size(); ++t)
      all[static_cast<std::size_t>(mine[t])] = std::move(solved[t]);
  }
  parts.assemble(plan, d.x, std::move(all));
  expect_same_model(whole, parts);
  EXPECT_EQ(whole.predict(d.x).to_vector<std::int32_t>(),
            parts.predict(d.x).to_vector<std::int32_t>());
  ASSERT_EQ(parts.binary_results().size(), 6u);
  EXPECT_EQ(parts.binary_results()[4].positive_class, 1);
  EXPECT_EQ(parts.binary_results()[4].negative_class, 3);
}

TEST(SvcSteps, BadSubsetsAndSolutionsAreRefused) {
  const LibsvmData d = svm_test::make_blobs(40, 2, {0, 1, 2}, 2.0f, 5);
  SVC svc(rbf(1.0));
  const SvcPlan plan = svc.plan(d.x, d.y);
  MINIDL_EXPECT_THROW_WITH(svc.solve(plan, d.x, {3}), ValueError, "problem index 3",
                           "3 problems");
  MINIDL_EXPECT_THROW_WITH(svc.solve(plan, d.x, {-1}), ValueError, "problem index -1");
  MINIDL_EXPECT_THROW_WITH(svc.solve(plan, d.x, {1, 1}), ValueError, "listed twice");
  MINIDL_EXPECT_THROW_WITH(svc.solve(plan, ones({40, 3}), {0}), ShapeError, "[40, 2]");
  std::vector<SmoResult> solved = svc.solve(plan, d.x);
  MINIDL_EXPECT_THROW_WITH(
      svc.assemble(plan, d.x, std::vector<SmoResult>(solved.begin(), solved.begin() + 2)),
      ShapeError, "2 solutions", "3 problems");
  std::vector<SmoResult> short_one = solved;
  short_one[1].alpha.pop_back();
  MINIDL_EXPECT_THROW_WITH(svc.assemble(plan, d.x, short_one), ShapeError, "solution 1");
  EXPECT_FALSE(svc.fitted());
  svc.assemble(plan, d.x, solved);
  EXPECT_TRUE(svc.fitted());
}

TEST(SvcSteps, SolveProblemsChecksEveryProblemBeforeAnyDevice) {
  // solve_problems refuses a bad problem itself, before it picks the CPU or the GPU solver:
  // the GPU solver checks nothing (a problem of one class came back "converged" there).
  const LibsvmData d = svm_test::make_blobs(20, 2, {0, 1}, 2.0f, 7);
  SolveConfig config;
  config.kernel.type = KernelType::Rbf;
  config.kernel.gamma = 0.5;
  BinaryProblem good{{0, 1, 2, 3}, {1, -1, 1, -1}, 1.0, 1.0};
  std::vector<BinaryProblem> problems{good, good};
  problems[1].y = {1, 1, 1, 1};
  MINIDL_EXPECT_THROW_WITH(solve_problems(Samples(d.x), problems, config), ValueError,
                           "solve_problems: problem 1", "both classes");
  problems[1] = BinaryProblem{{}, {}, 1.0, 1.0};  // no samples at all
  MINIDL_EXPECT_THROW_WITH(solve_problems(Samples(d.x), problems, config), ValueError, "problem 1",
                           "both classes");
  problems[1] = good;
  problems[1].cn = 0.0;
  MINIDL_EXPECT_THROW_WITH(solve_problems(Samples(d.x), problems, config), ValueError, "problem 1",
                           "C must be finite and > 0");
  problems[1] = good;
  problems[1].y[2] = 2;
  MINIDL_EXPECT_THROW_WITH(solve_problems(Samples(d.x), problems, config), ValueError, "problem 1",
                           "+1 or -1");
  config.smo.eps = 0.0;
  MINIDL_EXPECT_THROW_WITH(solve_problems(Samples(d.x), {good}, config), ValueError, "problem 0",
                           "eps must be > 0");
  config.smo.eps = 1e-3;
  EXPECT_EQ(solve_problems(Samples(d.x), {good}, config).size(), 1u);
}

TEST(SvcSteps, ProgressReportsEverySubProblem) {
  const LibsvmData d = svm_test::make_blobs(120, 3, {1, 2, 3, 4, 5}, 1.0f, 8);
  SvcOptions o = rbf(10.0);
  std::mutex m;
  std::vector<SolveProgress> seen;
  o.progress = [&](const SolveProgress& p) {
    std::lock_guard<std::mutex> lock(m);
    seen.push_back(p);
  };
  SVC svc(o);
  svc.fit(d.x, d.y);
  ASSERT_GE(seen.size(), 10u);  // one per finished pair at least
  std::int64_t done_calls = 0;
  for (std::size_t t = 0; t < seen.size(); ++t) {
    EXPECT_EQ(seen[t].problems_total, 10);
    EXPECT_GE(seen[t].elapsed_s, 0.0);
    if (t > 0) {
      EXPECT_GE(seen[t].problems_done, seen[t - 1].problems_done);
      EXPECT_GE(seen[t].elapsed_s, seen[t - 1].elapsed_s);
    }
    done_calls += seen[t].problems_done > (t > 0 ? seen[t - 1].problems_done : 0) ? 1 : 0;
  }
  EXPECT_EQ(done_calls, 10);
  EXPECT_EQ(seen.back().problems_done, 10);
  std::int64_t iterations = 0;
  for (const BinaryResult& r : svc.binary_results()) iterations += r.iterations;
  EXPECT_EQ(seen.back().iterations, iterations);
  EXPECT_GT(iterations, 0);

  // The callback does not change the model.
  SVC quiet(rbf(10.0));
  quiet.fit(d.x, d.y);
  expect_same_model(quiet, svc);
}

TEST(SvcSteps, ProgressReportsIterationsOfALongSubProblem) {
  // One pair with many iterations: the solver's hook reports before it finishes.
  const LibsvmData d = svm_test::make_blobs(400, 2, {1, -1}, 0.3f, 21);
  SvcOptions o = rbf(100.0);
  o.tol = 1e-6;
  std::vector<SolveProgress> seen;
  o.progress = [&](const SolveProgress& p) { seen.push_back(p); };
  SVC svc(o);
  svc.fit(d.x, d.y);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().problems_done, 1);
  EXPECT_EQ(seen.back().iterations, svc.binary_results()[0].iterations);
  // With the 0.2 s throttle only a slow run reports mid-way; the iteration hook
  // itself is checked directly: smo_solve calls it every kProgressStride steps.
  std::vector<std::int64_t> calls;
  Tensor storage = empty({400, 400});
  kernel_matrix(d.x, d.x, storage, svc.kernel());
  std::vector<std::int64_t> idx(400);
  for (std::int64_t t = 0; t < 400; ++t) idx[static_cast<std::size_t>(t)] = t;
  auto rows = subset_kernel_rows(storage.data<float>(), 400, idx, 400 * 400 * 4);
  std::vector<std::int8_t> y;
  for (std::int32_t v : d.y.to_vector<std::int32_t>()) y.push_back(v > 0 ? 1 : -1);
  const SmoResult r = smo_solve(*rows, y, 100.0, 100.0, {1e-6, 0},
                                [&](std::int64_t it) { calls.push_back(it); });
  ASSERT_GE(r.iterations, kProgressStride);  // the data set is hard enough to call it
  ASSERT_EQ(static_cast<std::int64_t>(calls.size()), r.iterations / kProgressStride);
  for (std::size_t t = 0; t < calls.size(); ++t)
    EXPECT_EQ(calls[t], static_cast<std::int64_t>(t + 1) * kProgressStride);
}

}  // namespace
}  // namespace minidl::svm
