// gemm / gemv: checks, dispatch, and the CPU path through OpenBLAS's CBLAS or oneDNN's
// sgemm (cpu_gemm_auto_library below).
#include "gemm.hpp"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <climits>

#if MINIDL_WITH_ONEDNN
#include <dnnl.h>
#endif

#include "../core/cpu_features.hpp"
#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "checks.hpp"

namespace minidl {

namespace {
int blas_int(std::int64_t v, const char* op) {
  MINIDL_CHECK(v <= INT_MAX, ShapeError, op, ": dimension ", v,
               " exceeds the BLAS 32-bit index range");
  return static_cast<int>(v);
}
std::atomic<int> g_cpu_gemm_library{static_cast<int>(CpuGemmLibrary::Auto)};
constexpr bool kWithOneDnn = MINIDL_WITH_ONEDNN != 0;  // cpu::onednn_available() (conv2d.hpp)

// One CPU product on the calling thread's library threads (its OpenMP count: OpenBLAS and
// oneDNN both follow it), on `library` (OpenBlas or OneDnn).
void sgemm_call(CpuGemmLibrary library, bool ta, bool tb, std::int64_t m, std::int64_t n,
                std::int64_t k, float alpha, const float* a, std::int64_t lda, const float* b,
                std::int64_t ldb, float beta, float* c, std::int64_t ldc, const char* op) {
#if MINIDL_WITH_ONEDNN
  if (library == CpuGemmLibrary::OneDnn) {
    // Row-major, as minidl's; beta 0 does not read c (tests/kernels/gemm_test.cpp).
    const dnnl_status_t status =
        dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    MINIDL_CHECK(status == dnnl_success, Error, op, ": oneDNN's sgemm failed (status ",
                 static_cast<int>(status), ") on ", m, "x", k, " times ", k, "x", n);
    return;
  }
#endif
  (void)library;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              blas_int(m, op), blas_int(n, op), blas_int(k, op), alpha, a, blas_int(lda, op), b,
              blas_int(ldb, op), beta, c, blas_int(ldc, op));
}

// A CPU GEMM on cpu_gemm_library(); Auto is resolved once, by the whole product's shape,
// and every piece below runs on the library it picked. While parallel_contended()
// (core/parallel.hpp: a busy machine, or the Pool backend), C is cut into about kSplit
// pieces along its longer side (multiples of 16, fixed by the shape, not the thread count),
// each a call on one thread, run on the pool: a descheduled thread then delays only the
// piece it claimed, never the whole GEMM at a barrier. Otherwise (a quiet machine, a busy
// one whose other processes leave this one CPU, loop_threads() == 1, or inside a parallel
// loop) one call, threaded by the library itself at the calling thread's OpenMP count (1
// while contended). Each element of C is the same dot product either way, but the
// libraries' blocking may differ between one call and a piece, so the bits can differ
// between a quiet and a busy machine; they do not depend on which thread ran a piece.
constexpr int kSplit = 4;

void sgemm_cpu(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
               const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
               float* c, std::int64_t ldc, const char* op) {
  CpuGemmLibrary library = cpu_gemm_library();
  if (library == CpuGemmLibrary::Auto) library = cpu_gemm_auto_library(ta, tb, m, n, k);
  auto call = [&](std::int64_t m1, std::int64_t n1, const float* a1, const float* b1, float* c1) {
    sgemm_call(library, ta, tb, m1, n1, k, alpha, a1, lda, b1, ldb, beta, c1, ldc, op);
  };
  const int split = kSplit;
  if (!parallel_contended() || in_parallel_region() || loop_threads() == 1) {
    call(m, n, a, b, c);
    return;
  }
  const double flops =
      2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  if (flops < 2e6) {  // not worth cutting (this thread's OpenMP count is 1 here)
    call(m, n, a, b, c);
    return;
  }
  // Split the larger of m and n into `split` pieces (multiples of 16), fixed by the shape.
  if (n >= m) {
    const std::int64_t g = std::max<std::int64_t>(16, ((n + split - 1) / split + 15) / 16 * 16);
    parallel_chunks((n + g - 1) / g, [&](std::int64_t piece) {
      const std::int64_t j = piece * g;
      call(m, std::min(n, j + g) - j, a, tb ? b + j * ldb : b + j, c + j);
    });
  } else {
    const std::int64_t g = std::max<std::int64_t>(16, ((m + split - 1) / split + 15) / 16 * 16);
    parallel_chunks((m + g - 1) / g, [&](std::int64_t piece) {
      const std::int64_t i = piece * g;
      call(std::min(m, i + g) - i, n, ta ? a + i : a + i * lda, b, c + i * ldc);
    });
  }
}

}  // namespace

