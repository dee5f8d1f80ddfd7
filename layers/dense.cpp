#include "dense.hpp"

#include "../kernels/broadcast.hpp"
#include "../kernels/gemm.hpp"

namespace minidl {

Dense::Dense(std::int64_t out_features, DenseOptions options)
    : out_(out_features), options_(options) {
  MINIDL_CHECK(out_features > 0, ValueError, "Dense: out_features must be positive, got ",
               out_features);
}

Shape Dense::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                   const BuildContext& ctx) {
  MINIDL_CHECK(in.size() == 1, ShapeError, "Dense '", name(), "': takes one input, got ",
               in.size());
  MINIDL_CHECK(in[0].rank() == 2, ShapeError, "Dense '", name(),
               "': input must be [batch, features], got ", batch_shape_str(in[0]),
               " (add a Flatten first)");
  MINIDL_CHECK(dtypes[0] == DType::Float32, DTypeError, "Dense '", name(),
               "': input must be float32, got ", dtypes[0]);
  const std::int64_t features = in[0][1];
  if (weight_.value.defined()) {
    MINIDL_CHECK(features == in_, ShapeError, "Dense '", name(), "': built for ", in_,
                 " input features, now given ", batch_shape_str(in[0]));
  } else {
    in_ = features;
    weight_ =
        Parameter{name() + ".weight",
                  initialise(options_.init, {out_, in_}, in_, out_, *ctx.generator, ctx.device),
                  zeros({out_, in_}, ctx.device)};
    if (options_.bias)
      bias_ = Parameter{name() + ".bias", zeros({out_}, ctx.device), zeros({out_}, ctx.device)};
  }
  if (!ones_.defined() || ones_.size(0) < in[0][0] || ones_.device() != ctx.device) {
    ones_ = ones({in[0][0]}, ctx.device);
  }
  return Shape{in[0][0], out_};
}

void Dense::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  GemmOptions o;
  o.transpose_b = true;
  o.allow_tf32 = options_.allow_tf32;
  gemm(*inputs[0], weight_.value, output, o);
  if (options_.bias) add_row_vector(output, bias_.value);
}

void Dense::backward(const std::vector<const Tensor*>& inputs, const Tensor&,
                     const Tensor& d_output, const std::vector<Tensor*>& d_inputs) {
  const Tensor& x = *inputs[0];
  GemmOptions dw;
  dw.transpose_a = true;
  dw.beta = 1.0f;  // accumulate
  dw.allow_tf32 = options_.allow_tf32;
  gemm(d_output, x, weight_.grad, dw);
  if (options_.bias) {
    const Tensor ones_b(ones_.storage(), Shape{d_output.size(0)}, DType::Float32);
    gemv(d_output, ones_b, bias_.grad, /*transpose_a=*/true, 1.0f, /*beta=*/1.0f);
  }
  if (d_inputs[0] != nullptr) {
    GemmOptions dx;
    dx.allow_tf32 = options_.allow_tf32;
    gemm(d_output, weight_.value, *d_inputs[0], dx);
  }
}

std::vector<Parameter*> Dense::parameters() {
  std::vector<Parameter*> p{&weight_};
  if (options_.bias) p.push_back(&bias_);
  return p;
}

void Dense::to(Device device) {
  Layer::to(device);
  if (ones_.defined()) ones_ = ones_.to(device);
}

}  // namespace minidl
