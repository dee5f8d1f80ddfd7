// ClassKernel (svm/class_kernel.hpp): one-vs-one problems' kernel rows from class
// blocks (the diagonal ones as mirrored upper triangles, one block per pair, the
// other orientation transposed per problem) equal the rows of the full kernel
// matrix, for the four kernels, dense and sparse samples; find_problem_groups
// recognises the one-vs-one shape and nothing else.
#include "svm/class_kernel.hpp"

#include <algorithm>

#include "svm/sparse_kernel.hpp"
#include "svm/svc.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

std::vector<std::int32_t> y_of(const LibsvmData& d) { return d.y.to_vector<std::int32_t>(); }

TEST(ClassKernel, FindsOneVsOneGroupsOnly) {
  const LibsvmData d = svm_test::make_blobs(60, 3, {0, 1, 2}, 1.0f, 3);
  std::vector<BinaryProblem> ovo = svm_test::one_vs_one(d.y, 3);
  const auto g = find_problem_groups(60, ovo);
  ASSERT_TRUE(g.has_value());
  ASSERT_EQ(g->groups.size(), 3u);
  ASSERT_EQ(g->sides.size(), 3u);
  EXPECT_EQ(g->sides[0], std::make_pair(0, 1));
  EXPECT_EQ(g->sides[1], std::make_pair(0, 2));
  EXPECT_EQ(g->sides[2], std::make_pair(1, 2));
  std::size_t total = 0;
  for (const auto& grp : g->groups) total += grp.size();
  EXPECT_EQ(total, 60u);
  // A problem given in the other orientation (class 1 as +1) still has the shape.
  BinaryProblem flip;
  for (std::int32_t side : {2, 1})
    for (std::size_t t = 0; t < y_of(d).size(); ++t)
      if (y_of(d)[t] == side) {
        flip.samples.push_back(static_cast<std::int64_t>(t));
        flip.y.push_back(side == 2 ? 1 : -1);
      }
  const auto fg = find_problem_groups(60, {ovo[0], flip});
  ASSERT_TRUE(fg.has_value());
  EXPECT_EQ(fg->groups.size(), 3u);
  EXPECT_EQ(fg->sides[1], std::make_pair(2, 1));

  // One-vs-rest: the rest overlaps the other problems' classes.
  std::vector<BinaryProblem> ovr;
  const std::vector<std::int32_t> y = d.y.to_vector<std::int32_t>();
  for (std::int32_t c = 0; c < 3; ++c) {
    BinaryProblem p;
    for (std::size_t t = 0; t < y.size(); ++t) {
      p.samples.push_back(static_cast<std::int64_t>(t));
      p.y.push_back(y[t] == c ? 1 : -1);
    }
    ovr.push_back(std::move(p));
  }
  EXPECT_FALSE(find_problem_groups(60, ovr).has_value());
  // Samples out of increasing order, or +1 and -1 interleaved: not the shape.
  std::vector<BinaryProblem> unsorted{ovo[0]};
  std::swap(unsorted[0].samples[0], unsorted[0].samples[1]);
  EXPECT_FALSE(find_problem_groups(60, unsorted).has_value());
  std::vector<BinaryProblem> mixed{ovo[0]};
  std::swap(mixed[0].y.front(), mixed[0].y.back());
  EXPECT_FALSE(find_problem_groups(60, mixed).has_value());
  EXPECT_FALSE(find_problem_groups(60, {}).has_value());
}

