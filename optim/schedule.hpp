// Learning-rate schedules: the learning rate as a function of the step index,
// and apply_schedule() to set it on an optimizer before each step.
//
// The step index is the 0-based number of the update about to be taken, i.e.
// Optimizer::steps() before step(): learning_rate(0) is used by the first update.
// Because load_state() restores steps(), a resumed run picks the schedule up
// where it stopped. Every schedule is immutable and computes in double.
#pragma once

#include <cstdint>
#include <memory>

namespace minidl {

class Optimizer;

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  /// The learning rate for step `step` (requires step >= 0, else ValueError).
  virtual float learning_rate(std::int64_t step) const = 0;
};

/// lr(step) = lr.
class ConstantLr : public LrSchedule {
 public:
  /// Requires a finite lr >= 0.
  explicit ConstantLr(float lr);
  float learning_rate(std::int64_t step) const override;

 private:
  float lr_;
};

/// lr(step) = base_lr * gamma^floor(step / step_size) (PyTorch's StepLR).
class StepLr : public LrSchedule {
 public:
  /// Requires a finite base_lr >= 0, step_size > 0 and a finite gamma > 0.
  StepLr(float base_lr, std::int64_t step_size, float gamma);
  float learning_rate(std::int64_t step) const override;

 private:
  float base_lr_;
  std::int64_t step_size_;
  float gamma_;
};

/// Cosine annealing from base_lr at step 0 to min_lr at step total_steps, then
/// min_lr for good (PyTorch's CosineAnnealingLR with T_max = total_steps, without
/// restarts): lr(step) = min_lr + (base_lr - min_lr) * (1 + cos(pi * s / total_steps)) / 2
/// with s = min(step, total_steps).
class CosineLr : public LrSchedule {
 public:
  /// Requires finite base_lr >= 0 and min_lr >= 0, and total_steps > 0.
  CosineLr(float base_lr, std::int64_t total_steps, float min_lr = 0.0f);
  float learning_rate(std::int64_t step) const override;

 private:
  float base_lr_;
  std::int64_t total_steps_;
  float min_lr_;
};

/// Linear warm-up in front of another schedule: for step < warmup_steps,
/// lr(step) = after(0) * (step + 1) / warmup_steps (so the first update already
/// moves, and step warmup_steps - 1 reaches after(0)); then lr(step) =
/// after(step - warmup_steps), i.e. the wrapped schedule starts its own clock when
/// the warm-up ends (a cosine's total_steps counts the steps after warm-up).
/// warmup_steps == 0 is the wrapped schedule unchanged.
class WarmupLr : public LrSchedule {
 public:
  /// Requires a non-null `after` and warmup_steps >= 0.
  WarmupLr(std::shared_ptr<const LrSchedule> after, std::int64_t warmup_steps);
  float learning_rate(std::int64_t step) const override;

 private:
  std::shared_ptr<const LrSchedule> after_;
  std::int64_t warmup_steps_;
};

/// Sets optimizer's learning rate to schedule.learning_rate(optimizer.steps()).
/// Call it right before each optimizer.step(). Returns the rate it set.
float apply_schedule(const LrSchedule& schedule, Optimizer& optimizer);

}  // namespace minidl
