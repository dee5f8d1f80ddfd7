// Adam and AdamW: PyTorch's torch.optim.Adam and torch.optim.AdamW (amsgrad off,
// maximize off), with bias correction.
//
// Per element, at step t = 1, 2, ... (m and v start at 0):
//   AdamW (decoupled weight decay):  w = w * (1 - lr * weight_decay)
//   Adam  (L2 weight decay):         g = grad + weight_decay * w
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
//   w = w - lr * m_hat / (sqrt(v_hat) + eps)
// The last line is evaluated as PyTorch does, w - (lr / (1 - beta1^t)) * m /
// (sqrt(v) / sqrt(1 - beta2^t) + eps), with both corrections computed on the host
// in double for each step and passed to the CPU loop or the CUDA kernel.
// State: "<name>.adam_m" and "<name>.adam_v" per parameter (the first and second
// moments), zero-initialised.
#pragma once

#include <cstdint>
#include <vector>

#include "optimizer.hpp"
#include "update_math.hpp"

namespace minidl {

struct AdamOptions {
  float learning_rate = 1e-3f;          // finite, >= 0
  float beta1 = 0.9f;                   // in [0, 1)
  float beta2 = 0.999f;                 // in [0, 1)
  float eps = 1e-8f;                    // finite, > 0
  float weight_decay = 0.0f;            // finite, >= 0
  bool decoupled_weight_decay = false;  // true: AdamW's decay instead of L2
};

/// AdamW's options: the same as AdamOptions with decoupled decay always on and
/// PyTorch's AdamW default weight decay of 1e-2.
struct AdamWOptions {
  float learning_rate = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 1e-2f;
};

class Adam : public Optimizer {
 public:
  /// Requires the parameters to satisfy Optimizer's checks and valid options
  /// (ValueError naming the option and its value otherwise). `parameters` are not
  /// owned and must outlive the optimizer.
  explicit Adam(std::vector<Parameter*> parameters, const AdamOptions& options = {});

  /// "adamw" when options().decoupled_weight_decay, else "adam".
  std::string kind() const override;
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(std::vector<Parameter*> parameters, const AdamOptions& options, const char* who);
  void update(std::int64_t t) override;
  StateMetadata hyperparameters() const override;

 private:
  AdamOptions options_;
};

/// Adam with decoupled weight decay (Loshchilov & Hutter): the same as
/// Adam(parameters, options with decoupled_weight_decay = true).
class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<Parameter*> parameters, const AdamWOptions& options = {});
};

namespace cuda {
/// One fused pass over n elements on `device`'s stream: w, m and v updated in
/// place from g by `f`.
void adam_update(float* w, const float* g, float* m, float* v, std::int64_t n,
                 const optim_math::AdamUpdate& f, int device);
}  // namespace cuda

}  // namespace minidl
