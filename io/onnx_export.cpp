#include "onnx_export.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <set>
#include <vector>

#include "../core/info.hpp"
#include "../kernels/conv2d.hpp"
#include "../layers/activation.hpp"
#include "../layers/batchnorm.hpp"
#include "../layers/conv.hpp"
#include "../layers/dense.hpp"
#include "../layers/dropout.hpp"
#include "../layers/pool.hpp"
#include "../layers/structural.hpp"
#include "atomic_file.hpp"

namespace minidl {
namespace {

constexpr int kOpset = 13;
constexpr int kIrVersion = 7;  // ONNX 1.8, the first with opset 13

using onnx::AttributeProto;
using onnx::NodeProto;
using onnx::TensorProto;

void set_int(NodeProto& n, const char* name, std::int64_t v) {
  AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::INT);
  a->set_i(v);
}

void set_float(NodeProto& n, const char* name, float v) {
  AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::FLOAT);
  a->set_f(v);
}

void set_ints(NodeProto& n, const char* name, const std::vector<std::int64_t>& v) {
  AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::INTS);
  for (std::int64_t x : v) a->add_ints(x);
}

// Builds the GraphProto node by node.
class Builder {
 public:
  Builder(Graph& graph, onnx::GraphProto& out) : graph_(graph), out_(out) {}

  // Inputs, node outputs and initializers share one namespace in ONNX, where each name is
  // defined once. The graph's value names are reserved first; every name the exporter
  // makes up (initializers, the intermediate values of multi-node layers) is `base`, or
  // `base` with "_<k>" added when a value or an earlier name took it: a layer named
  // "stem_conv" beside a Conv2d "stem" with a fused ReLU, or one named "fc.weight"
  // beside a Dense "fc", made the checker reject the model.
  void reserve(const std::string& name) { taken_.insert(name); }
  std::string fresh(const std::string& base) { return free_name(taken_, base); }
  // Node names likewise (ONNX Runtime refuses two nodes of one name): the layers' names are
  // reserved, and the second node of a two-node layer takes a free one.
  void reserve_node(const std::string& name) { nodes_taken_.insert(name); }
  std::string fresh_node(const std::string& base) { return free_name(nodes_taken_, base); }

  NodeProto& node(const std::string& op, const std::string& name,
                  const std::vector<std::string>& inputs, const std::string& output) {
    NodeProto* n = out_.add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const std::string& i : inputs) n->add_input(i);
    n->add_output(output);
    return *n;
  }

  // A float initializer from a minidl tensor (any device), named `name`.
  const std::string& weight(const std::string& name, const Tensor& t) {
    TensorProto* p = out_.add_initializer();
    p->set_name(fresh(name));
    p->set_data_type(TensorProto::FLOAT);
    for (std::int64_t d : t.shape()) p->add_dims(d);
    const std::vector<float> v = t.to_vector<float>();
    p->mutable_float_data()->Reserve(static_cast<int>(v.size()));
    for (float x : v) p->add_float_data(x);
    return p->name();
  }

  std::string int64s(const std::string& name, const std::vector<std::int64_t>& v) {
    TensorProto* p = out_.add_initializer();
    p->set_name(fresh(name));
    p->set_data_type(TensorProto::INT64);
    p->add_dims(static_cast<std::int64_t>(v.size()));
    for (std::int64_t x : v) p->add_int64_data(x);
    return p->name();
  }

  std::string float_scalar(const std::string& name, float v) {
    TensorProto* p = out_.add_initializer();
    p->set_name(fresh(name));
    p->set_data_type(TensorProto::FLOAT);
    p->add_float_data(v);
    return p->name();
  }

  // A float tensor of the value's built shape with a symbolic batch axis.
  void value_info(onnx::ValueInfoProto& info, Graph::Value v) {
    info.set_name(graph_.value_name(v));
    auto* tensor = info.mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(TensorProto::FLOAT);
    auto* shape = tensor->mutable_shape();
    const Shape& s = graph_.value_shape(v);
    for (int i = 0; i < s.rank(); ++i) {
      auto* d = shape->add_dim();
      if (i == 0)
        d->set_dim_param("batch");
      else
        d->set_dim_value(s[i]);
    }
  }

 private:
  // `base`, or `base` + "_<k>" for the first k that `taken` lacks; then taken.
  static std::string free_name(std::set<std::string>& taken, const std::string& base) {
    std::string name = base;
    for (int k = 1; taken.count(name) != 0; ++k) name = base + "_" + std::to_string(k);
    taken.insert(name);
    return name;
  }

  Graph& graph_;
  onnx::GraphProto& out_;
  std::set<std::string> taken_, nodes_taken_;
};

