// The operand gathers of minidl's own CUDA convolution (kernels/conv2d_cuda.cu;
// internal, not installed): each pass is one implicit GEMM C = A B whose A and B
// elements are read straight from the NCHW tensors and whose C elements are stored
// into the output tensor. The functions are host + device so that a CPU test
// (tests/kernels/conv2d_igemm_test.cpp) checks this index math against the CPU
// convolution on a machine without a GPU; the tiled kernel around them is plain GEMM.
//
//   ForwardOp        M = C_out, N = B*P*Q, K = C_in*K1*K2: A = w, B = x at
//                    (p*s + r - pad) (the im2col column), store y (+ bias).
//   BackwardDataOp   M = C_in,  N = B*H*W, K = C_out*K1*K2: A = w^T, B = dy at
//                    p = (h + pad - r) / s where that divides exactly and is in
//                    range (the transposed convolution), store dx.
//   BackwardFilterOp M = C_out, N = C_in*K1*K2, K = B*P*Q: A = dy, B = x's im2col
//                    rows, store dw (beta 0 or 1) or split z's partial sums.
#pragma once

#include <cstdint>

#include "../core/error.hpp"
#include "../core/macros.hpp"
#include "conv2d.hpp"

// A read-only load: through the read-only data cache on the device.
#if defined(__CUDA_ARCH__)
#define MINIDL_LDG(p) __ldg(p)
#else
#define MINIDL_LDG(p) (*(p))
#endif

namespace minidl::igemm {

struct Geo {  // the geometry in 32-bit ints (checked on the host)
  int B, C, H, W, M, R, S, P, Q, sh, sw, pt, pl;
};

inline Geo to_geo(const Conv2dGeometry& g) {
  const std::int64_t limit = std::int64_t{1} << 31;
  MINIDL_CHECK(g.batch * g.in_channels * g.height * g.width < limit &&
                   g.batch * g.out_channels * g.out_h * g.out_w < limit,
               ShapeError,
               "conv2d (own CUDA kernel): tensors above 2^31 elements are not supported");
  auto i = [](std::int64_t v) { return static_cast<int>(v); };
  return Geo{i(g.batch),    i(g.in_channels), i(g.height),  i(g.width), i(g.out_channels),
             i(g.kernel_h), i(g.kernel_w),    i(g.out_h),   i(g.out_w), i(g.stride_h),
             i(g.stride_w), i(g.pad_top),     i(g.pad_left)};
}

struct ForwardOp {
  Geo g;
  const float* __restrict__ x;
  const float* __restrict__ w;
  const float* __restrict__ bias;
  float* __restrict__ y;
  MINIDL_HD float a(int m, int k) const {
    return MINIDL_LDG(w + static_cast<std::int64_t>(m) * (g.C * g.R * g.S) + k);
  }
  MINIDL_HD float b(int k, int n) const {
    const int s = k % g.S, r = (k / g.S) % g.R, c = k / (g.S * g.R);
    const int q = n % g.Q, p = (n / g.Q) % g.P, bb = n / (g.Q * g.P);
    const int h = p * g.sh + r - g.pt, wc = q * g.sw + s - g.pl;
    if (h < 0 || h >= g.H || wc < 0 || wc >= g.W) return 0.0f;
    return MINIDL_LDG(x + ((static_cast<std::int64_t>(bb) * g.C + c) * g.H + h) * g.W + wc);
  }
  MINIDL_HD void store(int, int m, int n, float v) const {
    const int q = n % g.Q, p = (n / g.Q) % g.P, bb = n / (g.Q * g.P);
    if (bias != nullptr) v += MINIDL_LDG(bias + m);
    y[((static_cast<std::int64_t>(bb) * g.M + m) * g.P + p) * g.Q + q] = v;
  }
};

struct BackwardDataOp {
  Geo g;
  const float* __restrict__ dy;
  const float* __restrict__ w;
  float* __restrict__ dx;
  MINIDL_HD float a(int c, int k) const {  // k = (mo, r, s)
    const int s = k % g.S, r = (k / g.S) % g.R, mo = k / (g.S * g.R);
    return MINIDL_LDG(w + ((static_cast<std::int64_t>(mo) * g.C + c) * g.R + r) * g.S + s);
  }
  MINIDL_HD float b(int k, int n) const {
    const int s = k % g.S, r = (k / g.S) % g.R, mo = k / (g.S * g.R);
    const int wc = n % g.W, h = (n / g.W) % g.H, bb = n / (g.W * g.H);
    const int ph = h + g.pt - r, qw = wc + g.pl - s;
    if (ph < 0 || qw < 0 || ph % g.sh != 0 || qw % g.sw != 0) return 0.0f;
    const int p = ph / g.sh, q = qw / g.sw;
    if (p >= g.P || q >= g.Q) return 0.0f;
    return MINIDL_LDG(dy + ((static_cast<std::int64_t>(bb) * g.M + mo) * g.P + p) * g.Q + q);
  }
  MINIDL_HD void store(int, int c, int n, float v) const {
    const int wc = n % g.W, h = (n / g.W) % g.H, bb = n / (g.W * g.H);
    dx[((static_cast<std::int64_t>(bb) * g.C + c) * g.H + h) * g.W + wc] = v;
  }
};

struct BackwardFilterOp {
  Geo g;
  const float* __restrict__ x;
  const float* __restrict__ dy;
  float* __restrict__ out;  // [splits, M, C*R*S] partials, or dw itself when not split
  float beta;               // applied only when writing dw directly
  MINIDL_HD float a(int mo, int k) const {  // k = (b, p, q)
    const int q = k % g.Q, p = (k / g.Q) % g.P, bb = k / (g.Q * g.P);
    return MINIDL_LDG(dy + ((static_cast<std::int64_t>(bb) * g.M + mo) * g.P + p) * g.Q + q);
  }
  MINIDL_HD float b(int k, int n) const {  // n = (c, r, s)
    const int q = k % g.Q, p = (k / g.Q) % g.P, bb = k / (g.Q * g.P);
    const int s = n % g.S, r = (n / g.S) % g.R, c = n / (g.S * g.R);
    const int h = p * g.sh + r - g.pt, wc = q * g.sw + s - g.pl;
    if (h < 0 || h >= g.H || wc < 0 || wc >= g.W) return 0.0f;
    return MINIDL_LDG(x + ((static_cast<std::int64_t>(bb) * g.C + c) * g.H + h) * g.W + wc);
  }
  MINIDL_HD void store(int z, int m, int n, float v) const {
    const std::int64_t crs = static_cast<std::int64_t>(g.C) * g.R * g.S;
    float* dst = out + (static_cast<std::int64_t>(z) * g.M + m) * crs + n;
    *dst = beta == 0.0f ? v : v + beta * *dst;
  }
};

}  // namespace minidl::igemm
