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

}  // namespace
}  // namespace minidl
