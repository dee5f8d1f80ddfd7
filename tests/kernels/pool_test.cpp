// Max and average pooling against plain loops, gradient checks, the AVX2 kernels of max
// pooling 2x2 against the general loops (CPU vs CUDA: tests/parity).
#include <cmath>
#include <limits>
#include <vector>

#include "gradcheck.hpp"
#include "kernels/activation.hpp"
#include "kernels/layout.hpp"
#include "kernels/pool2d.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

Pool2dParams pp(std::int64_t k, std::int64_t s, std::int64_t pad, bool include_pad = true) {
  Pool2dParams p;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = s;
  p.pad_h = p.pad_w = pad;
  p.count_include_pad = include_pad;
  return p;
}

// Plain-loop reference: forward values and, for a given dy, the input gradient
// (max: the first maximum of each window takes the window's gradient).
void reference(PoolMode mode, const Tensor& x, const Pool2dParams& p, const std::vector<float>& dy,
               std::vector<float>& y, std::vector<float>& dx) {
  const auto v = x.to_vector<float>();
  const std::int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const std::int64_t sh = p.stride_h ? p.stride_h : p.kernel_h,
                     sw = p.stride_w ? p.stride_w : p.kernel_w;
  const std::int64_t P = (H + 2 * p.pad_h - p.kernel_h) / sh + 1;
  const std::int64_t Q = (W + 2 * p.pad_w - p.kernel_w) / sw + 1;
  y.assign(static_cast<std::size_t>(B * C * P * Q), 0.0f);
  dx.assign(v.size(), 0.0f);
  for (std::int64_t pl = 0; pl < B * C; ++pl)
    for (std::int64_t i = 0; i < P; ++i)
      for (std::int64_t j = 0; j < Q; ++j) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        std::int64_t arg = -1, count = 0;
        for (std::int64_t a = 0; a < p.kernel_h; ++a)
          for (std::int64_t b = 0; b < p.kernel_w; ++b) {
            const std::int64_t h = i * sh + a - p.pad_h, w = j * sw + b - p.pad_w;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            const std::int64_t idx = (pl * H + h) * W + w;
            const double val = v[static_cast<std::size_t>(idx)];
            sum += val;
            ++count;
            if (val > best) {
              best = val;
              arg = idx;
            }
          }
        const std::size_t o = static_cast<std::size_t>((pl * P + i) * Q + j);
        if (mode == PoolMode::Max) {
          y[o] = static_cast<float>(best);
          dx[static_cast<std::size_t>(arg)] += dy[o];
        } else {
          const double div = p.count_include_pad ? double(p.kernel_h * p.kernel_w) : double(count);
          y[o] = static_cast<float>(sum / div);
          for (std::int64_t a = 0; a < p.kernel_h; ++a)
            for (std::int64_t b = 0; b < p.kernel_w; ++b) {
              const std::int64_t h = i * sh + a - p.pad_h, w = j * sw + b - p.pad_w;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              dx[static_cast<std::size_t>((pl * H + h) * W + w)] += static_cast<float>(dy[o] / div);
            }
        }
      }
}

struct PoolCase {
  Shape x;
  Pool2dParams p;
};

std::vector<PoolCase> cases() {
  Pool2dParams rect = pp(3, 2, 1);
  rect.kernel_w = 2;
  rect.stride_w = 1;
  rect.pad_w = 0;
  return {{{2, 3, 28, 28}, pp(2, 2, 0)},       // the CNN's pool
          {{1, 5, 7, 9}, pp(3, 2, 1)},         // odd sizes, padding
          {{2, 3, 7, 7}, pp(3, 1, 1)},         // overlapping windows
          {{2, 2, 7, 7}, pp(3, 2, 1, false)},  // avg without the padding
          {{1, 1, 4, 4}, pp(4, 1, 0)},         // kernel = input
          {{2, 3, 6, 5}, rect}};
}

