// Learning-rate schedules: argument checks and the formulas, in double.
#include "schedule.hpp"

#include <cmath>

#include "../core/error.hpp"
#include "optimizer.hpp"

namespace minidl {

namespace {

constexpr double kPi = 3.14159265358979323846;

void check_step(const char* who, std::int64_t step) {
  MINIDL_CHECK(step >= 0, ValueError, who, "::learning_rate: step must be >= 0, got ", step);
}

}  // namespace

ConstantLr::ConstantLr(float lr) : lr_(lr) {
  optim_detail::check_non_negative("ConstantLr", "lr", lr);
}

float ConstantLr::learning_rate(std::int64_t step) const {
  check_step("ConstantLr", step);
  return lr_;
}

StepLr::StepLr(float base_lr, std::int64_t step_size, float gamma)
    : base_lr_(base_lr), step_size_(step_size), gamma_(gamma) {
  optim_detail::check_non_negative("StepLr", "base_lr", base_lr);
  MINIDL_CHECK(step_size > 0, ValueError, "StepLr: step_size must be > 0, got ", step_size);
  MINIDL_CHECK(std::isfinite(gamma) && gamma > 0.0f, ValueError,
               "StepLr: gamma must be finite and > 0, got ", gamma);
}

float StepLr::learning_rate(std::int64_t step) const {
  check_step("StepLr", step);
  const std::int64_t decays = step / step_size_;  // floor: the completed periods
  return static_cast<float>(static_cast<double>(base_lr_) *
                            std::pow(double{gamma_}, static_cast<double>(decays)));
}

CosineLr::CosineLr(float base_lr, std::int64_t total_steps, float min_lr)
    : base_lr_(base_lr), total_steps_(total_steps), min_lr_(min_lr) {
  optim_detail::check_non_negative("CosineLr", "base_lr", base_lr);
  optim_detail::check_non_negative("CosineLr", "min_lr", min_lr);
  MINIDL_CHECK(total_steps > 0, ValueError, "CosineLr: total_steps must be > 0, got ", total_steps);
}

float CosineLr::learning_rate(std::int64_t step) const {
  check_step("CosineLr", step);
  const double s = static_cast<double>(step < total_steps_ ? step : total_steps_);
  const double progress = s / static_cast<double>(total_steps_);
  const double lo = min_lr_, hi = base_lr_;
  return static_cast<float>(lo + (hi - lo) * 0.5 * (1.0 + std::cos(kPi * progress)));
}

WarmupLr::WarmupLr(std::shared_ptr<const LrSchedule> after, std::int64_t warmup_steps)
    : after_(std::move(after)), warmup_steps_(warmup_steps) {
  MINIDL_CHECK(after_ != nullptr, ValueError, "WarmupLr: the wrapped schedule is null");
  MINIDL_CHECK(warmup_steps >= 0, ValueError, "WarmupLr: warmup_steps must be >= 0, got ",
               warmup_steps);
}

float WarmupLr::learning_rate(std::int64_t step) const {
  check_step("WarmupLr", step);
  if (step >= warmup_steps_) return after_->learning_rate(step - warmup_steps_);
  const double target = after_->learning_rate(0);
  return static_cast<float>(target * static_cast<double>(step + 1) /
                            static_cast<double>(warmup_steps_));
}

float apply_schedule(const LrSchedule& schedule, Optimizer& optimizer) {
  const float lr = schedule.learning_rate(optimizer.steps());
  optimizer.set_learning_rate(lr);
  return lr;
}

}  // namespace minidl
