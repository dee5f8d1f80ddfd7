// Matrix products on row-major 2-D float32 tensors: OpenBLAS (CBLAS, row-major) or
// oneDNN's sgemm (row-major) on the CPU, chosen by cpu_gemm_library below; cuBLAS on the
// GPU, which is column-major: there the row-major operands are handed over as their
// transposes (a row-major m x n matrix is a column-major n x m one with the same leading
// dimension). Nothing is copied or transposed in memory.
#pragma once

#include "../core/tensor.hpp"

namespace minidl {

struct GemmOptions {
  bool transpose_a = false;
  bool transpose_b = false;
  float alpha = 1.0f;
  /// 0 overwrites c; 1 accumulates into it (gradients).
  float beta = 0.0f;
  /// Let cuBLAS use TF32 tensor cores (10-bit mantissa inputs, float accumulation):
  /// much faster on Ampere and later, less exact. Ignored on the CPU.
  bool allow_tf32 = false;
};

/// c = alpha * op(a) * op(b) + beta * c with op(x) = x or x^T. Requires float32
/// rank-2 tensors on one device, op(a) [m, k], op(b) [k, n], c [m, n]; throws
/// ShapeError naming the three shapes otherwise. c must not alias a or b.
/// Output convention (minidl.hpp): with beta == 0, c is overwritten, and an
/// undefined c is allocated [m, n] on a's device; with beta != 0 it is
/// accumulated into and must exist (ValueError otherwise).
void gemm(const Tensor& a, const Tensor& b, Tensor& c, const GemmOptions& options = {});

/// y = alpha * op(a) * x + beta * y for a [m, n], x and y vectors. An undefined y
/// is allocated when beta == 0 (as gemm's c).
void gemv(const Tensor& a, const Tensor& x, Tensor& y, bool transpose_a = false, float alpha = 1.0f,
          float beta = 0.0f);

/// The library behind gemm() on the CPU (process-wide; gemv always runs OpenBLAS, the
/// convolution backends and the SVM's kernel rows call their own).
///   Auto (default): oneDNN's sgemm where minidl is built with oneDNN, OpenBLAS for the
///     products it measured faster on CPUs without AVX-512 (cpu_gemm_auto_library; a
///     fixed rule by shape and CPU, so the bits never depend on timing); OpenBLAS
///     everywhere without oneDNN;
///   OpenBlas, OneDnn: every product on that library (OneDnn without oneDNN in the
///     build, cpu::onednn_available() false: ValueError).
/// The libraries round differently, so a model trained on one agrees with the other
/// within float rounding, not bitwise.
enum class CpuGemmLibrary { Auto, OpenBlas, OneDnn };
void set_cpu_gemm_library(CpuGemmLibrary library);
CpuGemmLibrary cpu_gemm_library();
const char* cpu_gemm_library_name(CpuGemmLibrary library);
/// The library Auto uses for c [m, n] = op(a) [m, k] op(b) [k, n] (never Auto).
CpuGemmLibrary cpu_gemm_auto_library(bool transpose_a, bool transpose_b, std::int64_t m,
                                     std::int64_t n, std::int64_t k);

namespace cuda {
/// Row-major gemm on `device` (see gemm()); dimensions already checked.
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc, bool tf32, int device);
void gemv(bool ta, std::int64_t m, std::int64_t n, float alpha, const float* a, std::int64_t lda,
          const float* x, float beta, float* y, int device);
}  // namespace cuda

}  // namespace minidl
