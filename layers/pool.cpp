#include "pool.hpp"

namespace minidl {

namespace {
Pool2dParams square(std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                    bool include_pad) {
  Pool2dParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = padding;
  p.count_include_pad = include_pad;
  return p;
}
}  // namespace

MaxPool2d::MaxPool2d(std::int64_t kernel, std::int64_t stride, std::int64_t padding)
    : Pool2d(PoolMode::Max, square(kernel, stride, padding, true)) {}

AvgPool2d::AvgPool2d(std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                     bool count_include_pad)
    : Pool2d(PoolMode::Avg, square(kernel, stride, padding, count_include_pad)) {}

Shape Pool2d::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                    const BuildContext& ctx) {
  const std::string who = type() + " '" + name() + "'";
  MINIDL_CHECK(in.size() == 1, ShapeError, who, ": takes one input, got ", in.size());
  MINIDL_CHECK(dtypes[0] == DType::Float32, DTypeError, who, ": input must be float32, got ",
               dtypes[0]);
  MINIDL_CHECK(in[0].rank() == 4, ShapeError, who,
               ": input must be [batch, channels, height, width], got ", batch_shape_str(in[0]));
  const Shape out =
      pool2d_output_shape(in[0], params_, who + " (input " + batch_shape_str(in[0]) + ")");
  cpu_ = ctx.device.is_cpu();
  channels_ = in[0][1];
  return out;
}

bool Pool2d::accepts_layout(std::size_t, Layout layout) const {
  return layout == Layout::NCHW || (cpu_ && layout_fits(layout, channels_));
}

bool Pool2d::produces_layout(Layout layout) const { return accepts_layout(0, layout); }

void Pool2d::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  pool2d_forward(mode_, *inputs[0], output, params_, input_layout(0), output_layout());
}

void Pool2d::backward(const std::vector<const Tensor*>& inputs, const Tensor&,
                      const Tensor& d_output, const std::vector<Tensor*>& d_inputs) {
  if (d_inputs[0] != nullptr)
    pool2d_backward(mode_, *inputs[0], d_output, *d_inputs[0], params_, input_layout(0),
                    output_layout(), input_relu_folded(0));
}

}  // namespace minidl
