#include "kernel_function.hpp"

#include <vector>

#include "../core/dispatch.hpp"
#include "../kernels/gemm.hpp"
#include "kernel_map_cpu.hpp"

namespace minidl::svm {

const char* kernel_name(KernelType type) {
  switch (type) {
    case KernelType::Linear:
      return "linear";
    case KernelType::Polynomial:
      return "polynomial";
    case KernelType::Rbf:
      return "rbf";
    case KernelType::Sigmoid:
      return "sigmoid";
  }
  return "unknown";
}

KernelType kernel_from_name(const std::string& name) {
  for (KernelType t :
       {KernelType::Linear, KernelType::Polynomial, KernelType::Rbf, KernelType::Sigmoid})
    if (name == kernel_name(t)) return t;
  throw ValueError("unknown SVM kernel \"" + name +
                   "\" (expected linear, polynomial, rbf or sigmoid)");
}

void check_kernel_params(const KernelParams& p) {
  if (p.type != KernelType::Linear)
    MINIDL_CHECK(std::isfinite(p.gamma) && p.gamma > 0, ValueError, "SVM ", kernel_name(p.type),
                 " kernel: gamma must be finite and > 0, got ", p.gamma);
  MINIDL_CHECK(std::isfinite(p.coef0), ValueError, "SVM kernel: coef0 must be finite, got ",
               p.coef0);
  MINIDL_CHECK(p.degree >= 0, ValueError, "SVM polynomial kernel: degree must be >= 0, got ",
               p.degree);
}

namespace {
void check_matrix(const Tensor& x, const char* what) {
  MINIDL_CHECK(x.defined() && x.rank() == 2 && x.dtype() == DType::Float32, ShapeError, what,
               ": expected a float32 [n, d] matrix, got ",
               x.defined() ? x.description() : std::string("an undefined tensor"));
}
}  // namespace

double gamma_scale(const Tensor& x) {
  check_matrix(x, "gamma_scale");
  const std::vector<float> v = x.to_vector<float>();
  double mean = 0.0;
  for (float f : v) mean += f;
  mean /= static_cast<double>(v.size());
  double var = 0.0;
  for (float f : v) var += (f - mean) * (f - mean);
  var /= static_cast<double>(v.size());
  return var > 0.0 ? 1.0 / (static_cast<double>(x.size(1)) * var) : 1.0;
}

double gamma_auto(const Tensor& x) {
  check_matrix(x, "gamma_auto");
  return 1.0 / static_cast<double>(x.size(1));
}

Tensor row_sq_norms(const Tensor& x) {
  check_matrix(x, "row_sq_norms");
  const std::int64_t n = x.size(0);
  const std::int64_t d = x.size(1);
  Tensor out = empty({n}, x.device());
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(
        cuda::row_sq_norms(x.data<float>(), n, d, out.data<float>(), x.device().index()));
    return out;
  }
  const float* xp = x.data<float>();
  float* op = out.data<float>();
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (std::int64_t j = 0; j < d; ++j) s += double(xp[i * d + j]) * xp[i * d + j];
    op[i] = static_cast<float>(s);
  }
  return out;
}

void kernel_matrix(const Tensor& a, const Tensor& b, Tensor& k, const KernelParams& p,
                   const Tensor& a_norms, const Tensor& b_norms) {
  check_matrix(a, "kernel_matrix (a)");
  check_matrix(b, "kernel_matrix (b)");
  check_kernel_params(p);
  MINIDL_CHECK(a.size(1) == b.size(1), ShapeError, "kernel_matrix: a ", a.shape(), " and b ",
               b.shape(), " have different numbers of features");
  const std::int64_t m = a.size(0);
  const std::int64_t n = b.size(0);
  if (!k.defined()) k = empty({m, n}, a.device());
  MINIDL_CHECK(k.shape() == Shape({m, n}), ShapeError, "kernel_matrix: k must be [", m, ", ", n,
               "] (or undefined, to be allocated), got ", k.description());
  MINIDL_CHECK(k.dtype() == DType::Float32, DTypeError, "kernel_matrix: k must be float32, got ",
               k.dtype());
  MINIDL_CHECK(a.device() == b.device() && a.device() == k.device(), DeviceError,
               "kernel_matrix: a, b and k must be on one device");
  GemmOptions opt;
  opt.transpose_b = true;
  gemm(a, b, k, opt);
  if (p.type == KernelType::Linear) return;
  const bool need_norms = p.type == KernelType::Rbf;
  const Tensor an = need_norms ? (a_norms.defined() ? a_norms : row_sq_norms(a)) : Tensor();
  const Tensor bn = need_norms ? (b_norms.defined() ? b_norms : row_sq_norms(b)) : Tensor();
  if (need_norms) {
    MINIDL_CHECK(an.numel() == m && bn.numel() == n && an.device() == a.device() &&
                     bn.device() == a.device(),
                 ShapeError, "kernel_matrix: norms must be [", m, "] and [", n, "] on a's device");
  }
  const KernelMap map = make_kernel_map(p);
  const float* anp = need_norms ? an.data<float>() : nullptr;
  const float* bnp = need_norms ? bn.data<float>() : nullptr;
  float* kp = k.data<float>();
  if (k.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::kernel_map(kp, m, n, anp, bnp, map, k.device().index()));
    return;
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < m; ++i)
    map_kernel_block(kp + i * n, 1, n, n, anp != nullptr ? anp + i : nullptr, bnp, map);
}

}  // namespace minidl::svm
