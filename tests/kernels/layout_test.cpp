// Blocked layouts (kernels/layout.hpp): the conversions element by element, and every op
// that takes a layout (pooling, the convolution's passes, the bias gradient) against the
// same op in NCHW, the oracle: pooling bit for bit, the `cpu` convolution bit for bit (it
// converts around its NCHW loops), oneDNN's within float rounding.
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/conv2d.hpp"
#include "kernels/layout.hpp"
#include "kernels/pool2d.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

Tensor to_layout(const Tensor& t, Layout layout) {
  Tensor out;
  convert_layout(t, Layout::NCHW, out, layout);
  return out;
}

const Layout kLayouts[] = {Layout::NCHW, Layout::NCHW8c, Layout::NCHW16c};

// Whether the pooling ops take x and y in these layouts: not in two different blocked ones.
bool pool_pair(Layout xl, Layout yl) {
  return xl == Layout::NCHW || yl == Layout::NCHW || xl == yl;
}

// Bit for bit (NaNs included), printing the first differences.
::testing::AssertionResult same_bits(const Tensor& got, const Tensor& ref) {
  return test::same_bits(got.to_vector<float>(), ref.to_vector<float>());
}

TEST(Layout, BlockedLayoutsPutEachElementWhereTheHeaderSays) {
  const std::int64_t B = 2, C = 32, H = 3, W = 5;
  std::vector<float> v(static_cast<std::size_t>(B * C * H * W));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  const Tensor x = from_vector(v, {B, C, H, W});
  for (Layout layout : {Layout::NCHW8c, Layout::NCHW16c}) {
    SCOPED_TRACE(layout_name(layout));
    const std::int64_t L = layout == Layout::NCHW8c ? 8 : 16;
    EXPECT_EQ(channel_block(layout), L);
    const Tensor blocked = to_layout(x, layout);
    ASSERT_EQ(blocked.shape(), x.shape());
    const auto b = blocked.to_vector<float>();
    for (std::int64_t n = 0; n < B; ++n)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t h = 0; h < H; ++h)
          for (std::int64_t w = 0; w < W; ++w) {
            const std::int64_t at = (((n * (C / L) + c / L) * H + h) * W + w) * L + c % L;
            ASSERT_EQ(b[static_cast<std::size_t>(at)],
                      v[static_cast<std::size_t>(((n * C + c) * H + h) * W + w)])
                << n << " " << c << " " << h << " " << w;
          }
    EXPECT_EQ(to_nchw(blocked, layout).to_vector<float>(), v);
    // The first sample alone is the buffer's prefix in the blocked layout too.
    const Tensor one = to_layout(
        from_vector(std::vector<float>(v.begin(), v.begin() + C * H * W), {1, C, H, W}), layout);
    EXPECT_EQ(one.to_vector<float>(), std::vector<float>(b.begin(), b.begin() + C * H * W));
  }
  EXPECT_EQ(to_nchw(x, Layout::NCHW).storage(), x.storage());  // NCHW: no copy
  // One blocked layout straight into the other.
  Tensor as16;
  convert_layout(to_layout(x, Layout::NCHW8c), Layout::NCHW8c, as16, Layout::NCHW16c);
  EXPECT_EQ(as16.to_vector<float>(), to_layout(x, Layout::NCHW16c).to_vector<float>());
}

TEST(Layout, BadLayoutsAreClearErrors) {
  EXPECT_TRUE(layout_fits(Layout::NCHW, 3));
  EXPECT_FALSE(layout_fits(Layout::NCHW8c, 12));
  EXPECT_TRUE(layout_fits(Layout::NCHW8c, 24));
  EXPECT_FALSE(layout_fits(Layout::NCHW16c, 24));
  EXPECT_TRUE(layout_fits(Layout::NCHW16c, 32));
  EXPECT_FALSE(layout_fits(Layout::NCHW16c, 0));
  Tensor out;
  MINIDL_EXPECT_THROW_WITH(convert_layout(zeros({2, 12, 3, 3}), Layout::NCHW, out, Layout::NCHW8c),
                           ValueError, "NCHW8c", "[2, 12, 3, 3]", "multiple of 8");
  MINIDL_EXPECT_THROW_WITH(convert_layout(zeros({2, 24, 3, 3}), Layout::NCHW, out, Layout::NCHW16c),
                           ValueError, "NCHW16c", "[2, 24, 3, 3]", "multiple of 16");
  MINIDL_EXPECT_THROW_WITH(convert_layout(zeros({2, 16}), Layout::NCHW, out, Layout::NCHW8c),
                           ValueError, "NCHW8c");
  Tensor y;
  MINIDL_EXPECT_THROW_WITH(pool2d_forward(PoolMode::Max, zeros({1, 4, 4, 4}), y, Pool2dParams{},
                                          Layout::NCHW8c, Layout::NCHW),
                           ValueError, "max_pool2d", "NCHW8c");
  Tensor x16, y16;
  convert_layout(zeros({1, 16, 4, 4}), Layout::NCHW, x16, Layout::NCHW16c);
  MINIDL_EXPECT_THROW_WITH(
      pool2d_forward(PoolMode::Max, x16, y16, Pool2dParams{}, Layout::NCHW16c, Layout::NCHW8c),
      ValueError, "max_pool2d", "NCHW16c", "NCHW8c", "two different blocked");
  Conv2dParams p;
  p.y_layout = Layout::NCHW8c;
  MINIDL_EXPECT_THROW_WITH(conv2d(zeros({1, 8, 4, 4}), zeros({4, 8, 3, 3}), Tensor(), p),
                           ValueError, "conv2d_forward", "y", "NCHW8c");
  Tensor db;
  MINIDL_EXPECT_THROW_WITH(conv2d_backward_bias(zeros({1, 4, 2, 2}), db, false, Layout::NCHW8c),
                           ValueError, "conv2d_backward_bias", "NCHW8c");
}

