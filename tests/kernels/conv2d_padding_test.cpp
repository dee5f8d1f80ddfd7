// ConvPadding::Same (TensorFlow's "SAME") against ConvPadding::HalfKernel
// (PyTorch's padding=K//2): where they agree, where they differ, and that
// HalfKernel is exactly explicit padding of K//2 on every side.
#include <cmath>

#include "kernels/conv2d.hpp"
#include "layers/conv.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

Conv2dParams params(ConvPadding padding, std::int64_t stride, std::int64_t pad = 0) {
  Conv2dParams p;
  p.padding = padding;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return p;
}

TEST(ConvPadding, SameIsTensorFlowsAndHalfKernelIsPyTorchs) {
  // N = 8, K = 3, stride 2: both give 4 x 4, TensorFlow pads (0 before, 1 after),
  // PyTorch's padding=1 pads (1, 1).
  const Shape x{1, 1, 8, 8}, w{1, 1, 3, 3};
  const Conv2dGeometry tf = conv2d_geometry(x, w, params(ConvPadding::Same, 2));
  const Conv2dGeometry pt = conv2d_geometry(x, w, params(ConvPadding::HalfKernel, 2));
  EXPECT_EQ(tf.out_h, 4);
  EXPECT_EQ(pt.out_h, 4);
  EXPECT_EQ(tf.pad_top, 0);
  EXPECT_EQ(tf.pad_bottom, 1);
  EXPECT_EQ(pt.pad_top, 1);
  EXPECT_EQ(pt.pad_bottom, 1);
  EXPECT_TRUE(pt.symmetric_padding());
  // Even kernel at stride 1: TensorFlow keeps N (pads 1, 2 for K = 4), PyTorch's
  // padding=2 gives N + 1.
  const Conv2dGeometry tf4 = conv2d_geometry(x, {1, 1, 4, 4}, params(ConvPadding::Same, 1));
  const Conv2dGeometry pt4 = conv2d_geometry(x, {1, 1, 4, 4}, params(ConvPadding::HalfKernel, 1));
  EXPECT_EQ(tf4.out_h, 8);
  EXPECT_EQ(pt4.out_h, 9);
  EXPECT_EQ(pt4.pad_top, 2);
  // Odd kernel at stride 1: the two agree.
  const Conv2dGeometry tf5 = conv2d_geometry(x, {1, 1, 5, 5}, params(ConvPadding::Same, 1));
  const Conv2dGeometry pt5 = conv2d_geometry(x, {1, 1, 5, 5}, params(ConvPadding::HalfKernel, 1));
  EXPECT_EQ(tf5.out_h, pt5.out_h);
  EXPECT_EQ(tf5.pad_top, pt5.pad_top);
  EXPECT_EQ(tf5.pad_bottom, pt5.pad_bottom);
}

TEST(ConvPadding, HalfKernelValuesAreExplicitPaddingOfHalfTheKernel) {
  Generator gen(11);
  const Tensor x = normal({2, 3, 8, 8}, 0.0f, 1.0f, gen);
  for (const std::int64_t k : {3, 4}) {
    for (const std::int64_t s : {1, 2}) {
      const Tensor w = normal({4, 3, k, k}, 0.0f, 1.0f, gen);
      const Tensor b = normal({4}, 0.0f, 1.0f, gen);
      const Tensor half = conv2d(x, w, b, params(ConvPadding::HalfKernel, s));
      const Tensor expl = conv2d(x, w, b, params(ConvPadding::Explicit, s, k / 2));
      ASSERT_EQ(half.shape(), expl.shape()) << "k " << k << " stride " << s;
      EXPECT_EQ(half.to_vector<float>(), expl.to_vector<float>()) << "k " << k << " stride " << s;
    }
  }
  // At stride 2 the two "same" conventions give one shape and different values.
  const Tensor w = normal({4, 3, 3, 3}, 0.0f, 1.0f, gen);
  const auto tf = conv2d(x, w, Tensor(), params(ConvPadding::Same, 2));
  const auto pt = conv2d(x, w, Tensor(), params(ConvPadding::HalfKernel, 2));
  ASSERT_EQ(tf.shape(), pt.shape());
  const auto a = tf.to_vector<float>(), c = pt.to_vector<float>();
  float max_diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, std::fabs(a[i] - c[i]));
  EXPECT_GT(max_diff, 0.5f);

  // The layer's shorthand.
  const Conv2dOptions o = Conv2dOptions::half_kernel(2);
  EXPECT_EQ(o.padding, ConvPadding::HalfKernel);
  EXPECT_EQ(o.stride_h, 2);
}

}  // namespace
}  // namespace minidl
