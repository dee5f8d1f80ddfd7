// Adam / AdamW: option checks, the per-step scalars (bias corrections in double)
// and the CPU loop over optim_math::AdamUpdate (the CUDA kernel is in
// optim/update_cuda.cu).
#include "adam.hpp"

#include <cmath>
#include <utility>

#include "../core/dispatch.hpp"
#include "update_cpu.hpp"

namespace minidl {

namespace {

const AdamOptions& checked(const AdamOptions& o, const char* who) {
  optim_detail::check_non_negative(who, "learning_rate", o.learning_rate);
  optim_detail::check_non_negative(who, "weight_decay", o.weight_decay);
  MINIDL_CHECK(o.beta1 >= 0.0f && o.beta1 < 1.0f, ValueError, who,
               ": beta1 must be in [0, 1), got ", o.beta1);
  MINIDL_CHECK(o.beta2 >= 0.0f && o.beta2 < 1.0f, ValueError, who,
               ": beta2 must be in [0, 1), got ", o.beta2);
  MINIDL_CHECK(std::isfinite(o.eps) && o.eps > 0.0f, ValueError, who,
               ": eps must be finite and > 0, got ", o.eps);
  return o;
}

AdamOptions decoupled(const AdamWOptions& o) {
  AdamOptions out;
  out.learning_rate = o.learning_rate;
  out.beta1 = o.beta1;
  out.beta2 = o.beta2;
  out.eps = o.eps;
  out.weight_decay = o.weight_decay;
  out.decoupled_weight_decay = true;
  return out;
}

}  // namespace

Adam::Adam(std::vector<Parameter*> parameters, const AdamOptions& options)
    : Adam(std::move(parameters), options, "Adam") {}

Adam::Adam(std::vector<Parameter*> parameters, const AdamOptions& options, const char* who)
    : Optimizer(std::move(parameters), checked(options, who).learning_rate, who),
      options_(options) {
  add_slots({"adam_m", "adam_v"});
}

AdamW::AdamW(std::vector<Parameter*> parameters, const AdamWOptions& options)
    : Adam(std::move(parameters), decoupled(options), "AdamW") {}

std::string Adam::kind() const { return options_.decoupled_weight_decay ? "adamw" : "adam"; }

Optimizer::StateMetadata Adam::hyperparameters() const {
  return {{"beta1", optim_detail::format_float(options_.beta1)},
          {"beta2", optim_detail::format_float(options_.beta2)},
          {"eps", optim_detail::format_float(options_.eps)},
          {"weight_decay", optim_detail::format_float(options_.weight_decay)}};
}

void Adam::update(std::int64_t t) {
  const double lr = learning_rate();
  const double beta1 = options_.beta1, beta2 = options_.beta2;
  const double wd = options_.weight_decay;
  const double steps = static_cast<double>(t);
  optim_math::AdamUpdate f;
  f.beta1 = options_.beta1;
  f.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  f.beta2 = options_.beta2;
  f.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  f.eps = options_.eps;
  // The corrections go to 1 as t grows; computed in double they stay exact enough
  // for small t (1 - 0.999^1 = 0.001 would lose digits in float).
  f.step_size = static_cast<float>(lr / (1.0 - std::pow(beta1, steps)));
  f.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, steps)));
  f.decoupled = options_.decoupled_weight_decay && options_.weight_decay != 0.0f;
  f.decay_factor = f.decoupled ? static_cast<float>(1.0 - lr * wd) : 1.0f;
  f.l2 = options_.decoupled_weight_decay ? 0.0f : options_.weight_decay;
  for (std::size_t i = 0; i < parameters().size(); ++i) {
    Parameter& p = *parameters()[i];
    const std::int64_t n = p.value.numel();
    float* w = p.value.data<float>();
    const float* g = p.grad.data<float>();
    float* m = slot(i, 0).data<float>();
    float* v = slot(i, 1).data<float>();
    if (device().is_cuda()) {
      MINIDL_CUDA_CALL(cuda::adam_update(w, g, m, v, n, f, device().index()));
      continue;
    }
    optim_detail::for_each_element(n, f, w, g, m, v);
  }
}

}  // namespace minidl
