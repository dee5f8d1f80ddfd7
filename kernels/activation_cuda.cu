// CUDA activations: each is map_kernel (kernels/elementwise.cuh) over the shared
// functor of kernels/functors.hpp: one vectorised pass, read z (and dy), write y.
#include "activation.hpp"
#include "elementwise.cuh"
#include "fill.hpp"
#include "functors.hpp"

namespace minidl::cuda {

namespace {
struct Copy {
  __device__ float operator()(float v) const { return v; }
};
}  // namespace

void activation_forward(Activation a, const float* z, float* y, std::int64_t n, float alpha,
                        int device) {
  using cuda_detail::map;
  switch (a) {
    case Activation::Identity:
      map(device, y, n, Copy{}, z);
      break;
    case Activation::ReLU:
      map(device, y, n, fn::ReluForward{}, z);
      break;
    case Activation::LeakyReLU:
      map(device, y, n, fn::LeakyReluForward{alpha}, z);
      break;
    case Activation::Sigmoid:
      map(device, y, n, fn::SigmoidForward{}, z);
      break;
    case Activation::Tanh:
      map(device, y, n, fn::TanhForward{}, z);
      break;
    case Activation::Step:
      map(device, y, n, fn::StepForward{}, z);
      break;
  }
}

void activation_backward(Activation a, const float* dy, const float* saved, float* dz,
                         std::int64_t n, float alpha, int device) {
  using cuda_detail::map;
  switch (a) {
    case Activation::Identity:
      map(device, dz, n, Copy{}, dy);
      break;
    case Activation::ReLU:
      map(device, dz, n, fn::ReluBackward{}, dy, saved);
      break;
    case Activation::LeakyReLU:
      map(device, dz, n, fn::LeakyReluBackward{alpha}, dy, saved);
      break;
    case Activation::Sigmoid:
      map(device, dz, n, fn::SigmoidBackward{}, dy, saved);
      break;
    case Activation::Tanh:
      map(device, dz, n, fn::TanhBackward{}, dy, saved);
      break;
    case Activation::Step:  // nothing to read: write the zeros
      fill_f32(dz, n, 0.0f, device);
      break;
  }
}

}  // namespace minidl::cuda