[[noreturn]] void unsupported(const Layer& layer, const std::string& why) {
  throw ValueError(detail::concat("export_onnx: layer '", layer.name(), "' (", layer.type(),
                                  ") cannot be exported to ONNX: ", why));
}

// Adds the ONNX nodes of layer i, reading `in` and producing `out`.
void export_layer(Builder& b, Graph& graph, std::size_t i, const std::vector<std::string>& in,
                  const std::string& out) {
  Layer& layer = graph.layer(i);
  const std::string& name = layer.name();
  const std::vector<Graph::Value>& inputs = graph.layer_inputs(i);
  if (auto* dense = dynamic_cast<Dense*>(&layer)) {
    if (graph.value_shape(inputs[0]).rank() != 2)
      unsupported(layer, detail::concat("Gemm needs a [batch, features] input, got ",
                                        graph.value_shape(inputs[0])));
    std::vector<std::string> args{in[0], b.weight(dense->weight().name, dense->weight().value)};
    if (dense->bias().value.defined()) args.push_back(b.weight(dense->bias().name, dense->bias().value));
    NodeProto& n = b.node("Gemm", name, args, out);
    set_int(n, "transB", 1);
    return;
  }
  if (auto* conv = dynamic_cast<Conv2d*>(&layer)) {
    const Tensor& w = conv->weight().value;
    const Conv2dGeometry g =
        conv2d_geometry(graph.value_shape(inputs[0]), w.shape(), conv->params(), name);
    std::vector<std::string> args{in[0], b.weight(conv->weight().name, w)};
    if (conv->bias().value.defined()) args.push_back(b.weight(conv->bias().name, conv->bias().value));
    // A fused ReLU exports as the two nodes ONNX has: Conv into "<out>_conv", then Relu.
    const bool relu = conv->activation() == Activation::ReLU;
    const std::string conv_out = relu ? b.fresh(out + "_conv") : out;
    NodeProto& n = b.node("Conv", name, args, conv_out);
    set_ints(n, "kernel_shape", {g.kernel_h, g.kernel_w});
    set_ints(n, "strides", {g.stride_h, g.stride_w});
    set_ints(n, "pads", {g.pad_top, g.pad_left, g.pad_bottom, g.pad_right});
    set_ints(n, "dilations", {1, 1});
    set_int(n, "group", 1);
    if (relu) b.node("Relu", b.fresh_node(name + "_relu"), {conv_out}, out);
    return;
  }
  if (auto* act = dynamic_cast<ActivationLayer*>(&layer)) {
    switch (act->activation()) {
      case Activation::Identity:
        b.node("Identity", name, {in[0]}, out);
        return;
      case Activation::ReLU:
        b.node("Relu", name, {in[0]}, out);
        return;
      case Activation::LeakyReLU:
        set_float(b.node("LeakyRelu", name, {in[0]}, out), "alpha", act->alpha());
        return;
      case Activation::Sigmoid:
        b.node("Sigmoid", name, {in[0]}, out);
        return;
      case Activation::Tanh:
        b.node("Tanh", name, {in[0]}, out);
        return;
      case Activation::Step: {
        const std::string zero = b.float_scalar(name + ".zero", 0.0f);
        const std::string ge = b.fresh(name + ".ge");
        b.node("GreaterOrEqual", b.fresh_node(name + ".ge"), {in[0], zero}, ge);
        set_int(b.node("Cast", name, {ge}, out), "to", TensorProto::FLOAT);
        return;
      }
    }
  }
  if (dynamic_cast<Softmax*>(&layer)) {
    set_int(b.node("Softmax", name, {in[0]}, out), "axis", -1);
    return;
  }
  if (auto* pool = dynamic_cast<Pool2d*>(&layer)) {
    const Pool2dParams& p = pool->params();
    const bool max = layer.type() == "MaxPool2d";
    NodeProto& n = b.node(max ? "MaxPool" : "AveragePool", name, {in[0]}, out);
    set_ints(n, "kernel_shape", {p.kernel_h, p.kernel_w});
    set_ints(n, "strides",
             {p.stride_h > 0 ? p.stride_h : p.kernel_h, p.stride_w > 0 ? p.stride_w : p.kernel_w});
    set_ints(n, "pads", {p.pad_h, p.pad_w, p.pad_h, p.pad_w});
    if (!max) set_int(n, "count_include_pad", p.count_include_pad ? 1 : 0);
    return;
  }
  if (auto* bn = dynamic_cast<BatchNorm2d*>(&layer)) {
    NodeProto& n = b.node("BatchNormalization", name,
                          {in[0], b.weight(bn->gamma().name, bn->gamma().value),
                           b.weight(bn->beta().name, bn->beta().value),
                           b.weight(name + ".running_mean", bn->running_mean()),
                           b.weight(name + ".running_var", bn->running_var())},
                          out);
    set_float(n, "epsilon", bn->options().eps);
    return;
  }
  if (dynamic_cast<Flatten*>(&layer)) {
    set_int(b.node("Flatten", name, {in[0]}, out), "axis", 1);
    return;
  }
  if (auto* reshape = dynamic_cast<Reshape*>(&layer)) {
    std::vector<std::int64_t> dims{0};  // 0: the input's batch size
    for (std::int64_t d : reshape->sample_shape()) dims.push_back(d);
    b.node("Reshape", name, {in[0], b.int64s(name + ".shape", dims)}, out);
    return;
  }
  if (dynamic_cast<Add*>(&layer)) {
    b.node(in.size() == 2 ? "Add" : "Sum", name, in, out);
    return;
  }
  if (dynamic_cast<Concat*>(&layer)) {
    set_int(b.node("Concat", name, in, out), "axis", 1);
    return;
  }
  if (dynamic_cast<Dropout*>(&layer)) {
    b.node("Identity", name, {in[0]}, out);
    return;
  }
  unsupported(layer, "minidl's exporter has no ONNX mapping for this layer type");
}