// Pooling in every pair of layouts gives the NCHW result bit for bit, forward and backward,
// max (with ties: a ReLU's zeros; NaNs; -inf) and average, with padding and overlapping
// windows.
TEST(Layout, PoolingInBlockedLayoutsIsTheNchwPooling) {
  Generator gen(4);
  Tensor x = normal({3, 16, 9, 9}, 0.0f, 1.0f, gen);
  {
    auto v = x.to_vector<float>();
    for (std::size_t i = 0; i < v.size(); i += 3) v[i] = v[i] < 0 ? 0.0f : v[i];  // ties at 0
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = v[i] < 0 ? 0.0f : v[i];
    v[40] = v[41] = v[300] = std::numeric_limits<float>::quiet_NaN();  // NaNs propagate
    v[0] = -std::numeric_limits<float>::infinity();
    x = from_vector(v, x.shape());
  }
  Pool2dParams two;  // 2x2, stride 2
  Pool2dParams three;
  three.kernel_h = three.kernel_w = 3;
  three.stride_h = three.stride_w = 2;
  three.pad_h = three.pad_w = 1;
  three.count_include_pad = false;
  for (PoolMode mode : {PoolMode::Max, PoolMode::Avg}) {
    for (const Pool2dParams& params : {two, three}) {
      Tensor y_ref, dx_ref;
      pool2d_forward(mode, x, y_ref, params);
      const Tensor dy = normal(y_ref.shape(), 0.0f, 1.0f, gen);
      pool2d_backward(mode, x, dy, dx_ref, params);
      for (Layout xl : kLayouts) {
        for (Layout yl : kLayouts) {
          if (!pool_pair(xl, yl)) continue;
          SCOPED_TRACE(std::string(mode == PoolMode::Max ? "max" : "avg") + " k" +
                       std::to_string(params.kernel_h) + " x " + layout_name(xl) + " y " +
                       layout_name(yl));
          const Tensor xb = to_layout(x, xl);
          Tensor y, dx;
          pool2d_forward(mode, xb, y, params, xl, yl);
          EXPECT_TRUE(same_bits(to_nchw(y, yl), y_ref));
          pool2d_backward(mode, xb, to_layout(dy, yl), dx, params, xl, yl);
          EXPECT_TRUE(same_bits(to_nchw(dx, xl), dx_ref));
        }
      }
    }
  }
}

// x and y in two different blocked layouts, or in a block this CPU's oneDNN kernels do not
// compute in, have only oneDNN's reference implementation (for nChw16c in and nChw8c out on
// the AVX-512 machine: 5.6 s a call instead of 5 ms): the plan reorders instead, and never
// runs `ref`.
TEST(Layout, OneDnnNeverRunsItsReferenceConvolutionForBlockedOperands) {
  if (!cpu::onednn_available()) GTEST_SKIP() << "minidl was built without oneDNN";
  Conv2dParams p;
  p.padding = ConvPadding::Same;
  for (auto [xl, yl, M] : {std::tuple{Layout::NCHW16c, Layout::NCHW8c, 24},
                           std::tuple{Layout::NCHW8c, Layout::NCHW16c, 32},
                           std::tuple{Layout::NCHW16c, Layout::NCHW16c, 32},
                           std::tuple{Layout::NCHW8c, Layout::NCHW8c, 24}}) {
    const Conv2dGeometry g = conv2d_geometry({4, 32, 10, 10}, {M, 32, 3, 3}, p, "test");
    for (int pass = 0; pass < 3; ++pass) {
      const std::string impl = cpu::conv2d_onednn_impl(g, pass, xl, yl);
      EXPECT_NE(impl.compare(0, 3, "ref"), 0)
          << layout_name(xl) << " -> " << layout_name(yl) << " pass " << pass << ": " << impl;
    }
  }
}

