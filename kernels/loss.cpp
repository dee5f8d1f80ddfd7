// Losses: checks, dispatch, and the CPU implementations (double accumulators).
#include "loss.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "../core/context.hpp"
#include "../core/dispatch.hpp"
#include "checks.hpp"
#include "chunked_sum.hpp"
#include "elementwise_cpu.hpp"
#include "functors.hpp"

namespace minidl {

namespace {

// Mean over 0 samples is 0 (the sum is 0 and there is nothing to divide), as
// Keras' SUM_OVER_BATCH_SIZE (divide_no_nan) has it, rather than NaN.
float sample_scale(Reduction r, std::int64_t samples) {
  return r == Reduction::Mean ? (samples == 0 ? 0.0f : 1.0f / static_cast<float>(samples)) : 1.0f;
}

void prepare_loss_outputs(const char* op, const Tensor& prediction, Tensor& loss, Tensor& grad) {
  detail::prepare_output(op, loss, Shape{}, prediction.device());
  detail::prepare_output(op, grad, prediction.shape(), prediction.device());
}

// ---- softmax cross-entropy on the CPU ------------------------------------------------

double cpu_cross_entropy(const float* z, const std::int32_t* labels, const float* soft, float* grad,
                         std::int64_t rows, std::int64_t cols, float scale) {
  // Rows in fixed chunks of 64: the total's bits do not depend on the thread count.
  return cpu_detail::chunked_sum(rows, 64, cols, [&](std::int64_t r) {
    double total = 0.0;
    const float* zr = z + r * cols;
    float* gr = grad + r * cols;
    float m = zr[0];
    for (std::int64_t k = 1; k < cols; ++k) m = std::fmax(m, zr[k]);
    double s = 0.0;
    for (std::int64_t k = 0; k < cols; ++k) s += std::exp(static_cast<double>(zr[k] - m));
    const double lse = static_cast<double>(m) + std::log(s);
    if (labels != nullptr) {
      const std::int32_t y = labels[r];
      total += lse - zr[y];
      for (std::int64_t k = 0; k < cols; ++k) {
        const double p = std::exp(static_cast<double>(zr[k] - m)) / s;
        gr[k] = static_cast<float>((p - (k == y ? 1.0 : 0.0)) * scale);
      }
    } else {
      const float* tr = soft + r * cols;
      double mass = 0.0, dot = 0.0;
      for (std::int64_t k = 0; k < cols; ++k) {
        mass += tr[k];
        // A zero target on a -inf (masked) logit adds nothing, not 0 x -inf = NaN.
        if (tr[k] != 0.0f) dot += static_cast<double>(tr[k]) * zr[k];
      }
      total += lse * mass - dot;
      for (std::int64_t k = 0; k < cols; ++k) {
        const double p = std::exp(static_cast<double>(zr[k] - m)) / s;
        gr[k] = static_cast<float>((p * mass - tr[k]) * scale);
      }
    }
    return total;
  });
}

// Deferred-check words for the CUDA paths (core/deferred_check.hpp): the message
// is built on the host from what the kernel found (index, value), when the check
// is resolved.
unsigned long long* defer_label_check(const char* op, const Shape& shape, std::int64_t cols,
                                      int device) {
  return CudaContext::get(device).defer_check(
      [op, shape, cols](std::uint32_t row, std::uint32_t label) {
        return detail::concat(op, ": label ", static_cast<std::int32_t>(label), " of sample ",
                              row, " is outside [0, ", cols, ") for logits ", shape,
                              " (found on the GPU)");
      });
}

unsigned long long* defer_sign_check(const char* op, const Shape& shape, int device) {
  return CudaContext::get(device).defer_check([op, shape](std::uint32_t index,
                                                          std::uint32_t bits) {
    float value = 0.0f;
    std::memcpy(&value, &bits, sizeof(value));
    return detail::concat(op, ": targets must be -1 or +1; element ", index, " of ", shape, " is ",
                          value, " (found on the GPU)");
  });
}

void store_scalar(Tensor& loss, double value) { loss.data<float>()[0] = static_cast<float>(value); }

// ---- elementwise losses --------------------------------------------------------------

void elementwise(cuda::ElementwiseLoss kind, const char* op, const Tensor& z, const Tensor& y,
                 Tensor& loss, Tensor& grad, const LossOptions& options) {
  detail::check_float(op, "prediction", z);
  detail::check_float(op, "targets", y);
  MINIDL_CHECK(z.rank() >= 1, ShapeError, op, ": the prediction needs a sample axis, got a scalar");
  detail::check_same_shape(op, "prediction", z, "targets", y);
  detail::check_same_device(op, "prediction", z, "targets", y);
  prepare_loss_outputs(op, z, loss, grad);
  const std::int64_t n = z.numel();
  const float scale = sample_scale(options.reduction, z.size(0));
  if (kind == cuda::ElementwiseLoss::Hinge && options.check_targets) {
    std::int64_t bad = -1;
    if (z.device().is_cuda() && n < (std::int64_t{1} << 32)) {
      // Deferred: raised at the next read of a value (kernels/loss.hpp, LossOptions).
      [[maybe_unused]] unsigned long long* word =  // unused where MINIDL_CUDA_CALL throws
          defer_sign_check(op, y.shape(), y.device().index());
      MINIDL_CUDA_CALL(cuda::record_non_sign(y.data<float>(), n, word, y.device().index()));
    } else if (z.device().is_cuda()) {
      // Past 2^32 elements the packed index would not fit: checked here, at a sync.
      const std::vector<float> t = y.to_vector<float>();
      for (std::int64_t i = 0; i < n && bad < 0; ++i) {
        if (t[static_cast<std::size_t>(i)] != 1.0f && t[static_cast<std::size_t>(i)] != -1.0f)
          bad = i;
      }
    } else {
      const float* t = y.data<float>();
      for (std::int64_t i = 0; i < n && bad < 0; ++i) {
        if (t[i] != 1.0f && t[i] != -1.0f) bad = i;
      }
    }
    if (bad >= 0) {
      const float value = y.to(Device::cpu()).data<float>()[bad];
      throw ValueError(detail::concat(op, ": targets must be -1 or +1; element ", bad, " of ",
                                      y.shape(), " is ", value));
    }
  }
  if (z.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::elementwise_loss(kind, z.data<float>(), y.data<float>(),
                                            grad.data<float>(), loss.data<float>(), n, scale, scale,
                                            z.device().index()));
    return;
  }
  const float* pz = z.data<float>();
  const float* py = y.data<float>();
  float* pg = grad.data<float>();
  double total = 0.0;
  switch (kind) {
    case cuda::ElementwiseLoss::BceWithLogits:
      total = cpu_detail::loss(pz, py, pg, n, scale, fn::BceWithLogits{});
      break;
    case cuda::ElementwiseLoss::SquaredError:
      total = cpu_detail::loss(pz, py, pg, n, scale, fn::SquaredError{});
      break;
    case cuda::ElementwiseLoss::Hinge:
      total = cpu_detail::loss(pz, py, pg, n, scale, fn::Hinge{});
      break;
  }
  store_scalar(loss, total * scale);
}

}  // namespace

