#include "kernels/reduce.hpp"

#include <cmath>

#include "test_util.hpp"

namespace minidl {
namespace {

// Plain-loop oracle: sum over `axis` of a row-major tensor of `dims`.
std::vector<float> oracle_sum(const std::vector<float>& x, const std::vector<std::int64_t>& dims,
                              int axis) {
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= dims[i];
  for (std::size_t i = axis + 1; i < dims.size(); ++i) inner *= dims[i];
  const std::int64_t extent = dims[axis];
  std::vector<float> out(static_cast<std::size_t>(outer * inner));
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      double s = 0;
      for (std::int64_t k = 0; k < extent; ++k)
        s += x[static_cast<std::size_t>((o * extent + k) * inner + i)];
      out[static_cast<std::size_t>(o * inner + i)] = static_cast<float>(s);
    }
  }
  return out;
}

TEST(Reduce, SumOverEachAxis) {
  const Tensor x = arange(0, 24).view({2, 3, 4});
  const auto v = x.to_vector<float>();
  for (int axis = 0; axis < 3; ++axis) {
    const Tensor s = sum(x, axis);
    EXPECT_EQ(s.to_vector<float>(), oracle_sum(v, {2, 3, 4}, axis)) << "axis " << axis;
  }
  EXPECT_EQ(sum(x, 1).shape(), (Shape{2, 4}));
  EXPECT_EQ(sum(x, -1).to_vector<float>(), sum(x, 2).to_vector<float>());
}

TEST(Reduce, Mean) {
  const Tensor x = from_vector({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {2, 3});
  EXPECT_EQ(mean(x, 0).to_vector<float>(), (std::vector<float>{2.5f, 3.5f, 4.5f}));
  EXPECT_EQ(mean(x, 1).to_vector<float>(), (std::vector<float>{2, 5}));
  EXPECT_TRUE(std::isnan(mean(empty({0, 2}), 0).to_vector<float>()[0]));
  EXPECT_EQ(sum(empty({0, 2}), 0).to_vector<float>(), (std::vector<float>{0, 0}));
}

TEST(Reduce, SumAll) {
  EXPECT_EQ(sum_all(arange(1, 101).view({10, 10})).item<float>(), 5050.0f);
  EXPECT_EQ(sum_all(arange(1, 101)).shape(), Shape{});
}

TEST(Reduce, Argmax) {
  const Tensor x = from_vector(
      {1.0f, 3.0f, 3.0f, -1.0f, -5.0f, -2.0f, -9.0f, -2.0f, 0.0f, NAN, 7.0f, NAN}, {3, 4});
  EXPECT_EQ(argmax(x).to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, 1, 1}));
  EXPECT_EQ(argmax(x).dtype(), DType::Int32);
  EXPECT_EQ(argmax(from_vector({-3.0f}, {1})).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{0}));
}

TEST(Reduce, BadInput) {
  MINIDL_EXPECT_THROW_WITH(sum(zeros({2, 3}), 2), ShapeError, "sum", "axis 2", "[2, 3]");
  MINIDL_EXPECT_THROW_WITH(argmax(zeros({3, 0})), ShapeError, "argmax", "empty");
  MINIDL_EXPECT_THROW_WITH(argmax(full({}, 1)), ShapeError, "argmax", "scalar");
  MINIDL_EXPECT_THROW_WITH(sum(zeros({2}, Device::cpu(), DType::Int32), 0), DTypeError, "sum");
}

}  // namespace
}  // namespace minidl
