// Sgd: option checks, the per-step scalars and the CPU loop over
// optim_math::SgdUpdate (the CUDA kernel is in optim/update_cuda.cu).
#include "sgd.hpp"

#include <utility>

#include "../core/dispatch.hpp"
#include "update_cpu.hpp"

namespace minidl {

namespace {

const SgdOptions& checked(const SgdOptions& o) {
  optim_detail::check_non_negative("Sgd", "learning_rate", o.learning_rate);
  optim_detail::check_non_negative("Sgd", "weight_decay", o.weight_decay);
  MINIDL_CHECK(o.momentum >= 0.0f && o.momentum < 1.0f, ValueError,
               "Sgd: momentum must be in [0, 1), got ", o.momentum);
  MINIDL_CHECK(!o.nesterov || o.momentum > 0.0f, ValueError,
               "Sgd: nesterov requires momentum > 0 (momentum is ", o.momentum, ")");
  return o;
}

}  // namespace

Sgd::Sgd(std::vector<Parameter*> parameters, const SgdOptions& options)
    : Optimizer(std::move(parameters), checked(options).learning_rate, "Sgd"), options_(options) {
  if (options_.momentum > 0.0f) add_slots({"momentum"});
}

Optimizer::StateMetadata Sgd::hyperparameters() const {
  return {{"momentum", optim_detail::format_float(options_.momentum)},
          {"nesterov", options_.nesterov ? "true" : "false"},
          {"weight_decay", optim_detail::format_float(options_.weight_decay)}};
}

void Sgd::update(std::int64_t t) {
  optim_math::SgdUpdate f;
  f.lr = learning_rate();
  f.momentum = options_.momentum;
  f.weight_decay = options_.weight_decay;
  f.nesterov = options_.nesterov;
  f.first_step = t == 1;
  const bool with_momentum = slot_count() > 0;
  for (std::size_t i = 0; i < parameters().size(); ++i) {
    Parameter& p = *parameters()[i];
    const std::int64_t n = p.value.numel();
    float* w = p.value.data<float>();
    const float* g = p.grad.data<float>();
    float* buf = with_momentum ? slot(i, 0).data<float>() : nullptr;
    if (device().is_cuda()) {
      MINIDL_CUDA_CALL(cuda::sgd_update(w, g, buf, n, f, device().index()));
      continue;
    }
    if (with_momentum) {
      optim_detail::for_each_element(n, f, w, g, buf);
    } else {
      optim_detail::for_each_element(n, f, w, g);
    }
  }
}

}  // namespace minidl