void check_reference(Device device) {
  Generator gen(5);
  for (const PoolCase& c : cases()) {
    for (PoolMode mode : {PoolMode::Max, PoolMode::Avg}) {
      SCOPED_TRACE(detail::concat(c.x, " k", c.p.kernel_h, "x", c.p.kernel_w, " mode ", int(mode)));
      const Tensor x = normal(c.x, 0.0f, 1.0f, gen);
      Tensor y;
      pool2d_forward(mode, x.to(device), y, c.p);
      const Tensor dy = normal(y.shape(), 0.0f, 1.0f, gen);
      std::vector<float> ry, rdx;
      reference(mode, x, c.p, dy.to_vector<float>(), ry, rdx);
      EXPECT_TRUE(test::all_close(y.to_vector<float>(), ry, 1e-6f, 1e-5f));
      Tensor dx;
      pool2d_backward(mode, x.to(device), dy.to(device), dx, c.p);
      EXPECT_TRUE(test::all_close(dx.to_vector<float>(), rdx, 1e-6f, 1e-5f));
    }
  }
}

TEST(Pool2d, CpuMatchesPlainLoops) { check_reference(Device::cpu()); }

TEST(Pool2d, MaxTiesGoToTheFirst) {
  const Tensor x = from_vector({1.f, 3.f, 3.f, 0.f, 2.f, 2.f, 2.f, 2.f}, {1, 2, 2, 2});
  const Tensor y = max_pool2d(x, pp(2, 2, 0));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{3.f, 2.f}));
  Tensor dx;
  pool2d_backward(PoolMode::Max, x, from_vector({10.f, 20.f}, {1, 2, 1, 1}), dx, pp(2, 2, 0));
  EXPECT_EQ(dx.to_vector<float>(), (std::vector<float>{0, 10, 0, 0, 20, 0, 0, 0}));
}

TEST(Pool2d, MaxIgnoresPaddingAndPropagatesNaN) {
  const Tensor x = full({1, 1, 2, 2}, -5.0);
  EXPECT_EQ(max_pool2d(x, pp(2, 1, 1)).to_vector<float>(), std::vector<float>(9, -5.0f));
  const Tensor n = from_vector({1.f, NAN, 2.f, 0.f}, {1, 1, 2, 2});
  EXPECT_TRUE(std::isnan(max_pool2d(n, pp(2, 2, 0)).item<float>()));
}

// Max pooling 2x2 at stride 2 (the CNN's) on an odd-sized plane: the first maximum of a tie
// and the first NaN win and take the gradient, the row and column no window covers get 0,
// and a -0 gradient lands as +0 (dx is a sum starting from 0).
TEST(Pool2d, Max2x2KeepsTiesNaNsAndSignedZeros) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = from_vector({1.f, 3.f, nan, 0.f, 9.f,   //
                                3.f, 2.f, 5.f, nan, 9.f,   //
                                7.f, 7.f, 7.f, 7.f, 7.f},  //
                               {1, 1, 3, 5});
  const auto y = max_pool2d(x, pp(2, 2, 0)).to_vector<float>();
  ASSERT_EQ(y.size(), 2u);
  EXPECT_EQ(y[0], 3.f);
  EXPECT_TRUE(std::isnan(y[1]));
  Tensor dx;
  pool2d_backward(PoolMode::Max, x, from_vector({-0.f, 4.f}, {1, 1, 1, 2}), dx, pp(2, 2, 0));
  const auto g = dx.to_vector<float>();
  for (std::size_t i = 0; i < g.size(); ++i) {
    EXPECT_EQ(g[i], i == 2 ? 4.f : 0.f) << i;
    EXPECT_FALSE(std::signbit(g[i])) << i;
  }
}

// Activations as a ReLU leaves them, with the inputs that break a max-pooling kernel: ties
// (the ReLU's zeros, in about half the positions, whole windows of them), NaNs, -inf, +inf.
Tensor relu_like(const Shape& s, Generator& gen) {
  auto v = normal(s, 0.0f, 1.0f, gen).to_vector<float>();
  for (float& e : v) e = e < 0.0f ? 0.0f : e;
  for (std::size_t i = 0; i < v.size(); i += 97) v[i] = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t i = 5; i < v.size(); i += 89) v[i] = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 11; i < v.size(); i += 83) v[i] = std::numeric_limits<float>::infinity();
  for (std::size_t i = 3; i < v.size(); i += 71) v[i] = -2.0f;  // a NaN / ReLU mask case
  return from_vector(v, s);
}

