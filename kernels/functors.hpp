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
// -ffast-math (which would also break NaN handling). exp here is the Cephes
// single-precision algorithm (S. Moshier, Cephes Math Library, expf.c: Cody-Waite
// range reduction, a degree-6 polynomial; about 1 ulp); sigmoid and tanh are built
// on its reduced form (within 2.5 ulp; tests/kernels/activation_test.cpp). NaN
// propagates; overflow gives inf, underflow 0 (through subnormals).
//
// Written for the vectoriser (the CPU loop runs 4 lanes on SSE2, 8 on AVX2+FMA,
// kernels/elementwise_cpu.hpp), where the cost is the number of vector operations:
//  - straight-line arithmetic, then a select on the result for each out-of-range
//    end a caller can reach. (Clamping the input first, as an earlier version did,
//    let GCC fold the clamped paths into constants and merge their masks into
//    and/andnot/or chains.)
//  - 2^n from the exponent bits of the float that rounded x log2 e (one shift), no
//    float-to-int conversions (of values that may be NaN or huge), no library calls
//    but fabsf (a bit operation once inlined).
//  - each caller scales 2^n so that it stays a normal float over its own range
//    (exp_poly_scaled's kScale), rather than splitting it in two factors.
// Sigmoid then takes 24 vector operations per 8 floats on AVX2+FMA, tanh 25 (the
// Cephes versions with clamps and tanhf's separate polynomial near 0: 45 and 55).

/// The bits of a float as an int, and back: a bit copy on both devices.
MINIDL_HD MINIDL_INLINE int float_as_int(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(f);
#else
  int i;
  __builtin_memcpy(&i, &f, sizeof i);
  return i;
#endif
}
MINIDL_HD MINIDL_INLINE float int_as_float(int i) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(i);
#else
  float f;
  __builtin_memcpy(&f, &i, sizeof f);
  return f;
#endif
}

/// The Cody-Waite reduction and the polynomial: e^x = 2^n e^r with n = round(x log2 e)
/// and |r| <= ln 2 / 2. Returns e^r - 1 (in [-0.30, 0.42]; NaN for a NaN x), which
/// keeps its relative accuracy near x = 0 (tanh needs e^x - 1 there). Adding kShift
/// rounds x log2 e to an integer held in k's low mantissa bits, biased to be the
/// exponent field of 2^(n + kScale): exp2_of(k) (for -126 <= n + kScale <= 127).
template <int kScale>
MINIDL_HD MINIDL_INLINE float expm1_reduced(float x, float& k) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kShift = 12582912.0f + (kScale + 127);  // 1.5 * 2^23 + the bias
  constexpr float kC1 = 0.693359375f;                     // ln 2, split so n * kC1 is exact
  constexpr float kC2 = -2.12194440e-4f;
  k = x * kLog2e + kShift;
  const float n = k - kShift;
  const float r = (x - n * kC1) - n * kC2;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * (r * r) + r;  // r + r^2 p, rounded once (with FMA) where r dominates
}
/// 2^(n + kScale) from expm1_reduced's k: its low 9 bits shifted into the exponent field.
MINIDL_HD MINIDL_INLINE float exp2_of(float k) {
  return int_as_float(static_cast<int>(static_cast<unsigned>(float_as_int(k)) << 23));
}

/// e^x 2^kScale for x log2 e in [-126 - kScale, 127 - kScale] (rounded to an integer):
/// 2^(n + kScale) (e^r - 1) + 2^(n + kScale), one rounding with FMA. NaN for a NaN x;
/// unspecified outside the range (callers select over it).
template <int kScale>
MINIDL_HD MINIDL_INLINE float exp_poly_scaled(float x) {
  float k;
  const float q = expm1_reduced<kScale>(x, k);
  const float s = exp2_of(k);
  return q * s + s;
}

/// e^x for every float x: inf above 88.8, 0 below -150, subnormal in between where
/// e^x is (exp_poly_scaled on the side of 0 that keeps 2^(n + kScale) normal, then
/// an exact or once-rounding power of 2), NaN for NaN. (Not used by the hot loops.)
MINIDL_HD MINIDL_INLINE float exp_poly(float x) {
  const float below = exp_poly_scaled<126>(x) * 0x1p-126f;  // x in [-150, 0]
  const float above = exp_poly_scaled<-2>(x) * 4.0f;        // x in [0, 88.8], and NaN
  float e = x < 0.0f ? below : above;
  e = x > 88.8f ? INFINITY : e;
  e = x < -150.0f ? 0.0f : e;
  return e;
}

/// |m| with the sign of x, for m >= 0 or NaN (copysignf in two bit operations).
MINIDL_HD MINIDL_INLINE float with_sign_of(float m, float x) {
  return int_as_float(float_as_int(m) | (float_as_int(x) & ~0x7fffffff));
}

/// tanh |x| = m / (m + 2) with m = e^(2|x|) - 1 = 2^n (e^r - 1) + (2^n - 1), which has
/// no cancellation near 0 (the dedicated odd polynomial there is not needed).
/// Above |x| = 44 (2^n overflows from 44.4) tanh is 1 in float.
MINIDL_HD MINIDL_INLINE float tanh_poly(float x) {
  const float a = fabsf(x);
  float k;
  const float q = expm1_reduced<0>(2.0f * a, k);
  const float s = exp2_of(k);  // 2^n, n in [0, 127]
  const float m = q * s + (s - 1.0f);
  float t = m / (m + 2.0f);  // NaN for a NaN x
  t = a > 44.0f ? 1.0f : t;
  return with_sign_of(t, x);
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
/// z >= 0 and e / (1 + e) below (one division either way). A NaN z makes e, and so
/// the result, NaN.
MINIDL_HD MINIDL_INLINE float sigmoid(float z) {
  // e = e^-|z| 2^126 (normal for -|z| >= -150; e^-|z| itself may be subnormal), so
  // e / (2^126 + e) rounds once, also where the result is subnormal. Below -150 the
  // result is 0 (or 1) in float.
  const float x = -fabsf(z);
  const float e = x < -150.0f ? 0.0f : exp_poly_scaled<126>(x);
  return (z >= 0.0f ? 0x1p126f : e) / (0x1p126f + e);
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
