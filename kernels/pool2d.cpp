// Pooling: geometry checks, dispatch, and the general CPU loops (parallel_for over planes,
// each in NCHW or a blocked layout) over the shared per-element math of
// kernels/pool2d_math.hpp; max pooling 2x2 at stride 2 has AVX2 kernels of its own
// (kernels/pool2d_max2x2.cpp).
#include "pool2d.hpp"

#include <algorithm>
#include <climits>
#include <vector>

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "checks.hpp"
#include "functors.hpp"
#include "pool2d_math.hpp"
#include "pool2d_max2x2.hpp"

namespace minidl {

Pool2dGeometry pool2d_geometry(const Shape& x, const Pool2dParams& p, const std::string& who) {
  MINIDL_CHECK(x.rank() == 4, ShapeError, who,
               ": input must be [batch, channels, height, width] (NCHW), got ", x);
  MINIDL_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1, ValueError, who, ": kernel must be >= 1, got ",
               p.kernel_h, "x", p.kernel_w);
  MINIDL_CHECK(p.stride_h >= 0 && p.stride_w >= 0, ValueError, who,
               ": stride must be >= 1 (0 = the kernel size), got ", p.stride_h, "x", p.stride_w);
  MINIDL_CHECK(
      p.pad_h >= 0 && p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w,
      ValueError, who, ": padding ", p.pad_h, "x", p.pad_w,
      " must be between 0 and half the kernel ", p.kernel_h, "x", p.kernel_w);
  const std::int64_t sh = p.stride_h == 0 ? p.kernel_h : p.stride_h;
  const std::int64_t sw = p.stride_w == 0 ? p.kernel_w : p.stride_w;
  // An empty image has no window to pool, padded or not (PyTorch refuses it too); a
  // padded one passed the size test and its output was never written (found in review).
  MINIDL_CHECK(x[2] >= 1 && x[3] >= 1, ShapeError, who, ": the image is empty: input ", x);
  MINIDL_CHECK(x[2] + 2 * p.pad_h >= p.kernel_h && x[3] + 2 * p.pad_w >= p.kernel_w, ShapeError,
               who, ": window ", p.kernel_h, "x", p.kernel_w, " is larger than the input ", x,
               " padded by ", p.pad_h, "x", p.pad_w);
  MINIDL_CHECK(x.numel() < INT_MAX, ShapeError, who, ": input ", x, " exceeds 2^31 elements");
  auto i = [](std::int64_t v) { return static_cast<int>(v); };
  Pool2dGeometry g;
  g.B = i(x[0]);
  g.C = i(x[1]);
  g.H = i(x[2]);
  g.W = i(x[3]);
  g.kh = i(p.kernel_h);
  g.kw = i(p.kernel_w);
  g.sh = i(sh);
  g.sw = i(sw);
  g.ph = i(p.pad_h);
  g.pw = i(p.pad_w);
  g.P = i((x[2] + 2 * p.pad_h - p.kernel_h) / sh + 1);
  g.Q = i((x[3] + 2 * p.pad_w - p.kernel_w) / sw + 1);
  g.count_include_pad = p.count_include_pad;
  return g;
}

Shape pool2d_output_shape(const Shape& x, const Pool2dParams& params, const std::string& who) {
  const Pool2dGeometry g = pool2d_geometry(x, params, who);
  return Shape{g.B, g.C, g.P, g.Q};
}

namespace {
const char* mode_name(PoolMode m) { return m == PoolMode::Max ? "max_pool2d" : "avg_pool2d"; }
}  // namespace