onnx::ModelProto build_model(Graph& graph) {
  MINIDL_CHECK(graph.built(), ValueError, "export_onnx: build the graph first");
  const std::size_t layers = graph.layer_count();
  // Outputs: what each loss reads as its prediction, and values nothing consumes.
  std::vector<Graph::Value> outputs;
  std::set<Graph::Value> consumed;
  for (std::size_t i = 0; i < layers; ++i)
    for (Graph::Value v : graph.layer_inputs(i)) consumed.insert(v);
  auto add_output = [&](Graph::Value v) {
    if (std::find(outputs.begin(), outputs.end(), v) == outputs.end()) outputs.push_back(v);
  };
  for (std::size_t i = 0; i < layers; ++i) {
    if (graph.layer(i).is_loss())
      add_output(graph.layer_inputs(i).at(0));
    else if (consumed.count(graph.layer_output(i)) == 0)
      add_output(graph.layer_output(i));
  }
  std::sort(outputs.begin(), outputs.end());
  MINIDL_CHECK(!outputs.empty(), ValueError, "export_onnx: the graph has no output to export");

  // The layers the outputs need, found backwards (layers run in the order added).
  std::set<Graph::Value> needed(outputs.begin(), outputs.end());
  std::vector<bool> keep(layers, false);
  for (std::size_t k = layers; k-- > 0;) {
    if (graph.layer(k).is_loss() || needed.count(graph.layer_output(k)) == 0) continue;
    keep[k] = true;
    for (Graph::Value v : graph.layer_inputs(k)) needed.insert(v);
  }

  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("minidl");
  model.set_producer_version(version());
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("minidl");
  Builder b(graph, g);
  for (Graph::Value v : graph.inputs())
    if (needed.count(v) != 0) b.reserve(graph.value_name(v));
  for (std::size_t i = 0; i < layers; ++i) {
    if (!keep[i]) continue;
    b.reserve(graph.value_name(graph.layer_output(i)));
    b.reserve_node(graph.layer(i).name());
  }

  for (Graph::Value v : graph.inputs()) {
    if (needed.count(v) == 0) continue;  // the targets of a loss
    MINIDL_CHECK(graph.value_dtype(v) == DType::Float32, DTypeError, "export_onnx: input '",
                 graph.value_name(v), "' is ", graph.value_dtype(v),
                 "; the exporter supports float32 inputs only");
    b.value_info(*g.add_input(), v);
  }
  for (std::size_t i = 0; i < layers; ++i) {
    if (!keep[i]) continue;
    std::vector<std::string> in;
    for (Graph::Value v : graph.layer_inputs(i)) in.push_back(graph.value_name(v));
    export_layer(b, graph, i, in, graph.value_name(graph.layer_output(i)));
  }
  for (Graph::Value v : outputs) b.value_info(*g.add_output(), v);
  return model;
}

}  // namespace

std::string onnx_model_bytes(Graph& graph) {
  onnx::ModelProto model = build_model(graph);
  try {
    onnx::checker::check_model(model);
    // Strict shape inference on a copy: it must agree with every declared output shape.
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw Error(detail::concat("export_onnx: the ONNX checker rejected the exported model: ",
                               e.what()));
  }
  std::string bytes;
  MINIDL_CHECK(model.SerializeToString(&bytes), Error,
               "export_onnx: protobuf could not serialize the model");
  return bytes;
}

void export_onnx(Graph& graph, const std::string& path) {
  const std::string bytes = onnx_model_bytes(graph);
  AtomicFile file(path, "export_onnx");
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace minidl
