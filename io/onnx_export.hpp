// ONNX export: a built Graph as an ONNX model (opset 13) that ONNX Runtime and
// other inference engines run, with the semantics of evaluation mode (Dropout is
// the identity, BatchNorm2d uses its running statistics).
//
// Layer -> ONNX operator:
//   Dense          Gemm (transB = 1; the weight is stored [out, in] as in minidl)
//   Conv2d         Conv with explicit pads (top, left, bottom, right) as minidl resolves
//                  them for the built input size: valid, same (TensorFlow's split) or
//                  explicit padding, and the strides as they are
//   ReLU, LeakyReLU, Sigmoid, Tanh, Identity   Relu, LeakyRelu(alpha), Sigmoid, Tanh, Identity
//   Step (hard threshold, 1 for z >= 0)        Cast<float>(GreaterOrEqual(z, 0)); a NaN
//                                              input gives 0 where minidl keeps NaN
//   Softmax        Softmax(axis = -1)
//   MaxPool2d, AvgPool2d   MaxPool, AveragePool (count_include_pad as in the layer)
//   BatchNorm2d    BatchNormalization with the running mean and variance, epsilon
//   Flatten        Flatten(axis = 1);  Reshape   Reshape to [0 (the batch), sample shape...]
//   Add            Add (two inputs) or Sum (more);  Concat   Concat(axis = 1)
//   Dropout        Identity
// Loss layers are left out: the value a loss reads as its prediction (its first
// input) becomes a graph output instead, so a classifier's output is its logits.
// Values no layer consumes are outputs too. Graph inputs only the loss layers read
// (the targets) are left out. Any other layer type is a ValueError naming the layer
// and its type.
//
// Names: ONNX inputs and outputs carry the minidl value names (the input's name,
// the producing layer's name); the weights are initializers named as the
// parameters ("dense1.weight"). The batch axis of every input and output is the
// symbolic dimension "batch"; the other axes are fixed as built.
//
// Before writing, the model goes through onnx::checker::check_model and ONNX's
// shape inference in strict mode; a failure is an Error (a bug in the exporter,
// never a malformed file on disk). The file is written atomically (temporary
// file, fsync, rename): a failed export leaves the previous file as it was.
#pragma once

#include <string>

#include "../layers/graph.hpp"

namespace minidl {

/// The serialized, checked ONNX ModelProto of `graph` (see above). Requires a built
/// graph (ValueError). Parameters are read from any device.
std::string onnx_model_bytes(Graph& graph);

/// Writes onnx_model_bytes(graph) to `path` atomically (IoError naming the path).
void export_onnx(Graph& graph, const std::string& path);

}  // namespace minidl
