// Kernel values from sparse samples (CSR, svm/csr_matrix.hpp) on the CPU, without
// ever forming a dense n x d matrix.
//
// SparseKernel holds a set of rows B (the "columns" of the kernel matrices it
// computes) transposed: for every feature that occurs in B, the rows of B that
// have it and their values (CSC restricted to the features present, so 10^6 or
// 2^31 feature indices cost nothing for the absent ones). A kernel row for a
// query row a is then
//   dot(a, b_t) = sum over the features f of a: a_f * B[t, f]
// accumulated in double over a's features in increasing order, for all t at once
// by walking each of a's features' lists: cost sum over a's features of the
// number of rows of B holding it. The values do not depend on which or how many
// rows are computed together. The kernel map (kernel_function.hpp) then applies
// the squared norms, accumulated in double as row_sq_norms does.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "csr_matrix.hpp"
#include "kernel_function.hpp"
#include "kernel_rows.hpp"

namespace minidl::svm {

class SparseKernel {
 public:
  /// Takes the rows of b (copied into the transposed form); params checked.
  SparseKernel(const CsrMatrix& b, const KernelParams& params);
  std::int64_t size() const { return n_; }  ///< rows of b
  /// ||b_t||^2 per row of b.
  const std::vector<float>& norms() const { return norms_; }
  /// out[r, t] = K(a_{rows[r]}, b_t) for r < count, t < size(), out [count, size()]
  /// overwritten; a must have b's cols. a_norms: csr_row_sq_norms(a) (RBF reads it).
  /// OpenMP over the rows when count > 1 and not already in a parallel region.
  void rows(const CsrMatrix& a, const float* a_norms, const std::int64_t* rows,
            std::int64_t count, float* out) const;

 private:
  void row(const CsrMatrix& a, std::int64_t i, float a_norm, std::vector<double>& acc,
           float* out) const;
  KernelParams params_;
  KernelMap map_;
  std::int64_t n_ = 0;
  std::int64_t cols_ = 0;
  std::vector<std::int32_t> features_;     // features present in b, increasing
  std::vector<std::int64_t> feature_ptr_;  // features_.size() + 1 offsets
  std::vector<std::int32_t> which_row_;    // row of b per entry
  std::vector<float> value_;               // value per entry
  std::vector<float> norms_;
};

/// K(x_i, x_i) for every row of x, from csr_row_sq_norms (equal to kernel_diag on
/// the dense form of x).
std::vector<float> sparse_kernel_diag(const CsrMatrix& x, const KernelParams& params);

/// Rows of K(x, x) for sparse x (l rows) on the CPU: a CachedKernelRows whose
/// misses (and prefetches) are computed by SparseKernel. budget_bytes as for
/// computed_kernel_rows.
std::unique_ptr<KernelRows> sparse_kernel_rows(CsrMatrix x, const KernelParams& params,
                                               std::size_t budget_bytes);

/// k [a.rows, b.rows] (row-major, overwritten) = K(a_i, b_j) for sparse a and b
/// with equal cols; CPU memory.
void sparse_kernel_matrix(const CsrMatrix& a, const CsrMatrix& b, const KernelParams& params,
                          float* k);

namespace cuda {
/// k [n, n] (device memory on `device`, row-major, overwritten) = K(x_i, x_j) for
/// sparse x (host CSR, uploaded): K = X X^T by cuSPARSE SpMM (X in CSR against
/// blocks of X^T scattered dense), then the kernel map with the squared norms
/// (sparse_kernel_cuda.cu). Unverified: compiled, never run on a GPU here. A
/// CPU-only build throws DeviceError.
void sparse_kernel_matrix(const CsrMatrix& x, const KernelParams& params, float* k, int device);
}  // namespace cuda

}  // namespace minidl::svm
