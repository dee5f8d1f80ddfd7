#include "conv.hpp"

namespace minidl {

Conv2dOptions Conv2dOptions::same(std::int64_t stride) {
  Conv2dOptions o;
  o.padding = ConvPadding::Same;
  o.stride_h = o.stride_w = stride;
  return o;
}

Conv2dOptions Conv2dOptions::half_kernel(std::int64_t stride) {
  Conv2dOptions o;
  o.padding = ConvPadding::HalfKernel;
  o.stride_h = o.stride_w = stride;
  return o;
}

Conv2dOptions Conv2dOptions::valid(std::int64_t stride) {
  Conv2dOptions o;
  o.stride_h = o.stride_w = stride;
  return o;
}

Conv2d::Conv2d(std::int64_t out_channels, std::int64_t kernel_h, std::int64_t kernel_w,
               Conv2dOptions options)
    : out_channels_(out_channels), kernel_h_(kernel_h), kernel_w_(kernel_w), options_(options) {
  MINIDL_CHECK(options.in_channels >= 0, ValueError, "Conv2d: in_channels must be >= 0, got ",
               options.in_channels);
  MINIDL_CHECK(out_channels >= 1 && kernel_h >= 1 && kernel_w >= 1, ValueError,
               "Conv2d: out_channels and kernel sizes must be >= 1, got ", out_channels, ", ",
               kernel_h, "x", kernel_w);
  params_.stride_h = options.stride_h;
  params_.stride_w = options.stride_w;
  params_.padding = options.padding;
  params_.pad_h = options.pad_h;
  params_.pad_w = options.pad_w;
  params_.backend = options.backend;
  MINIDL_CHECK(options.activation == Activation::Identity || options.activation == Activation::ReLU,
               ValueError, "Conv2d: the fused activation must be identity or relu, got ",
               activation_name(options.activation));
  params_.activation = options.activation;
}

Shape Conv2d::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                    const BuildContext& ctx) {
  const std::string who = "Conv2d '" + name() + "'";
  MINIDL_CHECK(in.size() == 1, ShapeError, who, ": takes one input, got ", in.size());
  MINIDL_CHECK(dtypes[0] == DType::Float32, DTypeError, who, ": input must be float32, got ",
               dtypes[0]);
  MINIDL_CHECK(in[0].rank() == 4, ShapeError, who,
               ": input must be [batch, channels, height, width], got ", batch_shape_str(in[0]),
               " (add a Reshape first)");
  const std::int64_t channels = in[0][1];
  MINIDL_CHECK(options_.in_channels == 0 || channels == options_.in_channels, ShapeError, who,
               ": expects ", options_.in_channels, " input channels, got ", batch_shape_str(in[0]));
  if (weight_.value.defined()) {
    MINIDL_CHECK(channels == in_channels_, ShapeError, who, ": built for ", in_channels_,
                 " input channels, now given ", batch_shape_str(in[0]));
  }
  const Shape w_shape{out_channels_, channels, kernel_h_, kernel_w_};
  Conv2dGeometry g;
  try {
    g = conv2d_geometry(in[0], w_shape, params_, who);
  } catch (const ShapeError& e) {
    throw ShapeError(detail::concat(e.what(), " [input ", batch_shape_str(in[0]), "]"));
  }
  if (!weight_.value.defined()) {
    in_channels_ = channels;
    const std::int64_t area = kernel_h_ * kernel_w_;
    weight_ = Parameter{name() + ".weight",
                        initialise(options_.init, w_shape, channels * area, out_channels_ * area,
                                   *ctx.generator, ctx.device),
                        zeros(w_shape, ctx.device)};
    if (options_.bias) {
      bias_ = Parameter{name() + ".bias", zeros({out_channels_}, ctx.device),
                        zeros({out_channels_}, ctx.device)};
    }
  }
  const ConvBackend b = params_.backend == ConvBackend::Auto && ctx.device.is_cpu()
                            ? conv2d_cpu_auto_backend(g)
                            : params_.backend;
  built_on_onednn_ = ctx.device.is_cpu() && b == ConvBackend::OneDnn && cpu::onednn_available();
  return Shape{in[0][0], out_channels_, g.out_h, g.out_w};
}

bool Conv2d::accepts_layout(std::size_t, Layout layout) const {
  return layout == Layout::NCHW || (built_on_onednn_ && layout_fits(layout, in_channels_));
}

bool Conv2d::produces_layout(Layout layout) const {
  return layout == Layout::NCHW || (built_on_onednn_ && layout_fits(layout, out_channels_));
}

Conv2dParams Conv2d::layout_params() const {
  Conv2dParams p = params_;
  p.x_layout = input_layout(0);
  p.y_layout = output_layout();
  return p;
}

void Conv2d::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  conv2d_forward(*inputs[0], weight_.value, options_.bias ? bias_.value : Tensor(), output,
                 layout_params());
}

void Conv2d::backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                      const Tensor& d_output, const std::vector<Tensor*>& d_inputs) {
  const Tensor& x = *inputs[0];
  const Tensor* dz = &d_output;
  // With the ReLU folded into the next layer's backward (Layer::set_relu_folds), d_output
  // is already d loss / d z.
  if (params_.activation == Activation::ReLU && !output_relu_folded()) {
    if (!masked_grad_.defined() || masked_grad_.shape() != d_output.shape() ||
        masked_grad_.device() != d_output.device())
      masked_grad_ = empty(d_output.shape(), d_output.device());
    // dz = dy where y > 0: ReLU's backward read from y, which is > 0 exactly where z is.
    activation_backward(Activation::ReLU, d_output, output, Tensor(), masked_grad_);
    dz = &masked_grad_;
  }
  // dz is in the output's layout (the ReLU mask is elementwise: any layout), x and dx in the
  // input's.
  const Conv2dParams p = layout_params();
  conv2d_backward_filter(x, *dz, weight_.grad, p, /*accumulate=*/true);
  if (options_.bias) conv2d_backward_bias(*dz, bias_.grad, /*accumulate=*/true, p.y_layout);
  if (d_inputs[0] != nullptr) conv2d_backward_data(*dz, weight_.value, x.shape(), *d_inputs[0], p);
}

std::vector<Parameter*> Conv2d::parameters() {
  std::vector<Parameter*> p{&weight_};
  if (options_.bias) p.push_back(&bias_);
  return p;
}

}  // namespace minidl