void set_cpu_gemm_library(CpuGemmLibrary library) {
  MINIDL_CHECK(library != CpuGemmLibrary::OneDnn || kWithOneDnn, ValueError,
               "set_cpu_gemm_library: 'onednn': this minidl was built without oneDNN (install "
               "libdnnl-dev and reconfigure); use 'auto' or 'openblas'");
  g_cpu_gemm_library.store(static_cast<int>(library), std::memory_order_relaxed);
}

CpuGemmLibrary cpu_gemm_library() {
  return static_cast<CpuGemmLibrary>(g_cpu_gemm_library.load(std::memory_order_relaxed));
}

const char* cpu_gemm_library_name(CpuGemmLibrary library) {
  switch (library) {
    case CpuGemmLibrary::Auto:
      return "auto";
    case CpuGemmLibrary::OpenBlas:
      return "openblas";
    case CpuGemmLibrary::OneDnn:
      return "onednn";
  }
  return "?";
}

// Auto: oneDNN's sgemm wherever minidl is built with it, except, on CPUs without AVX-512, the
// products with a transposed and a plain operand and a tall result (op(a) = a^T with m >= 128: the
// weight gradients dW = dz^T x of layers with 128 outputs or more), where OpenBLAS was as fast or
// faster. A fixed rule, not a timing at first use: the choice, and so the result's bits, must not
// depend on how busy the machine was when the run started. Measured on the 2-core AVX2 build
// machine (OpenBLAS 0.3.21, oneDNN 2.6.3), each product alone, the two libraries interleaved 11
// times, medians; OpenBLAS's time over oneDNN's at 2 threads / 1 thread, for the MLP's products at
// batch 128 (m x n x k):
//   forward x W^T   128x256x784 1.27 / 1.14   128x128x256 1.53 / 1.22   128x10x128 0.99 / 1.25
//   dW = dz^T x     256x784x128 0.97 / 0.89   128x256x128 1.06 / 0.93   10x128x128 0.98 / 1.47
//   dx = dz W       128x256x128 1.86 / 1.10   128x128x10  0.89 / 2.06
// at batch 1024 (2 threads): forward 1.07 / 1.41 / 3.58, dW 0.99 / 0.93 / 3.14, dx 1.68 /
// 3.10; the CNN's dense layers (3136x1024, 1024x10) at batch 128: forward 1.12 / 3.26, dW
// 0.86 / 1.47, dx 1.02 / 2.28. All of an MLP step's products together:
// minidl_bench_train cpu/mlp_gemms{,_openblas,_onednn}/128.
// On an AVX-512 CPU (the 2-core AMD EPYC build machine of 2026-12-07, Zen 4; OpenBLAS's
// Cooperlake kernels) oneDNN won those dW products too, OpenBLAS's time over oneDNN's at
// 2 threads / 1 thread (best of 7, interleaved): 256x784x128 1.09 / 1.07, 128x256x128
// 1.25 / 1.08, the CNN's 1024x3136x128 1.05 / 1.06, 10x1024x128 2.38 / 1.78 (10x128x128
// 0.91 / 0.89, 3 us); all of the MLP step's products 3-4% faster on oneDNN than on the
// AVX2 rule. So the exception holds only where the CPU has no AVX-512 (the rule is then
// fixed by the shape and the CPU, still never by a timing).
CpuGemmLibrary cpu_gemm_auto_library(bool ta, bool tb, std::int64_t m, std::int64_t /*n*/,
                                     std::int64_t /*k*/) {
  if (!kWithOneDnn) return CpuGemmLibrary::OpenBlas;
  if (ta && !tb && m >= 128 && !cpu_features().avx512f) return CpuGemmLibrary::OpenBlas;
  return CpuGemmLibrary::OneDnn;
}

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
  sgemm_cpu(o.transpose_a, o.transpose_b, m, n, k, o.alpha, a.data<float>(), lda, b.data<float>(),
            ldb, o.beta, c.data<float>(), ldc, op);
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
