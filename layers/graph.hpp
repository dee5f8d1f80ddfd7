// Graph: a static DAG of layers, built at run time (DESIGN.md principles 6, 7).
//
//   Graph g(Device::cuda(), /*seed=*/42);
//   auto x = g.input("x", {784});
//   auto y = g.input("y", {}, DType::Int32);
//   auto h = g.add(std::make_shared<Dense>(256), {x});
//   h = g.add(relu_layer(), {h});
//   auto logits = g.add(std::make_shared<Dense>(10), {h});
//   auto loss = g.add(softmax_cross_entropy_loss(), {logits, y});
//   g.build(128);                      // shapes checked, buffers allocated once
//   g.forward({images, labels});       // batch <= 128; values are views of the buffers
//   g.zero_grad(); g.backward(loss);   // parameter grads accumulate
//
// A value may feed several layers (their gradients are summed) and a layer may
// take several inputs. Layers run in the order they were added, which is a
// topological order because a layer's inputs must exist when it is added;
// backward runs in reverse. Shape, dtype and device mistakes surface at build()
// (or at forward() for the inputs), naming the layer and both shapes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layer.hpp"

namespace minidl {

class Graph {
 public:
  /// A value of the graph: an input or a layer's output.
  using Value = int;

  explicit Graph(Device device = Device::cpu(), std::uint64_t seed = 0);

  /// Declares an input with its per-sample shape (without the batch axis). With
  /// requires_grad, backward also computes d loss / d input (see grad()).
  Value input(const std::string& name, const Shape& sample_shape, DType dtype = DType::Float32,
              bool requires_grad = false);
  /// Adds `layer` fed by `inputs`; returns its output. An empty name gives
  /// "<type><k>" (e.g. "dense1"). Throws ValueError for unknown inputs, a
  /// duplicate name, a layer added twice, or a loss output used as an input.
  Value add(std::shared_ptr<Layer> layer, const std::vector<Value>& inputs,
            const std::string& name = "");

  /// Checks every shape and dtype, creates parameters (first build only) and
  /// allocates every value and gradient buffer for batches of up to `batch_size`.
  /// Call again to change the maximum batch size or after to().
  ///
  /// Layouts: build() also picks each value's memory layout (kernels/layout.hpp): oneDNN's
  /// blocked layout on this CPU (NCHW16c where it runs AVX-512 kernels, else NCHW8c; NCHW8c
  /// also when the channels fit only that), where the layer writing it and every layer
  /// reading it can work in it (on the CPU: a
  /// Conv2d on oneDNN, the pooling layers), so that consecutive layers pass channel-blocked
  /// tensors without reordering them every step; NCHW everywhere else, for inputs, and for
  /// values no layer reads. value() and grad() always return NCHW.
  void build(std::int64_t batch_size);
  bool built() const { return batch_size_ > 0; }
  /// Whether build() may pick blocked layouts (default true). False keeps every value
  /// NCHW (the reference the blocked graph is tested against). Takes effect at the next
  /// build().
  void set_blocked_layouts(bool allow) { blocked_layouts_ = allow; }
  /// The layout build() picked for v (NCHW before build()).
  Layout value_layout(Value v) const;
  /// Whether build() may fold a layer's ReLU backward into the backward of the layer reading
  /// its output (default true): where a value is a ReLU's output (a Conv2d with a fused
  /// ReLU), needs a gradient, and has one reader, which can apply the ReLU's backward as it
  /// writes its input gradient (a pooling layer, Layer::can_fold_input_relu), the reader
  /// writes d loss / d z and the Conv2d skips its mask pass over the activation. Parameter
  /// and input gradients are the same bits either way, and grad() of such a value is still
  /// d loss / d value (it re-runs the reader's backward without the fold when asked). False:
  /// the reference the folded graph is tested against. Takes effect at the next build().
  void set_backward_folds(bool allow) { backward_folds_ = allow; }
  /// Whether build() folded v's ReLU backward into its reader's (false before build()).
  bool relu_folded(Value v) const;
  std::int64_t batch_size() const { return batch_size_; }

  /// Runs the layers on `inputs` (one per input(), in declaration order, each
  /// [n, sample shape...] with the same n <= batch_size, on the graph's device).
  /// With `until` >= 0, stops after the layer producing that value (inputs the
  /// remaining layers need may then be undefined Tensors).
  void forward(const std::vector<Tensor>& inputs, Value until = -1);
  /// Back-propagates from `loss` (a loss layer's output; d loss = 1), accumulating
  /// into every parameter's grad. Call zero_grad() first unless accumulating.
  void backward(Value loss);
  /// Back-propagates from any value `v` of the last forward with the given upstream
  /// gradient d J / d v (what a user needs to test a layer, or to chain two graphs:
  /// the second graph's grad(input) is the first's upstream). Requires `upstream`
  /// float32, on the graph's device, of value(v)'s shape, and `v` to depend on a
  /// parameter or a requires_grad input (else ValueError: nothing to differentiate), and
  /// `v` not to be a loss layer's output (ValueError: its gradient is 1, use backward(v)).
  /// Only layers between the inputs and `v` run; parameter grads accumulate.
  void backward(Value v, const Tensor& upstream);

