#include "init.hpp"

#include <cmath>

namespace minidl {

const char* init_name(Init init) {
  switch (init) {
    case Init::HeNormal:
      return "he_normal";
    case Init::HeUniform:
      return "he_uniform";
    case Init::GlorotNormal:
      return "glorot_normal";
    case Init::GlorotUniform:
      return "glorot_uniform";
    case Init::Zeros:
      return "zeros";
  }
  return "unknown";
}

Tensor initialise(Init init, const Shape& shape, std::int64_t fan_in, std::int64_t fan_out,
                  Generator& gen, Device device) {
  MINIDL_CHECK(fan_in > 0 && fan_out > 0, ValueError, "initialise: fan_in ", fan_in,
               " and fan_out ", fan_out, " must be positive");
  const double in = static_cast<double>(fan_in), sum = static_cast<double>(fan_in + fan_out);
  switch (init) {
    case Init::HeNormal:
      return normal(shape, 0.0f, static_cast<float>(std::sqrt(2.0 / in)), gen, device);
    case Init::HeUniform: {
      const auto a = static_cast<float>(std::sqrt(6.0 / in));
      return uniform(shape, -a, a, gen, device);
    }
    case Init::GlorotNormal:
      return normal(shape, 0.0f, static_cast<float>(std::sqrt(2.0 / sum)), gen, device);
    case Init::GlorotUniform: {
      const auto a = static_cast<float>(std::sqrt(6.0 / sum));
      return uniform(shape, -a, a, gen, device);
    }
    case Init::Zeros:
      return zeros(shape, device);
  }
  return zeros(shape, device);
}

}  // namespace minidl
