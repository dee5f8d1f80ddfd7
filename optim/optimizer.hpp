// Optimizer: the base of minidl's optimizers (Sgd, Adam, AdamW). It holds the
// model's parameters (not owned), the learning rate, the step count and the
// per-parameter state tensors ("slots": a momentum buffer, Adam's moments), and
// implements zero_grad, checkpoint state and its validation once for all of them.
//
// Devices: every parameter lives on one device, and the state lives there too.
// step() runs on that device (an OpenMP loop on the CPU, one fused kernel per
// parameter on the device's stream for CUDA) and never synchronises.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"
#include "../layers/parameter.hpp"

namespace minidl {

class Optimizer {
 public:
  /// Named state tensors, as state_tensors() returns them and load_state() takes them.
  using StateTensors = std::vector<std::pair<std::string, Tensor>>;
  /// String metadata (the optimizer's kind, hyperparameters and step count).
  using StateMetadata = std::map<std::string, std::string>;

  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter from its grad, in place on Parameter::value and
  /// the state (the grads are only read). Requires each parameter still to have a
  /// defined float32 value and grad of one shape, on the optimizer's device, and a
  /// value of the shape its state was made for (else the constructor's errors,
  /// naming the parameter; nothing is updated then). Increments steps().
  virtual void step();

  /// Sets every parameter's grad to 0 (in place, on its device, asynchronously on CUDA).
  void zero_grad();

  /// Called at the start of every step(), before the parameters are checked and
  /// updated: dist::DataParallel waits there for the gradients' all-reduce. If it
  /// throws, step() throws without updating anything. An empty function removes
  /// it; setting one replaces the previous (one hook per optimizer).
  using StepHook = std::function<void()>;
  void set_before_step_hook(StepHook hook) { before_step_ = std::move(hook); }
  bool has_before_step_hook() const { return static_cast<bool>(before_step_); }

  float learning_rate() const { return learning_rate_; }
  /// Requires a finite lr >= 0 (ValueError). Takes effect at the next step();
  /// schedules (optim/schedule.hpp) call this before each step.
  void set_learning_rate(float lr);

  /// Number of step() calls so far (restored by load_state()).
  std::int64_t steps() const { return steps_; }
  const std::vector<Parameter*>& parameters() const { return parameters_; }
  /// "sgd", "adam" or "adamw": the "kind" entry of state_metadata().
  virtual std::string kind() const = 0;

  // ---- checkpoint state -------------------------------------------------------
  // Saving = state_tensors() (copied to the host by the caller) + state_metadata().
  // Loading both into a freshly built optimizer of the same kind, over the same
  // parameters, makes the next steps bit-identical to an uninterrupted run.

  /// The state tensors, named "<parameter name>.<slot>" (e.g. "dense1.weight.momentum",
  /// "dense1.weight.adam_m"), in parameter order. These are live handles to the
  /// optimizer's own tensors, not copies: snapshot them with .to(Device::cpu())
  /// or .clone() before the next step() if a copy is wanted.
  virtual StateTensors state_tensors() const;

  /// "kind", "learning_rate", "steps" and the hyperparameters, as strings (floats
  /// with 9 significant digits, so they read back exactly).
  virtual StateMetadata state_metadata() const;

  /// Restores what state_tensors() and state_metadata() saved. Requires:
  ///  - metadata "kind" equal to kind() (ValueError naming both);
  ///  - the same hyperparameters as this optimizer's (momentum, betas, eps, weight
  ///    decay, nesterov; ValueError naming the key and both values): they shape the
  ///    update rule, so a changed one is a configuration mistake, not something to
  ///    adopt silently;
  ///  - "steps" (an integer >= 0) and "learning_rate" (finite >= 0), which are adopted
  ///    (the learning rate may have been changed by a schedule);
  ///  - exactly the tensor names state_tensors() has, each defined, float32 and of
  ///    the slot's shape (ValueError for missing / unexpected / duplicate names,
  ///    ShapeError and DTypeError naming the tensor), from any device.
  /// Metadata keys it does not know are ignored. Everything is checked before
  /// anything changes: on an exception the optimizer is as it was.
  virtual void load_state(const StateTensors& tensors, const StateMetadata& metadata);

 protected:
  /// Checks the parameters (ValueError for an empty list, a null pointer, an empty
  /// or duplicate name, two parameters sharing storage; ValueError / DTypeError /
  /// ShapeError / DeviceError for an undefined or non-float32 value or grad, a grad
  /// of another shape or device, parameters on different devices; each message
  /// names the parameter) and the learning rate.
  /// `who` prefixes messages ("Sgd", "Adam").
  Optimizer(std::vector<Parameter*> parameters, float learning_rate, std::string who);

  /// Allocates one zero-filled state tensor per parameter for each slot name, on the
  /// parameters' device. Called once by the derived constructor.
  void add_slots(const std::vector<std::string>& slot_names);
  /// Slot k (in add_slots order) of parameter i.
  Tensor& slot(std::size_t parameter, std::size_t k) { return slots_[parameter][k]; }
  std::size_t slot_count() const { return slot_names_.size(); }

  /// The update of all parameters for step number t = steps() + 1 (1 on the first call).
  virtual void update(std::int64_t t) = 0;

  /// The hyperparameters as canonical strings (learning rate, kind and steps excluded).
  virtual StateMetadata hyperparameters() const = 0;

  /// Where the update runs (every parameter's device).
  Device device() const { return device_; }
  const std::string& who() const { return who_; }

 private:
  void check_parameter(std::size_t i) const;

  std::vector<Parameter*> parameters_;
  Device device_;
  float learning_rate_ = 0.0f;
  std::int64_t steps_ = 0;
  std::string who_;
  std::vector<std::string> slot_names_;
  std::vector<std::vector<Tensor>> slots_;  // [parameter][slot]
  StepHook before_step_;
};

namespace optim_detail {
/// A float with 9 significant digits (reads back exactly), in the C locale.
std::string format_float(float value);
/// Parses format_float's output (or any decimal float); throws ValueError naming
/// `key` when `text` is not a number.
float parse_float(const std::string& who, const std::string& key, const std::string& text);
/// Throws ValueError unless `value` is finite and >= 0.
void check_non_negative(const std::string& who, const char* name, float value);
}  // namespace optim_detail

}  // namespace minidl
