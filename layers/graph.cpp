#include "graph.hpp"

#include <algorithm>
#include <cctype>
#include <iomanip>
#include <map>
#include <sstream>

#include "../kernels/activation.hpp"
#include "../kernels/arith.hpp"
#include "../kernels/conv2d.hpp"
#include "../kernels/fill.hpp"

namespace minidl {

Graph::Graph(Device device, std::uint64_t seed)
    : device_(device), generator_(std::make_unique<Generator>(seed)) {
  check_device(device);
}

void Graph::check_value(Value v, const char* where) const {
  MINIDL_CHECK(v >= 0 && v < static_cast<Value>(values_.size()), ValueError, "Graph::", where,
               ": value ", v, " does not belong to this graph (", values_.size(), " values)");
}

Graph::Value Graph::input(const std::string& name, const Shape& sample_shape, DType dtype,
                          bool requires_grad) {
  MINIDL_CHECK(!name.empty(), ValueError, "Graph::input: an input needs a name");
  for (const ValueInfo& v : values_) {
    MINIDL_CHECK(v.name != name, ValueError, "Graph::input: the name '", name, "' is taken");
  }
  MINIDL_CHECK(sample_shape.rank() < Shape::kMaxRank, ShapeError, "Graph::input '", name,
               "': sample shape ", sample_shape, " leaves no room for the batch axis");
  ValueInfo info;
  info.name = name;
  info.sample_shape = sample_shape;
  info.dtype = dtype;
  MINIDL_CHECK(!requires_grad || dtype == DType::Float32, DTypeError, "Graph::input '", name,
               "': only float32 inputs can have gradients");
  info.needs_grad = requires_grad;
  values_.push_back(std::move(info));
  inputs_.push_back(static_cast<Value>(values_.size() - 1));
  batch_size_ = 0;
  return inputs_.back();
}

Graph::Value Graph::add(std::shared_ptr<Layer> layer, const std::vector<Value>& inputs,
                        const std::string& name) {
  MINIDL_CHECK(layer != nullptr, ValueError, "Graph::add: null layer");
  for (const Node& n : nodes_) {
    MINIDL_CHECK(n.layer != layer, ValueError, "Graph::add: layer '", layer->name(),
                 "' is already in the graph (create a new layer to repeat it)");
  }
  for (Value v : inputs) {
    check_value(v, "add");
    const int producer = values_[static_cast<std::size_t>(v)].producer;
    MINIDL_CHECK(producer < 0 || !nodes_[static_cast<std::size_t>(producer)].layer->is_loss(),
                 ValueError, "Graph::add: '", values_[static_cast<std::size_t>(v)].name,
                 "' is a loss; a loss ends the graph and cannot feed another layer");
  }
  std::string final_name = name;
  if (final_name.empty()) final_name = layer->name();
  if (final_name.empty()) {
    std::string base = layer->type();
    std::transform(base.begin(), base.end(), base.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    int k = 1;
    auto taken = [&](const std::string& candidate) {
      return std::any_of(values_.begin(), values_.end(),
                         [&](const ValueInfo& v) { return v.name == candidate; });
    };
    while (taken(base + std::to_string(k))) ++k;
    final_name = base + std::to_string(k);
  }
  for (const ValueInfo& v : values_) {
    MINIDL_CHECK(v.name != final_name, ValueError, "Graph::add: the name '", final_name,
                 "' is taken");
  }
  layer->set_name(final_name);
  Node node;
  node.layer = std::move(layer);
  node.inputs = inputs;
  ValueInfo out;
  out.name = final_name;
  out.producer = static_cast<int>(nodes_.size());
  values_.push_back(std::move(out));
  node.output = static_cast<Value>(values_.size() - 1);
  for (Value v : inputs)
    values_[static_cast<std::size_t>(v)].consumers.push_back(static_cast<int>(nodes_.size()));
  nodes_.push_back(std::move(node));
  batch_size_ = 0;
  return nodes_.back().output;
}

void Graph::build(std::int64_t batch_size) {
  MINIDL_CHECK(batch_size > 0, ValueError, "Graph::build: the batch size must be positive, got ",
               batch_size);
  MINIDL_CHECK(!nodes_.empty(), ValueError, "Graph::build: the graph has no layers");
  check_device(device_);
  BuildContext ctx{device_, generator_.get()};
  for (Value v : inputs_) {
    ValueInfo& info = values_[static_cast<std::size_t>(v)];
    std::vector<std::int64_t> dims{batch_size};
    for (std::int64_t d : info.sample_shape) dims.push_back(d);
    info.shape = Shape(dims);
    info.buffer = Tensor();  // inputs are the caller's tensors
  }
  for (Node& node : nodes_) {
    std::vector<Shape> shapes;
    std::vector<DType> dtypes;
    for (Value v : node.inputs) {
      shapes.push_back(values_[static_cast<std::size_t>(v)].shape);
      dtypes.push_back(values_[static_cast<std::size_t>(v)].dtype);
    }
    ValueInfo& out = values_[static_cast<std::size_t>(node.output)];
    out.shape = node.layer->build(shapes, dtypes, ctx);
    out.dtype = node.layer->output_dtype();
    out.batched = !node.layer->is_loss();
    if (out.batched) {
      MINIDL_CHECK(out.shape.rank() >= 1 && out.shape[0] == batch_size, ShapeError,
                   node.layer->type(), " '", node.layer->name(), "': output ", out.shape,
                   " lost the batch axis");
    }
    bool needs = !node.layer->parameters().empty();
    for (Value v : node.inputs) needs = needs || values_[static_cast<std::size_t>(v)].needs_grad;
    out.needs_grad = needs;
  }
  choose_layouts();
  choose_relu_folds();
  // Buffers: allocated once here, reused by every step.
  for (ValueInfo& info : values_) {
    info.grad_buffer = info.needs_grad ? empty(info.shape, device_, info.dtype) : Tensor();
    if (info.producer >= 0) info.buffer = empty(info.shape, device_, info.dtype);
    info.scratch.clear();
    if (info.needs_grad) {
      for (std::size_t k = 1; k < info.consumers.size(); ++k)
        info.scratch.push_back(empty(info.shape, device_));
    }
  }
  batch_size_ = batch_size;
  current_batch_ = 0;
}

void Graph::choose_layouts() {
  for (std::size_t v = 0; v < values_.size(); ++v) {
    ValueInfo& info = values_[v];
    info.layout = Layout::NCHW;
    if (!blocked_layouts_ || info.producer < 0 || info.consumers.empty() || !info.batched ||
        info.dtype != DType::Float32 || !device_.is_cpu())
      continue;
    // oneDNN's own blocked layout on this CPU first, then NCHW8c (no reorder inside the
    // convolution either way when the channels fit only the smaller block).
    const Layout preferred = cpu::onednn_blocked_layout();
    for (Layout blocked : {preferred, Layout::NCHW8c}) {
      bool ok = nodes_[static_cast<std::size_t>(info.producer)].layer->produces_layout(blocked);
      for (int c : info.consumers) {
        const Node& consumer = nodes_[static_cast<std::size_t>(c)];
        for (std::size_t i = 0; ok && i < consumer.inputs.size(); ++i) {
          if (consumer.inputs[i] == static_cast<Value>(v))
            ok = consumer.layer->accepts_layout(i, blocked);
        }
      }
      if (ok) {
        info.layout = blocked;
        break;
      }
    }
  }
  for (Node& node : nodes_) {
    std::vector<Layout> in;
    for (Value v : node.inputs) in.push_back(values_[static_cast<std::size_t>(v)].layout);
    node.layer->set_layouts(std::move(in), values_[static_cast<std::size_t>(node.output)].layout);
  }
}

void Graph::choose_relu_folds() {
  for (std::size_t v = 0; v < values_.size(); ++v) {
    ValueInfo& info = values_[v];
    info.relu_fold_reader = -1;
    if (!backward_folds_ || info.producer < 0 || !info.needs_grad || info.consumers.size() != 1)
      continue;
    if (!nodes_[static_cast<std::size_t>(info.producer)].layer->output_is_relu()) continue;
    const Node& reader = nodes_[static_cast<std::size_t>(info.consumers[0])];
    if (std::count(reader.inputs.begin(), reader.inputs.end(), static_cast<Value>(v)) != 1)
      continue;  // read twice by one layer: two gradients to add, each would be masked
    const std::size_t i = static_cast<std::size_t>(
        std::find(reader.inputs.begin(), reader.inputs.end(), static_cast<Value>(v)) -
        reader.inputs.begin());
    if (reader.layer->can_fold_input_relu(i) && reader.layer->parameters().empty())
      info.relu_fold_reader = info.consumers[0];
  }
  for (Node& node : nodes_) {
    std::vector<bool> in;
    for (Value v : node.inputs) in.push_back(values_[static_cast<std::size_t>(v)].relu_fold_reader >= 0);
    node.layer->set_relu_folds(std::move(in),
                               values_[static_cast<std::size_t>(node.output)].relu_fold_reader >= 0);
  }
}

bool Graph::relu_folded(Value v) const {
  check_value(v, "relu_folded");
  return values_[static_cast<std::size_t>(v)].relu_fold_reader >= 0;
}

Layout Graph::value_layout(Value v) const {
  check_value(v, "value_layout");
  return values_[static_cast<std::size_t>(v)].layout;
}

Tensor Graph::view_at_batch(const Tensor& buffer, const ValueInfo& info, std::int64_t n) const {
  if (!buffer.defined() || !info.batched || n == info.shape[0]) return buffer;
  std::vector<std::int64_t> dims = info.shape.dims();
  dims[0] = n;
  return Tensor(buffer.storage(), Shape(dims), buffer.dtype());
}

void Graph::forward(const std::vector<Tensor>& inputs, Value until) {
  MINIDL_CHECK(built(), ValueError, "Graph::forward: call build(batch_size) first");
  MINIDL_CHECK(inputs.size() == inputs_.size(), ValueError, "Graph::forward: the graph has ",
               inputs_.size(), " inputs, got ", inputs.size(), " tensors");
  if (until >= 0) check_value(until, "forward");
  std::int64_t n = -1;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    ValueInfo& info = values_[static_cast<std::size_t>(inputs_[i])];
    const Tensor& t = inputs[i];
    info.current = t;
    if (!t.defined()) continue;
    MINIDL_CHECK(t.device() == device_, DeviceError, "Graph::forward: input '", info.name,
                 "' is on ", t.device(), ", the graph on ", device_);
    MINIDL_CHECK(t.dtype() == info.dtype, DTypeError, "Graph::forward: input '", info.name,
                 "' must be ", info.dtype, ", got ", t.dtype());
    const std::int64_t batch = t.rank() >= 1 ? t.size(0) : -1;
    bool ok = t.rank() == info.shape.rank() && batch >= 1 && batch <= batch_size_;
    for (int d = 1; ok && d < t.rank(); ++d) ok = t.size(d) == info.shape[d];
    MINIDL_CHECK(ok, ShapeError, "Graph::forward: input '", info.name, "' must be [n",
                 info.sample_shape.rank() ? ", " : "", info.sample_shape.str().substr(1),
                 " with 1 <= n <= ", batch_size_, ", got ", t.shape());
    MINIDL_CHECK(n < 0 || batch == n, ShapeError, "Graph::forward: input '", info.name,
                 "' has batch ", batch, " but an earlier input has ", n);
    n = batch;
  }
  MINIDL_CHECK(n > 0, ValueError, "Graph::forward: no input tensor given");
  current_batch_ = n;
  for (ValueInfo& info : values_) {
    info.grad_ready = false;
    if (info.producer >= 0) info.current = view_at_batch(info.buffer, info, n);
  }
  for (Node& node : nodes_) {
    std::vector<const Tensor*> in;
    for (Value v : node.inputs) {
      const ValueInfo& info = values_[static_cast<std::size_t>(v)];
      MINIDL_CHECK(info.current.defined(), ValueError, "Graph::forward: layer '",
                   node.layer->name(), "' needs input '", info.name, "', which was not given");
      in.push_back(&info.current);
    }
    node.layer->forward(in, values_[static_cast<std::size_t>(node.output)].current);
    if (node.output == until) break;
  }
}

void Graph::backward(Value loss) {
  check_value(loss, "backward");
  const ValueInfo& loss_info = values_[static_cast<std::size_t>(loss)];
  MINIDL_CHECK(loss_info.producer >= 0 &&
                   nodes_[static_cast<std::size_t>(loss_info.producer)].layer->is_loss(),
               ValueError, "Graph::backward: '", loss_info.name,
               "' is not the output of a loss layer (give an upstream gradient to start "
               "from another value)");
  run_backward(loss, nullptr);
}

void Graph::backward(Value v, const Tensor& upstream) {
  check_value(v, "backward");
  const ValueInfo& info = values_[static_cast<std::size_t>(v)];
  MINIDL_CHECK(current_batch_ > 0, ValueError, "Graph::backward: run forward first");
  MINIDL_CHECK(info.needs_grad, ValueError, "Graph::backward: '", info.name,
               "' depends on no parameter and no requires_grad input: nothing to differentiate");
  // A loss layer keeps d loss / d prediction from its forward and ends every backward with
  // it (d loss = 1): an upstream gradient for its output would be ignored, not applied.
  MINIDL_CHECK(
      info.producer < 0 || !nodes_[static_cast<std::size_t>(info.producer)].layer->is_loss(),
      ValueError, "Graph::backward: '", info.name,
      "' is a loss layer's output, whose gradient is 1: call backward(", info.name,
      ") without an upstream gradient (one given here would be ignored)");
  MINIDL_CHECK(upstream.defined(), ValueError, "Graph::backward: the upstream gradient for '",
               info.name, "' is undefined");
  MINIDL_CHECK(upstream.dtype() == DType::Float32, DTypeError,
               "Graph::backward: the upstream gradient for '", info.name, "' must be float32, got ",
               upstream.dtype());
  MINIDL_CHECK(upstream.device() == device_, DeviceError,
               "Graph::backward: the upstream gradient for '", info.name, "' is on ",
               upstream.device(), ", the graph on ", device_);
  MINIDL_CHECK(upstream.shape() == info.current.shape(), ShapeError,
               "Graph::backward: the upstream gradient for '", info.name, "' has shape ",
               upstream.shape(), ", the value ", info.current.shape());
  run_backward(v, &upstream);
}

void Graph::run_backward(Value loss, const Tensor* upstream) {
  MINIDL_CHECK(current_batch_ > 0, ValueError, "Graph::backward: run forward first");
  for (ValueInfo& info : values_) {
    info.grad_ready = false;
    info.current_grad =
        info.needs_grad ? view_at_batch(info.grad_buffer, info, current_batch_) : Tensor();
  }
  ValueInfo& seed = values_[static_cast<std::size_t>(loss)];
  if (upstream && seed.layout != Layout::NCHW)
    convert_layout(*upstream, Layout::NCHW, seed.current_grad, seed.layout);
  else if (upstream)
    seed.current_grad.copy_from(*upstream);
  else
    fill(seed.current_grad, 1.0);
  seed.grad_ready = true;
  // A seed whose ReLU backward is folded into its reader's: that reader does not run in this
  // pass (it is downstream of the seed), so its producer gets the gradient through the ReLU
  // here; the seed's own gradient stays d loss / d value, as grad() reports it.
  Tensor seed_through_relu;
  if (seed.relu_fold_reader >= 0)
    activation_backward(Activation::ReLU, seed.current_grad, seed.current, Tensor(),
                        seed_through_relu);
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    Node& node = *it;
    ValueInfo& out = values_[static_cast<std::size_t>(node.output)];
    if (!out.grad_ready) continue;  // not on a path to the loss
    std::vector<const Tensor*> in;
    std::vector<Tensor*> d_in;
    std::vector<std::pair<ValueInfo*, Tensor>> accumulate;  // (value, scratch view) to add after
    std::map<Value, std::size_t> scratch_used;
    std::vector<Tensor> scratch_views;
    scratch_views.reserve(node.inputs.size());
    for (Value v : node.inputs) {
      ValueInfo& info = values_[static_cast<std::size_t>(v)];
      in.push_back(&info.current);
      if (!info.needs_grad) {
        d_in.push_back(nullptr);
      } else if (!info.grad_ready) {
        d_in.push_back(&info.current_grad);
        info.grad_ready = true;
      } else {
        const std::size_t k = scratch_used[v]++;
        scratch_views.push_back(view_at_batch(info.scratch.at(k), info, current_batch_));
        d_in.push_back(&scratch_views.back());
        accumulate.emplace_back(&info, scratch_views.back());
      }
    }
    const bool seeded_fold = node.output == loss && seed_through_relu.defined();
    node.layer->backward(in, out.current, seeded_fold ? seed_through_relu : out.current_grad, d_in);
    for (auto& [info, scratch] : accumulate)
      minidl::add(info->current_grad, scratch, info->current_grad);
    if (grad_ready_hook_) {
      for (Parameter* p : node.layer->parameters()) grad_ready_hook_(*p);
    }
  }
}