// The AVX2 kernels of max pooling 2x2 at stride 2 (kernels/pool2d_max2x2.cpp) give the
// general loops' bits (cpu::pool2d_*(..., baseline = true)), forward and backward, with and
// without the ReLU's backward folded in, for x and y in every pair of layouts: rows that end
// inside a vector (Q = 1 .. 9, 14, 17), odd sizes (a row and a column no window covers),
// ties, NaNs, infinities, and -0 and NaN gradients. Backward overwrites every element of dx,
// and through_relu is the pooling's backward followed by a ReLU's (the unfused reference).
TEST(Pool2d, Max2x2KernelsGiveTheGeneralLoopsBits) {
  const Pool2dParams p = pp(2, 2, 0);
  if (!cpu::pool2d_has_max2x2_path(PoolMode::Max, pool2d_geometry({1, 8, 2, 2}, p)))
    GTEST_SKIP() << "this CPU has no AVX2: max pooling runs the general loops only";
  const Layout layouts[] = {Layout::NCHW, Layout::NCHW8c, Layout::NCHW16c};
  Generator gen(31);
  for (const Shape& s : std::vector<Shape>{{2, 8, 28, 28},
                                           {1, 16, 3, 5},
                                           {2, 32, 14, 14},
                                           {1, 16, 9, 35},
                                           {1, 16, 7, 34},
                                           {1, 8, 2, 2},
                                           {2, 8, 5, 19},
                                           {1, 8, 7, 34},
                                           {1, 8, 14, 14},
                                           {3, 8, 4, 18},
                                           {1, 8, 6, 12},
                                           {1, 8, 2, 9},
                                           {1, 8, 9, 35}}) {
    const Pool2dGeometry g = pool2d_geometry(s, p);
    ASSERT_TRUE(cpu::pool2d_has_max2x2_path(PoolMode::Max, g));
    const Tensor x = relu_like(s, gen);
    const Shape ys{g.B, g.C, g.P, g.Q};
    auto dyv = normal(ys, 0.0f, 1.0f, gen).to_vector<float>();
    for (std::size_t i = 0; i < dyv.size(); i += 7) dyv[i] = -0.0f;
    dyv[dyv.size() / 2] = std::numeric_limits<float>::quiet_NaN();
    const Tensor dy = from_vector(dyv, ys);
    for (Layout xl : layouts) {
      for (Layout yl : layouts) {
        if (!layout_fits(xl, s[1]) || !layout_fits(yl, s[1])) continue;
        if (xl != Layout::NCHW && yl != Layout::NCHW && xl != yl) continue;  // not allowed
        SCOPED_TRACE(detail::concat(s, " x ", layout_name(xl), " y ", layout_name(yl)));
        Tensor xb, dyb;
        convert_layout(x, Layout::NCHW, xb, xl);
        convert_layout(dy, Layout::NCHW, dyb, yl);
        Tensor y = full(ys, 7.0), y_ref = full(ys, -7.0);
        cpu::pool2d_forward(PoolMode::Max, g, xb.data<float>(), y.data<float>(), xl, yl);
        cpu::pool2d_forward(PoolMode::Max, g, xb.data<float>(), y_ref.data<float>(), xl, yl,
                            /*baseline=*/true);
        EXPECT_TRUE(test::same_bits(y.to_vector<float>(), y_ref.to_vector<float>()));
        for (bool relu : {false, true}) {
          SCOPED_TRACE(relu ? "through the ReLU" : "pooling only");
          Tensor dx = full(s, 7.0), dx_ref = full(s, -7.0);
          cpu::pool2d_backward(PoolMode::Max, g, xb.data<float>(), dyb.data<float>(),
                               dx.data<float>(), xl, yl, relu);
          cpu::pool2d_backward(PoolMode::Max, g, xb.data<float>(), dyb.data<float>(),
                               dx_ref.data<float>(), xl, yl, relu, /*baseline=*/true);
          EXPECT_TRUE(test::same_bits(dx.to_vector<float>(), dx_ref.to_vector<float>()));
          if (relu) {  // = the pooling's backward, then a ReLU's (in any layout: elementwise)
            Tensor pooled, unfused;
            pool2d_backward(PoolMode::Max, xb, dyb, pooled, p, xl, yl);
            activation_backward(Activation::ReLU, pooled, xb, Tensor(), unfused);
            EXPECT_TRUE(test::same_bits(dx.to_vector<float>(), unfused.to_vector<float>()));
          }
        }
      }
    }
  }
}

