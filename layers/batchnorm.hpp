// BatchNorm2d: per-channel batch normalisation of NCHW inputs with a learned
// scale gamma (init 1) and shift beta (init 0); kernels/batchnorm.hpp has the math.
// Training mode normalises with the batch's statistics and updates the running
// mean / variance (momentum 0.1, PyTorch's convention); evaluation mode
// (Graph::eval()) uses the running statistics.
// The running statistics are layer state, not Parameters: optimizers never
// touch them, and checkpoints that store parameters only do not include them.
#pragma once

#include "../kernels/batchnorm.hpp"
#include "layer.hpp"

namespace minidl {

class BatchNorm2d : public Layer {
 public:
  explicit BatchNorm2d(BatchNormOptions options = {});

  std::string type() const override { return "BatchNorm2d"; }
  /// Throws ShapeError naming the layer and the shape for an input that is not
  /// [B, C, H, W], or a channel count other than the one built for.
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;
  std::vector<Parameter*> parameters() override;
  /// running_mean and running_var, saved with checkpoints.
  std::vector<std::pair<std::string, Tensor*>> buffers() override {
    return {{"running_mean", &running_mean_}, {"running_var", &running_var_}};
  }
  void to(Device device) override;

  Parameter& gamma() { return gamma_; }
  Parameter& beta() { return beta_; }
  Tensor& running_mean() { return running_mean_; }
  Tensor& running_var() { return running_var_; }
  const BatchNormOptions& options() const { return options_; }

 private:
  BatchNormOptions options_;
  std::int64_t channels_ = 0;
  Parameter gamma_;
  Parameter beta_;
  Tensor running_mean_, running_var_;
  Tensor save_mean_, save_invstd_;  // the last forward's statistics
  bool saved_batch_stats_ = true;
};

}  // namespace minidl
