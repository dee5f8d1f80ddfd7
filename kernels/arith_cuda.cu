// CUDA elementwise arithmetic: map_kernel (kernels/elementwise.cuh) over the
// shared functors; one vectorised pass each.
#include "arith.hpp"
#include "elementwise.cuh"
#include "functors.hpp"

namespace minidl::cuda {

void binary(BinaryOp op, const float* a, const float* b, float* out, std::int64_t n, int device) {
  switch (op) {
    case BinaryOp::Add:
      cuda_detail::map(device, out, n, fn::Add{}, a, b);
      break;
    case BinaryOp::Sub:
      cuda_detail::map(device, out, n, fn::Sub{}, a, b);
      break;
    case BinaryOp::Mul:
      cuda_detail::map(device, out, n, fn::Mul{}, a, b);
      break;
  }
}

void scale(const float* a, float alpha, float* out, std::int64_t n, int device) {
  cuda_detail::map(device, out, n, fn::Scale{alpha}, a);
}

void axpy(float alpha, const float* x, float* y, std::int64_t n, int device) {
  cuda_detail::map(device, y, n, fn::Axpy{alpha}, x, static_cast<const float*>(y));
}

}  // namespace minidl::cuda
