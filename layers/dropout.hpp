// Dropout: in training mode zeroes each element with probability p and scales
// the rest by 1 / (1 - p); in evaluation mode the identity. The mask comes from
// the graph's Philox generator (one draw per forward), is recomputed in backward
// rather than stored, and is the same on CPU and CUDA for one seed.
#pragma once

#include "layer.hpp"

namespace minidl {

class Dropout : public Layer {
 public:
  /// Requires 0 <= p < 1.
  explicit Dropout(float p);

  std::string type() const override { return "Dropout"; }
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;

  float p() const { return p_; }

 private:
  float p_;
  Generator* generator_ = nullptr;
  Generator::Draw draw_{0, 0};  // the last forward's mask
  // Whether the last forward applied it: backward follows the forward it differentiates,
  // not the mode the layer is in when backward runs (as BatchNorm2d's saved choice).
  bool masked_ = false;
};

}  // namespace minidl
