// Stochastic gradient descent with optional momentum, Nesterov momentum and L2
// weight decay: PyTorch's torch.optim.SGD (dampening 0, maximize off).
//
// Per element, at each step():
//   g = grad + weight_decay * w
//   momentum == 0:  w = w - lr * g
//   momentum  > 0:  buf = g on the first step, else buf = momentum * buf + g;
//                   w = w - lr * (nesterov ? g + momentum * buf : buf)
// Since the momentum buffer is not pre-scaled by lr, changing the learning rate
// between steps (a schedule) rescales the whole step at once, as in PyTorch.
// State: one "<name>.momentum" tensor per parameter when momentum > 0, none otherwise.
#pragma once

#include <cstdint>
#include <vector>

#include "optimizer.hpp"
#include "update_math.hpp"

namespace minidl {

struct SgdOptions {
  float learning_rate = 0.01f;  // finite, >= 0
  float momentum = 0.0f;        // in [0, 1)
  bool nesterov = false;        // requires momentum > 0
  float weight_decay = 0.0f;    // L2 coefficient, finite, >= 0
};

class Sgd : public Optimizer {
 public:
  /// Requires the parameters to satisfy Optimizer's checks and valid options
  /// (ValueError naming the option and its value otherwise). `parameters` are not
  /// owned and must outlive the optimizer.
  explicit Sgd(std::vector<Parameter*> parameters, const SgdOptions& options = {});

  std::string kind() const override { return "sgd"; }
  const SgdOptions& options() const { return options_; }

 protected:
  void update(std::int64_t t) override;
  StateMetadata hyperparameters() const override;

 private:
  SgdOptions options_;
};

namespace cuda {
/// One fused pass over n elements on `device`'s stream: w (and buf, when momentum
/// is used; nullptr otherwise) updated in place from g by `f`.
void sgd_update(float* w, const float* g, float* buf, std::int64_t n,
                const optim_math::SgdUpdate& f, int device);
}  // namespace cuda

}  // namespace minidl
