// Optimizer: parameter checks, zero_grad, state slots and checkpoint state.
#include "optimizer.hpp"

#include <cmath>
#include <cstdlib>
#include <locale>
#include <set>
#include <sstream>

#include "../kernels/fill.hpp"

namespace minidl {

namespace optim_detail {

std::string format_float(float value) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out.precision(9);  // max_digits10 for float: the text reads back to the same float
  out << value;
  return out.str();
}

float parse_float(const std::string& who, const std::string& key, const std::string& text) {
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  double value = 0.0;
  in >> value;
  MINIDL_CHECK(!in.fail() && (in >> std::ws).eof(), ValueError, who, "::load_state: metadata '",
               key, "' = '", text, "' is not a number");
  return static_cast<float>(value);
}

void check_non_negative(const std::string& who, const char* name, float value) {
  MINIDL_CHECK(std::isfinite(value) && value >= 0.0f, ValueError, who, ": ", name,
               " must be finite and >= 0, got ", value);
}

}  // namespace optim_detail

namespace {

std::int64_t parse_steps(const std::string& who, const std::string& text) {
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  long long value = -1;
  in >> value;
  MINIDL_CHECK(!in.fail() && (in >> std::ws).eof() && value >= 0, ValueError, who,
               "::load_state: metadata 'steps' = '", text, "' is not an integer >= 0");
  return static_cast<std::int64_t>(value);
}

const std::string& require_key(const std::string& who, const Optimizer::StateMetadata& metadata,
                               const std::string& key) {
  const auto it = metadata.find(key);
  MINIDL_CHECK(it != metadata.end(), ValueError, who, "::load_state: metadata lacks '", key, "'");
  return it->second;
}

// Canonical strings compare as text; otherwise as floats, so a hand-written "0.9"
// matches the saved "0.899999976" (the same float).
bool same_value(const std::string& a, const std::string& b) {
  if (a == b) return true;
  char* end_a = nullptr;
  char* end_b = nullptr;
  const float fa = std::strtof(a.c_str(), &end_a);
  const float fb = std::strtof(b.c_str(), &end_b);
  return end_a != a.c_str() && *end_a == '\0' && end_b != b.c_str() && *end_b == '\0' && fa == fb;
}

}  // namespace

Optimizer::Optimizer(std::vector<Parameter*> parameters, float learning_rate, std::string who)
    : parameters_(std::move(parameters)), who_(std::move(who)) {
  MINIDL_CHECK(!parameters_.empty(), ValueError, who_, ": the parameter list is empty");
  std::set<std::string> names;
  std::set<const Storage*> storages;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const Parameter* p = parameters_[i];
    MINIDL_CHECK(p != nullptr, ValueError, who_, ": parameter ", i, " is a null pointer");
    MINIDL_CHECK(!p->name.empty(), ValueError, who_, ": parameter ", i, " has an empty name");
    MINIDL_CHECK(names.insert(p->name).second, ValueError, who_, ": parameter name '", p->name,
                 "' appears more than once (names must be unique)");
    if (i == 0 && p->value.defined()) device_ = p->value.device();
    check_parameter(i);
    MINIDL_CHECK(storages.insert(p->value.storage().get()).second, ValueError, who_,
                 ": parameter '", p->name,
                 "' shares its value's storage with an earlier parameter (it would be "
                 "updated twice)");
  }
  set_learning_rate(learning_rate);
}

void Optimizer::check_parameter(std::size_t i) const {
  const Parameter& p = *parameters_[i];
  MINIDL_CHECK(p.value.defined(), ValueError, who_, ": parameter '", p.name,
               "' has an undefined value");
  MINIDL_CHECK(p.value.dtype() == DType::Float32, DTypeError, who_, ": parameter '", p.name,
               "' value must be float32, got ", p.value.dtype());
  MINIDL_CHECK(p.grad.defined(), ValueError, who_, ": parameter '", p.name,
               "' has an undefined grad");
  MINIDL_CHECK(p.grad.dtype() == DType::Float32, DTypeError, who_, ": parameter '", p.name,
               "' grad must be float32, got ", p.grad.dtype());
  MINIDL_CHECK(p.grad.shape() == p.value.shape(), ShapeError, who_, ": parameter '", p.name,
               "' has value shape ", p.value.shape(), " but grad shape ", p.grad.shape());
  MINIDL_CHECK(p.value.device() == device_ && p.grad.device() == device_, DeviceError, who_,
               ": parameter '", p.name, "' has value on ", p.value.device(), " and grad on ",
               p.grad.device(), ", but the parameters are on ", device_,
               " (all must be on one device)");
  if (i < slots_.size()) {
    for (std::size_t k = 0; k < slots_[i].size(); ++k) {
      MINIDL_CHECK(slots_[i][k].shape() == p.value.shape(), ShapeError, who_, ": parameter '",
                   p.name, "' now has shape ", p.value.shape(), " but its ", slot_names_[k],
                   " state has shape ", slots_[i][k].shape());
    }
  }
}