namespace {

// Where plane (n, c) of a [B, C, H, W] tensor in `layout` lives: its first element and the
// distance between consecutive elements (kernels/layout.hpp).
struct PlaneView {
  std::int64_t offset, stride;
};

PlaneView plane_view(Layout layout, std::int64_t plane, std::int64_t C, std::int64_t HW) {
  if (layout == Layout::NCHW) return {plane * HW, 1};
  const std::int64_t L = channel_block(layout);
  const std::int64_t n = plane / C, c = plane % C;
  return {((n * (C / L) + c / L) * HW) * L + c % L, L};
}

void gather(const float* src, PlaneView v, std::int64_t count, float* out) {
  for (std::int64_t i = 0; i < count; ++i) out[i] = src[v.offset + i * v.stride];
}

void scatter(const float* in, std::int64_t count, float* dst, PlaneView v) {
  for (std::int64_t i = 0; i < count; ++i) dst[v.offset + i * v.stride] = in[i];
}

void forward_plane(PoolMode mode, const Pool2dGeometry& g, const float* plane, float* out) {
  for (int p = 0; p < g.P; ++p)
    for (int q = 0; q < g.Q; ++q) out[p * g.Q + q] = pool_detail::forward_at(mode, g, plane, p, q);
}

// A scatter per plane: each window's argmax (or its elements, for the average) is
// found once and dy added there, windows in (p, q) order. Every dx element thus gets
// the same sum, in the same order, as the CUDA kernels' gather (backward_at), which
// recomputes the argmax of every window that contains it.
void backward_plane(PoolMode mode, const Pool2dGeometry& g, const float* xp, const float* dyp,
                    float* out) {
  std::fill(out, out + std::int64_t{g.H} * g.W, 0.0f);
  for (int p = 0; p < g.P; ++p) {
    for (int q = 0; q < g.Q; ++q) {
      const float d = dyp[p * g.Q + q];
      if (mode == PoolMode::Max) {
        out[pool_detail::window_argmax(g, xp, p, q)] += d;
        continue;
      }
      const float v = d / pool_detail::window_divisor(g, p, q);
      const int h0 = p * g.sh - g.ph, w0 = q * g.sw - g.pw;
      const int h_hi = std::min(h0 + g.kh, g.H), w_hi = std::min(w0 + g.kw, g.W);
      for (int h = std::max(h0, 0); h < h_hi; ++h)
        for (int w = std::max(w0, 0); w < w_hi; ++w) out[h * g.W + w] += v;
    }
  }
}

// Max pooling of a channel-blocked x: the L channels (8 or 16) of one (sample, channel
// block) group side by side, lane c = channel L cb + c, so each window step is one L-wide
// compare and select over contiguous floats. x's group is [H W, L]; y's (or dy's) is
// [P Q, L] when YBlocked (the same block), else L planes of P Q (NCHW: the group's channels
// are consecutive planes). Each lane runs window_argmax's rule: the first maximum in
// row-major window order, and the first NaN wins for good. Backward (dx != nullptr) adds dy
// of each window at its winner, windows in (p, q) order: the same sums in the same order as
// the NCHW loops, so the same bits.
template <int L, bool YBlocked>
void max_group(const Pool2dGeometry& g, const float* x, const float* dy, float* y, float* dx) {
  const std::int64_t out_plane = std::int64_t{g.P} * g.Q;
  const std::int64_t yc = YBlocked ? 1 : out_plane, ye = YBlocked ? L : 1;
  if (dx != nullptr) std::fill(dx, dx + std::int64_t{g.H} * g.W * L, 0.0f);
  for (int p = 0; p < g.P; ++p) {
    for (int q = 0; q < g.Q; ++q) {
      const int h0 = p * g.sh - g.ph, w0 = q * g.sw - g.pw;
      const int h_lo = std::max(h0, 0), h_hi = std::min(h0 + g.kh, g.H);
      const int w_lo = std::max(w0, 0), w_hi = std::min(w0 + g.kw, g.W);
      const int first = h_lo * g.W + w_lo;
      float best[L];
      std::int32_t at[L];
      for (int c = 0; c < L; ++c) {
        best[c] = x[std::int64_t{first} * L + c];
        at[c] = first;
      }
      for (int h = h_lo; h < h_hi; ++h) {
        for (int w = w_lo; w < w_hi; ++w) {
          const std::int32_t pos = h * g.W + w;
          const float* v = x + std::int64_t{pos} * L;
#pragma omp simd
          for (int c = 0; c < L; ++c) {
            const bool take = (best[c] == best[c]) & ((v[c] != v[c]) | (v[c] > best[c]));
            best[c] = take ? v[c] : best[c];
            at[c] = take ? pos : at[c];
          }
        }
      }
      const std::int64_t out = std::int64_t{p} * g.Q + q;
      if (dx == nullptr) {
        for (int c = 0; c < L; ++c) y[c * yc + out * ye] = best[c];
      } else {
        for (int c = 0; c < L; ++c) dx[std::int64_t{at[c]} * L + c] += dy[c * yc + out * ye];
      }
    }
  }
}

// Max pooling with x in a blocked layout (y or dy in the same one or NCHW): max_group over
// every (sample, channel block) group, which starts at (n C + L cb) times the plane size in
// either layout.
template <int L>
void max_blocked_x(const Pool2dGeometry& g, Layout y_layout, const float* x, const float* dy,
                   float* y, float* dx) {
  const std::int64_t groups = std::int64_t{g.B} * g.C / L;
  const std::int64_t in_group = std::int64_t{g.H} * g.W * L,
                     out_group = std::int64_t{g.P} * g.Q * L;
  const bool yb = y_layout != Layout::NCHW;
  parallel_for(groups, grain_for(in_group, 1 << 15), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t k = begin; k < end; ++k) {
      const float* xg = x + k * in_group;
      const float* dyg = dy != nullptr ? dy + k * out_group : nullptr;
      float* yg = y != nullptr ? y + k * out_group : nullptr;
      float* dxg = dx != nullptr ? dx + k * in_group : nullptr;
      if (yb) {
        max_group<L, true>(g, xg, dyg, yg, dxg);
      } else {
        max_group<L, false>(g, xg, dyg, yg, dxg);
      }
    }
  });
}

