// Masked (-inf) logits in softmax and cross-entropy, K <= 1024 (the warp kernels)
// and K > 1024 (the block kernels, which reduce with kernels/online_softmax.hpp).
// On the CPU: the online (max, sum) helpers run in the block kernel's order (512
// strided threads, then the warp shuffle trees), and the CPU ops. On a GPU (names
// with "Parity"): the CUDA ops against the CPU, finite where the CPU is.
#include "kernels/online_softmax.hpp"

#include <cmath>
#include <limits>

#include "kernels/loss.hpp"
#include "kernels/softmax.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

using cuda_detail::max_sum_add;
using cuda_detail::max_sum_empty;
using cuda_detail::max_sum_merge;
using cuda_detail::MaxSum;
constexpr float kInf = std::numeric_limits<float>::infinity();

// block_max_sum's order: thread t takes columns t, t + threads, ...; each warp merges
// by xor shuffles (offsets 16, 8, 4, 2, 1); warp 0 merges the warps' results the same way.
MaxSum block_reduce_like_the_kernel(const std::vector<float>& row, int threads = 512) {
  std::vector<MaxSum> v(static_cast<std::size_t>(threads), max_sum_empty());
  for (int t = 0; t < threads; ++t)
    for (std::size_t c = static_cast<std::size_t>(t); c < row.size(); c += threads)
      v[static_cast<std::size_t>(t)] = max_sum_add(v[static_cast<std::size_t>(t)], row[c]);
  auto warp_tree = [](std::vector<MaxSum>& lanes) {  // 32 lanes, all get the result
    for (int off = 16; off > 0; off /= 2) {
      std::vector<MaxSum> next(32);
      for (int l = 0; l < 32; ++l)
        next[static_cast<std::size_t>(l)] = max_sum_merge(lanes[static_cast<std::size_t>(l)],
                                                          lanes[static_cast<std::size_t>(l ^ off)]);
      lanes = next;
    }
  };
  std::vector<MaxSum> firsts(32, max_sum_empty());
  for (int w = 0; w < threads / 32; ++w) {
    std::vector<MaxSum> lanes(v.begin() + w * 32, v.begin() + w * 32 + 32);
    warp_tree(lanes);
    firsts[static_cast<std::size_t>(w)] = lanes[0];
  }
  warp_tree(firsts);
  return firsts[0];
}

// Rows with masked logits: a -inf prefix longer than the block (whole threads see
// only -inf before a finite value), -inf scattered, one finite value, all -inf.
std::vector<std::vector<float>> masked_rows(std::size_t k) {
  std::vector<std::vector<float>> rows;
  std::vector<float> r(k);
  for (std::size_t c = 0; c < k; ++c) r[c] = c < k * 3 / 4 ? -kInf : std::sin(float(c)) * 3.0f;
  rows.push_back(r);
  for (std::size_t c = 0; c < k; ++c) r[c] = c % 3 == 0 ? -kInf : std::cos(float(c)) * 5.0f;
  rows.push_back(r);
  std::fill(r.begin(), r.end(), -kInf);
  r[k - 1] = 2.0f;
  rows.push_back(r);
  for (std::size_t c = 0; c < k; ++c) r[c] = c % 2 == 0 ? -kInf : 1e4f * (c % 4 == 1 ? 1 : -1);
  rows.push_back(r);
  return rows;
}

TEST(OnlineSoftmax, AddingMinusInfToAnEmptyPairStaysEmpty) {
  // The defect: expf(-inf - -inf) = NaN when a thread's first values were -inf.
  MaxSum a = max_sum_add(max_sum_empty(), -kInf);
  EXPECT_EQ(a.m, -kInf);
  EXPECT_EQ(a.s, 0.0f);
  a = max_sum_add(a, 1.0f);
  EXPECT_EQ(a.m, 1.0f);
  EXPECT_EQ(a.s, 1.0f);
  a = max_sum_add(a, -kInf);
  EXPECT_EQ(a.s, 1.0f);
  const MaxSum e = max_sum_merge(max_sum_empty(), max_sum_add(max_sum_empty(), -kInf));
  EXPECT_EQ(e.s, 0.0f);
  EXPECT_TRUE(std::isnan(max_sum_add(a, std::nanf("")).s));
  EXPECT_EQ(cuda_detail::soft_target_term(0.0f, 3.0f, -kInf), 0.0f);
  EXPECT_EQ(cuda_detail::soft_target_term(0.5f, 3.0f, -kInf), kInf);
}

