// Fuzz target "checkpoint": load_checkpoint into a small MLP with Adam, then one
// training step and a save of the result (refused exactly when the step made the state
// non-finite).
#include <cmath>
#include <memory>

#include "../../core/error.hpp"
#include "../../io/checkpoint.hpp"
#include "../../layers/activation.hpp"
#include "../../layers/dense.hpp"
#include "../../layers/loss.hpp"
#include "../../layers/sequential.hpp"
#include "../../optim/adam.hpp"
#include "../targets.hpp"

namespace minidl::fuzz {

int checkpoint_step(const std::uint8_t* data, std::size_t size) {
  static ScratchFile in("checkpoint-in");
  static ScratchFile out("checkpoint-out");
  // A fresh model per input: 4 -> Dense(3) -> ReLU -> Dense(2), cross-entropy
  // (the seed corpus holds checkpoints of this very model).
  Sequential net({4}, Device::cpu(), 1);
  net.add(std::make_shared<Dense>(3)).add(relu_layer()).add(std::make_shared<Dense>(2));
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(2);
  Adam adam(net.graph().parameters());
  try {
    load_checkpoint(in.write(data, size), net.graph(), &adam);
  } catch (const Error&) {
    return 0;
  }
  // load_checkpoint promises finite weights (a diverged run's are refused).
  for (Parameter* p : net.graph().parameters())
    for (float v : p->value.to_vector<float>())
      if (!std::isfinite(v)) violated("load_checkpoint accepted a non-finite " + p->name);
  const Tensor x = from_vector({0.5f, -1.0f, 2.0f, 0.0f, 1.0f, 1.0f, -0.5f, 0.25f}, {2, 4});
  const Tensor y = from_vector({0, 1}, {2});
  net.train_step(x, y);
  adam.step();
  // A step from huge finite weights can make them (or Adam's moments) NaN or inf:
  // save_checkpoint then refuses with a ValueError, and only then.
  bool finite = true;
  for (Parameter* p : net.graph().parameters())
    for (float v : p->value.to_vector<float>()) finite = finite && std::isfinite(v);
  for (const auto& [name, t] : adam.state_tensors())
    for (float v : t.to_vector<float>()) finite = finite && std::isfinite(v);
  try {
    save_checkpoint(out.path(), net.graph(), &adam);
  } catch (const ValueError& e) {
    if (finite) violated(std::string("save_checkpoint refused finite state: ") + e.what());
    return 0;
  }
  if (!finite) violated("save_checkpoint wrote non-finite state");
  return 0;
}

}  // namespace minidl::fuzz
