// Pooling: geometry checks, dispatch, and the CPU loops (OpenMP over planes)
// over the shared per-element math of kernels/pool2d_math.hpp.
#include "pool2d.hpp"

#include <algorithm>
#include <climits>

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "checks.hpp"
#include "pool2d_math.hpp"

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

void pool2d_forward(PoolMode mode, const Tensor& x, Tensor& y, const Pool2dParams& params) {
  const char* op = mode_name(mode);
  detail::check_float(op, "x", x);
  const Pool2dGeometry g = pool2d_geometry(x.shape(), params, op);
  detail::prepare_output(op, y, Shape{g.B, g.C, g.P, g.Q}, x.device());
  MINIDL_CHECK(y.storage() != x.storage(), ValueError, op, ": y must not share memory with x");
  if (x.numel() == 0) return;
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(
        cuda::pool2d_forward(mode, g, x.data<float>(), y.data<float>(), x.device().index()));
    return;
  }
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const std::int64_t planes = std::int64_t{g.B} * g.C, in_plane = std::int64_t{g.H} * g.W,
                     out_plane = std::int64_t{g.P} * g.Q;
  parallel_for(planes, grain_for(out_plane, 1 << 14),
               [&](std::int64_t pl_begin, std::int64_t pl_end) {
                 for (std::int64_t pl = pl_begin; pl < pl_end; ++pl) {
                   const float* plane = px + pl * in_plane;
                   float* out = py + pl * out_plane;
                   for (int p = 0; p < g.P; ++p)
                     for (int q = 0; q < g.Q; ++q)
                       out[p * g.Q + q] = pool_detail::forward_at(mode, g, plane, p, q);
                 }
               });
}

void pool2d_backward(PoolMode mode, const Tensor& x, const Tensor& dy, Tensor& dx,
                     const Pool2dParams& params) {
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
  if (x.numel() == 0) return;
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::pool2d_backward(mode, g, x.data<float>(), dy.data<float>(),
                                           dx.data<float>(), x.device().index()));
    return;
  }
  const float* px = x.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  const std::int64_t planes = std::int64_t{g.B} * g.C, in_plane = std::int64_t{g.H} * g.W,
                     out_plane = std::int64_t{g.P} * g.Q;
  // A scatter per plane: each window's argmax (or its elements, for the average) is
  // found once and dy added there, windows in (p, q) order. Every dx element thus gets
  // the same sum, in the same order, as the CUDA kernels' gather (backward_at), which
  // recomputes the argmax of every window that contains it.
  parallel_for(planes, grain_for(in_plane, 1 << 14),
               [&](std::int64_t pl_begin, std::int64_t pl_end) {
                 for (std::int64_t pl = pl_begin; pl < pl_end; ++pl) {
                   const float* xp = px + pl * in_plane;
                   const float* dyp = pdy + pl * out_plane;
                   float* out = pdx + pl * in_plane;
                   std::fill(out, out + in_plane, 0.0f);
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
               });
}

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
