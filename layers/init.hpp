// Weight initialisation for a weight of fan_in inputs and fan_out outputs.
//   He (Kaiming) for ReLU nets: He, Zhang, Ren, Sun, "Delving Deep into Rectifiers" (2015):
//     normal std sqrt(2 / fan_in), or uniform on +-sqrt(6 / fan_in).
//   Glorot (Xavier) for tanh / sigmoid nets: Glorot & Bengio (2010):
//     normal std sqrt(2 / (fan_in + fan_out)), or uniform on +-sqrt(6 / (fan_in + fan_out)).
#pragma once

#include <string>

#include "../core/random.hpp"
#include "../core/tensor.hpp"

namespace minidl {

enum class Init { HeNormal, HeUniform, GlorotNormal, GlorotUniform, Zeros };

const char* init_name(Init init);

/// A new float32 tensor of `shape` on `device` drawn with `init` from gen's next draw.
Tensor initialise(Init init, const Shape& shape, std::int64_t fan_in, std::int64_t fan_out,
                  Generator& gen, Device device);

}  // namespace minidl
