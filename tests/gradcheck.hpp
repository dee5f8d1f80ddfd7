// Gradient checks (Caffe's GradientChecker, dlib's test_layer): central
// differences of a scalar function against the analytic gradient, compared with
// a relative tolerance thr * max(|a|, |b|, 1). Points within `kink` of a
// non-differentiable point can be skipped by the caller's predicate.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/tensor.hpp"

namespace minidl::test {

/// d f / d x[i] by central differences with step h; f is evaluated in double from
/// float32 CPU tensors. x is restored afterwards.
inline std::vector<double> numerical_gradient(const std::function<double(const Tensor&)>& f,
                                              Tensor& x, float h) {
  std::vector<double> g(static_cast<std::size_t>(x.numel()));
  float* p = x.data<float>();
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const float saved = p[i];
    p[i] = saved + h;
    const double up = f(x);
    p[i] = saved - h;
    const double down = f(x);
    p[i] = saved;
    // The step actually taken, after float rounding of saved +- h.
    const double step = static_cast<double>(saved + h) - static_cast<double>(saved - h);
    g[static_cast<std::size_t>(i)] = (up - down) / step;
  }
  return g;
}

/// <r, y> in double: the random projection that turns a tensor function into a scalar.
inline double project(const Tensor& r, const Tensor& y) {
  const auto a = r.to_vector<float>();
  const auto b = y.to_vector<float>();
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

/// Expects analytic[i] ~ numeric[i] within thr * max(|a|, |b|, 1), except where skip(i).
inline ::testing::AssertionResult gradients_agree(
    const std::vector<float>& analytic, const std::vector<double>& numeric, double thr,
    const std::function<bool(std::size_t)>& skip = nullptr) {
  if (analytic.size() != numeric.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: " << analytic.size() << " vs " << numeric.size();
  }
  std::size_t bad = 0, checked = 0;
  ::testing::AssertionResult result = ::testing::AssertionFailure();
  for (std::size_t i = 0; i < analytic.size(); ++i) {
    if (skip && skip(i)) continue;
    ++checked;
    const double a = analytic[i], b = numeric[i];
    const double scale = std::max({std::fabs(a), std::fabs(b), 1.0});
    if (std::fabs(a - b) <= thr * scale) continue;
    if (bad < 5) result << "\n  [" << i << "] analytic " << a << ", numeric " << b;
    ++bad;
  }
  if (checked == 0)
    return ::testing::AssertionFailure() << "every point was skipped: the check checked nothing";
  if (bad == 0) return ::testing::AssertionSuccess();
  return result << "\n  " << bad << " of " << checked << " gradients differ";
}

}  // namespace minidl::test
