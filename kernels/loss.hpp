// Losses with their gradient with respect to the prediction, on CPU and CUDA.
//
//   softmax cross-entropy  logits [N, K], int32 labels [N]:   ln sum_l e^{z_l} - z_y
//                          logits [N, K], float targets [N, K]: sum_k r_k (ln sum_l e^{z_l} - z_k)
//                          gradient softmax(z) * sum_k r_k - r  (= softmax(z) - r for rows summing
//                          to 1)
//   binary cross-entropy   ln(1 + e^z) - y z  (stable softplus form),   gradient sigmoid(z) - y
//   squared error          (z - y)^2 summed over a sample's outputs,    gradient 2 (z - y)
//   hinge                  max(0, 1 - y z), y in {-1, +1},              subgradient -y where y z <
//   1
//
// Reduction: Sum adds every sample's loss; Mean divides that by the number of
// samples N = shape[0] (a sample's loss is summed over its outputs, as in the
// course notes' J = 1/N sum_i L_i). The gradient is that of the reduced loss.
// Every loss is finite for finite logits, |z| up to 1e4 included.
#pragma once

#include "../core/tensor.hpp"

namespace minidl {

enum class Reduction { Sum, Mean };

struct LossOptions {
  Reduction reduction = Reduction::Mean;
  /// Validate labels / targets (cross-entropy labels in [0, K), hinge targets in
  /// {-1, +1}) and throw ValueError naming the first bad one. On the CPU it
  /// throws from the call. On CUDA the check is deferred so that a training step
  /// never waits for the GPU: the kernel records the first bad one on the device
  /// and the ValueError (sample, value) is thrown at the next point that waits
  /// for the stream anyway: reading the loss (item(), to_vector(), to(cpu)),
  /// CudaContext::synchronize(). The loss and gradient of that call are NaN.
  /// Off, nothing is recorded (a bad label just gives NaN; int32 labels are
  /// always checked on the CPU, where an unchecked one would read out of bounds).
  bool check_targets = true;
};

struct LossResult {
  Tensor loss;  // 0-d float32 on the prediction's device
  Tensor grad;  // d loss / d prediction, the prediction's shape
};

/// Fused softmax + cross-entropy: one pass reads the logits, writes the gradient.
/// `targets` is int32 [N] (class indices) or float32 [N, K] (one-hot or soft).
/// `loss` and `grad` are overwritten; undefined ones are allocated.
void softmax_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& grad,
                           const LossOptions& options = {});
LossResult softmax_cross_entropy(const Tensor& logits, const Tensor& targets,
                                 const LossOptions& options = {});

/// Binary cross-entropy on logits; targets of the logits' shape (values in [0, 1]).
void bce_with_logits(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& grad,
                     const LossOptions& options = {});
LossResult bce_with_logits(const Tensor& logits, const Tensor& targets,
                           const LossOptions& options = {});

/// Squared error ||z - y||^2 per sample.
void squared_error(const Tensor& prediction, const Tensor& targets, Tensor& loss, Tensor& grad,
                   const LossOptions& options = {});
LossResult squared_error(const Tensor& prediction, const Tensor& targets,
                         const LossOptions& options = {});

/// Hinge loss max(0, 1 - y z) with targets in {-1, +1} (the SVM primal's loss).
void hinge(const Tensor& scores, const Tensor& targets, Tensor& loss, Tensor& grad,
           const LossOptions& options = {});
LossResult hinge(const Tensor& scores, const Tensor& targets, const LossOptions& options = {});

namespace cuda {
enum class ElementwiseLoss { BceWithLogits, SquaredError, Hinge };
/// loss = loss_scale * sum_i L(z_i, y_i); grad_i = grad_scale * L'(z_i, y_i).
void elementwise_loss(ElementwiseLoss kind, const float* z, const float* y, float* grad,
                      float* loss, std::int64_t n, float grad_scale, double loss_scale, int device);
/// Queues a check of y against {-1, +1}: the lowest bad index and its value's
/// bits go into `bad_word` (a deferred-check word, core/deferred_check.hpp);
/// requires n < 2^32. Does not synchronise.
void record_non_sign(const float* y, std::int64_t n, unsigned long long* bad_word, int device);
/// Fused softmax cross-entropy with int32 labels (soft_targets == nullptr) or
/// float32 soft targets (labels == nullptr). Rows with a label outside [0, K)
/// get a NaN loss and gradient; when `bad_word` (a deferred-check word,
/// core/deferred_check.hpp) is non-null the lowest such row and its label are
/// recorded in it. Does not synchronise.
void softmax_cross_entropy(const float* logits, const std::int32_t* labels,
                           const float* soft_targets, float* grad, float* loss, std::int64_t rows,
                           std::int64_t cols, float scale, unsigned long long* bad_word,
                           int device);
}  // namespace cuda

}  // namespace minidl
