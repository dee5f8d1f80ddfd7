// The elementwise math of minidl, written once. Every functor here is called by
// the CPU loop (kernels/elementwise_cpu.hpp) and by the CUDA kernel
// (kernels/elementwise.cuh) alike, so the two devices cannot drift apart.
//
// Conventions:
//  - NaN in gives NaN out: comparisons are arranged so a NaN input falls through
//    to an arithmetic path (ReLU(NaN) is NaN, not 0). The step function's gradient
//    is the exception: it is zero by definition.
//  - Kinks: ReLU's derivative at exactly z = 0 is 0 (the subgradient minidl picks,
//    as PyTorch does); the hinge loss's derivative at exactly y z = 1 is 0.
#pragma once

#include <cmath>

#include "../core/macros.hpp"

namespace minidl::fn {

// ---- exp and tanh that vectorise ---------------------------------------------------
// glibc's expf / tanhf are scalar calls the CPU loops cannot vectorise without
// -ffast-math (which would also break NaN handling). These are the Cephes
// single-precision algorithms (S. Moshier, Cephes Math Library: expf.c, tanhf.c;
// about 1-2 ulp): Cody-Waite range reduction plus a degree-6 polynomial for exp,
// an odd polynomial near 0 and 1 - 2 / (e^{2|z|} + 1) elsewhere for tanh. Every
// step is a select or arithmetic, so the same code vectorises on the CPU and
// runs as is on the GPU. NaN propagates; overflow gives inf, underflow 0.

/// 2^n for an integer-valued float n in [-126, 127], built from its exponent bits.
MINIDL_HD MINIDL_INLINE float exp2_int(float n) {
  const int bits = (static_cast<int>(n) + 127) << 23;
#if defined(__CUDA_ARCH__)
  return __int_as_float(bits);
#else
  float f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

MINIDL_HD MINIDL_INLINE float exp_poly(float x) {
  // Selects are single-level and sequential so the vectoriser can if-convert them.
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kC1 = 0.693359375f;  // ln 2, split so n * kC1 is exact
  constexpr float kC2 = -2.12194440e-4f;
  float xc = x > 88.8f ? 88.8f : x;  // a NaN x passes through both
  xc = xc < -103.9f ? -103.9f : xc;
  float t = xc * kLog2e + 0.5f;
  t = t == t ? t : 0.0f;  // NaN: any n will do, r carries the NaN
  float n = static_cast<float>(static_cast<int>(t));
  n = n > t ? n - 1.0f : n;  // floor(x log2 e + 1/2)
  const float r = (xc - n * kC1) - n * kC2;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  // 2^n in two halves keeps each factor a normal float for n in [-150, 128].
  const float half = static_cast<float>(static_cast<int>(n * 0.5f));
  float e = y * exp2_int(half) * exp2_int(n - half);
  e = x > 88.8f ? INFINITY : e;
  e = x < -103.9f ? 0.0f : e;
  return e;
}

MINIDL_HD MINIDL_INLINE float tanh_poly(float x) {
  const float a = fabsf(x);
  const float z = x * x;
  const float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                        1.33314422036e-1f) *
                           z -
                       3.33332819422e-1f) *
                          z * x +
                      x;
  const float e = exp_poly(2.0f * (a > 44.0f ? 44.0f : a));
  float result = copysignf(1.0f - 2.0f / (e + 1.0f), x);
  result = a == a ? result : x;  // NaN
  result = a < 0.625f ? small : result;
  return result;
}

// ---- activations: forward y = f(z) -----------------------------------------------

struct ReluForward {
  MINIDL_HD MINIDL_INLINE float operator()(float z) const { return z <= 0.0f ? 0.0f : z; }
};
/// max(0, z)' = 1 for z > 0, 0 for z <= 0 (NaN z gives NaN).
struct ReluBackward {
  MINIDL_HD MINIDL_INLINE float operator()(float dy, float z) const {
    return z > 0.0f ? dy : (z <= 0.0f ? 0.0f : z);
  }
};

