// cuBLAS calls for gemm / gemv on row-major data. A row-major m x n matrix is
// the column-major n x m matrix with the same leading dimension, so
//   C = op(A) op(B)   (row-major)   <=>   C^T = op(B)^T op(A)^T   (column-major)
// and cuBLAS is called with the operands swapped and the same transpose flags.
#include <algorithm>
#include <climits>

#include "../core/context.hpp"
#include "../core/cuda_check.hpp"
#include "gemm.hpp"

namespace minidl::cuda {

namespace {
int blas_int(std::int64_t v) {
  MINIDL_CHECK(v <= INT_MAX, ShapeError, "gemm: dimension ", v,
               " exceeds cuBLAS's 32-bit index range");
  return static_cast<int>(v);
}
}  // namespace

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc, bool tf32, int device) {
  CudaContext& ctx = CudaContext::get(device);
  cublasHandle_t handle = ctx.cublas();
  MINIDL_CUDA_CHECK(cudaSetDevice(device));
  const cublasOperation_t op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (k == 0) {
    // op(a) op(b) is empty: c = beta * c, as the CPU path does. beta == 0 writes
    // zeros without reading c (it may hold NaN garbage); otherwise c = beta * c by
    // one cublasSscal per row (cublasSgeam with A, B and C all c is outside its
    // documented in-place cases; Sscal is in place by definition). Contiguous rows
    // (ldc == n) are one call.
    if (beta == 0.0f) {
      MINIDL_CUDA_CHECK(cudaMemset2DAsync(c, static_cast<std::size_t>(ldc) * sizeof(float), 0,
                                          static_cast<std::size_t>(n) * sizeof(float),
                                          static_cast<std::size_t>(m), ctx.stream()));
    } else if (beta != 1.0f) {
      if (ldc == n) {
        // One call per 2^30 elements (cuBLAS's counts are 32-bit).
        const std::int64_t total = m * n;
        for (std::int64_t i0 = 0; i0 < total; i0 += std::int64_t{1} << 30)
          MINIDL_CUBLAS_CHECK(cublasSscal(
              handle, blas_int(std::min<std::int64_t>(std::int64_t{1} << 30, total - i0)), &beta,
              c + i0, 1));
      } else {
        for (std::int64_t r = 0; r < m; ++r)
          MINIDL_CUBLAS_CHECK(cublasSscal(handle, blas_int(n), &beta, c + r * ldc, 1));
      }
    }
    return;
  }
  const cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  // cuBLAS's dimensions are 32-bit; so that no offset inside one call passes 2^31
  // elements either (a 60000 x 60000 SVM kernel matrix has 3.6e9), a large c is done
  // in blocks of rows of at most 2^30 elements.
  const std::int64_t block_rows =
      std::max<std::int64_t>(1, (std::int64_t{1} << 30) / std::max<std::int64_t>(ldc, 1));
  for (std::int64_t r0 = 0; r0 < m; r0 += block_rows) {
    const std::int64_t rows = std::min(block_rows, m - r0);
    // Row r of op(a): a + r lda (a is [m, lda]) or column r of a (a^T, a is [k, lda]).
    const float* a_rows = a + (ta ? r0 : r0 * lda);
    MINIDL_CUBLAS_CHECK(cublasGemmEx(handle, op_b, op_a, blas_int(n), blas_int(rows), blas_int(k),
                                     &alpha, b, CUDA_R_32F, blas_int(ldb), a_rows, CUDA_R_32F,
                                     blas_int(lda), &beta, c + r0 * ldc, CUDA_R_32F, blas_int(ldc),
                                     compute, CUBLAS_GEMM_DEFAULT));
  }
}

void gemv(bool ta, std::int64_t m, std::int64_t n, float alpha, const float* a, std::int64_t lda,
          const float* x, float beta, float* y, int device) {
  CudaContext& ctx = CudaContext::get(device);
  MINIDL_CUDA_CHECK(cudaSetDevice(device));
  const std::int64_t in = ta ? m : n, out = ta ? n : m;
  if (in == 0) {
    // BLAS returns at once for an empty product without scaling y (and rejects
    // lda = 0): y = beta * y, as the CPU path does.
    if (beta == 0.0f) {
      MINIDL_CUDA_CHECK(cudaMemsetAsync(y, 0, static_cast<std::size_t>(out) * sizeof(float),
                                        ctx.stream()));
    } else if (beta != 1.0f) {
      MINIDL_CUBLAS_CHECK(cublasSscal(ctx.cublas(), blas_int(out), &beta, y, 1));
    }
    return;
  }
  // Row-major a [m, n] is column-major a^T [n, m]: flip the transpose.
  MINIDL_CUBLAS_CHECK(cublasSgemv(ctx.cublas(), ta ? CUBLAS_OP_N : CUBLAS_OP_T, blas_int(n),
                                  blas_int(m), &alpha, a, blas_int(lda), x, 1, &beta, y, 1));
}

}  // namespace minidl::cuda
