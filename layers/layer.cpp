#include "layer.hpp"

namespace minidl {

void Layer::to(Device device) {
  for (Parameter* p : parameters()) {  // a layer not built yet has none to move
    if (p->value.defined()) p->value = p->value.to(device);
    if (p->grad.defined()) p->grad = p->grad.to(device);
  }
  for (auto& [name, t] : buffers()) {
    if (t->defined()) *t = t->to(device);
  }
}

std::string batch_shape_str(const Shape& shape) {
  if (shape.rank() == 0) return "[]";
  std::string s = "[B";
  for (int i = 1; i < shape.rank(); ++i) s += ", " + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace minidl
