#include "kernels/softmax.hpp"

#include <cmath>

#include "gradcheck.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(Softmax, ClosedForm) {
  const Tensor z = from_vector({0.0f, std::log(3.0f), 1.0f, 1.0f}, {2, 2});
  EXPECT_TRUE(test::all_close(softmax(z).to_vector<float>(), {0.25f, 0.75f, 0.5f, 0.5f}, 0, 1e-6f));
}

TEST(Softmax, EqualValuesGiveTheUniformDistribution) {
  const auto y = softmax(full({3, 7}, 123.0)).to_vector<float>();
  for (float v : y) EXPECT_NEAR(v, 1.0f / 7.0f, 1e-7);
}

TEST(Softmax, ExtremeLogitsStayFinite) {
  const auto y =
      softmax(from_vector({1e4f, -1e4f, 0.0f, 88.0f, -88.0f, 0.0f}, {2, 3})).to_vector<float>();
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 0.0f);
  for (float v : y) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(y[3], 1.0f, 1e-6);
}

TEST(Softmax, NanPoisonsOnlyItsRow) {
  const auto y = softmax(from_vector({1.0f, NAN, 1.0f, 2.0f}, {2, 2})).to_vector<float>();
  EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1]));
  EXPECT_FALSE(std::isnan(y[2]) || std::isnan(y[3]));
}

TEST(Softmax, OverTheLastAxisOfAnyRank) {
  Generator gen(1);
  const Tensor z = normal({2, 3, 5}, 0.0f, 2.0f, gen);
  const Tensor flat = softmax(z.view({6, 5}));
  EXPECT_EQ(softmax(z).to_vector<float>(), flat.to_vector<float>());
  EXPECT_EQ(softmax(empty({0, 3})).numel(), 0);
}

TEST(Softmax, BackwardMatchesCentralDifferences) {
  Generator gen(2);
  Tensor z = normal({4, 6}, 0.0f, 2.0f, gen);
  const Tensor r = normal({4, 6}, 0.0f, 1.0f, gen);
  const Tensor y = softmax(z);
  const Tensor dz = softmax_backward(r, y);
  const auto numeric = test::numerical_gradient(
      [&](const Tensor& x) { return test::project(r, softmax(x)); }, z, 1e-2f);
  EXPECT_TRUE(test::gradients_agree(dz.to_vector<float>(), numeric, 2e-3));
}

TEST(Softmax, BadInput) {
  MINIDL_EXPECT_THROW_WITH(softmax(full({}, 1)), ShapeError, "softmax", "scalar");
  MINIDL_EXPECT_THROW_WITH(softmax_backward(zeros({2, 3}), zeros({3, 2})), ShapeError,
                           "softmax_backward", "[2, 3]");
}

}  // namespace
}  // namespace minidl
