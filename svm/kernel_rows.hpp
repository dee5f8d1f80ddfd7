// Sources of kernel rows for the SMO solvers (svm/smo.hpp): a problem's l x l
// kernel matrix K is never formed whole by the solver; it asks for rows.
//  - CachedKernelRows: an LRU cache of rows under a byte budget; a miss calls a
//    fill function (one row) or a batch fill (a working set's missing rows at once);
//  - subset_kernel_rows: rows of K[idx, idx] gathered from a precomputed full
//    n x n matrix (shared by every one-vs-one pair by indexing);
//  - computed_kernel_rows: rows computed on demand with GEMM from the samples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <vector>

#include "../core/tensor.hpp"
#include "kernel_function.hpp"

namespace minidl::svm {

/// Rows of a problem's l x l kernel matrix K (K itself; the solver applies y).
class KernelRows {
 public:
  virtual ~KernelRows() = default;
  virtual std::int64_t size() const = 0;
  /// Row i: l floats. The pointer stays valid at least until two further calls.
  virtual const float* row(std::int64_t i) = 0;
  /// K(x_i, x_i).
  virtual float diag(std::int64_t i) const = 0;
  /// Rows idx[0], idx[1], ... into out [idx.size(), l] (overwritten): a working
  /// set's rows at once. The default copies row() one by one.
  virtual void rows(const std::vector<std::int64_t>& idx, float* out);
};

/// An LRU cache of rows; a miss calls fill(i, out) to write row i's l floats.
/// Keeps max(2, budget_bytes / (4 l)) rows (never more than l).
class CachedKernelRows final : public KernelRows {
 public:
  using Fill = std::function<void(std::int64_t i, float* out)>;
  /// Writes rows[0..count) into out [count, l]: the misses of rows() in one GEMM.
  using FillBatch = std::function<void(const std::int64_t* rows, std::int64_t count, float* out)>;
  CachedKernelRows(std::int64_t l, std::vector<float> diag, std::size_t budget_bytes, Fill fill,
                   FillBatch fill_batch = {});
  std::int64_t size() const override { return l_; }
  const float* row(std::int64_t i) override;
  float diag(std::int64_t i) const override { return diag_[static_cast<std::size_t>(i)]; }
  /// Hits are copied from the cache; the misses are computed together with
  /// fill_batch (one GEMM) when there is one, then cached.
  void rows(const std::vector<std::int64_t>& idx, float* out) override;
  std::int64_t misses() const { return misses_; }

 private:
  float* acquire(std::int64_t i);  // a slot for row i (evicting the LRU), most recent
  std::int64_t l_;
  std::vector<float> diag_;
  Fill fill_;
  FillBatch fill_batch_;
  std::int64_t capacity_;
  std::vector<float> storage_;
  std::vector<std::int64_t> slot_of_;  // row -> slot, -1 when absent
  std::vector<std::int64_t> row_of_;   // slot -> row
  std::list<std::int64_t> lru_;        // slots, most recent first
  std::vector<std::list<std::int64_t>::iterator> where_;
  std::int64_t misses_ = 0;
};

/// Rows of the sub-matrix K[idx, idx] of a precomputed row-major n_full x n_full
/// matrix `full` (CPU memory that must outlive the result), gathered on demand.
std::unique_ptr<KernelRows> subset_kernel_rows(const float* full, std::int64_t n_full,
                                               std::vector<std::int64_t> idx,
                                               std::size_t budget_bytes);

/// Rows of K(x, x) for x float32 [l, d] on the CPU, computed on a cache miss with
/// GEMM (kernel_matrix on the missing row, or on all of a working set's missing
/// rows at once).
std::unique_ptr<KernelRows> computed_kernel_rows(const Tensor& x, const KernelParams& params,
                                                 std::size_t budget_bytes);

}  // namespace minidl::svm
