// ClassSegments (svm/class_segments.hpp): one-vs-one rows computed when asked, the
// own-class segments in a cache shared by the sub-problems. Rows equal the full
// kernel matrix's for the four kernels, whatever the cache holds (nothing, a few
// segments, all of them); a segment served from the cache is bitwise the one
// computed directly; the least recently used segments are evicted and the budget
// holds, also with sub-problems solved on two threads at once.
#include "svm/class_segments.hpp"

#include <algorithm>
#include <thread>

#include "svm/smo.hpp"
#include "svm/svc.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

// Row i of problem q, K[samples, samples] of the full matrix.
std::vector<float> full_row(const Tensor& full, const BinaryProblem& q, std::int64_t i) {
  const std::int64_t n = full.size(0);
  std::vector<float> ref(q.samples.size());
  const float* src = full.data<float>() + q.samples[static_cast<std::size_t>(i)] * n;
  for (std::size_t t = 0; t < q.samples.size(); ++t) ref[t] = src[q.samples[t]];
  return ref;
}

std::size_t group_segment_bytes(const ProblemGroups& g, std::size_t a) {
  return g.groups[a].size() * sizeof(float);
}

TEST(ClassSegments, RowsAreTheFullMatrixRows) {
  // 500 samples of 3 classes; rows asked one by one, by prefetch and by rows().
  const LibsvmData d = svm_test::make_blobs(500, 5, {0, 1, 2}, 1.0f, 11);
  const std::vector<BinaryProblem> problems = svm_test::one_vs_one(d.y, 3);
  const auto g = find_problem_groups(500, problems);
  ASSERT_TRUE(g.has_value());
  for (const KernelParams& p :
       {KernelParams{KernelType::Rbf, 0.3, 0.0, 3}, KernelParams{KernelType::Linear, 1.0, 0.0, 3},
        KernelParams{KernelType::Polynomial, 0.2, 1.0, 3},
        KernelParams{KernelType::Sigmoid, 0.05, -0.5, 3}}) {
    SCOPED_TRACE(kernel_name(p.type));
    Tensor full;
    kernel_matrix(d.x, d.x, full, p);
    // No shared cache, room for 5 segments, all of them; all of them up front.
    const std::size_t all = ClassSegments::all_segments_bytes(*g);
    for (const auto& [budget, fill] :
         {std::pair{std::size_t{0}, ClassSegments::Fill::WhenAsked},
          std::pair{5 * group_segment_bytes(*g, 0), ClassSegments::Fill::WhenAsked},
          std::pair{all, ClassSegments::Fill::WhenAsked},
          std::pair{std::size_t{0}, ClassSegments::Fill::UpFront}}) {
      SCOPED_TRACE(testing::Message() << budget << (fill == ClassSegments::Fill::UpFront ? " up front" : ""));
      const std::size_t before = KernelMemory::current();
      ClassSegments segs(d.x, *g, p, budget, fill);
      if (fill == ClassSegments::Fill::UpFront) {
        EXPECT_EQ(segs.bytes(), all);
        EXPECT_EQ(KernelMemory::current() - before, all);
      }
      for (std::size_t q = 0; q < problems.size(); ++q) {
        const auto l = static_cast<std::int64_t>(problems[q].samples.size());
        // A cache of 8 rows: rows are recomputed after evictions too.
        auto rows = segs.problem_rows(q, 8 * static_cast<std::size_t>(l) * 4);
        ASSERT_EQ(rows->size(), l);
        std::vector<std::int64_t> batch;
        for (std::int64_t i = 0; i < l; i += 7) batch.push_back(i);
        rows->prefetch(std::vector<std::int64_t>(batch.begin(), batch.begin() + 3));
        std::vector<float> block(batch.size() * static_cast<std::size_t>(l));
        rows->rows(batch, block.data());
        for (std::size_t w = 0; w < batch.size(); ++w) {
          const std::vector<float> got(block.begin() + static_cast<std::ptrdiff_t>(w * l),
                                       block.begin() + static_cast<std::ptrdiff_t>((w + 1) * l));
          ASSERT_TRUE(test::all_close(got, full_row(full, problems[q], batch[w]), 1e-5f, 1e-4f))
              << "problem " << q << " row " << batch[w] << " (rows())";
        }
        for (std::int64_t i = l - 1; i >= 0; i -= 3) {
          const float* r = rows->row(i);
          ASSERT_TRUE(test::all_close(std::vector<float>(r, r + l), full_row(full, problems[q], i),
                                      1e-5f, 1e-4f))
              << "problem " << q << " row " << i;
          EXPECT_NEAR(rows->diag(i), r[i], 1e-5f * std::max(1.0f, std::fabs(r[i])));
        }
      }
      if (fill == ClassSegments::Fill::WhenAsked) {
        EXPECT_LE(segs.bytes(), budget);
      } else {
        EXPECT_EQ(segs.computed(), 0);  // every segment came from the blocks
      }
    }
  }
}

