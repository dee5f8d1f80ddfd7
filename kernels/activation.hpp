// Activations and output maps, forward and backward, on CPU and CUDA.
//
//   ReLU        y = max(0, z)            dz = dy for z > 0, 0 for z <= 0 (0 at z = 0)
//   LeakyReLU   y = z or alpha z         dz = dy for z > 0, alpha dy for z <= 0
//   Sigmoid     y = 1 / (1 + e^-z)       dz = dy y (1 - y)       (from the saved output)
//   Tanh        y = tanh z               dz = dy (1 - y^2)       (from the saved output)
//   Step        y = 1 for z >= 0, else 0 dz = 0: the hard threshold cannot be trained through
//   Identity    y = z                    dz = dy
// NaN in gives NaN out. The math lives in kernels/functors.hpp, shared by both devices.
#pragma once

#include "../core/tensor.hpp"

namespace minidl {

enum class Activation { Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Step };

/// "identity", "relu", "leaky_relu", "sigmoid", "tanh", "step".
const char* activation_name(Activation a);

/// y = f(z), elementwise. Requires float32; `y` either undefined (allocated here)
/// or of z's shape and device. Overwrites y; y may be z itself (in place).
/// `alpha` is LeakyReLU's slope for z <= 0 and is ignored by the others.
void activation_forward(Activation a, const Tensor& z, Tensor& y, float alpha = 0.01f);

/// dz = dy * f'(z). The saved tensor each needs: ReLU, LeakyReLU: z; Sigmoid, Tanh: y;
/// Step, Identity: neither (pass an undefined Tensor). Overwrites dz (allocated when
/// undefined); dz may alias dy.
void activation_backward(Activation a, const Tensor& dy, const Tensor& z, const Tensor& y,
                         Tensor& dz, float alpha = 0.01f);

// Functional forms: a new output tensor on the input's device.
Tensor relu(const Tensor& z);
Tensor relu_backward(const Tensor& dy, const Tensor& z);
Tensor leaky_relu(const Tensor& z, float alpha = 0.01f);
Tensor leaky_relu_backward(const Tensor& dy, const Tensor& z, float alpha = 0.01f);
Tensor sigmoid(const Tensor& z);
Tensor sigmoid_backward(const Tensor& dy, const Tensor& y);
Tensor tanh(const Tensor& z);
Tensor tanh_backward(const Tensor& dy, const Tensor& y);
Tensor step(const Tensor& z);
Tensor step_backward(const Tensor& dy);

namespace cpu {
/// activation_forward's CPU loop on raw pointers (n floats; y may be z). Sigmoid and
/// tanh run a loop compiled for AVX2+FMA where the CPU has both, unless `baseline`
/// (for tests comparing it with the baseline SSE2 loop); the two may differ by 2 ulp.
void activation_forward(Activation a, const float* z, float* y, std::int64_t n, float alpha,
                        bool baseline = false);
/// Whether this CPU has that AVX2+FMA loop.
bool activation_has_wide_path();
}  // namespace cpu

namespace cuda {
void activation_forward(Activation a, const float* z, float* y, std::int64_t n, float alpha,
                        int device);
/// `saved` is z or y as activation_backward documents.
void activation_backward(Activation a, const float* dy, const float* saved, float* dz,
                         std::int64_t n, float alpha, int device);
}  // namespace cuda

}  // namespace minidl
