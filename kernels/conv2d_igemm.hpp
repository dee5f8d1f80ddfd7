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

// Each Op splits an operand element's index math into the part fixed by its row of A
// (a_row(m)) or its column of B (b_col(n)), which the kernel computes once per thread,
// and the part that moves with k (a(row, k), b(col, k)). a(m, k) and b(k, n) compose the
// two (used by the tests). Rows / columns past M / N are never read.

struct ForwardOp {
  Geo g;
  const float* __restrict__ x;
  const float* __restrict__ w;
  const float* __restrict__ bias;
  float* __restrict__ y;

  struct Row {  // output channel m: w[m, :]
    const float* w;
  };
  struct Col {  // output pixel n = (bb, p, q): sample bb's image, top-left input corner
    const float* x;
    int h0, w0;
  };
  MINIDL_HD Row a_row(int m) const {
    return Row{w + static_cast<std::int64_t>(m) * (g.C * g.R * g.S)};
  }
  MINIDL_HD float a(const Row& row, int k) const { return MINIDL_LDG(row.w + k); }
  MINIDL_HD Col b_col(int n) const {
    const int q = n % g.Q, p = (n / g.Q) % g.P, bb = n / (g.Q * g.P);
    return Col{x + static_cast<std::int64_t>(bb) * g.C * g.H * g.W, p * g.sh - g.pt,
               q * g.sw - g.pl};
  }
  MINIDL_HD float b(const Col& col, int k) const {  // k = (c, r, s)
    const int s = k % g.S, r = (k / g.S) % g.R, c = k / (g.S * g.R);
    const int h = col.h0 + r, wc = col.w0 + s;
    if (h < 0 || h >= g.H || wc < 0 || wc >= g.W) return 0.0f;
    return MINIDL_LDG(col.x + (static_cast<std::int64_t>(c) * g.H + h) * g.W + wc);
  }
  MINIDL_HD float a(int m, int k) const { return a(a_row(m), k); }
  MINIDL_HD float b(int k, int n) const { return b(b_col(n), k); }
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

  struct Row {  // input channel c: w[:, c]
    const float* w;
  };
  struct Col {  // input pixel n = (bb, h, wc): sample bb's gradient, padded coordinates
    const float* dy;
    int ph0, qw0;
  };
  MINIDL_HD Row a_row(int c) const { return Row{w + static_cast<std::int64_t>(c) * g.R * g.S}; }
  MINIDL_HD float a(const Row& row, int k) const {  // k = (mo, r, s)
    const int rs = g.R * g.S, mo = k / rs;
    return MINIDL_LDG(row.w + static_cast<std::int64_t>(mo) * g.C * rs + (k - mo * rs));
  }
  MINIDL_HD Col b_col(int n) const {
    const int wc = n % g.W, h = (n / g.W) % g.H, bb = n / (g.W * g.H);
    return Col{dy + static_cast<std::int64_t>(bb) * g.M * g.P * g.Q, h + g.pt, wc + g.pl};
  }
  MINIDL_HD float b(const Col& col, int k) const {  // k = (mo, r, s)
    const int s = k % g.S, r = (k / g.S) % g.R, mo = k / (g.S * g.R);
    const int ph = col.ph0 - r, qw = col.qw0 - s;
    if (ph < 0 || qw < 0 || ph % g.sh != 0 || qw % g.sw != 0) return 0.0f;
    const int p = ph / g.sh, q = qw / g.sw;
    if (p >= g.P || q >= g.Q) return 0.0f;
    return MINIDL_LDG(col.dy + (static_cast<std::int64_t>(mo) * g.P + p) * g.Q + q);
  }
  MINIDL_HD float a(int c, int k) const { return a(a_row(c), k); }
  MINIDL_HD float b(int k, int n) const { return b(b_col(n), k); }
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

  struct Row {  // output channel mo: dy[0, mo]
    const float* dy;
  };
  struct Col {  // weight n = (c, r, s): x[0, c] and the tap
    const float* x;
    int r, s;
  };
  MINIDL_HD Row a_row(int mo) const {
    return Row{dy + static_cast<std::int64_t>(mo) * g.P * g.Q};
  }
  MINIDL_HD float a(const Row& row, int k) const {  // k = (bb, p, q)
    const int pq = g.P * g.Q, bb = k / pq;
    return MINIDL_LDG(row.dy + static_cast<std::int64_t>(bb) * g.M * pq + (k - bb * pq));
  }
  MINIDL_HD Col b_col(int n) const {
    const int s = n % g.S, r = (n / g.S) % g.R, c = n / (g.S * g.R);
    return Col{x + static_cast<std::int64_t>(c) * g.H * g.W, r, s};
  }
  MINIDL_HD float b(const Col& col, int k) const {  // k = (bb, p, q)
    const int q = k % g.Q, p = (k / g.Q) % g.P, bb = k / (g.Q * g.P);
    const int h = p * g.sh + col.r - g.pt, wc = q * g.sw + col.s - g.pl;
    if (h < 0 || h >= g.H || wc < 0 || wc >= g.W) return 0.0f;
    return MINIDL_LDG(col.x + (static_cast<std::int64_t>(bb) * g.C * g.H + h) * g.W + wc);
  }
  MINIDL_HD float a(int mo, int k) const { return a(a_row(mo), k); }
  MINIDL_HD float b(int k, int n) const { return b(b_col(n), k); }
  MINIDL_HD void store(int z, int m, int n, float v) const {
    const std::int64_t crs = static_cast<std::int64_t>(g.C) * g.R * g.S;
    float* dst = out + (static_cast<std::int64_t>(z) * g.M + m) * crs + n;
    *dst = beta == 0.0f ? v : v + beta * *dst;
  }
};

}  // namespace minidl::igemm