Tensor Graph::value(Value v) const {
  check_value(v, "value");
  const ValueInfo& info = values_[static_cast<std::size_t>(v)];
  return info.current.defined() ? to_nchw(info.current, info.layout) : info.current;
}

Tensor Graph::grad(Value v) const {
  check_value(v, "grad");
  const ValueInfo& info = values_[static_cast<std::size_t>(v)];
  if (!info.grad_ready) return Tensor();
  if (info.relu_fold_reader >= 0) {
    const Node& reader = nodes_[static_cast<std::size_t>(info.relu_fold_reader)];
    const ValueInfo& out = values_[static_cast<std::size_t>(reader.output)];
    // The buffer holds d loss / d z, which the reader wrote through the ReLU; d loss / d v
    // is its backward without the fold (it has no parameters: nothing else changes). Unless
    // the pass was seeded at v (the reader did not run): then the buffer is the seed itself.
    if (out.grad_ready) {
      std::vector<const Tensor*> in;
      std::vector<Tensor*> d_in;
      std::vector<bool> folds;
      Tensor d_v = empty(info.current_grad.shape(), device_);
      for (Value u : reader.inputs) {
        in.push_back(&values_[static_cast<std::size_t>(u)].current);
        d_in.push_back(u == v ? &d_v : nullptr);
        folds.push_back(values_[static_cast<std::size_t>(u)].relu_fold_reader >= 0);
      }
      Layer& layer = *reader.layer;
      layer.set_relu_folds(std::vector<bool>(folds.size(), false), layer.output_relu_folded());
      try {
        layer.backward(in, out.current, out.current_grad, d_in);
      } catch (...) {
        layer.set_relu_folds(folds, layer.output_relu_folded());
        throw;
      }
      layer.set_relu_folds(std::move(folds), layer.output_relu_folded());
      return to_nchw(d_v, info.layout);
    }
  }
  return to_nchw(info.current_grad, info.layout);
}