struct LeakyReluForward {
  float alpha;
  MINIDL_HD MINIDL_INLINE float operator()(float z) const {
    const float scaled = alpha * z;  // computed unconditionally so the select vectorises
    return z > 0.0f ? z : scaled;
  }
};
struct LeakyReluBackward {
  float alpha;
  MINIDL_HD MINIDL_INLINE float operator()(float dy, float z) const {
    const float scaled = alpha * dy;
    return z > 0.0f ? dy : (z <= 0.0f ? scaled : z);
  }
};

/// 1 / (1 + e^-z) from e = e^{-|z|} <= 1, which cannot overflow: 1 / (1 + e) for
/// z >= 0 and e / (1 + e) below. A NaN z makes e, and so the result, NaN.
MINIDL_HD MINIDL_INLINE float sigmoid(float z) {
  const float e = exp_poly(-fabsf(z));
  const float s = 1.0f / (1.0f + e);
  return z >= 0.0f ? s : e * s;
}
struct SigmoidForward {
  MINIDL_HD MINIDL_INLINE float operator()(float z) const { return sigmoid(z); }
};
/// From the saved output y = sigmoid(z): dz = dy * y * (1 - y).
struct SigmoidBackward {
  MINIDL_HD MINIDL_INLINE float operator()(float dy, float y) const { return dy * y * (1.0f - y); }
};

struct TanhForward {
  MINIDL_HD MINIDL_INLINE float operator()(float z) const { return tanh_poly(z); }
};
/// From the saved output y = tanh(z): dz = dy * (1 - y^2).
struct TanhBackward {
  MINIDL_HD MINIDL_INLINE float operator()(float dy, float y) const { return dy * (1.0f - y * y); }
};

/// Hard threshold: 1 for z >= 0, 0 for z < 0. Not trainable through: its
/// derivative is 0 wherever it exists.
struct StepForward {
  MINIDL_HD MINIDL_INLINE float operator()(float z) const {
    return z >= 0.0f ? 1.0f : (z < 0.0f ? 0.0f : z);
  }
};
struct StepBackward {
  MINIDL_HD MINIDL_INLINE float operator()(float, float) const { return 0.0f; }
};

// ---- arithmetic ------------------------------------------------------------------

struct Add {
  MINIDL_HD MINIDL_INLINE float operator()(float a, float b) const { return a + b; }
};
struct Sub {
  MINIDL_HD MINIDL_INLINE float operator()(float a, float b) const { return a - b; }
};
struct Mul {
  MINIDL_HD MINIDL_INLINE float operator()(float a, float b) const { return a * b; }
};
struct Scale {
  float alpha;
  MINIDL_HD MINIDL_INLINE float operator()(float a) const { return alpha * a; }
};
/// y <- alpha * x + y, with one rounding (fmaf) on both devices.
struct Axpy {
  float alpha;
  MINIDL_HD MINIDL_INLINE float operator()(float x, float y) const { return fmaf(alpha, x, y); }
};

// ---- elementwise losses: value and derivative with respect to the prediction ----
// Each returns the loss of one element and writes d loss / d z to *grad.

/// Binary cross-entropy on a logit: ln(1 + e^z) - y z, as max(z, 0) - y z + ln(1 + e^-|z|)
/// (finite for any finite z); derivative sigmoid(z) - y.
struct BceWithLogits {
  MINIDL_HD MINIDL_INLINE float operator()(float z, float y, float* grad) const {
    *grad = sigmoid(z) - y;
    return fmaxf(z, 0.0f) - y * z + log1pf(expf(-fabsf(z)));
  }
};

/// (z - y)^2; derivative 2 (z - y).
struct SquaredError {
  MINIDL_HD MINIDL_INLINE float operator()(float z, float y, float* grad) const {
    const float d = z - y;
    *grad = 2.0f * d;
    return d * d;
  }
};

/// max(0, 1 - y z) for y in {-1, +1}; subgradient -y where y z < 1, else 0.
struct Hinge {
  MINIDL_HD MINIDL_INLINE float operator()(float z, float y, float* grad) const {
    const float margin = 1.0f - y * z;
    *grad = margin > 0.0f ? -y : (margin <= 0.0f ? 0.0f : margin);
    return margin > 0.0f ? margin : (margin <= 0.0f ? 0.0f : margin);
  }
};

}  // namespace minidl::fn