TEST(ClassSegments, SharedSegmentsAreTheDirectlyComputedOnes) {
  // Problems (0, 1) and (0, 2) share group 0's segments: the second one's rows of
  // group 0 take them from the cache, and equal bitwise the rows of a source that
  // keeps nothing and computes every segment itself.
  const LibsvmData d = svm_test::make_blobs(300, 4, {0, 1, 2}, 1.0f, 5);
  const std::vector<BinaryProblem> problems = svm_test::one_vs_one(d.y, 3);
  const auto g = find_problem_groups(300, problems);
  ASSERT_TRUE(g.has_value());
  ASSERT_EQ(g->sides[0], std::make_pair(0, 1));
  ASSERT_EQ(g->sides[1], std::make_pair(0, 2));
  const KernelParams p{KernelType::Rbf, 0.25, 0.0, 3};
  const auto n0 = static_cast<std::int64_t>(g->groups[0].size());
  ClassSegments shared(d.x, *g, p, ClassSegments::all_segments_bytes(*g));
  ClassSegments alone(d.x, *g, p, 0);
  {
    auto first = shared.problem_rows(0, 1 << 20);
    for (std::int64_t i = 0; i < n0; ++i) first->row(i);
  }
  EXPECT_EQ(shared.computed(), n0);
  EXPECT_EQ(shared.bytes(), static_cast<std::size_t>(n0) * group_segment_bytes(*g, 0));
  auto second = shared.problem_rows(1, 1 << 20);
  auto direct = alone.problem_rows(1, 1 << 20);
  const std::int64_t l = second->size();
  for (std::int64_t i = 0; i < l; ++i) {
    const std::vector<float> a(second->row(i), second->row(i) + l);
    const std::vector<float> b(direct->row(i), direct->row(i) + l);
    ASSERT_EQ(a, b) << "row " << i;
  }
  // Group 0's segments came from the cache; only group 2's were computed.
  EXPECT_EQ(shared.computed(), n0 + static_cast<std::int64_t>(g->groups[2].size()));
  EXPECT_EQ(alone.bytes(), 0u);
}

TEST(ClassSegments, EvictsTheLeastRecentlyUsedWithinTheBudget) {
  const LibsvmData d = svm_test::make_blobs(90, 3, {0, 1}, 1.0f, 9);
  const std::vector<BinaryProblem> problems = svm_test::one_vs_one(d.y, 2);
  const auto g = find_problem_groups(90, problems);
  ASSERT_TRUE(g.has_value());
  const std::size_t seg = group_segment_bytes(*g, 0);  // only group 0's are asked
  const KernelParams p{KernelType::Rbf, 0.5, 0.0, 3};
  const std::size_t before = KernelMemory::current();
  ClassSegments segs(d.x, *g, p, 3 * seg + seg / 2);  // room for three segments
  std::vector<float> scratch;
  const auto size0 = static_cast<std::int64_t>(g->groups[0].size());
  std::vector<float> out(static_cast<std::size_t>(size0));
  float* dst[1] = {out.data()};
  const auto ask = [&](std::int64_t s) { segs.own_segments(0, &s, 1, dst, scratch); };
  ask(0);
  ask(1);
  ask(2);
  EXPECT_EQ(segs.computed(), 3);
  EXPECT_EQ(segs.bytes(), 3 * seg);
  EXPECT_EQ(KernelMemory::current() - before, 3 * seg);
  ask(0);  // a hit: 0 becomes the most recent, 1 the least
  EXPECT_EQ(segs.computed(), 3);
  ask(3);  // evicts 1
  EXPECT_EQ(segs.computed(), 4);
  EXPECT_EQ(segs.bytes(), 3 * seg);
  ask(0);
  ask(2);
  ask(3);
  EXPECT_EQ(segs.computed(), 4);  // 0, 2, 3 stayed
  ask(1);                         // was evicted: computed again
  EXPECT_EQ(segs.computed(), 5);
  EXPECT_LE(segs.bytes(), 3 * seg + seg / 2);
  // A repeated index in one call is computed once and cached once.
  const std::int64_t twice[2] = {7, 7};
  std::vector<float> out2(static_cast<std::size_t>(size0));
  float* dst2[2] = {out.data(), out2.data()};
  segs.own_segments(0, twice, 2, dst2, scratch);
  EXPECT_EQ(out, out2);
  EXPECT_EQ(segs.bytes(), 3 * seg);
}