  /// Called during backward for each parameter, once per backward pass, as soon as
  /// its gradient for that pass is final: right after the layer that owns it (a
  /// layer appears once in a graph) has run its backward, before the layers
  /// upstream of it run. The order is backward's: the last layer's parameters
  /// first. Layers that the pass does not reach are not reported. The hook may
  /// start work that reads the gradient (dist::DataParallel starts all-reducing
  /// it) and may throw (backward stops there). An empty function removes it;
  /// setting one replaces the previous (there is one hook per graph).
  using GradReadyHook = std::function<void(Parameter&)>;
  void set_grad_ready_hook(GradReadyHook hook) { grad_ready_hook_ = std::move(hook); }
  bool has_grad_ready_hook() const { return static_cast<bool>(grad_ready_hook_); }

  /// The batch size of the last forward (0 before any).
  std::int64_t current_batch() const { return current_batch_; }

  /// A value from the last forward (a view at the current batch size; a new NCHW tensor
  /// when the graph holds the value in a blocked layout).
  Tensor value(Value v) const;
  /// d loss / d value from the last backward (undefined for values that need none; NCHW,
  /// as value()).
  Tensor grad(Value v) const;
  /// The value produced by the layer called `layer_name`.
  Value output_of(const std::string& layer_name) const;

  // ---- introspection (exporters, tools) -----------------------------------------
  /// The graph's inputs, in declaration order.
  const std::vector<Value>& inputs() const { return inputs_; }
  /// The values layer i reads, and the value it produces.
  const std::vector<Value>& layer_inputs(std::size_t i) const { return nodes_.at(i).inputs; }
  Value layer_output(std::size_t i) const { return nodes_.at(i).output; }
  /// The value's name: an input's name, or the producing layer's name.
  const std::string& value_name(Value v) const;
  /// The value's shape as built, batch axis first ([batch_size, ...]; [] for a loss).
  /// Requires a built graph (ValueError).
  const Shape& value_shape(Value v) const;
  DType value_dtype(Value v) const;

  /// Every layer's parameters, in layer order. ValueError before build() (which
  /// creates them), as for parameter_count() and zero_grad().
  std::vector<Parameter*> parameters();
  /// Every layer's buffers() as ("<layer name>.<buffer name>", tensor).
  std::vector<std::pair<std::string, Tensor*>> buffers();
  std::int64_t parameter_count();
  void zero_grad();

  /// Moves parameters and buffers to `device`.
  void to(Device device);
  Device device() const { return device_; }

  /// Training (dropout active) or evaluation mode for every layer.
  void train(bool training = true);
  void eval() { train(false); }

  /// A Keras-style table: layer, type, output shape, parameter count.
  std::string summary() const;

  /// The graph's generator (parameter initialisation, dropout). Its address is
  /// stable for the graph's lifetime, moves included: layers keep pointers to it.
  Generator& generator() { return *generator_; }
  std::size_t layer_count() const { return nodes_.size(); }
  /// The i-th layer added; ValueError when i >= layer_count().
  Layer& layer(std::size_t i);
  const Layer& layer(std::size_t i) const;
  Layer& layer(const std::string& name);

 private:
  struct ValueInfo {
    std::string name;
    Shape sample_shape;  // inputs only: without the batch axis
    Shape shape;         // as built, batch axis first (none for a loss)
    DType dtype = DType::Float32;
    int producer = -1;  // node index, -1 for a graph input
    std::vector<int> consumers;
    bool batched = true;
    bool needs_grad = false;
    Layout layout = Layout::NCHW;  // of the value and its gradient
    int relu_fold_reader = -1;  // node index of the reader doing the producer's ReLU backward
    Tensor buffer;
    Tensor grad_buffer;
    std::vector<Tensor> scratch;  // extra gradient buffers when the value fans out
    // Per pass:
    Tensor current;
    Tensor current_grad;
    bool grad_ready = false;
  };
  struct Node {
    std::shared_ptr<Layer> layer;
    std::vector<Value> inputs;
    Value output = -1;
  };

  void check_value(Value v, const char* where) const;
  void run_backward(Value from, const Tensor* upstream);
  void choose_layouts();
  void choose_relu_folds();
  Tensor view_at_batch(const Tensor& buffer, const ValueInfo& info, std::int64_t n) const;

  Device device_;
  std::unique_ptr<Generator> generator_;
  std::vector<ValueInfo> values_;
  std::vector<Node> nodes_;
  std::vector<Value> inputs_;
  std::int64_t batch_size_ = 0;
  bool blocked_layouts_ = true;
  bool backward_folds_ = true;
  std::int64_t current_batch_ = 0;
  GradReadyHook grad_ready_hook_;
};

}  // namespace minidl
