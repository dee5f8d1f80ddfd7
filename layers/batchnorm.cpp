#include "batchnorm.hpp"

namespace minidl {

BatchNorm2d::BatchNorm2d(BatchNormOptions options) : options_(options) {
  MINIDL_CHECK(options.eps > 0.0f && options.momentum >= 0.0f && options.momentum <= 1.0f,
               ValueError, "BatchNorm2d: needs eps > 0 and momentum in [0, 1], got eps ",
               options.eps, ", momentum ", options.momentum);
}

Shape BatchNorm2d::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                         const BuildContext& ctx) {
  const std::string who = "BatchNorm2d '" + name() + "'";
  MINIDL_CHECK(in.size() == 1, ShapeError, who, ": takes one input, got ", in.size());
  MINIDL_CHECK(dtypes[0] == DType::Float32, DTypeError, who, ": input must be float32, got ",
               dtypes[0]);
  MINIDL_CHECK(in[0].rank() == 4, ShapeError, who,
               ": input must be [batch, channels, height, width], got ", batch_shape_str(in[0]));
  const std::int64_t c = in[0][1];
  if (gamma_.value.defined()) {
    MINIDL_CHECK(c == channels_, ShapeError, who, ": built for ", channels_,
                 " channels, now given ", batch_shape_str(in[0]));
  } else {
    channels_ = c;
    gamma_ = Parameter{name() + ".gamma", ones({c}, ctx.device), zeros({c}, ctx.device)};
    beta_ = Parameter{name() + ".beta", zeros({c}, ctx.device), zeros({c}, ctx.device)};
    running_mean_ = zeros({c}, ctx.device);
    running_var_ = ones({c}, ctx.device);
  }
  save_mean_ = empty({c}, ctx.device);
  save_invstd_ = empty({c}, ctx.device);
  return in[0];
}

void BatchNorm2d::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  saved_batch_stats_ = training();
  if (training()) {
    batchnorm2d_forward_train(*inputs[0], gamma_.value, beta_.value, running_mean_, running_var_,
                              save_mean_, save_invstd_, output, options_);
  } else {
    batchnorm2d_forward_eval(*inputs[0], gamma_.value, beta_.value, running_mean_, running_var_,
                             save_mean_, save_invstd_, output, options_);
  }
}

void BatchNorm2d::backward(const std::vector<const Tensor*>& inputs, const Tensor&,
                           const Tensor& d_output, const std::vector<Tensor*>& d_inputs) {
  Tensor none;
  Tensor& dx = d_inputs[0] != nullptr ? *d_inputs[0] : none;
  batchnorm2d_backward(*inputs[0], d_output, gamma_.value, save_mean_, save_invstd_,
                       saved_batch_stats_, dx, gamma_.grad, beta_.grad, d_inputs[0] != nullptr);
}

std::vector<Parameter*> BatchNorm2d::parameters() { return {&gamma_, &beta_}; }

void BatchNorm2d::to(Device device) {
  Layer::to(device);
  if (running_mean_.defined()) running_mean_ = running_mean_.to(device);
  if (running_var_.defined()) running_var_ = running_var_.to(device);
  if (save_mean_.defined()) save_mean_ = save_mean_.to(device);
  if (save_invstd_.defined()) save_invstd_ = save_invstd_.to(device);
}

}  // namespace minidl
