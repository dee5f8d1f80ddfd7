// Loss layers: terminal layers of a graph. Inputs: (prediction, targets); output:
// the 0-d loss. Forward computes the loss and its gradient in one fused pass
// (kernels/loss.hpp) and keeps the gradient; backward hands it to the prediction.
// A loss output may not feed another layer, and backward starts from d loss = 1.
//   SoftmaxCrossEntropy  logits [B, K], int32 labels [B] or float targets [B, K]
//   BceWithLogits        logits and targets of one shape (targets in [0, 1])
//   SquaredError         prediction and targets of one shape
//   Hinge                scores and targets in {-1, +1} of one shape
// Reduction Mean (default) divides by the batch size.
#pragma once

#include "../kernels/loss.hpp"
#include "layer.hpp"

namespace minidl {

enum class LossKind { SoftmaxCrossEntropy, BceWithLogits, SquaredError, Hinge };

class LossLayer : public Layer {
 public:
  explicit LossLayer(LossKind kind, LossOptions options = {}) : kind_(kind), options_(options) {}

  std::string type() const override;
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;
  bool is_loss() const override { return true; }

  LossKind kind() const { return kind_; }
  LossOptions& options() { return options_; }
  const LossOptions& options() const { return options_; }

 private:
  LossKind kind_;
  LossOptions options_;
  Tensor grad_;  // d loss / d prediction from the last forward (full-batch buffer)
};

std::shared_ptr<LossLayer> softmax_cross_entropy_loss(LossOptions options = {});
std::shared_ptr<LossLayer> bce_with_logits_loss(LossOptions options = {});
std::shared_ptr<LossLayer> squared_error_loss(LossOptions options = {});
std::shared_ptr<LossLayer> hinge_loss(LossOptions options = {});

}  // namespace minidl
