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
  MINIDL_HD MINIDL_INLINE float operator()(float z) const { return z > 0.0f ? z : alpha * z; }
};
struct LeakyReluBackward {
  float alpha;
  MINIDL_HD MINIDL_INLINE float operator()(float dy, float z) const {
    return z > 0.0f ? dy : (z <= 0.0f ? alpha * dy : z);
  }
};

/// 1 / (1 + e^-z), evaluated on the side where the exponential cannot overflow.
MINIDL_HD MINIDL_INLINE float sigmoid(float z) {
  if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
  const float e = expf(z);  // NaN z lands here and stays NaN
  return e / (1.0f + e);
}
struct SigmoidForward {
  MINIDL_HD MINIDL_INLINE float operator()(float z) const { return sigmoid(z); }
};
/// From the saved output y = sigmoid(z): dz = dy * y * (1 - y).
struct SigmoidBackward {
  MINIDL_HD MINIDL_INLINE float operator()(float dy, float y) const { return dy * y * (1.0f - y); }
};

struct TanhForward {
  MINIDL_HD MINIDL_INLINE float operator()(float z) const { return tanhf(z); }
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
