// SVM kernel functions K(x, x') and kernel matrices, from the course notes'
// kernel trick z = b + sum_i alpha_i y_i K(x_i, x):
//   linear      K = x.x'
//   polynomial  K = (gamma x.x' + coef0)^degree
//   rbf         K = exp(-gamma ||x - x'||^2)
//   sigmoid     K = tanh(gamma x.x' + coef0)
// (LIBSVM's definitions and parameter names.) A kernel matrix is one GEMM
// (x_i . x'_j, OpenBLAS or cuBLAS through kernels/gemm.hpp) followed by an
// elementwise map that needs only the dot product and the two squared row norms
// (||x - x'||^2 = ||x||^2 + ||x'||^2 - 2 x.x'). The map is written once, below,
// and run by a CPU loop and a CUDA kernel (kernel_function_cuda.cu).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "../core/macros.hpp"
#include "../core/tensor.hpp"
#include "../kernels/functors.hpp"

namespace minidl::svm {

enum class KernelType { Linear, Polynomial, Rbf, Sigmoid };

/// LIBSVM's names: "linear", "polynomial", "rbf", "sigmoid".
const char* kernel_name(KernelType type);
/// The inverse of kernel_name; ValueError for any other name.
KernelType kernel_from_name(const std::string& name);

struct KernelParams {
  KernelType type = KernelType::Rbf;
  double gamma = 1.0;  ///< polynomial, rbf, sigmoid
  double coef0 = 0.0;  ///< polynomial, sigmoid
  int degree = 3;      ///< polynomial (>= 0)
};

/// The kernel value from the dot product and the squared norms of the two rows.
/// Float arithmetic; the squared distance is clamped at 0 against cancellation.
/// RBF's exp is fn::exp_poly's (kernels/functors.hpp: Cephes expf, about 1 ulp),
/// which vectorises (svm/kernel_map_cpu.hpp) where glibc's expf is a scalar call.
struct KernelMap {
  KernelType type;
  float gamma;
  float coef0;
  int degree;

  /// exp(-gamma max(0, ||x_i||^2 + ||x_j||^2 - 2 x_i.x_j)): fn::exp_poly on its
  /// x <= 0 side (0 below -150, where e^x is below the smallest subnormal).
  MINIDL_HD MINIDL_INLINE static float rbf(float dot, float norm_i, float norm_j, float gamma) {
    float d2 = norm_i + norm_j - 2.0f * dot;
    d2 = d2 > 0.0f ? d2 : 0.0f;
    const float x = -gamma * d2;
    const float e = fn::exp_poly_scaled<126>(x) * 0x1p-126f;
    return x < -150.0f ? 0.0f : e;
  }

  MINIDL_HD MINIDL_INLINE float operator()(float dot, float norm_i, float norm_j) const {
    switch (type) {
      case KernelType::Linear:
        return dot;
      case KernelType::Polynomial: {
        // Integer power by squaring (LIBSVM's powi): defined for a negative base.
        float base = gamma * dot + coef0;
        float result = 1.0f;
        for (int t = degree; t > 0; t /= 2) {
          if (t % 2 == 1) result *= base;
          base *= base;
        }
        return result;
      }
      case KernelType::Rbf:
        return rbf(dot, norm_i, norm_j, gamma);
      case KernelType::Sigmoid:
      default:
        return tanhf(gamma * dot + coef0);
    }
  }
};

inline KernelMap make_kernel_map(const KernelParams& p) {
  return KernelMap{p.type, static_cast<float>(p.gamma), static_cast<float>(p.coef0), p.degree};
}

/// Checks params: degree >= 0, gamma > 0 and finite where the kernel uses it,
/// coef0 finite. Throws ValueError naming the parameter.
void check_kernel_params(const KernelParams& p);

/// gamma = "scale": 1 / (d * Var(X)) with the variance over all n*d values of x
/// (scikit-learn's default); 1 when that variance is 0. x float32 [n, d], any device.
double gamma_scale(const Tensor& x);
/// gamma = "auto": 1 / d.
double gamma_auto(const Tensor& x);

/// Squared Euclidean norm of every row of x (float32 [n, d]) -> float32 [n], on
/// x's device. Accumulated in double on the CPU, float on CUDA.
Tensor row_sq_norms(const Tensor& x);

/// k[i, j] = K(a_i, b_j) for a [m, d], b [n, d], k [m, n] (overwritten; an
/// undefined k is allocated on a's device, as every public op's output), all
/// float32 on one device. a_norms / b_norms: row_sq_norms(a) / (b) when already
/// at hand (only rbf reads them); computed when undefined. Throws ShapeError /
/// DeviceError / DTypeError for mismatched operands.
void kernel_matrix(const Tensor& a, const Tensor& b, Tensor& k, const KernelParams& p,
                   const Tensor& a_norms = {}, const Tensor& b_norms = {});

namespace cuda {
/// k[i, j] = map(k[i, j], a_norms[i], b_norms[j]) in place on `device`'s stream.
void kernel_map(float* k, std::int64_t m, std::int64_t n, const float* a_norms,
                const float* b_norms, const KernelMap& map, int device);
/// norms[i] = ||x_i||^2 for x [n, d] on `device`.
void row_sq_norms(const float* x, std::int64_t n, std::int64_t d, float* norms, int device);
}  // namespace cuda

}  // namespace minidl::svm
