// optim/update_cpu.hpp: the AVX2 copy of the optimizer update loop gives the SSE2 loop's
// bits (NaN for NaN), for every update rule and flag, on values that include zeros, denormals,
// infinities and NaN, at lengths that are not multiples of a vector.
#include "optim/update_cpu.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/cpu_features.hpp"
#include "optim/update_math.hpp"

namespace minidl {
namespace {

std::vector<float> values(std::size_t n, std::uint32_t seed, bool non_negative) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    float x = normal(rng) * std::pow(10.0f, static_cast<float>(static_cast<int>(i % 9) - 4));
    v[i] = non_negative ? std::fabs(x) : x;
  }
  const float special[] = {0.0f, -0.0f, std::numeric_limits<float>::denorm_min(),
                           1e-38f, std::numeric_limits<float>::infinity(),
                           std::numeric_limits<float>::quiet_NaN(), 3e38f};
  for (std::size_t k = 0; k < sizeof special / sizeof special[0] && 5 * k + 1 < n; ++k) {
    const float x = special[k];
    v[5 * k + 1] = non_negative ? std::fabs(x) : (k % 2 ? -x : x);
  }
  return v;
}

// The same bits, or both NaN: which NaN an operation returns when both operands are NaN
// (their signs and payloads) follows the operand order the compiler picked, which differs
// between the two loops.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0 && !(std::isnan(a[i]) && std::isnan(b[i])))
      return false;
  return true;
}

#if MINIDL_OPTIM_AVX2
// Runs `f` over w and the other arrays both ways, from the same start, and compares every
// array it writes bit for bit.
template <int Arrays, class F>
void expect_avx2_matches_sse2(const F& f, std::size_t n) {
  const std::vector<float> w0 = values(n, 1, false), g = values(n, 2, false),
                           m0 = values(n, 3, false), v0 = values(n, 4, true);
  std::vector<float> w1 = w0, m1 = m0, v1 = v0, w2 = w0, m2 = m0, v2 = v0;
  const auto len = static_cast<std::int64_t>(n);
  if constexpr (Arrays == 4) {
    optim_detail::for_each_element_range(0, len, f, w1.data(), g.data(), m1.data(), v1.data());
    optim_detail::for_each_element_range_avx2(0, len, f, w2.data(), g.data(), m2.data(),
                                              v2.data());
  } else if constexpr (Arrays == 3) {
    optim_detail::for_each_element_range(0, len, f, w1.data(), g.data(), m1.data());
    optim_detail::for_each_element_range_avx2(0, len, f, w2.data(), g.data(), m2.data());
  } else {
    optim_detail::for_each_element_range(0, len, f, w1.data(), g.data());
    optim_detail::for_each_element_range_avx2(0, len, f, w2.data(), g.data());
  }
  EXPECT_FALSE(same_bits(w1, w0)) << "the update changed nothing: the test tests nothing";
  EXPECT_TRUE(same_bits(w1, w2)) << "w, n " << n;
  EXPECT_TRUE(same_bits(m1, m2)) << "m / momentum buffer, n " << n;
  EXPECT_TRUE(same_bits(v1, v2)) << "v, n " << n;
}
#endif

TEST(OptimizerUpdateLoop, Avx2GivesTheSse2LoopsBits) {
#if MINIDL_OPTIM_AVX2
  if (!cpu_features().avx2) GTEST_SKIP() << "this CPU has no AVX2";
  for (std::size_t n : {1u, 7u, 8u, 9u, 31u, 1000u, 4099u}) {
    for (bool decoupled : {false, true})
      for (float l2 : {0.0f, 0.01f}) {
        optim_math::AdamUpdate adam;
        adam.beta1 = 0.9f;
        adam.one_minus_beta1 = 0.1f;
        adam.beta2 = 0.999f;
        adam.one_minus_beta2 = 0.001f;
        adam.eps = 1e-8f;
        adam.step_size = 1e-3f / 0.271f;
        adam.bias_correction2_sqrt = 0.0546f;
        adam.decoupled = decoupled;
        adam.decay_factor = decoupled ? 0.99999f : 1.0f;
        adam.l2 = decoupled ? 0.0f : l2;
        expect_avx2_matches_sse2<4>(adam, n);
      }
    for (bool nesterov : {false, true})
      for (bool first : {false, true}) {
        optim_math::SgdUpdate sgd;
        sgd.lr = 0.05f;
        sgd.momentum = 0.9f;
        sgd.weight_decay = 1e-4f;
        sgd.nesterov = nesterov;
        sgd.first_step = first;
        expect_avx2_matches_sse2<3>(sgd, n);
        sgd.momentum = 0.0f;
        expect_avx2_matches_sse2<2>(sgd, n);
      }
  }
#else
  GTEST_SKIP() << "not an x86-64 GCC build: no AVX2 loop";
#endif
}

}  // namespace
}  // namespace minidl