Graph::Value Graph::output_of(const std::string& layer_name) const {
  for (const Node& n : nodes_) {
    if (n.layer->name() == layer_name) return n.output;
  }
  throw ValueError(detail::concat("Graph::output_of: no layer named '", layer_name, "'"));
}

Layer& Graph::layer(std::size_t i) {
  return const_cast<Layer&>(static_cast<const Graph&>(*this).layer(i));
}

const Layer& Graph::layer(std::size_t i) const {
  MINIDL_CHECK(i < nodes_.size(), ValueError, "Graph::layer: index ", i,
               " is out of range (the graph has ", nodes_.size(), " layers)");
  return *nodes_[i].layer;
}

const std::string& Graph::value_name(Value v) const {
  check_value(v, "value_name");
  return values_[static_cast<std::size_t>(v)].name;
}

const Shape& Graph::value_shape(Value v) const {
  check_value(v, "value_shape");
  MINIDL_CHECK(built(), ValueError, "Graph::value_shape: build the graph first");
  return values_[static_cast<std::size_t>(v)].shape;
}

DType Graph::value_dtype(Value v) const {
  check_value(v, "value_dtype");
  return values_[static_cast<std::size_t>(v)].dtype;
}

Layer& Graph::layer(const std::string& name) {
  for (Node& n : nodes_) {
    if (n.layer->name() == name) return *n.layer;
  }
  throw ValueError(detail::concat("Graph::layer: no layer named '", name, "'"));
}

