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

/// Bytes of kernel storage alive in this process (row caches, their batch
/// buffers, full kernel matrices held by solve_problems) and the peak since
/// reset_peak(): how tests and benchmarks check that a memory budget holds.
struct KernelMemory {
  static std::size_t current();
  static std::size_t peak();
  static void reset_peak();  ///< peak = current
};

/// Counts `bytes` in KernelMemory for its lifetime.
class KernelMemoryLease {
 public:
  explicit KernelMemoryLease(std::size_t bytes = 0);
  ~KernelMemoryLease();
  KernelMemoryLease(const KernelMemoryLease&) = delete;
  KernelMemoryLease& operator=(const KernelMemoryLease&) = delete;
  void resize(std::size_t bytes);

 private:
  std::size_t bytes_ = 0;
};

/// Rows of a problem's l x l kernel matrix K (K itself; the solver applies y).
class KernelRows {
 public:
  virtual ~KernelRows() = default;
  virtual std::int64_t size() const = 0;
  /// Row i: l floats. The pointer stays valid at least until two further calls
  /// (prefetch included).
  virtual const float* row(std::int64_t i) = 0;
  /// K(x_i, x_i).
  virtual float diag(std::int64_t i) const = 0;
  /// Rows idx[0], idx[1], ... into out [idx.size(), l] (overwritten): a working
  /// set's rows at once. The default copies row() one by one.
  virtual void rows(const std::vector<std::int64_t>& idx, float* out);
  /// Whether row(i) would be served without computing (default: always).
  virtual bool cached(std::int64_t /*i*/) const { return true; }
  /// How many rows one prefetch() computes at most; 0 (the default): prefetching
  /// is pointless for this source (rows are cheap or already at hand).
  virtual std::int64_t prefetch_limit() const { return 0; }
  /// Computes the rows of idx not cached yet (at most prefetch_limit(), first ones
  /// first) together, in one GEMM, and caches them; evicts none of the rows it
  /// adds nor the most recently used one. Changes no row's value. Default: nothing.
  virtual void prefetch(const std::vector<std::int64_t>& /*idx*/) {}
};

/// An LRU cache of rows; a miss calls fill(i, out) to write row i's l floats, or
/// fill_batch when there is one (then fill may be empty).
/// Memory: storage for up to `capacity` rows (allocated as rows are cached) plus,
/// with fill_batch, a batch buffer of max(prefetch_limit(), 2) rows, within
/// budget_bytes: capacity = max(2, budget / (4 l) - buffer rows), never more than
/// l; batches of up to max_batch_rows (default 64) rows when the budget has room
/// (at most capacity / 2).
/// A budget under the floor gets it: two rows (the solver's minimum), plus the
/// two-row buffer with fill_batch (a single row is computed as two).
class CachedKernelRows final : public KernelRows {
 public:
  using Fill = std::function<void(std::int64_t i, float* out)>;
  /// Writes rows[0..count) into out [count, l]: misses computed together (one GEMM).
  using FillBatch = std::function<void(const std::int64_t* rows, std::int64_t count, float* out)>;
  CachedKernelRows(std::int64_t l, std::vector<float> diag, std::size_t budget_bytes, Fill fill,
                   FillBatch fill_batch = {}, std::int64_t max_batch_rows = 64);
  std::int64_t size() const override { return l_; }
  const float* row(std::int64_t i) override;
  float diag(std::int64_t i) const override { return diag_[static_cast<std::size_t>(i)]; }
  /// Hits are copied from the cache; the misses are computed together with
  /// fill_batch (one GEMM) when there is one, then cached.
  void rows(const std::vector<std::int64_t>& idx, float* out) override;
  bool cached(std::int64_t i) const override { return slot_of_[static_cast<std::size_t>(i)] >= 0; }
  std::int64_t prefetch_limit() const override { return batch_rows_; }
  void prefetch(const std::vector<std::int64_t>& idx) override;
  std::int64_t misses() const { return misses_; }
  std::int64_t capacity() const { return capacity_; }
  /// Bytes held: the row storage allocated so far (it grows with the rows cached,
  /// up to capacity()) plus the batch buffer.
  std::size_t bytes() const;

 private:
  float* acquire(std::int64_t i);  // a slot for row i (evicting the LRU), most recent
  std::int64_t l_;
  std::vector<float> diag_;
  Fill fill_;
  FillBatch fill_batch_;
  std::int64_t capacity_;
  std::int64_t batch_rows_ = 0;  // prefetch / fill batch size (0: no batch buffer)
  float* slot_ptr(std::int64_t slot);
  static constexpr std::int64_t kChunkRows = 64;
  std::vector<std::unique_ptr<float[]>> chunks_;  // kChunkRows rows each, allocated as needed
  std::int64_t allocated_rows_ = 0;
  std::vector<float> batch_;     // [max(batch_rows_, 2), l] when batch_rows_ > 0
  KernelMemoryLease lease_;
  std::vector<std::int64_t> slot_of_;  // row -> slot, -1 when absent
  std::vector<std::int64_t> row_of_;   // slot -> row
  std::list<std::int64_t> lru_;        // slots, most recent first
  std::vector<std::list<std::int64_t>::iterator> where_;
  std::int64_t misses_ = 0;
};

/// Rows of the sub-matrix K[idx, idx] of a precomputed row-major n_full x n_full
/// matrix `full` (CPU memory that must outlive the result), gathered on demand.
/// full_diag (n_full values, e.g. kernel_diag) replaces the matrix's own diagonal
/// when given.
std::unique_ptr<KernelRows> subset_kernel_rows(const float* full, std::int64_t n_full,
                                               std::vector<std::int64_t> idx,
                                               std::size_t budget_bytes,
                                               const std::vector<float>* full_diag = nullptr);

/// Rows of K(x, x) for x float32 [l, d] on the CPU, computed on a cache miss with
/// one GEMM (OpenBLAS sgemm) for all the missing rows at once (a working set's, or
/// a prefetch), never as a matrix-vector product, so a row's values do not depend
/// on which rows it was computed with. diag: kernel_diag of x.
std::unique_ptr<KernelRows> computed_kernel_rows(const Tensor& x, const KernelParams& params,
                                                 std::size_t budget_bytes);

/// K(x_i, x_i) for every row of x float32 [l, d] (CPU), with the dot products
/// x_i.x_i from sgemm on diagonal blocks, as kernel_matrix and compute_kernel_rows
/// compute every other entry: a diagonal consistent with the rows (the solver's
/// curvature K_ii + K_jj - 2 K_ij needs that more than it needs exact values).
std::vector<float> kernel_diag(const Tensor& x, const KernelParams& params);

/// out [count, l] = K(x[rows[r]], x[t]) for r < count, t < l: gathers the rows,
/// one sgemm against all of x (padded to two rows, never a GEMV), then the kernel
/// map with the squared norms (norms[t] = ||x_t||^2). CPU pointers; count >= 1.
void compute_kernel_rows(const float* x, std::int64_t l, std::int64_t d, const float* norms,
                         const KernelParams& params, const std::int64_t* rows, std::int64_t count,
                         float* out);

}  // namespace minidl::svm