struct ConvCase {
  std::int64_t B, C, H, W, M, K, stride;
};

// The convolution's three passes and the bias gradient with x and y in every pair of
// layouts, against backend `cpu` in NCHW: backend `cpu` gives its NCHW bits (it converts),
// oneDNN agrees within rounding (it computes in the blocked tensors), overwriting dx and
// accumulating into dw and db. The fused ReLU included.
TEST(Layout, ConvolutionInBlockedLayoutsIsTheNchwConvolution) {
  std::vector<ConvBackend> backends{ConvBackend::Cpu};
  if (cpu::onednn_available()) backends.push_back(ConvBackend::OneDnn);
  const ConvCase cases[] = {
      {3, 32, 14, 14, 64, 5, 1},  // the CNN's conv2
      {2, 8, 9, 9, 16, 3, 2},     // stride 2, odd side
      {4, 16, 6, 6, 8, 1, 1},     // pointwise
  };
  std::uint64_t seed = 20;
  for (const ConvCase& c : cases) {
    Generator gen(seed++);
    const Tensor x = normal({c.B, c.C, c.H, c.W}, 0.0f, 1.0f, gen);
    const Tensor w = normal({c.M, c.C, c.K, c.K}, 0.0f, 0.2f, gen);
    const Tensor b = normal({c.M}, 0.0f, 0.5f, gen);
    Conv2dParams ref = Conv2dParams{};
    ref.padding = ConvPadding::Same;
    ref.stride_h = ref.stride_w = c.stride;
    ref.backend = ConvBackend::Cpu;
    ref.activation = Activation::ReLU;
    const Tensor y_ref = conv2d(x, w, b, ref);
    const Tensor dz = normal(y_ref.shape(), 0.0f, 1.0f, gen);
    Tensor dx_ref, dw_ref = ones(w.shape()), db_ref = ones({c.M});  // accumulated into
    conv2d_backward_data(dz, w, x.shape(), dx_ref, ref);
    conv2d_backward_filter(x, dz, dw_ref, ref, true);
    conv2d_backward_bias(dz, db_ref, true);
    const float atol = 1e-4f * static_cast<float>(c.B * c.H * c.W) / 50.0f + 1e-4f;
    for (ConvBackend backend : backends) {
      for (Layout xl : kLayouts) {
        for (Layout yl : kLayouts) {
          if (!layout_fits(xl, c.C) || !layout_fits(yl, c.M)) continue;
          SCOPED_TRACE(std::string(conv_backend_name(backend)) + " C" + std::to_string(c.C) +
                       " x " + layout_name(xl) + " y " + layout_name(yl));
          Conv2dParams p = ref;
          p.backend = backend;
          p.x_layout = xl;
          p.y_layout = yl;
          const Tensor xb = to_layout(x, xl), dzb = to_layout(dz, yl);
          const Tensor y = to_nchw(conv2d(xb, w, b, p), yl);
          Tensor dx = full(x.shape(), 3.0, Device::cpu());  // overwritten
          conv2d_backward_data(dzb, w, x.shape(), dx, p);
          Tensor dw = ones(w.shape()), db = ones({c.M});  // accumulated into
          conv2d_backward_filter(xb, dzb, dw, p, true);
          conv2d_backward_bias(dzb, db, true, yl);
          const std::vector<float> dw_plus = dw_ref.to_vector<float>(),
                                   db_plus = db_ref.to_vector<float>();
          if (backend == ConvBackend::Cpu) {
            EXPECT_EQ(y.to_vector<float>(), y_ref.to_vector<float>());
            EXPECT_EQ(to_nchw(dx, xl).to_vector<float>(), dx_ref.to_vector<float>());
            EXPECT_EQ(dw.to_vector<float>(), dw_plus);
          } else {
            EXPECT_TRUE(
                test::all_close(y.to_vector<float>(), y_ref.to_vector<float>(), 1e-4f, 1e-4f));
            EXPECT_TRUE(test::all_close(to_nchw(dx, xl).to_vector<float>(),
                                        dx_ref.to_vector<float>(), 1e-4f, 1e-4f));
            EXPECT_TRUE(test::all_close(dw.to_vector<float>(), dw_plus, atol, 1e-4f));
          }
          EXPECT_TRUE(test::all_close(db.to_vector<float>(), db_plus, atol, 1e-5f));
        }
      }
    }
  }
}

}  // namespace
}  // namespace minidl