std::vector<Parameter*> Graph::parameters() {
  // build() creates the parameters (their shapes come from the inputs'); before
  // it they are unnamed, undefined tensors that no optimizer can use.
  MINIDL_CHECK(built(), ValueError,
               "Graph::parameters: the graph is not built; call build(batch_size) first (it "
               "creates the parameters)");
  std::vector<Parameter*> all;
  for (Node& n : nodes_) {
    for (Parameter* p : n.layer->parameters()) all.push_back(p);
  }
  return all;
}

std::vector<std::pair<std::string, Tensor*>> Graph::buffers() {
  std::vector<std::pair<std::string, Tensor*>> all;
  for (Node& n : nodes_) {
    for (auto& [name, t] : n.layer->buffers()) all.emplace_back(n.layer->name() + "." + name, t);
  }
  return all;
}

std::int64_t Graph::parameter_count() {
  std::int64_t count = 0;
  for (Parameter* p : parameters()) count += p->value.numel();
  return count;
}

void Graph::zero_grad() {
  MINIDL_CHECK(built(), ValueError, "Graph::zero_grad: call build(batch_size) first");
  for (Parameter* p : parameters()) fill(p->grad, 0.0);
}

void Graph::to(Device device) {
  check_device(device);
  if (device == device_) return;
  for (Node& n : nodes_) n.layer->to(device);
  device_ = device;
  const std::int64_t b = batch_size_;
  if (b > 0) build(b);
}

