#include "loss.hpp"

namespace minidl {

std::string LossLayer::type() const {
  switch (kind_) {
    case LossKind::SoftmaxCrossEntropy:
      return "SoftmaxCrossEntropy";
    case LossKind::BceWithLogits:
      return "BceWithLogits";
    case LossKind::SquaredError:
      return "SquaredError";
    case LossKind::Hinge:
      return "Hinge";
  }
  return "Loss";
}

Shape LossLayer::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                       const BuildContext& ctx) {
  MINIDL_CHECK(in.size() == 2, ShapeError, type(), " '", name(),
               "': takes (prediction, targets), got ", in.size(), " inputs");
  MINIDL_CHECK(dtypes[0] == DType::Float32, DTypeError, type(), " '", name(),
               "': the prediction must be float32");
  const Shape& p = in[0];
  const Shape& t = in[1];
  if (kind_ == LossKind::SoftmaxCrossEntropy) {
    MINIDL_CHECK(p.rank() == 2, ShapeError, type(), " '", name(),
                 "': logits must be [batch, classes], got ", batch_shape_str(p));
    const bool labels_ok = dtypes[1] == DType::Int32 && t.rank() == 1 && t[0] == p[0];
    const bool soft_ok = dtypes[1] == DType::Float32 && t == p;
    MINIDL_CHECK(labels_ok || soft_ok, ShapeError, type(), " '", name(),
                 "': targets must be int32 ", batch_shape_str(Shape{p[0]}), " or float32 ",
                 batch_shape_str(p), ", got ", dtypes[1], " ", batch_shape_str(t));
  } else {
    MINIDL_CHECK(dtypes[1] == DType::Float32, DTypeError, type(), " '", name(),
                 "': targets must be float32, got ", dtypes[1]);
    MINIDL_CHECK(t == p, ShapeError, type(), " '", name(), "': prediction ", batch_shape_str(p),
                 " and targets ", batch_shape_str(t), " must have the same shape");
  }
  if (!grad_.defined() || grad_.shape() != p || grad_.device() != ctx.device)
    grad_ = empty(p, ctx.device);
  return Shape{};
}

void LossLayer::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  const Tensor& p = *inputs[0];
  Shape shape = p.shape();
  Tensor grad(grad_.storage(), shape, DType::Float32);  // batch may be smaller than built
  switch (kind_) {
    case LossKind::SoftmaxCrossEntropy:
      softmax_cross_entropy(p, *inputs[1], output, grad, options_);
      break;
    case LossKind::BceWithLogits:
      bce_with_logits(p, *inputs[1], output, grad, options_);
      break;
    case LossKind::SquaredError:
      squared_error(p, *inputs[1], output, grad, options_);
      break;
    case LossKind::Hinge:
      hinge(p, *inputs[1], output, grad, options_);
      break;
  }
}

void LossLayer::backward(const std::vector<const Tensor*>& inputs, const Tensor&, const Tensor&,
                         const std::vector<Tensor*>& d_inputs) {
  // d_output is the seed 1 (a loss ends the graph), so d prediction is the kept gradient.
  if (d_inputs[0] != nullptr) {
    d_inputs[0]->copy_from(Tensor(grad_.storage(), inputs[0]->shape(), DType::Float32));
  }
  MINIDL_CHECK(d_inputs.size() < 2 || d_inputs[1] == nullptr, ValueError, type(), " '", name(),
               "': targets have no gradient; do not make them depend on trainable layers");
}

std::shared_ptr<LossLayer> softmax_cross_entropy_loss(LossOptions options) {
  return std::make_shared<LossLayer>(LossKind::SoftmaxCrossEntropy, options);
}
std::shared_ptr<LossLayer> bce_with_logits_loss(LossOptions options) {
  return std::make_shared<LossLayer>(LossKind::BceWithLogits, options);
}
std::shared_ptr<LossLayer> squared_error_loss(LossOptions options) {
  return std::make_shared<LossLayer>(LossKind::SquaredError, options);
}
std::shared_ptr<LossLayer> hinge_loss(LossOptions options) {
  return std::make_shared<LossLayer>(LossKind::Hinge, options);
}

}  // namespace minidl
