// clip_grad_norm: checks, the CPU path (a deterministic chunked double sum) and
// dispatch to the CUDA path (optim/clip_cuda.cu).
#include "clip.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "../kernels/elementwise_cpu.hpp"
#include "../kernels/functors.hpp"
#include "update_math.hpp"

namespace minidl {

namespace {

// Elements per partial sum. Fixed chunks (rather than an OpenMP reduction, whose
// combination order is unspecified) make the CPU sum independent of the thread count.
constexpr std::int64_t kChunk = 1 << 14;

double sum_squares_cpu(const float* g, std::int64_t n) {
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
  parallel_chunks(chunks, [&](std::int64_t c) {
    const std::int64_t end = std::min(n, (c + 1) * kChunk);
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (std::int64_t i = c * kChunk; i < end; ++i) {
      const double v = g[i];
      acc += v * v;
    }
    partial[static_cast<std::size_t>(c)] = acc;
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace

Tensor clip_grad_norm(const std::vector<Parameter*>& parameters, float max_norm) {
  MINIDL_CHECK(max_norm > 0.0f, ValueError, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  if (parameters.empty()) return zeros({}, Device::cpu());
  Device device;
  std::set<const Storage*> storages;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Parameter* p = parameters[i];
    MINIDL_CHECK(p != nullptr, ValueError, "clip_grad_norm: parameter ", i, " is a null pointer");
    MINIDL_CHECK(p->grad.defined(), ValueError, "clip_grad_norm: parameter '", p->name,
                 "' has an undefined grad");
    MINIDL_CHECK(p->grad.dtype() == DType::Float32, DTypeError, "clip_grad_norm: parameter '",
                 p->name, "' grad must be float32, got ", p->grad.dtype());
    if (i == 0) device = p->grad.device();
    MINIDL_CHECK(p->grad.device() == device, DeviceError, "clip_grad_norm: parameter '", p->name,
                 "' has its grad on ", p->grad.device(), " but '", parameters[0]->name, "' on ",
                 device, " (all grads must be on one device)");
    MINIDL_CHECK(storages.insert(p->grad.storage().get()).second, ValueError,
                 "clip_grad_norm: parameter '", p->name,
                 "' shares its grad's storage with an earlier parameter (it would be counted "
                 "and scaled twice)");
  }

  Tensor norm = empty({}, device);
  if (device.is_cuda()) {
    std::vector<float*> grads;
    std::vector<std::int64_t> sizes;
    for (const Parameter* p : parameters) {
      grads.push_back(p->grad.data<float>());
      sizes.push_back(p->grad.numel());
    }
    MINIDL_CUDA_CALL(cuda::clip_grad_norm(grads.data(), sizes.data(), grads.size(), max_norm,
                                          norm.data<float>(), device.index()));
    return norm;
  }

  double total = 0.0;
  for (const Parameter* p : parameters)
    total += sum_squares_cpu(p->grad.data<float>(), p->grad.numel());
  const double norm_value = std::sqrt(total);
  *norm.data<float>() = static_cast<float>(norm_value);
  const float factor = optim_math::clip_factor(norm_value, max_norm);
  if (factor == 1.0f) return norm;
  for (const Parameter* p : parameters) {
    float* g = p->grad.data<float>();
    cpu_detail::map(g, p->grad.numel(), fn::Scale{factor}, static_cast<const float*>(g));
  }
  return norm;
}

}  // namespace minidl
