// Parameter: a named trainable tensor and its gradient, owned by a layer.
#pragma once

#include <string>

#include "../core/tensor.hpp"

namespace minidl {

struct Parameter {
  /// Unique within a model: "<layer name>.<parameter>", e.g. "dense1.weight".
  std::string name;
  /// The value; optimizers update it in place.
  Tensor value;
  /// Same shape, dtype and device as value. Backward accumulates into it;
  /// zero_grad() clears it.
  Tensor grad;
};

}  // namespace minidl