// pool2d_backward's through_relu in every mode and layout is a ReLU's backward after the
// pooling's, bit for bit (the general loops: average pooling, max pooling 3x3 with padding).
TEST(Pool2d, BackwardThroughReluIsPoolingThenRelu) {
  Generator gen(33);
  const Tensor x = relu_like({2, 16, 9, 9}, gen);
  for (PoolMode mode : {PoolMode::Max, PoolMode::Avg}) {
    for (const Pool2dParams& p : {pp(3, 2, 1), pp(2, 2, 0), pp(3, 1, 1, false)}) {
      for (Layout xl : {Layout::NCHW, Layout::NCHW8c, Layout::NCHW16c}) {
        SCOPED_TRACE(detail::concat(int(mode), " k", p.kernel_h, " s", p.stride_h, " x ",
                                    layout_name(xl)));
        Tensor xb, y, pooled, unfused, fused;
        convert_layout(x, Layout::NCHW, xb, xl);
        pool2d_forward(mode, xb, y, p, xl, Layout::NCHW);
        const Tensor dy = normal(y.shape(), 0.0f, 1.0f, gen);
        pool2d_backward(mode, xb, dy, pooled, p, xl, Layout::NCHW);
        activation_backward(Activation::ReLU, pooled, xb, Tensor(), unfused);
        pool2d_backward(mode, xb, dy, fused, p, xl, Layout::NCHW, /*through_relu=*/true);
        EXPECT_TRUE(test::same_bits(fused.to_vector<float>(), unfused.to_vector<float>()));
      }
    }
  }
}

TEST(Pool2d, GradientsMatchCentralDifferences) {
  Generator gen(9);
  for (PoolMode mode : {PoolMode::Max, PoolMode::Avg}) {
    // Distinct, well-separated values keep max pooling away from its kinks (ties).
    std::vector<float> vals(2 * 2 * 5 * 5);
    for (std::size_t i = 0; i < vals.size(); ++i)
      vals[i] = static_cast<float>((i * 37) % 101) * 0.1f;
    Tensor x = from_vector(vals, {2, 2, 5, 5});
    const Pool2dParams p = pp(3, 2, 1);
    Tensor y;
    pool2d_forward(mode, x, y, p);
    const Tensor r = normal(y.shape(), 0.0f, 1.0f, gen);
    Tensor dx;
    pool2d_backward(mode, x, r, dx, p);
    auto f = [&](const Tensor& t) {
      Tensor out;
      pool2d_forward(mode, t, out, p);
      return test::project(r, out);
    };
    EXPECT_TRUE(
        test::gradients_agree(dx.to_vector<float>(), test::numerical_gradient(f, x, 1e-2f), 2e-3));
  }
}

TEST(Pool2d, BadArgumentsAreClearErrors) {
  MINIDL_EXPECT_THROW_WITH(pool2d_geometry({2, 3, 8}, pp(2, 2, 0), "pool 'p1'"), ShapeError,
                           "pool 'p1'", "NCHW", "[2, 3, 8]");
  MINIDL_EXPECT_THROW_WITH(pool2d_geometry({2, 3, 3, 3}, pp(4, 4, 0)), ShapeError, "larger",
                           "[2, 3, 3, 3]");
  MINIDL_EXPECT_THROW_WITH(pool2d_geometry({2, 3, 8, 8}, pp(2, 2, 2)), ValueError, "half");
  MINIDL_EXPECT_THROW_WITH(pool2d_geometry({2, 3, 8, 8}, pp(0, 1, 0)), ValueError, "kernel");
  // An empty image, even padded to the window's size: the output was left unwritten
  // (found in review).
  Tensor y = full({1, 1, 1, 3}, 7.0);
  MINIDL_EXPECT_THROW_WITH(pool2d_forward(PoolMode::Max, zeros({1, 1, 0, 4}), y, pp(2, 2, 1)),
                           ShapeError, "empty", "[1, 1, 0, 4]");
  MINIDL_EXPECT_THROW_WITH(pool2d_geometry({1, 1, 4, 0}, pp(2, 2, 1)), ShapeError, "empty");
  EXPECT_EQ(pool2d_output_shape({4, 3, 28, 28}, pp(2, 2, 0)), (Shape{4, 3, 14, 14}));
  EXPECT_EQ(pool2d_output_shape({4, 3, 7, 7}, pp(3, 2, 1)), (Shape{4, 3, 4, 4}));
}

}  // namespace
}  // namespace minidl
