// Helpers shared by the optim/ test suites: a small model of named parameters
// and a quadratic loss whose gradient the tests compute on the host.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "layers/parameter.hpp"

namespace minidl::test {

/// Owns a few parameters shaped like a dense layer's: an aligned [3, 4] weight,
/// a [4] bias and a [7] tensor (7 % 4 != 0 exercises the CUDA kernels' scalar tail).
struct TinyModel {
  std::vector<Parameter> params;

  explicit TinyModel(Device device, std::uint64_t seed = 7) {
    Generator gen(seed);
    const std::vector<std::pair<std::string, Shape>> specs = {
        {"dense1.weight", Shape{3, 4}}, {"dense1.bias", Shape{4}}, {"extra.scale", Shape{7}}};
    for (const auto& [name, shape] : specs) {
      params.push_back({name, normal(shape, 0.0f, 1.0f, gen, device), zeros(shape, device)});
    }
  }

  /// A copy of `src` on `device` (bit-identical values, zero grads).
  TinyModel(const TinyModel& src, Device device) {
    for (const Parameter& p : src.params) {
      params.push_back({p.name, p.value.to(device).clone(), zeros(p.value.shape(), device)});
    }
  }

  std::vector<Parameter*> pointers() {
    std::vector<Parameter*> out;
    for (Parameter& p : params) out.push_back(&p);
    return out;
  }

  /// Values of every parameter, concatenated (synchronises).
  std::vector<float> values() const {
    std::vector<float> out;
    for (const Parameter& p : params) {
      const std::vector<float> v = p.value.to_vector<float>();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  }

  /// grad = d/dw of sum_j c_j (w_j - t_j)^2 / 2 with c_j = 1 + (j % 5) / 2 and
  /// t_j = (j % 3) - 1, computed in float on the host and copied to each grad
  /// (so both devices see identical gradients of identical values).
  void quadratic_grads() {
    for (Parameter& p : params) {
      const std::vector<float> w = p.value.to_vector<float>();
      std::vector<float> g(w.size());
      for (std::size_t j = 0; j < w.size(); ++j) {
        const float c = 1.0f + static_cast<float>(j % 5) / 2.0f;
        const float t = static_cast<float>(j % 3) - 1.0f;
        g[j] = c * (w[j] - t);
      }
      p.grad.copy_from(from_vector(g, p.value.shape()));
    }
  }

  /// Largest |w_j - t_j| over all parameters: 0 at the quadratic's minimum.
  float distance_to_minimum() const {
    float worst = 0.0f;
    for (const Parameter& p : params) {
      const std::vector<float> w = p.value.to_vector<float>();
      for (std::size_t j = 0; j < w.size(); ++j) {
        const float t = static_cast<float>(j % 3) - 1.0f;
        worst = std::max(worst, std::fabs(w[j] - t));
      }
    }
    return worst;
  }
};

/// The starting weights of the optimizers' reference tests (SGD, Adam)...
inline const std::vector<float> kW0 = {1.0f, -2.0f, 0.5f, 3.0f, -0.25f};

/// ... and a different gradient at every step, so momentum and the moment estimates
/// have something to average.
inline std::vector<float> grad_at(int step) {
  std::vector<float> g(kW0.size());
  for (std::size_t j = 0; j < g.size(); ++j) {
    g[j] = 0.3f * static_cast<float>(j) - 0.7f +
           0.45f * static_cast<float>(step) * (j % 2 == 0 ? 1.0f : -1.0f);
  }
  return g;
}

/// A single parameter with the given value and grad (CPU).
inline Parameter make_parameter(const std::string& name, const std::vector<float>& value,
                                const std::vector<float>& grad) {
  return Parameter{name, from_vector(value), from_vector(grad)};
}

}  // namespace minidl::test
