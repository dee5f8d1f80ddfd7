#include "dropout.hpp"

#include "../kernels/dropout.hpp"

namespace minidl {

Dropout::Dropout(float p) : p_(p) {
  MINIDL_CHECK(p >= 0.0f && p < 1.0f, ValueError, "Dropout: p must be in [0, 1), got ", p);
}

Shape Dropout::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                     const BuildContext& ctx) {
  MINIDL_CHECK(in.size() == 1, ShapeError, "Dropout '", name(), "': takes one input, got ",
               in.size());
  MINIDL_CHECK(dtypes[0] == DType::Float32, DTypeError, "Dropout '", name(),
               "': input must be float32");
  generator_ = ctx.generator;
  return in[0];
}

void Dropout::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  masked_ = training() && p_ > 0.0f;
  if (!masked_) {
    output.copy_from(*inputs[0]);
    return;
  }
  draw_ = generator_->next();
  dropout_forward(*inputs[0], output, p_, draw_);
}

void Dropout::backward(const std::vector<const Tensor*>&, const Tensor&, const Tensor& d_output,
                       const std::vector<Tensor*>& d_inputs) {
  if (d_inputs[0] == nullptr) return;
  if (!masked_) {
    d_inputs[0]->copy_from(d_output);
    return;
  }
  dropout_backward(d_output, *d_inputs[0], p_, draw_);
}

}  // namespace minidl
