// Sequential: the easy front of Graph for a chain of layers ending in a loss.
//
//   Sequential net({784}, Device::cpu(), /*seed=*/1);
//   net.add<Dense>(256).add(relu_layer()).add(Dense(10), "logits");
//   // the same as net.add(std::make_shared<Dense>(256)) ... add(std::make_shared<Dense>(10), "logits")
//   net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);   // int32 labels [B]
//   net.build(128);
//   float loss = net.train_step(x, y);   // forward + backward (after zero_grad)
//   Tensor l = net.step(x, y);           // the same, the loss left on the device (no sync)
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

#include "graph.hpp"
#include "loss.hpp"

namespace minidl {

class Sequential {
 public:
  explicit Sequential(const Shape& sample_shape, Device device = Device::cpu(),
                      std::uint64_t seed = 0, DType input_dtype = DType::Float32);

  /// Appends a layer fed by the previous one.
  Sequential& add(std::shared_ptr<Layer> layer, const std::string& name = "");
  /// Appends a new L(args...): net.add<Dense>(256), net.add<Conv2d>(32, 5, Conv2dOptions::same()).
  /// The layer gets the default name ("dense1"); use add(L(...), name) to name it.
  template <class L, class... Args,
            std::enable_if_t<std::is_base_of_v<Layer, L> && std::is_constructible_v<L, Args&&...>,
                             int> = 0>
  Sequential& add(Args&&... args) {
    return add(std::shared_ptr<Layer>(std::make_shared<L>(std::forward<Args>(args)...)));
  }
  /// Appends a copy of (or moves) `layer`: net.add(Dense(256)), net.add(Dense(10), "logits").
  template <class L, std::enable_if_t<std::is_base_of_v<Layer, std::decay_t<L>>, int> = 0>
  Sequential& add(L&& layer, const std::string& name = "") {
    return add(std::shared_ptr<Layer>(std::make_shared<std::decay_t<L>>(std::forward<L>(layer))),
               name);
  }
  /// Ends the chain with `loss`; its targets are an input of the given per-sample
  /// shape and dtype (int32 [] for class labels).
  Sequential& loss(std::shared_ptr<LossLayer> loss, const Shape& target_sample_shape,
                   DType target_dtype = DType::Float32);

  void build(std::int64_t batch_size) { graph_.build(batch_size); }

  /// zero_grad, forward on (x, targets) and backward; returns the 0-d float32
  /// loss on the model's device WITHOUT reading it: on CUDA nothing waits for the
  /// GPU, so a loop can queue step after step and accumulate the losses on the
  /// device (add(total, step(x, y), total)). The tensor is the graph's loss
  /// buffer: the next step overwrites it, so read or accumulate it before then.
  /// A deferred CUDA check (a label outside [0, K): kernels/loss.hpp) is raised
  /// when the loss (or anything else) is next read on the host.
  Tensor step(const Tensor& x, const Tensor& targets);
  /// step() and then the loss value (reading it synchronises with the GPU).
  float train_step(const Tensor& x, const Tensor& targets);
  /// The last layer's output for x (no loss, no gradients).
  Tensor predict(const Tensor& x);

  Graph& graph() { return graph_; }
  Graph::Value input() const { return input_; }
  Graph::Value output() const { return output_; }
  Graph::Value loss_value() const { return loss_; }

 private:
  Graph graph_;
  Graph::Value input_;
  Graph::Value output_;
  Graph::Value targets_ = -1;
  Graph::Value loss_ = -1;
};

}  // namespace minidl
