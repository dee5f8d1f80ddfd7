// The one-pass ("online") softmax normaliser of Milakov & Gimelshein, "Online
// normalizer calculation for softmax" (2018): a running (max m, sum s of e^{x - m})
// pair that takes values one at a time and merges with another pair. Host and
// device: the CUDA block kernels (softmax_rows.cuh: softmax and cross-entropy for
// K > 1024) reduce with it, and the CPU tests run the same functions in the
// kernels' order. Internal; not installed.
//
// -inf inputs (masked logits) are normal input: e^{-inf} = 0 contributes nothing,
// and no step may compute -inf - (-inf). A pair that has seen only -inf values is
// the empty pair {-inf, 0}; merging two empty pairs gives the empty pair. A NaN
// input makes s NaN (as the CPU path), and a row of only -inf values ends empty
// (s = 0): its softmax is 0/0 = NaN, as on the CPU. A +inf input makes s NaN too
// (e^{inf - inf}), in whichever order it comes.
#pragma once

#include <cmath>

#include "../core/macros.hpp"

namespace minidl::cuda_detail {

struct MaxSum {
  float m;
  float s;
};

MINIDL_HD MINIDL_INLINE MaxSum max_sum_empty() { return MaxSum{-INFINITY, 0.0f}; }

/// The pair after one more value x.
MINIDL_HD MINIDL_INLINE MaxSum max_sum_add(MaxSum a, float x) {
  // x's own term is e^{x - x}: 1, or NaN for x = +inf (e^{inf - inf}), as the CPU's
  // e^{x - max} makes a row with a +inf logit NaN whatever the order of the values.
  if (x > a.m) return MaxSum{x, a.s * expf(a.m - x) + expf(x - x)};  // a.m = -inf: 0 * 0 + 1
  if (x == -INFINITY) return a;  // adds e^{-inf} = 0; avoids expf(-inf - -inf) = NaN
  return MaxSum{a.m, a.s + expf(x - a.m)};  // a NaN x makes s NaN, as it should
}

/// The pair of the union of two sets of values.
MINIDL_HD MINIDL_INLINE MaxSum max_sum_merge(MaxSum a, MaxSum b) {
  if (b.s == 0.0f) return a;  // an empty side (m = -inf) must not produce -inf - -inf
  if (a.s == 0.0f) return b;
  const float m = fmaxf(a.m, b.m);
  return MaxSum{m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

/// A soft target's share t (m - z) of the loss sum_k t_k (lse - z_k), written
/// around the row max m: a zero target contributes 0 even where z = -inf (where
/// t (m - z) would be 0 x inf = NaN). A positive target on z = -inf gives +inf.
MINIDL_HD MINIDL_INLINE float soft_target_term(float t, float m, float z) {
  return t == 0.0f ? 0.0f : t * (m - z);
}

}  // namespace minidl::cuda_detail
