#include "core/random.hpp"

#include <cmath>
#include <set>

#include "core/tensor.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

// Known-answer vectors of Philox4x32-10 published with the Random123 library
// (Salmon et al., SC'11): counter, key -> output.
TEST(Philox, KnownAnswers) {
  struct Case {
    Philox4x32 ctr;
    std::uint32_t k0, k1;
    Philox4x32 expected;
  };
  const Case cases[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
       0xffffffffu,
       0xffffffffu,
       {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
       0xa4093822u,
       0x299f31d0u,
       {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
  };
  for (const Case& c : cases) {
    const Philox4x32 got = philox4x32_10(c.ctr, c.k0, c.k1);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(got.v[j], c.expected.v[j]) << "word " << j;
  }
}

TEST(Philox, Uniform01CoversTheUnitIntervalExactly) {
  EXPECT_EQ(uniform01(0u), 0.0f);
  EXPECT_LT(uniform01(0xffffffffu), 1.0f);
  EXPECT_EQ(uniform01(0xffffffffu), 1.0f - 1.0f / 16777216.0f);
}

TEST(Generator, EachDrawGetsANewOffset) {
  Generator gen(42);
  EXPECT_EQ(gen.seed(), 42u);
  const Generator::Draw a = gen.next();
  const Generator::Draw b = gen.next();
  EXPECT_EQ(a.offset + 1, b.offset);
  EXPECT_EQ(gen.offset(), 2u);
  gen.set_offset(0);
  EXPECT_EQ(gen.next().offset, 0u);
}

TEST(Random, SameSeedSameNumbers) {
  Generator g1(7), g2(7);
  EXPECT_EQ(uniform({1001}, -2.0f, 3.0f, g1).to_vector<float>(),
            uniform({1001}, -2.0f, 3.0f, g2).to_vector<float>());
  EXPECT_EQ(normal({1001}, 0.0f, 1.0f, g1).to_vector<float>(),
            normal({1001}, 0.0f, 1.0f, g2).to_vector<float>());
}

TEST(Random, SuccessiveDrawsAndSeedsDiffer) {
  Generator gen(7), other(8);
  const auto a = uniform({64}, 0.0f, 1.0f, gen).to_vector<float>();
  const auto b = uniform({64}, 0.0f, 1.0f, gen).to_vector<float>();
  const auto c = uniform({64}, 0.0f, 1.0f, other).to_vector<float>();
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
}

// A prefix of a longer draw equals the shorter draw: element i depends on i only.
TEST(Random, ElementDependsOnlyOnItsIndex) {
  Generator g1(3), g2(3);
  const auto shorter = uniform({5}, 0.0f, 1.0f, g1).to_vector<float>();
  const auto longer = uniform({4, 3}, 0.0f, 1.0f, g2).to_vector<float>();
  for (std::size_t i = 0; i < shorter.size(); ++i) EXPECT_EQ(shorter[i], longer[i]);
}

TEST(Random, UniformMoments) {
  Generator gen(11);
  const auto v = uniform({1 << 18}, -1.0f, 3.0f, gen).to_vector<float>();
  double sum = 0, sq = 0;
  for (float x : v) {
    ASSERT_GE(x, -1.0f);
    ASSERT_LT(x, 3.0f);
    sum += x;
    sq += double(x) * x;
  }
  const double n = static_cast<double>(v.size());
  const double mean = sum / n, var = sq / n - mean * mean;
  // Mean 1, variance (b - a)^2 / 12 = 4/3; standard errors ~0.0023 and ~0.0024.
  EXPECT_NEAR(mean, 1.0, 0.012);
  EXPECT_NEAR(var, 4.0 / 3.0, 0.015);
  EXPECT_GT(std::set<float>(v.begin(), v.end()).size(), v.size() * 9 / 10);
}

TEST(Random, NormalMoments) {
  Generator gen(12);
  const auto v = normal({1 << 18}, 2.0f, 0.5f, gen).to_vector<float>();
  double sum = 0, sq = 0, fourth = 0;
  for (float x : v) {
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
  }
  const double n = static_cast<double>(v.size());
  const double mean = sum / n;
  for (float x : v) {
    const double d = x - mean;
    sq += d * d;
    fourth += d * d * d * d;
  }
  const double var = sq / n, kurtosis = fourth / n / (var * var);
  EXPECT_NEAR(mean, 2.0, 0.005);     // standard error 0.001
  EXPECT_NEAR(var, 0.25, 0.004);     // standard error ~0.0007
  EXPECT_NEAR(kurtosis, 3.0, 0.06);  // a Gaussian's; uniform would give 1.8
}

TEST(Random, DegenerateRanges) {
  Generator gen(1);
  EXPECT_EQ(uniform({8}, 2.0f, 2.0f, gen).to_vector<float>(), std::vector<float>(8, 2.0f));
  EXPECT_EQ(normal({8}, -1.0f, 0.0f, gen).to_vector<float>(), std::vector<float>(8, -1.0f));
}

TEST(Random, BadArgumentsAreErrors) {
  Generator gen(1);
  MINIDL_EXPECT_THROW_WITH(uniform({4}, 1.0f, 0.0f, gen), ValueError, "low <= high");
  MINIDL_EXPECT_THROW_WITH(uniform({4}, 0.0f, INFINITY, gen), ValueError, "finite");
  MINIDL_EXPECT_THROW_WITH(normal({4}, 0.0f, -1.0f, gen), ValueError, "stddev");
  MINIDL_EXPECT_THROW_WITH(normal({4}, NAN, 1.0f, gen), ValueError, "mean");
}

}  // namespace
}  // namespace minidl
