// Layer: one node of the layer graph. A layer declares its output shape from its
// input shapes when the graph is built (and creates its parameters then), then
// runs forward and backward on buffers the graph allocated once.
//
// Shapes include the batch axis (axis 0). The graph builds with the largest batch
// it will see; forward / backward may then run with a smaller batch, on views of
// the same buffers.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../kernels/layout.hpp"
#include "parameter.hpp"

namespace minidl {

/// What a layer gets when the graph is built.
struct BuildContext {
  Device device;
  /// Seeded generator for parameter initialisation and dropout draws.
  Generator* generator;
};

class Layer {
 public:
  virtual ~Layer() = default;

  /// "Dense", "ReLU", ...: the kind of layer.
  virtual std::string type() const = 0;
  /// Unique within the graph; the graph names unnamed layers "<type><k>".
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  /// Checks the input shapes and dtypes, creates the parameters (on ctx.device,
  /// initialised from ctx.generator) if they do not exist yet, and returns the
  /// output shape. Throws ShapeError / DTypeError naming the layer and the shapes.
  virtual Shape build(const std::vector<Shape>& input_shapes,
                      const std::vector<DType>& input_dtypes, const BuildContext& ctx) = 0;
  /// The output dtype (float32 unless a layer says otherwise).
  virtual DType output_dtype() const { return DType::Float32; }

  /// output = f(inputs). `output` is preallocated with the built shape (batch
  /// possibly smaller) and is overwritten.
  virtual void forward(const std::vector<const Tensor*>& inputs, Tensor& output) = 0;

  /// Given d_output (same shape as output), overwrites each d_inputs[i] that is
  /// not null with d loss / d input i, and ADDS d loss / d parameter into each
  /// parameter's grad. inputs and output are the values of the last forward.
  virtual void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                        const Tensor& d_output, const std::vector<Tensor*>& d_inputs) = 0;

  /// This layer's parameters (empty for most layers).
  virtual std::vector<Parameter*> parameters() { return {}; }

  /// State that is not trained but belongs in a checkpoint (BatchNorm's running
  /// statistics), as (name, tensor) with names unique within the layer. The
  /// tensors are the layer's own: loading copies into them.
  virtual std::vector<std::pair<std::string, Tensor*>> buffers() { return {}; }

  /// Moves the parameters (and any state) to `device`.
  virtual void to(Device device);

  /// Training or evaluation behaviour (dropout).
  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }

  /// True for the loss layers: their output is a 0-d loss that ends the graph.
  virtual bool is_loss() const { return false; }

  // ---- memory layouts (kernels/layout.hpp) ---------------------------------------
  // Every value is NCHW unless the graph finds that the layer writing it and every layer
  // reading it can work in a blocked layout (Graph::build: after each layer's build, so
  // shapes, device and backend are known). The graph then tells each layer the layouts of
  // its inputs and output (set_layouts), and forward / backward read and write those
  // tensors, and their gradients, in them.
  /// Whether, as built, the layer can read input i held in `layout` (NCHW: always).
  virtual bool accepts_layout(std::size_t input, Layout layout) const {
    (void)input;
    return layout == Layout::NCHW;
  }
  /// Whether, as built, the layer can write its output in `layout` (NCHW: always).
  virtual bool produces_layout(Layout layout) const { return layout == Layout::NCHW; }
  /// The layouts of the inputs and the output from now on (the graph calls it at every
  /// build, with layouts the two functions above allowed).
  void set_layouts(std::vector<Layout> inputs, Layout output) {
    input_layouts_ = std::move(inputs);
    output_layout_ = output;
  }
  Layout input_layout(std::size_t i) const {
    return i < input_layouts_.size() ? input_layouts_[i] : Layout::NCHW;
  }
  Layout output_layout() const { return output_layout_; }

  // ---- a ReLU's backward folded into the next layer's --------------------------------
  // A layer whose output is a ReLU's, y = max(0, z) (Conv2d with a fused ReLU), masks its
  // incoming gradient by y > 0 in a pass of its own over the activation before its own
  // gradients. Where the only layer reading y writes every element of its input gradient
  // anyway (the pooling layers), the graph asks that layer to apply the ReLU's backward as
  // it writes it (fn::ReluBackward with y: the same bits) and the writer to skip its pass
  // (Graph::build; Graph::set_backward_folds). Layers not in a graph never fold.
  /// Whether, as built, the output is max(0, z) of a pre-activation z that backward
  /// differentiates through (and can take d loss / d z as d_output instead of d loss / d y).
  virtual bool output_is_relu() const { return false; }
  /// Whether, as built, backward can write d loss / d z into d_inputs[input] when that input
  /// is x = max(0, z), applying the ReLU's backward as it writes. A layer that says so must
  /// have no parameters (Graph::grad() re-runs its backward without the fold).
  virtual bool can_fold_input_relu(std::size_t input) const {
    (void)input;
    return false;
  }
  /// Set by the graph at every build: which inputs' ReLU backward this layer applies, and
  /// whether its d_output is already d loss / d z (its own ReLU's backward done by the
  /// layer reading its output).
  void set_relu_folds(std::vector<bool> inputs, bool output) {
    input_relu_folds_ = std::move(inputs);
    output_relu_folded_ = output;
  }
  bool input_relu_folded(std::size_t i) const {
    return i < input_relu_folds_.size() && input_relu_folds_[i];
  }
  bool output_relu_folded() const { return output_relu_folded_; }

 protected:
  std::string name_;
  bool training_ = true;
  std::vector<Layout> input_layouts_;
  Layout output_layout_ = Layout::NCHW;
  std::vector<bool> input_relu_folds_;
  bool output_relu_folded_ = false;
};

/// "[B, 784]" for a built shape: the batch axis printed as B.
std::string batch_shape_str(const Shape& shape);

}  // namespace minidl
