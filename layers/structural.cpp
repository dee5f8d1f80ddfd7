#include "structural.hpp"

#include "../kernels/arith.hpp"
#include "../kernels/columns.hpp"

namespace minidl {

Shape Flatten::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                     const BuildContext&) {
  MINIDL_CHECK(in.size() == 1, ShapeError, "Flatten '", name(), "': takes one input, got ",
               in.size());
  MINIDL_CHECK(dtypes[0] == DType::Float32, DTypeError, "Flatten '", name(),
               "': input must be float32");
  MINIDL_CHECK(in[0].rank() >= 1, ShapeError, "Flatten '", name(), "': needs a batch axis");
  std::int64_t features = 1;
  for (int i = 1; i < in[0].rank(); ++i) features *= in[0][i];
  return Shape{in[0][0], features};
}

void Flatten::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  output.copy_from(inputs[0]->view(output.shape()));
}

void Flatten::backward(const std::vector<const Tensor*>& inputs, const Tensor&,
                       const Tensor& d_output, const std::vector<Tensor*>& d_inputs) {
  if (d_inputs[0] != nullptr) d_inputs[0]->copy_from(d_output.view(inputs[0]->shape()));
}

Shape Reshape::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                     const BuildContext&) {
  MINIDL_CHECK(in.size() == 1, ShapeError, "Reshape '", name(), "': takes one input, got ",
               in.size());
  MINIDL_CHECK(dtypes[0] == DType::Float32, DTypeError, "Reshape '", name(),
               "': input must be float32");
  MINIDL_CHECK(in[0].rank() >= 1, ShapeError, "Reshape '", name(), "': needs a batch axis");
  std::int64_t features = 1;
  for (int i = 1; i < in[0].rank(); ++i) features *= in[0][i];
  MINIDL_CHECK(features == sample_shape_.numel(), ShapeError, "Reshape '", name(), "': input ",
               batch_shape_str(in[0]), " has ", features, " values per sample, target ",
               sample_shape_, " has ", sample_shape_.numel());
  std::vector<std::int64_t> dims{in[0][0]};
  for (std::int64_t d : sample_shape_) dims.push_back(d);
  return Shape(dims);
}

void Reshape::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  output.copy_from(inputs[0]->view(output.shape()));
}

void Reshape::backward(const std::vector<const Tensor*>& inputs, const Tensor&,
                       const Tensor& d_output, const std::vector<Tensor*>& d_inputs) {
  if (d_inputs[0] != nullptr) d_inputs[0]->copy_from(d_output.view(inputs[0]->shape()));
}

Shape Add::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                 const BuildContext&) {
  MINIDL_CHECK(in.size() >= 2, ShapeError, "Add '", name(), "': needs at least two inputs, got ",
               in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    MINIDL_CHECK(dtypes[i] == DType::Float32, DTypeError, "Add '", name(), "': input ", i,
                 " must be float32");
    MINIDL_CHECK(in[i] == in[0], ShapeError, "Add '", name(), "': input ", i, " has shape ",
                 batch_shape_str(in[i]), " but input 0 has ", batch_shape_str(in[0]));
  }
  return in[0];
}

void Add::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  add(*inputs[0], *inputs[1], output);
  for (std::size_t i = 2; i < inputs.size(); ++i) add(output, *inputs[i], output);
}

void Add::backward(const std::vector<const Tensor*>&, const Tensor&, const Tensor& d_output,
                   const std::vector<Tensor*>& d_inputs) {
  for (Tensor* d : d_inputs) {
    if (d != nullptr) d->copy_from(d_output);
  }
}

Shape Concat::build(const std::vector<Shape>& in, const std::vector<DType>& dtypes,
                    const BuildContext&) {
  MINIDL_CHECK(!in.empty(), ShapeError, "Concat '", name(), "': needs at least one input");
  std::int64_t features = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    MINIDL_CHECK(dtypes[i] == DType::Float32, DTypeError, "Concat '", name(), "': input ", i,
                 " must be float32");
    MINIDL_CHECK(in[i].rank() == 2, ShapeError, "Concat '", name(),
                 "': inputs must be [batch, features]; input ", i, " is ", batch_shape_str(in[i]));
    MINIDL_CHECK(in[i][0] == in[0][0], ShapeError, "Concat '", name(), "': input ", i, " is ",
                 in[i], " but input 0 is ", in[0], " (the batch sizes differ)");
    features += in[i][1];
  }
  return Shape{in[0][0], features};
}

void Concat::forward(const std::vector<const Tensor*>& inputs, Tensor& output) {
  std::int64_t offset = 0;
  for (const Tensor* x : inputs) {
    copy_into_columns(*x, output, offset);
    offset += x->size(1);
  }
}

void Concat::backward(const std::vector<const Tensor*>& inputs, const Tensor&,
                      const Tensor& d_output, const std::vector<Tensor*>& d_inputs) {
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (d_inputs[i] != nullptr) copy_from_columns(d_output, offset, *d_inputs[i]);
    offset += inputs[i]->size(1);
  }
}

}  // namespace minidl