void Optimizer::add_slots(const std::vector<std::string>& slot_names) {
  slot_names_ = slot_names;
  slots_.assign(parameters_.size(), {});
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    for (std::size_t k = 0; k < slot_names_.size(); ++k) {
      slots_[i].push_back(zeros(parameters_[i]->value.shape(), device_));
    }
  }
}

void Optimizer::set_learning_rate(float lr) {
  optim_detail::check_non_negative(who_, "learning_rate", lr);
  learning_rate_ = lr;
}

void Optimizer::step() {
  if (before_step_) before_step_();
  for (std::size_t i = 0; i < parameters_.size(); ++i) check_parameter(i);
  update(steps_ + 1);
  ++steps_;
}

void Optimizer::zero_grad() {
  for (Parameter* p : parameters_) fill(p->grad, 0.0);
}

Optimizer::StateTensors Optimizer::state_tensors() const {
  StateTensors out;
  out.reserve(parameters_.size() * slot_names_.size());
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    for (std::size_t k = 0; k < slot_names_.size(); ++k) {
      out.emplace_back(parameters_[i]->name + "." + slot_names_[k], slots_[i][k]);
    }
  }
  return out;
}

Optimizer::StateMetadata Optimizer::state_metadata() const {
  StateMetadata out = hyperparameters();
  out["kind"] = kind();
  out["learning_rate"] = optim_detail::format_float(learning_rate_);
  out["steps"] = std::to_string(steps_);
  return out;
}

void Optimizer::load_state(const StateTensors& tensors, const StateMetadata& metadata) {
  const std::string& saved_kind = require_key(who_, metadata, "kind");
  MINIDL_CHECK(saved_kind == kind(), ValueError, who_, "::load_state: the state is for a '",
               saved_kind, "' optimizer, this one is '", kind(), "'");
  for (const auto& [key, current] : hyperparameters()) {
    const std::string& saved = require_key(who_, metadata, key);
    MINIDL_CHECK(same_value(saved, current), ValueError, who_, "::load_state: ", key, " is ", saved,
                 " in the saved state but ", current,
                 " in this optimizer (build it with the saved hyperparameters)");
  }
  const std::int64_t steps = parse_steps(who_, require_key(who_, metadata, "steps"));
  const float lr = optim_detail::parse_float(who_, "learning_rate",
                                             require_key(who_, metadata, "learning_rate"));
  MINIDL_CHECK(std::isfinite(lr) && lr >= 0.0f, ValueError, who_,
               "::load_state: saved learning_rate ", lr, " is not finite and >= 0");

  // Match every given tensor to a slot before copying anything.
  std::map<std::string, std::pair<std::size_t, std::size_t>> expected;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    for (std::size_t k = 0; k < slot_names_.size(); ++k) {
      expected.emplace(parameters_[i]->name + "." + slot_names_[k], std::make_pair(i, k));
    }
  }
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, tensor] : tensors) {
    MINIDL_CHECK(expected.count(name) != 0, ValueError, who_,
                 "::load_state: unexpected state tensor '", name,
                 "' (no parameter and slot of this optimizer has that name)");
    MINIDL_CHECK(given.emplace(name, &tensor).second, ValueError, who_,
                 "::load_state: state tensor '", name, "' is given more than once");
    const auto [i, k] = expected.at(name);
    MINIDL_CHECK(tensor.defined(), ValueError, who_, "::load_state: state tensor '", name,
                 "' is undefined");
    MINIDL_CHECK(tensor.dtype() == DType::Float32, DTypeError, who_, "::load_state: state tensor '",
                 name, "' must be float32, got ", tensor.dtype());
    MINIDL_CHECK(tensor.shape() == slots_[i][k].shape(), ShapeError, who_,
                 "::load_state: state tensor '", name, "' has shape ", tensor.shape(),
                 " but the parameter's state has shape ", slots_[i][k].shape());
  }
  for (const auto& entry : expected) {
    MINIDL_CHECK(given.count(entry.first) != 0, ValueError, who_, "::load_state: state tensor '",
                 entry.first, "' is missing");
  }

  for (const auto& [name, tensor] : given) {
    const auto [i, k] = expected.at(name);
    slots_[i][k].copy_from(*tensor);
  }
  learning_rate_ = lr;
  steps_ = steps;
}

}  // namespace minidl
