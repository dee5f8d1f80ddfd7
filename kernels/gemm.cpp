// gemm / gemv: checks, dispatch, and the CPU path through OpenBLAS's CBLAS.
#include "gemm.hpp"

#include <cblas.h>

#include <climits>

#include "../core/dispatch.hpp"
#include "checks.hpp"

namespace minidl {

namespace {
int blas_int(std::int64_t v, const char* op) {
  MINIDL_CHECK(v <= INT_MAX, ShapeError, op, ": dimension ", v,
               " exceeds the BLAS 32-bit index range");
  return static_cast<int>(v);
}
}  // namespace

void gemm(const Tensor& a, const Tensor& b, Tensor& c, const GemmOptions& o) {
  const char* op = "gemm";
  detail::check_float(op, "a", a);
  detail::check_float(op, "b", b);
  if (!c.defined() && a.rank() == 2 && b.rank() == 2) {
    MINIDL_CHECK(o.beta == 0.0f, ValueError, op, ": c is undefined but beta is ", o.beta,
                 " (accumulating needs an existing c)");
    c = empty({o.transpose_a ? a.size(1) : a.size(0), o.transpose_b ? b.size(0) : b.size(1)},
              a.device());
  }
  detail::check_float(op, "c", c);
  MINIDL_CHECK(a.rank() == 2 && b.rank() == 2 && c.rank() == 2, ShapeError, op,
               ": needs matrices, got a ", a.shape(), ", b ", b.shape(), ", c ", c.shape());
  detail::check_same_device(op, "a", a, "b", b);
  detail::check_same_device(op, "a", a, "c", c);
  const std::int64_t m = o.transpose_a ? a.size(1) : a.size(0);
  const std::int64_t k = o.transpose_a ? a.size(0) : a.size(1);
  const std::int64_t kb = o.transpose_b ? b.size(1) : b.size(0);
  const std::int64_t n = o.transpose_b ? b.size(0) : b.size(1);
  MINIDL_CHECK(k == kb && c.size(0) == m && c.size(1) == n, ShapeError, op, ": op(a) ", m, "x", k,
               " (a ", a.shape(), o.transpose_a ? " transposed" : "", ") times op(b) ", kb, "x", n,
               " (b ", b.shape(), o.transpose_b ? " transposed" : "", ") does not give c ",
               c.shape());
  MINIDL_CHECK(c.storage() != a.storage() && c.storage() != b.storage(), ValueError, op,
               ": c must not share memory with a or b");
  if (m == 0 || n == 0) return;
  const std::int64_t lda = a.size(1), ldb = b.size(1), ldc = c.size(1);
  if (a.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::gemm(o.transpose_a, o.transpose_b, m, n, k, o.alpha, a.data<float>(),
                                lda, b.data<float>(), ldb, o.beta, c.data<float>(), ldc,
                                o.allow_tf32, a.device().index()));
    return;
  }
  if (k == 0) {  // BLAS leaves c untouched for k = 0 only if beta == 1; make it c = beta * c
    float* pc = c.data<float>();
    for (std::int64_t i = 0; i < m * n; ++i) pc[i] = o.beta == 0.0f ? 0.0f : o.beta * pc[i];
    return;
  }
  cblas_sgemm(CblasRowMajor, o.transpose_a ? CblasTrans : CblasNoTrans,
              o.transpose_b ? CblasTrans : CblasNoTrans, blas_int(m, op), blas_int(n, op),
              blas_int(k, op), o.alpha, a.data<float>(), blas_int(lda, op), b.data<float>(),
              blas_int(ldb, op), o.beta, c.data<float>(), blas_int(ldc, op));
}

void gemv(const Tensor& a, const Tensor& x, Tensor& y, bool transpose_a, float alpha, float beta) {
  const char* op = "gemv";
  detail::check_float(op, "a", a);
  detail::check_float(op, "x", x);
  if (!y.defined() && a.rank() == 2) {
    MINIDL_CHECK(beta == 0.0f, ValueError, op, ": y is undefined but beta is ", beta,
                 " (accumulating needs an existing y)");
    y = empty({transpose_a ? a.size(1) : a.size(0)}, a.device());
  }
  detail::check_float(op, "y", y);
  MINIDL_CHECK(a.rank() == 2 && x.rank() == 1 && y.rank() == 1, ShapeError, op,
               ": needs a matrix and two vectors, got ", a.shape(), ", ", x.shape(), ", ",
               y.shape());
  detail::check_same_device(op, "a", a, "x", x);
  detail::check_same_device(op, "a", a, "y", y);
  const std::int64_t rows = a.size(0), cols = a.size(1);
  const std::int64_t in = transpose_a ? rows : cols, out = transpose_a ? cols : rows;
  MINIDL_CHECK(x.size(0) == in && y.size(0) == out, ShapeError, op, ": a ", a.shape(),
               transpose_a ? " transposed" : "", " times x ", x.shape(), " does not give y ",
               y.shape());
  if (out == 0) return;
  if (a.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::gemv(transpose_a, rows, cols, alpha, a.data<float>(), cols,
                                x.data<float>(), beta, y.data<float>(), a.device().index()));
    return;
  }
  if (in == 0) {
    float* py = y.data<float>();
    for (std::int64_t i = 0; i < out; ++i) py[i] = beta == 0.0f ? 0.0f : beta * py[i];
    return;
  }
  cblas_sgemv(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, blas_int(rows, op),
              blas_int(cols, op), alpha, a.data<float>(), blas_int(cols, op), x.data<float>(), 1,
              beta, y.data<float>(), 1);
}

}  // namespace minidl