TEST(ClassSegments, ConcurrentProblemsShareTheCacheWithinTheBudget) {
  // Two threads read the rows of different problems at once (as solve_problems'
  // workers do), through one small shared cache: every row is right, the shared
  // cache never holds more than its budget, and KernelMemory's peak stays within
  // the cache plus the two sources.
  const LibsvmData d = svm_test::make_blobs(400, 4, {0, 1, 2, 3}, 1.0f, 13);
  const std::vector<BinaryProblem> problems = svm_test::one_vs_one(d.y, 4);
  const auto g = find_problem_groups(400, problems);
  ASSERT_TRUE(g.has_value());
  const KernelParams p{KernelType::Rbf, 0.3, 0.0, 3};
  Tensor full;
  kernel_matrix(d.x, d.x, full, p);
  const std::size_t segment_budget = ClassSegments::all_segments_bytes(*g) / 5;
  const std::size_t source_bytes = 40 * 200 * 4;
  KernelMemory::reset_peak();
  const std::size_t before = KernelMemory::current();
  ClassSegments segs(d.x, *g, p, segment_budget);
  std::vector<int> bad(2, 0);
  const auto worker = [&](int w) {
    for (std::size_t q = static_cast<std::size_t>(w); q < problems.size(); q += 2) {
      auto rows = segs.problem_rows(q, source_bytes);
      const std::int64_t l = rows->size();
      for (int pass = 0; pass < 2; ++pass)
        for (std::int64_t i = 0; i < l; i += 2) {
          if (i % 10 == 0) rows->prefetch({i, (i + 5) % l, (i + 9) % l});
          const float* r = rows->row(i);
          if (!test::all_close(std::vector<float>(r, r + l), full_row(full, problems[q], i), 1e-5f,
                               1e-4f))
            ++bad[static_cast<std::size_t>(w)];
        }
    }
  };
  std::thread t0(worker, 0);
  std::thread t1(worker, 1);
  t0.join();
  t1.join();
  EXPECT_EQ(bad[0] + bad[1], 0);
  EXPECT_LE(segs.bytes(), segment_budget);
  EXPECT_GT(segs.bytes(), segment_budget / 2);  // the cache was used
  EXPECT_LE(KernelMemory::peak() - before, segment_budget + 2 * source_bytes);
}

TEST(ClassSegments, SvcGivesTheModelOfTheOtherKernelSources) {
  // A one-vs-one fit on dense samples takes rows from ClassSegments (own-class
  // segments up front under the default budget: at least all of them held; when
  // asked under a budget too small for them); with CSR samples from ClassKernel's
  // blocks. Same support vectors, optimum and predictions.
  const std::int64_t n = 600;
  const LibsvmData d = svm_test::make_blobs(n, 4, {0, 1, 2, 3}, 0.9f, 21);
  SvcOptions o;
  o.C = 3.0;
  o.gamma_mode = GammaMode::Value;
  o.gamma = 0.3;
  o.tol = 1e-5;
  SVC segments(o);
  KernelMemory::reset_peak();
  const std::size_t start = KernelMemory::current();
  segments.fit(d.x, d.y);
  std::size_t all = 0;  // sum over classes of |G_a|^2 floats
  for (std::int32_t c = 0; c < 4; ++c) {
    std::size_t size = 0;
    for (std::int32_t v : d.y.to_vector<std::int32_t>()) size += v == c ? 1 : 0;
    all += size * size * sizeof(float);
  }
  EXPECT_GE(KernelMemory::peak() - start, all);
  SVC blocks(o);
  blocks.fit(Samples(csr_from_dense(d.x)), d.y);
  o.memory_budget = 64 * 1024;
  SVC tight(o);
  KernelMemory::reset_peak();
  const std::size_t before = KernelMemory::current();
  tight.fit(d.x, d.y);
  EXPECT_LE(KernelMemory::peak() - before, o.memory_budget);
  for (const SVC* other : {&blocks, &tight}) {
    EXPECT_EQ(segments.support(), other->support());
    for (std::size_t q = 0; q < segments.binary_results().size(); ++q) {
      const double a = other->binary_results()[q].dual_objective;
      EXPECT_NEAR(segments.binary_results()[q].dual_objective, a, 1e-6 * std::fabs(a));
      EXPECT_NEAR(segments.rho()[q], other->rho()[q], 1e-3);
    }
    EXPECT_EQ(segments.predict(d.x).to_vector<std::int32_t>(),
              other->predict(d.x).to_vector<std::int32_t>());
  }
}

}  // namespace
}  // namespace minidl::svm