TEST(OnlineSoftmax, BlockOrderMatchesCpuSoftmaxWithMaskedLogits) {
  for (std::size_t k : {10u, 1000u, 1025u, 3000u}) {
    for (const std::vector<float>& row : masked_rows(k)) {
      SCOPED_TRACE(k);
      const MaxSum ms = block_reduce_like_the_kernel(row);
      ASSERT_TRUE(std::isfinite(ms.m));
      ASSERT_TRUE(std::isfinite(ms.s));
      std::vector<float> online(k);
      for (std::size_t c = 0; c < k; ++c) online[c] = std::exp(row[c] - ms.m) / ms.s;
      const std::vector<float> cpu =
          softmax(from_vector(row, {1, static_cast<std::int64_t>(k)})).to_vector<float>();
      EXPECT_TRUE(test::all_close(online, cpu, 1e-7f, 1e-5f));
    }
  }
  // A +inf logit: the CPU's e^{x - max} is e^{inf - inf} = NaN, so the whole row is NaN;
  // so must the kernel's pair be, wherever the +inf sits in a thread's columns (first,
  // after finite values, beside -inf). The kernel's own +1 for a new maximum made it
  // s = 1: NaN at the +inf and 0 elsewhere.
  for (std::size_t at : {0u, 1u, 511u, 512u, 1500u, 2999u}) {
    SCOPED_TRACE(at);
    std::vector<float> row(3000);
    for (std::size_t c = 0; c < row.size(); ++c) row[c] = c % 5 == 0 ? -kInf : std::sin(float(c));
    row[at] = kInf;
    EXPECT_TRUE(std::isnan(block_reduce_like_the_kernel(row).s));
    const std::vector<float> cpu = softmax(from_vector(row, {1, 3000})).to_vector<float>();
    for (float v : cpu) ASSERT_TRUE(std::isnan(v));
  }
  EXPECT_TRUE(std::isnan(max_sum_add(max_sum_empty(), kInf).s));
  EXPECT_TRUE(std::isnan(max_sum_add(max_sum_add(max_sum_empty(), 2.0f), kInf).s));
  // Only -inf: empty (s = 0), so the softmax is 0/0 = NaN, as on the CPU.
  const std::vector<float> dead(2000, -kInf);
  EXPECT_EQ(block_reduce_like_the_kernel(dead).s, 0.0f);
  EXPECT_TRUE(std::isnan(softmax(from_vector(dead, {1, 2000})).to_vector<float>()[0]));
}

// Hard and soft cross-entropy on masked rows: the label / target mass sits on
// finite logits, zero targets on the -inf ones.
struct MaskedCase {
  Tensor z, labels, soft;
};
MaskedCase masked_case(std::size_t k) {
  const auto rows = masked_rows(k);
  std::vector<float> z, soft;
  std::vector<std::int32_t> labels;
  for (const auto& r : rows) {
    z.insert(z.end(), r.begin(), r.end());
    std::size_t label = 0;
    while (std::isinf(r[label])) ++label;
    labels.push_back(static_cast<std::int32_t>(label));
    std::size_t last = k - 1;
    while (std::isinf(r[last])) --last;
    std::vector<float> t(k, 0.0f);
    t[label] = 0.75f;
    t[last] += 0.25f;  // the mass on finite logits only
    soft.insert(soft.end(), t.begin(), t.end());
  }
  const auto n = static_cast<std::int64_t>(rows.size());
  const auto kk = static_cast<std::int64_t>(k);
  return {from_vector(z, {n, kk}), from_vector(labels, {n}), from_vector(soft, {n, kk})};
}

TEST(OnlineSoftmax, CpuCrossEntropyIsFiniteWithMaskedLogits) {
  for (std::size_t k : {10u, 1000u, 3000u}) {
    SCOPED_TRACE(k);
    const MaskedCase c = masked_case(k);
    for (const Tensor* t : {&c.labels, &c.soft}) {
      const LossResult r = softmax_cross_entropy(c.z, *t);
      EXPECT_TRUE(std::isfinite(r.loss.item<float>()));
      for (float g : r.grad.to_vector<float>()) ASSERT_TRUE(std::isfinite(g));
    }
    // The soft loss equals the hard one's form: sum_k t_k (lse - z_k) over finite z_k.
    const std::vector<float> z = c.z.to_vector<float>();
    const std::vector<float> t = c.soft.to_vector<float>();
    double expect = 0.0;
    for (std::size_t r = 0; r < 4; ++r) {
      double m = -INFINITY, s = 0.0;
      for (std::size_t j = 0; j < k; ++j) m = std::max(m, double(z[r * k + j]));
      for (std::size_t j = 0; j < k; ++j) s += std::exp(double(z[r * k + j]) - m);
      for (std::size_t j = 0; j < k; ++j)
        if (t[r * k + j] != 0.0f) expect += t[r * k + j] * (m + std::log(s) - z[r * k + j]);
    }
    EXPECT_NEAR(softmax_cross_entropy(c.z, c.soft).loss.item<float>(), expect / 4,
                1e-3 + 1e-5 * std::fabs(expect / 4));
  }
}

TEST(OnlineSoftmaxParity, CudaMaskedLogitsMatchTheCpu) {
  MINIDL_REQUIRE_CUDA();
  for (std::size_t k : {10u, 32u, 1000u, 1024u, 1025u, 3000u}) {
    SCOPED_TRACE(k);
    const MaskedCase c = masked_case(k);
    const Tensor zg = c.z.to(Device::cuda());
    EXPECT_TRUE(test::all_close(softmax(zg).to_vector<float>(), softmax(c.z).to_vector<float>(),
                                1e-7f, 1e-5f));
    for (const Tensor* t : {&c.labels, &c.soft}) {
      const LossResult g = softmax_cross_entropy(zg, t->to(Device::cuda()));
      const LossResult r = softmax_cross_entropy(c.z, *t);
      EXPECT_TRUE(std::isfinite(g.loss.item<float>()));
      EXPECT_NEAR(g.loss.item<float>(), r.loss.item<float>(),
                  1e-4 + 1e-5 * std::fabs(r.loss.item<float>()));
      EXPECT_TRUE(test::all_close(g.grad.to_vector<float>(), r.grad.to_vector<float>(), 1e-6f,
                                  1e-4f));
    }
  }
}

}  // namespace
}  // namespace minidl