void max_blocked_x(const Pool2dGeometry& g, Layout x_layout, Layout y_layout, const float* x,
                   const float* dy, float* y, float* dx) {
  if (x_layout == Layout::NCHW16c) {
    max_blocked_x<16>(g, y_layout, x, dy, y, dx);
  } else {
    max_blocked_x<8>(g, y_layout, x, dy, y, dx);
  }
}

// x and y (or dy) may be in different layouts, but not in two different blocked ones.
void check_blocked_pair(const char* op, const char* y_name, Layout x_layout, Layout y_layout) {
  MINIDL_CHECK(x_layout == Layout::NCHW || y_layout == Layout::NCHW || x_layout == y_layout,
               ValueError, op, ": x in ", layout_name(x_layout), " and ", y_name, " in ",
               layout_name(y_layout), ": two different blocked layouts (convert one first)");
}

}  // namespace

void pool2d_forward(PoolMode mode, const Tensor& x, Tensor& y, const Pool2dParams& params,
                    Layout x_layout, Layout y_layout) {
  const char* op = mode_name(mode);
  detail::check_float(op, "x", x);
  const Pool2dGeometry g = pool2d_geometry(x.shape(), params, op);
  detail::prepare_output(op, y, Shape{g.B, g.C, g.P, g.Q}, x.device());
  MINIDL_CHECK(y.storage() != x.storage(), ValueError, op, ": y must not share memory with x");
  check_layout(op, "x", x, x_layout);
  check_layout(op, "y", y, y_layout);
  check_blocked_pair(op, "y", x_layout, y_layout);
  if (x.numel() == 0) return;
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(
        cuda::pool2d_forward(mode, g, x.data<float>(), y.data<float>(), x.device().index()));
    return;
  }
  cpu::pool2d_forward(mode, g, x.data<float>(), y.data<float>(), x_layout, y_layout);
}

void pool2d_backward(PoolMode mode, const Tensor& x, const Tensor& dy, Tensor& dx,
                     const Pool2dParams& params, Layout x_layout, Layout y_layout,
                     bool through_relu) {
  const std::string name = std::string(mode_name(mode)) + "_backward";
  const char* op = name.c_str();
  detail::check_float(op, "x", x);
  detail::check_float(op, "dy", dy);
  detail::check_same_device(op, "x", x, "dy", dy);
  const Pool2dGeometry g = pool2d_geometry(x.shape(), params, op);
  MINIDL_CHECK(dy.shape() == (Shape{g.B, g.C, g.P, g.Q}), ShapeError, op, ": dy ", dy.shape(),
               " is not the output shape of input ", x.shape());
  detail::prepare_output(op, dx, x.shape(), x.device());
  MINIDL_CHECK(dx.storage() != dy.storage() && dx.storage() != x.storage(), ValueError, op,
               ": dx must not share memory with x or dy");
  check_layout(op, "x", x, x_layout);
  check_layout(op, "dy", dy, y_layout);
  check_blocked_pair(op, "dy", x_layout, y_layout);
  if (x.numel() == 0) return;
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::pool2d_backward(mode, g, x.data<float>(), dy.data<float>(),
                                           dx.data<float>(), through_relu, x.device().index()));
    return;
  }
  cpu::pool2d_backward(mode, g, x.data<float>(), dy.data<float>(), dx.data<float>(), x_layout,
                       y_layout, through_relu);
}