void softmax_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& grad,
                           const LossOptions& options) {
  const char* op = "softmax_cross_entropy";
  detail::check_float(op, "logits", logits);
  detail::check_defined(op, "targets", targets);
  MINIDL_CHECK(logits.rank() == 2, ShapeError, op, ": logits must be [N, K], got ", logits.shape());
  const std::int64_t rows = logits.size(0), cols = logits.size(1);
  MINIDL_CHECK(cols > 0, ShapeError, op, ": logits ", logits.shape(), " have no classes");
  const bool hard = targets.dtype() == DType::Int32;
  if (hard) {
    MINIDL_CHECK(targets.shape() == Shape{rows}, ShapeError, op, ": int32 labels must be [N] = [",
                 rows, "] for logits ", logits.shape(), ", got ", targets.shape());
  } else {
    detail::check_float(op, "targets", targets);
    detail::check_same_shape(op, "logits", logits, "soft targets", targets);
  }
  detail::check_same_device(op, "logits", logits, "targets", targets);
  prepare_loss_outputs(op, logits, loss, grad);
  const float scale = sample_scale(options.reduction, rows);

  auto bad_label = [&](std::int64_t row) {
    const std::int32_t value = targets.to(Device::cpu()).data<std::int32_t>()[row];
    return ValueError(detail::concat(op, ": label ", value, " of sample ", row, " is outside [0, ",
                                     cols, ") for logits ", logits.shape()));
  };

  if (logits.device().is_cuda()) {
    // Deferred: raised at the next read of a value (kernels/loss.hpp, LossOptions).
    [[maybe_unused]] unsigned long long* word =  // unused where MINIDL_CUDA_CALL throws
        hard && options.check_targets
            ? defer_label_check(op, logits.shape(), cols, logits.device().index())
            : nullptr;
    MINIDL_CUDA_CALL(cuda::softmax_cross_entropy(
        logits.data<float>(), hard ? targets.data<std::int32_t>() : nullptr,
        hard ? nullptr : targets.data<float>(), grad.data<float>(), loss.data<float>(), rows, cols,
        scale, word, logits.device().index()));
    return;
  }
  const std::int32_t* labels = hard ? targets.data<std::int32_t>() : nullptr;
  if (hard) {
    // Unchecked, an out-of-range label would read outside the row: the CPU always checks.
    for (std::int64_t r = 0; r < rows; ++r) {
      if (labels[r] < 0 || labels[r] >= cols) throw bad_label(r);
    }
  }
  const double total =
      cpu_cross_entropy(logits.data<float>(), labels, hard ? nullptr : targets.data<float>(),
                        grad.data<float>(), rows, cols, scale);
  store_scalar(loss, total * scale);
}

LossResult softmax_cross_entropy(const Tensor& logits, const Tensor& targets,
                                 const LossOptions& options) {
  LossResult r;
  softmax_cross_entropy(logits, targets, r.loss, r.grad, options);
  return r;
}

void bce_with_logits(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& grad,
                     const LossOptions& options) {
  elementwise(cuda::ElementwiseLoss::BceWithLogits, "bce_with_logits", logits, targets, loss, grad,
              options);
}
LossResult bce_with_logits(const Tensor& logits, const Tensor& targets,
                           const LossOptions& options) {
  LossResult r;
  bce_with_logits(logits, targets, r.loss, r.grad, options);
  return r;
}

void squared_error(const Tensor& prediction, const Tensor& targets, Tensor& loss, Tensor& grad,
                   const LossOptions& options) {
  elementwise(cuda::ElementwiseLoss::SquaredError, "squared_error", prediction, targets, loss, grad,
              options);
}
LossResult squared_error(const Tensor& prediction, const Tensor& targets,
                         const LossOptions& options) {
  LossResult r;
  squared_error(prediction, targets, r.loss, r.grad, options);
  return r;
}

void hinge(const Tensor& scores, const Tensor& targets, Tensor& loss, Tensor& grad,
           const LossOptions& options) {
  elementwise(cuda::ElementwiseLoss::Hinge, "hinge", scores, targets, loss, grad, options);
}
LossResult hinge(const Tensor& scores, const Tensor& targets, const LossOptions& options) {
  LossResult r;
  hinge(scores, targets, r.loss, r.grad, options);
  return r;
}

}  // namespace minidl