void Graph::train(bool training) {
  for (Node& n : nodes_) n.layer->set_training(training);
}

std::string Graph::summary() const {
  std::ostringstream out;
  auto row = [&](const std::string& a, const std::string& b, const std::string& c) {
    out << std::left << std::setw(34) << a << std::setw(22) << b << std::right << std::setw(12) << c
        << "\n";
  };
  auto with_commas = [](std::int64_t v) {
    std::string s = std::to_string(v);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
      s.insert(static_cast<std::size_t>(i), ",");
    return s;
  };
  row("Layer (type)", "Output shape", "Params");
  out << std::string(68, '-') << "\n";
  std::int64_t total = 0;
  for (Value v : inputs_) {
    const ValueInfo& info = values_[static_cast<std::size_t>(v)];
    std::vector<std::int64_t> dims{1};
    for (std::int64_t d : info.sample_shape) dims.push_back(d);
    row(info.name + " (Input)", batch_shape_str(Shape(dims)), "0");
  }
  for (const Node& n : nodes_) {
    std::int64_t count = 0;
    for (Parameter* p : n.layer->parameters()) count += p->value.defined() ? p->value.numel() : 0;
    total += count;
    const ValueInfo& info = values_[static_cast<std::size_t>(n.output)];
    const std::string shape = built() ? batch_shape_str(info.shape) : std::string("(not built)");
    row(n.layer->name() + " (" + n.layer->type() + ")", shape, with_commas(count));
  }
  out << std::string(68, '-') << "\n";
  out << "Total parameters: " << with_commas(total) << "  (device " << device_ << ")\n";
  return out.str();
}

}  // namespace minidl
