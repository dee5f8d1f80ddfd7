// The optimizers' per-element update rules, written once (DESIGN.md, "write the
// math once"): the CPU loops (optim/sgd.cpp, optim/adam.cpp) and the fused CUDA
// kernels (optim/update_cuda.cu) call these same functors.
//
// Bit-identical on both devices: every multiply, add, divide and square root here
// goes through the *_rn helpers below, which are plain IEEE float operations on
// the host and the explicitly rounded intrinsics on the device. That stops nvcc
// from contracting a * b + c into one FMA (the host compiles these files with
// -ffp-contract=off for the same reason), so the CPU reference and the GPU agree
// to the last bit. Every step-dependent scalar (bias corrections, the AdamW decay
// factor) is computed once on the host in double, rounded to float, and handed to
// both paths as a functor member.
#pragma once

#include "../core/macros.hpp"

namespace minidl::optim_math {

MINIDL_HD MINIDL_INLINE float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
MINIDL_HD MINIDL_INLINE float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
MINIDL_HD MINIDL_INLINE float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
MINIDL_HD MINIDL_INLINE float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
MINIDL_HD MINIDL_INLINE float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return __builtin_sqrtf(a);  // correctly rounded (IEEE), vectorises to sqrtps
#endif
}

/// One SGD step on one element (PyTorch's torch.optim.SGD with dampening 0):
///   g = grad + weight_decay * w                    (L2; skipped when weight_decay == 0)
///   buf = g on the first step, else momentum * buf + g   (only when momentum != 0)
///   update = nesterov ? g + momentum * buf : buf    (g itself without momentum)
///   w = w - lr * update
/// The flags are uniform over a launch, so their branches cost nothing on the GPU
/// and are unswitched out of the CPU loop.
struct SgdUpdate {
  float lr = 0.0f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer is initialised to g, not decayed

  /// With a momentum buffer (momentum != 0): updates w and buf in place.
  MINIDL_HD MINIDL_INLINE void operator()(float& w, float grad, float& buf) const {
    const float g = weight_decay != 0.0f ? add_rn(grad, mul_rn(weight_decay, w)) : grad;
    buf = first_step ? g : add_rn(mul_rn(momentum, buf), g);
    const float update = nesterov ? add_rn(g, mul_rn(momentum, buf)) : buf;
    w = sub_rn(w, mul_rn(lr, update));
  }
  /// Without momentum: updates w in place.
  MINIDL_HD MINIDL_INLINE void operator()(float& w, float grad) const {
    const float g = weight_decay != 0.0f ? add_rn(grad, mul_rn(weight_decay, w)) : grad;
    w = sub_rn(w, mul_rn(lr, g));
  }
};

/// One Adam / AdamW step on one element at step t >= 1 (PyTorch's torch.optim.Adam
/// and AdamW, amsgrad off):
///   AdamW (decoupled):  w = w * (1 - lr * weight_decay)   first
///   Adam (L2):          g = grad + weight_decay * w
///   m = beta1 * m + (1 - beta1) * g
///   v = beta2 * v + (1 - beta2) * g * g
///   w = w - step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)
/// with step_size = lr / (1 - beta1^t) and bias_correction2_sqrt = sqrt(1 - beta2^t),
/// which is m_hat / (sqrt(v_hat) + eps) arranged as PyTorch arranges it.
struct AdamUpdate {
  float beta1 = 0.0f, one_minus_beta1 = 0.0f;
  float beta2 = 0.0f, one_minus_beta2 = 0.0f;
  float eps = 0.0f;
  float step_size = 0.0f;              // lr / (1 - beta1^t), from double on the host
  float bias_correction2_sqrt = 0.0f;  // sqrt(1 - beta2^t), from double on the host
  float l2 = 0.0f;                     // coupled weight decay (Adam); 0 for AdamW
  float decay_factor = 1.0f;           // 1 - lr * weight_decay (AdamW); 1 for Adam
  bool decoupled = false;              // apply decay_factor (AdamW with weight_decay > 0)

  MINIDL_HD MINIDL_INLINE void operator()(float& w, float grad, float& m, float& v) const {
    if (decoupled) w = mul_rn(w, decay_factor);
    const float g = l2 != 0.0f ? add_rn(grad, mul_rn(l2, w)) : grad;
    m = add_rn(mul_rn(beta1, m), mul_rn(one_minus_beta1, g));
    v = add_rn(mul_rn(beta2, v), mul_rn(mul_rn(one_minus_beta2, g), g));
    const float denom = add_rn(div_rn(sqrt_rn(v), bias_correction2_sqrt), eps);
    w = sub_rn(w, mul_rn(step_size, div_rn(m, denom)));
  }
};

/// g = g * factor for gradient clipping, where factor = min(1, max_norm / (norm + 1e-6))
/// is computed in double; a NaN norm gives a NaN factor (so NaN gradients stay
/// visible, as in PyTorch) rather than silently clamping to 1.
MINIDL_HD MINIDL_INLINE float clip_factor(double norm, double max_norm) {
  const double f = max_norm / (norm + 1e-6);
  return static_cast<float>(f < 1.0 ? f : (f >= 1.0 ? 1.0 : f));
}

}  // namespace minidl::optim_math
