// Per-element pooling math shared by the CPU loops and the CUDA kernels
// (internal; not installed). One output element (forward) or one input element
// (backward, a gather over the windows that contain it) per call.
#pragma once

#include <cstdint>

#include "../core/macros.hpp"
#include "pool2d.hpp"

namespace minidl::pool_detail {

MINIDL_HD MINIDL_INLINE int imax(int a, int b) { return a > b ? a : b; }
MINIDL_HD MINIDL_INLINE int imin(int a, int b) { return a < b ? a : b; }

/// Index (h * W + w) of the first maximum of window (p, q) in plane x [H, W];
/// a NaN wins at once (it propagates).
MINIDL_HD MINIDL_INLINE int window_argmax(const Pool2dGeometry& g, const float* plane, int p,
                                          int q) {
  const int h0 = p * g.sh - g.ph, w0 = q * g.sw - g.pw;
  const int h_lo = imax(h0, 0), h_hi = imin(h0 + g.kh, g.H);
  const int w_lo = imax(w0, 0), w_hi = imin(w0 + g.kw, g.W);
  int best = h_lo * g.W + w_lo;
  float best_v = plane[best];
  for (int h = h_lo; h < h_hi; ++h) {
    for (int w = w_lo; w < w_hi; ++w) {
      const float v = plane[h * g.W + w];
      if (v != v) return h * g.W + w;  // NaN
      if (v > best_v) {
        best_v = v;
        best = h * g.W + w;
      }
    }
  }
  return best;
}

/// The averaging divisor of window (p, q).
MINIDL_HD MINIDL_INLINE float window_divisor(const Pool2dGeometry& g, int p, int q) {
  if (g.count_include_pad) return static_cast<float>(g.kh * g.kw);
  const int h0 = p * g.sh - g.ph, w0 = q * g.sw - g.pw;
  const int hs = imin(h0 + g.kh, g.H) - imax(h0, 0), ws = imin(w0 + g.kw, g.W) - imax(w0, 0);
  return static_cast<float>(hs * ws);
}

/// y[p, q] of one plane.
MINIDL_HD MINIDL_INLINE float forward_at(PoolMode mode, const Pool2dGeometry& g, const float* plane,
                                         int p, int q) {
  if (mode == PoolMode::Max) return plane[window_argmax(g, plane, p, q)];
  const int h0 = p * g.sh - g.ph, w0 = q * g.sw - g.pw;
  const int h_lo = imax(h0, 0), h_hi = imin(h0 + g.kh, g.H);
  const int w_lo = imax(w0, 0), w_hi = imin(w0 + g.kw, g.W);
  float s = 0.0f;
  for (int h = h_lo; h < h_hi; ++h)
    for (int w = w_lo; w < w_hi; ++w) s += plane[h * g.W + w];
  return s / window_divisor(g, p, q);
}

/// dx[h, w] of one plane: the sum over the windows containing (h, w), in window order.
MINIDL_HD MINIDL_INLINE float backward_at(PoolMode mode, const Pool2dGeometry& g,
                                          const float* x_plane, const float* dy_plane, int h,
                                          int w) {
  // Windows p with p*sh - ph <= h <= p*sh - ph + kh - 1.
  const int hp = h + g.ph, wp = w + g.pw;
  const int p_lo = hp - g.kh + 1 <= 0 ? 0 : (hp - g.kh + 1 + g.sh - 1) / g.sh;
  const int p_hi = imin(hp / g.sh, g.P - 1);
  const int q_lo = wp - g.kw + 1 <= 0 ? 0 : (wp - g.kw + 1 + g.sw - 1) / g.sw;
  const int q_hi = imin(wp / g.sw, g.Q - 1);
  float s = 0.0f;
  for (int p = p_lo; p <= p_hi; ++p) {
    for (int q = q_lo; q <= q_hi; ++q) {
      const float d = dy_plane[p * g.Q + q];
      if (mode == PoolMode::Max) {
        if (window_argmax(g, x_plane, p, q) == h * g.W + w) s += d;
      } else {
        s += d / window_divisor(g, p, q);
      }
    }
  }
  return s;
}

}  // namespace minidl::pool_detail
