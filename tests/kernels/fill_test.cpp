#include "kernels/fill.hpp"

#include "test_util.hpp"

namespace minidl {
namespace {

TEST(Fill, OverwritesEveryElement) {
  Tensor t = empty({1001});
  fill(t, 3.25);
  EXPECT_EQ(t.to_vector<float>(), std::vector<float>(1001, 3.25f));
  Tensor i = empty({17}, Device::cpu(), DType::Int32);
  fill(i, -9);
  EXPECT_EQ(i.to_vector<std::int32_t>(), std::vector<std::int32_t>(17, -9));
}

TEST(Fill, SpecialValues) {
  Tensor t = empty({4});
  fill(t, INFINITY);
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, INFINITY);
  fill(t, NAN);
  for (float v : t.to_vector<float>()) EXPECT_TRUE(std::isnan(v));
}

TEST(Fill, EmptyAndUndefinedTensors) {
  Tensor e = empty({0});
  EXPECT_NO_THROW(fill(e, 1.0));
  Tensor u;
  MINIDL_EXPECT_THROW_WITH(fill(u, 1.0), ValueError, "fill", "undefined");
}

TEST(FillArange, ValuesComeFromDouble) {
  Tensor t = empty({5});
  fill_arange(t, 0.1, 0.1);
  const auto v = t.to_vector<float>();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(v[static_cast<std::size_t>(i)], static_cast<float>(0.1 + i * 0.1));
}

TEST(FillArange, Int32RangeIsChecked) {
  Tensor t = empty({3}, Device::cpu(), DType::Int32);
  MINIDL_EXPECT_THROW_WITH(fill_arange(t, 2147483646.0, 1.0), ValueError, "int32");
}

TEST(FillRandom, NeedFloat32) {
  Tensor i = empty({4}, Device::cpu(), DType::Int32);
  MINIDL_EXPECT_THROW_WITH(fill_uniform(i, 0.0f, 1.0f, {1, 0}), DTypeError, "fill_uniform",
                           "int32");
  MINIDL_EXPECT_THROW_WITH(fill_normal(i, 0.0f, 1.0f, {1, 0}), DTypeError, "fill_normal", "int32");
}

// Odd sizes cover the tail of the last Philox block and the unaligned path.
TEST(FillCuda, MatchesCpu) {
  MINIDL_REQUIRE_CUDA();
  for (std::int64_t n : {1, 2, 7, 257, 100003}) {
    Tensor c = empty({n}), g = empty({n}, Device::cuda());
    fill(c, -0.5);
    fill(g, -0.5);
    EXPECT_EQ(g.to_vector<float>(), c.to_vector<float>());
    fill_arange(c, -100.0, 0.37);
    fill_arange(g, -100.0, 0.37);
    EXPECT_EQ(g.to_vector<float>(), c.to_vector<float>());
    fill_uniform(c, -3.0f, 5.0f, {123, 4});
    fill_uniform(g, -3.0f, 5.0f, {123, 4});
    EXPECT_EQ(g.to_vector<float>(), c.to_vector<float>());
    fill_normal(c, 1.0f, 3.0f, {123, 5});
    fill_normal(g, 1.0f, 3.0f, {123, 5});
    EXPECT_TRUE(test::all_close(g.to_vector<float>(), c.to_vector<float>(), 1e-6f, 2e-7f));
  }
  Tensor ci = empty({1000}, Device::cpu(), DType::Int32),
         gi = empty({1000}, Device::cuda(), DType::Int32);
  fill_arange(ci, 500, -1);
  fill_arange(gi, 500, -1);
  EXPECT_EQ(gi.to_vector<std::int32_t>(), ci.to_vector<std::int32_t>());
}

}  // namespace
}  // namespace minidl
