// from_vector with brace lists: the dtype follows the elements, with or without a shape.
#include "core/tensor.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(FromVector, BraceListsWithoutAShape) {
  const float a = 1.5f, b = -2.0f;
  const Tensor f = from_vector({a, b});  // did not compile: float32 or int32?
  EXPECT_EQ(f.dtype(), DType::Float32);
  EXPECT_EQ(f.shape(), Shape({2}));
  EXPECT_EQ(f.to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));

  const Tensor i = from_vector({3, 1, 4});
  EXPECT_EQ(i.dtype(), DType::Int32);
  EXPECT_EQ(i.shape(), Shape({3}));
  EXPECT_EQ(i.to_vector<std::int32_t>(), (std::vector<std::int32_t>{3, 1, 4}));

  // With a shape, a scalar shape and vectors, as before.
  EXPECT_EQ(from_vector({a, b, a, b}, {2, 2}).shape(), Shape({2, 2}));
  EXPECT_EQ(from_vector({7}, {}).rank(), 0);
  EXPECT_EQ(from_vector(std::vector<float>{a}).dtype(), DType::Float32);
  EXPECT_THROW(from_vector({a, b}, {3}), ShapeError);
}

}  // namespace
}  // namespace minidl