namespace cpu {

bool pool2d_has_max2x2_path(PoolMode mode, const Pool2dGeometry& g) {
  return mode == PoolMode::Max && pool_detail::max2x2_applies(g);
}

void pool2d_forward(PoolMode mode, const Pool2dGeometry& g, const float* px, float* py,
                    Layout x_layout, Layout y_layout, bool baseline) {
  if (!baseline && pool2d_has_max2x2_path(mode, g)) {
    pool_detail::max2x2_forward(g, x_layout, y_layout, px, py);
    return;
  }
  const std::int64_t planes = std::int64_t{g.B} * g.C, in_plane = std::int64_t{g.H} * g.W,
                     out_plane = std::int64_t{g.P} * g.Q;
  if (mode == PoolMode::Max && x_layout != Layout::NCHW) {
    max_blocked_x(g, x_layout, y_layout, px, nullptr, py, nullptr);
    return;
  }
  // Otherwise, with a blocked operand (average pooling; max pooling of an NCHW x into a
  // blocked y): planes of a blocked tensor are gathered into (and outputs scattered from)
  // contiguous buffers, so every layout runs the same per-plane math, with the same bits.
  parallel_for(planes, grain_for(out_plane, 1 << 14),
               [&](std::int64_t pl_begin, std::int64_t pl_end) {
                 std::vector<float> xbuf, ybuf;
                 if (x_layout != Layout::NCHW) xbuf.resize(static_cast<std::size_t>(in_plane));
                 if (y_layout != Layout::NCHW) ybuf.resize(static_cast<std::size_t>(out_plane));
                 for (std::int64_t pl = pl_begin; pl < pl_end; ++pl) {
                   const float* xp = px + pl * in_plane;
                   if (x_layout != Layout::NCHW) {
                     gather(px, plane_view(x_layout, pl, g.C, in_plane), in_plane, xbuf.data());
                     xp = xbuf.data();
                   }
                   float* yp = y_layout == Layout::NCHW ? py + pl * out_plane : ybuf.data();
                   forward_plane(mode, g, xp, yp);
                   if (y_layout != Layout::NCHW)
                     scatter(yp, out_plane, py, plane_view(y_layout, pl, g.C, out_plane));
                 }
               });
}

void pool2d_backward(PoolMode mode, const Pool2dGeometry& g, const float* px, const float* pdy,
                     float* pdx, Layout x_layout, Layout y_layout, bool through_relu,
                     bool baseline) {
  if (!baseline && pool2d_has_max2x2_path(mode, g)) {
    pool_detail::max2x2_backward(g, x_layout, y_layout, px, pdy, pdx, through_relu);
    return;
  }
  const std::int64_t planes = std::int64_t{g.B} * g.C, in_plane = std::int64_t{g.H} * g.W,
                     out_plane = std::int64_t{g.P} * g.Q;
  if (mode == PoolMode::Max && x_layout != Layout::NCHW) {
    max_blocked_x(g, x_layout, y_layout, px, pdy, nullptr, pdx);
  } else {
    parallel_for(planes, grain_for(in_plane, 1 << 14),
                 [&](std::int64_t pl_begin, std::int64_t pl_end) {
                   // x blocked here means average pooling, which reads no x.
                   std::vector<float> dybuf, dxbuf;
                   if (y_layout != Layout::NCHW) dybuf.resize(static_cast<std::size_t>(out_plane));
                   if (x_layout != Layout::NCHW) dxbuf.resize(static_cast<std::size_t>(in_plane));
                   for (std::int64_t pl = pl_begin; pl < pl_end; ++pl) {
                     const float* dyp = pdy + pl * out_plane;
                     if (y_layout != Layout::NCHW) {
                       gather(pdy, plane_view(y_layout, pl, g.C, out_plane), out_plane,
                              dybuf.data());
                       dyp = dybuf.data();
                     }
                     const bool x_plain = x_layout == Layout::NCHW;
                     float* dxp = x_plain ? pdx + pl * in_plane : dxbuf.data();
                     backward_plane(mode, g, x_plain ? px + pl * in_plane : nullptr, dyp, dxp);
                     if (!x_plain)
                       scatter(dxp, in_plane, pdx, plane_view(x_layout, pl, g.C, in_plane));
                   }
                 });
  }
  if (through_relu) {
    // The ReLU's backward as its own pass: elementwise, so in any layout (x and dx share it).
    const fn::ReluBackward relu;
    parallel_for(planes * in_plane, 1 << 16, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) pdx[i] = relu(pdx[i], px[i]);
    });
  }
}

}  // namespace cpu

Tensor max_pool2d(const Tensor& x, const Pool2dParams& params) {
  Tensor y;
  pool2d_forward(PoolMode::Max, x, y, params);
  return y;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& params) {
  Tensor y;
  pool2d_forward(PoolMode::Avg, x, y, params);
  return y;
}

}  // namespace minidl
