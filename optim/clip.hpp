// Gradient clipping by global L2 norm (PyTorch's torch.nn.utils.clip_grad_norm_
// with norm_type 2): one norm over every parameter's grad, and every grad scaled
// by the same factor when that norm is too large.
#pragma once

#include <cstdint>
#include <vector>

#include "../core/tensor.hpp"
#include "../layers/parameter.hpp"

namespace minidl {

/// norm = sqrt(sum over all grads of g^2) (accumulated in double), then every
/// grad is scaled in place by min(1, max_norm / (norm + 1e-6)); grads are left
/// untouched when that factor is 1. A NaN or infinite norm gives a NaN / zero factor
/// (the grads then become NaN, as in PyTorch, instead of being hidden).
///
/// Requires: max_norm > 0 (inf allowed: only measures the norm); every parameter
/// non-null with a defined float32 grad; all grads on one device (ValueError /
/// DTypeError / DeviceError naming the parameter). Only the grads are read and
/// written; values are not used.
///
/// Ensures: returns the norm before clipping as a 0-d float32 tensor on the grads'
/// device (a CPU tensor for an empty list). On CUDA nothing synchronises: the sum
/// of squares, the factor and the scaling all stay on the device's stream (reading
/// the returned norm is what synchronises, if the caller wants it). The sum is
/// deterministic: the same grads give the same norm, bit for bit, on a given device.
Tensor clip_grad_norm(const std::vector<Parameter*>& parameters, float max_norm);

namespace cuda {
/// The CUDA side of clip_grad_norm over `count` gradient tensors (grads[i] has n[i]
/// elements) on `device`: writes the norm to `norm` (one float on the device).
void clip_grad_norm(float* const* grads, const std::int64_t* n, std::size_t count, double max_norm,
                    float* norm, int device);
}  // namespace cuda

}  // namespace minidl
