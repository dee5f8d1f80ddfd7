// Kernel rows of a sub-problem's working set from sparse (CSR) samples on a GPU:
// the GPU solver's path (smo_cuda.cu) when the full n x n kernel matrix does not
// fit the memory budget, the sparse twin of its cuBLAS path (which gathers the
// working set's dense rows and runs SGEMM). Per outer iteration,
//   K[ws, :] = map(X_ws X_s^T)
// with X_s the sub-problem's rows in CSR on the device: the working set's rows are
// scattered into a zeroed dense block (d x c, column-major, c working-set rows at a
// time so that the block stays within kSparseRowsBlockBytes), cusparseSpMM
// multiplies X_s (l x d, CSR) by it into c rows of K at once (column j of the
// l x c column-major product is row w0 + j of the row-major K[ws, :]), the same
// positions are zeroed again (cheaper than clearing d x c), and the kernel map
// applies the squared norms (kernel_function_cuda.cu).
//
// UNVERIFIED: compiled (sm_80..90) and linked, never run on a GPU here. The CPU
// path (sparse_kernel.hpp) is the tested one; tests/svm/svc_cuda_test.cpp and the
// parity table compare this one with it on a GPU (they skip without one).
//
// The header is plain C++ (no CUDA types): the planning helpers are tested on the
// host, and solve_problems / the parity table call the entry points.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "csr_matrix.hpp"
#include "kernel_function.hpp"

namespace minidl::svm {

/// The most bytes of the dense block of working-set rows (64 MiB).
inline constexpr std::size_t kSparseRowsBlockBytes = std::size_t{64} << 20;

/// Working-set rows per SpMM: as many of `count` as fit a dense d x c float32
/// block of at most block_bytes, at least 1. Requires d >= 1, count >= 0.
inline std::int64_t sparse_rows_block_columns(std::int64_t d, std::int64_t count,
                                              std::size_t block_bytes = kSparseRowsBlockBytes) {
  const auto per_column = static_cast<std::size_t>(d < 1 ? 1 : d) * sizeof(float);
  const auto fit = static_cast<std::int64_t>(block_bytes / per_column);
  const std::int64_t c = fit < count ? fit : count;
  return c < 1 ? 1 : c;
}

/// The largest non-zero count of any sub-problem's rows: sum over its samples of
/// their row lengths in x (the device buffers are sized for it).
std::int64_t max_problem_nnz(const CsrMatrix& x,
                             const std::vector<const std::vector<std::int64_t>*>& problems);

/// Device bytes a SparseRows for (l_max rows, nnz_max non-zeros, d features, q_max
/// working-set rows) allocates, cuSPARSE's work buffer aside.
std::size_t sparse_rows_device_bytes(std::int64_t l_max, std::int64_t nnz_max, std::int64_t d,
                                     std::int64_t q_max);

namespace cuda {

/// One solver worker's sparse row source, on the device's context stream (the
/// GPU solver computes rows with one worker). Not copyable.
class SparseRows {
 public:
  /// x: every training sample (host CSR, kept by reference: it must outlive this);
  /// buffers for sub-problems of at most l_max rows and nnz_max non-zeros and
  /// working sets of at most q_max rows. A CPU-only build throws DeviceError.
  SparseRows(const CsrMatrix& x, const KernelParams& params, std::int64_t l_max,
             std::int64_t nnz_max, std::int64_t q_max, int device);
  ~SparseRows();
  SparseRows(const SparseRows&) = delete;
  SparseRows& operator=(const SparseRows&) = delete;

  /// Uploads the rows samples[0 .. l) of x (the sub-problem's X_s) and their
  /// squared norms. ValueError when l or their non-zeros exceed the sizes given.
  void begin_problem(const std::vector<std::int64_t>& samples);
  /// kws [count, l] (device, row-major, overwritten) = K(X_s[ws[w]], X_s[u]) for
  /// the current sub-problem; ws: device int [count], each in [0, l).
  void rows(const int* ws, int count, float* kws);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

/// K(x_{samples[ws[w]]}, x_{samples[u]}) as a host vector [ws.size() * samples.size()]
/// (row-major), through SparseRows on `device`: the parity table's entry point.
std::vector<float> sparse_working_set_rows(const CsrMatrix& x,
                                           const std::vector<std::int64_t>& samples,
                                           const std::vector<int>& ws, const KernelParams& params,
                                           int device);

}  // namespace cuda
}  // namespace minidl::svm