void expect_rows_match(const Samples& x, const Tensor& dense, const Tensor& y, std::int32_t k,
                       const KernelParams& p) {
  SCOPED_TRACE(kernel_name(p.type));
  const std::vector<BinaryProblem> problems = svm_test::one_vs_one(y, k);
  const auto g = find_problem_groups(x.rows(), problems);
  ASSERT_TRUE(g.has_value());
  Tensor full;
  kernel_matrix(dense, dense, full, p);
  const std::int64_t n = dense.size(0);
  const float* kp = full.data<float>();
  KernelMemory::reset_peak();
  const std::size_t before = KernelMemory::current();
  const ClassKernel ck(x, *g, p);
  EXPECT_EQ(KernelMemory::current() - before, ClassKernel::block_bytes(*g));
  std::vector<float> transposed(ClassKernel::transpose_bytes(*g) / sizeof(float));
  for (std::size_t q = 0; q < problems.size(); ++q) {
    const std::vector<std::int64_t>& s = problems[q].samples;
    const auto l = static_cast<std::int64_t>(s.size());
    auto rows = ck.problem_rows(q, 2 * static_cast<std::size_t>(l) * 4, transposed.data());
    ASSERT_EQ(rows->size(), l);
    for (std::int64_t i = 0; i < l; ++i) {
      const float* r = rows->row(i);
      std::vector<float> got(r, r + l);
      std::vector<float> ref(static_cast<std::size_t>(l));
      for (std::int64_t t = 0; t < l; ++t)
        ref[static_cast<std::size_t>(t)] = kp[s[static_cast<std::size_t>(i)] * n + s[static_cast<std::size_t>(t)]];
      ASSERT_TRUE(test::all_close(got, ref, 1e-5f, 1e-4f)) << "problem " << q << " row " << i;
      EXPECT_EQ(rows->diag(i), got[static_cast<std::size_t>(i)]);
      // Exactly symmetric: K(s, t) and K(t, s) are one stored value.
      if (i > 0) {
        EXPECT_EQ(got[0], rows->row(0)[i]);
      }
    }
  }
}

TEST(ClassKernel, RowsAreTheFullMatrixRows) {
  // 700 samples of 3 classes: the diagonal blocks span several 128-row panels.
  const LibsvmData d = svm_test::make_blobs(700, 5, {0, 1, 2}, 1.0f, 11);
  for (const KernelParams& p :
       {KernelParams{KernelType::Rbf, 0.3, 0.0, 3}, KernelParams{KernelType::Linear, 1.0, 0.0, 3},
        KernelParams{KernelType::Polynomial, 0.2, 1.0, 3},
        KernelParams{KernelType::Sigmoid, 0.05, -0.5, 3}}) {
    expect_rows_match(d.x, d.x, d.y, 3, p);
    expect_rows_match(Samples(csr_from_dense(d.x)), d.x, d.y, 3, p);
  }
}

TEST(ClassKernel, SvcUsesItAndGivesTheFullMatrixModel) {
  // One-vs-one fits of sparse samples store the class blocks (less than n^2 floats)
  // and give the model of the row path. (Dense samples take ClassSegments' rows on
  // demand: class_segments_test.cpp.)
  const std::int64_t n = 600;
  const LibsvmData d = svm_test::make_blobs(n, 4, {0, 1, 2, 3}, 0.9f, 21);
  SvcOptions o;
  o.C = 3.0;
  o.gamma_mode = GammaMode::Value;
  o.gamma = 0.3;
  o.tol = 1e-5;
  KernelMemory::reset_peak();
  const std::size_t before = KernelMemory::current();
  const Samples sparse(csr_from_dense(d.x));
  SVC blocks(o);
  blocks.fit(sparse, d.y);
  const std::size_t peak = KernelMemory::peak() - before;
  EXPECT_LT(peak, std::size_t(n * n * 4));
  EXPECT_GE(peak, std::size_t(n * n * 4) / 2);
  // The row path (a budget too small for the blocks) gives the same model.
  o.memory_budget = std::size_t(n * n);  // a quarter of n^2 floats
  SVC rows(o);
  rows.fit(sparse, d.y);
  EXPECT_EQ(blocks.support(), rows.support());
  for (std::size_t p = 0; p < blocks.binary_results().size(); ++p) {
    const double a = rows.binary_results()[p].dual_objective;
    EXPECT_NEAR(blocks.binary_results()[p].dual_objective, a, 1e-6 * std::fabs(a));
    EXPECT_NEAR(blocks.rho()[p], rows.rho()[p], 1e-3);
  }
  EXPECT_EQ(blocks.predict(d.x).to_vector<std::int32_t>(),
            rows.predict(d.x).to_vector<std::int32_t>());
}

}  // namespace
}  // namespace minidl::svm
