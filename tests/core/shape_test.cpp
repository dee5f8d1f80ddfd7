#include "core/shape.hpp"
#include "core/tensor.hpp"

#include "core/error.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(Shape, ScalarHasRankZeroAndOneElement) {
  const Shape s;
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.str(), "[]");
}

TEST(Shape, ExtentsAndCount) {
  const Shape s{2, 3, 4};
  EXPECT_EQ(s.rank(), 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s[0], 2);
  EXPECT_EQ(s[-1], 4);
  EXPECT_EQ(s.dim(-3), 2);
  EXPECT_EQ(s.dims(), (std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_EQ(s.str(), "[2, 3, 4]");
}

TEST(Shape, ZeroExtentMeansNoElements) { EXPECT_EQ((Shape{5, 0, 3}).numel(), 0); }

TEST(Shape, Equality) {
  EXPECT_EQ((Shape{2, 3}), (Shape{2, 3}));
  EXPECT_NE((Shape{2, 3}), (Shape{3, 2}));
  EXPECT_NE((Shape{2, 3}), (Shape{2, 3, 1}));
  EXPECT_EQ(Shape(std::vector<std::int64_t>{7, 1}), (Shape{7, 1}));
}

TEST(Shape, MaxRankIsEight) {
  EXPECT_NO_THROW((Shape{1, 1, 1, 1, 1, 1, 1, 2}));
  MINIDL_EXPECT_THROW_WITH((Shape{1, 1, 1, 1, 1, 1, 1, 1, 1}), ShapeError, "rank 9",
                           "maximum rank 8");
}

TEST(Shape, NegativeExtentIsAnError) {
  MINIDL_EXPECT_THROW_WITH((Shape{2, -3}), ShapeError, "-3", "axis 1", "[2, -3]");
  // The message shows the shape as given, not the part assigned so far ("[-1, 0]").
  MINIDL_EXPECT_THROW_WITH(zeros({-1, 3}), ShapeError, "extent -1 of axis 0", "in [-1, 3]");
}

TEST(Shape, OverflowIsAnError) {
  MINIDL_EXPECT_THROW_WITH((Shape{1LL << 40, 1LL << 40}), ShapeError, "int64");
}

TEST(Shape, AxisOutOfRangeIsAnError) {
  const Shape s{2, 3};
  MINIDL_EXPECT_THROW_WITH(s.dim(2), ShapeError, "axis 2", "[2, 3]");
  MINIDL_EXPECT_THROW_WITH(s.dim(-3), ShapeError, "axis -3");
}

}  // namespace
}  // namespace minidl
