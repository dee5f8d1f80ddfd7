// The SMO solver for the binary soft-margin SVM dual (C-SVC), on the CPU:
//
//   min_a  f(a) = 1/2 a^T Q a - e^T a,   Q_ij = y_i y_j K(x_i, x_j),
//   s.t.   y^T a = 0,  0 <= a_i <= C_i   (C_i = Cp for y_i = +1, Cn for y_i = -1)
//
// the course notes' dual (maximising e^T a - 1/2 a^T Q a, the same problem with
// the sign flipped). The algorithm is LIBSVM's (Fan, Chen & Lin, "Working set
// selection using second order information for training SVM", JMLR 2005): the
// maximal violating index i, the second index j by the second-order gain with
// tau = 1e-12 for non-positive curvature, the analytic two-variable update
// clipped to the box, the gradient G = Q a - e updated with the two kernel rows.
// Alphas and gradients are double, kernel values float. It stops when the
// maximal KKT violation m(a) - M(a) = max_{I_up} -y_i G_i - min_{I_low} -y_i G_i
// is below eps (LIBSVM's rule) or after max_iter iterations. No shrinking: every
// iteration scans all l variables, which keeps the gradient exact throughout.
//
// Kernel rows come from a KernelRows source: an LRU cache (a memory budget) over
// rows gathered from a precomputed full kernel matrix, shared by every
// one-vs-one pair by indexing, or computed on demand with GEMM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
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

struct SmoOptions {
  double eps = 1e-3;          ///< stop when m(a) - M(a) <= eps
  std::int64_t max_iter = 0;  ///< 0: LIBSVM's max(10^7, 100 l)
};

struct SmoResult {
  std::vector<double> alpha;   ///< the solution, 0 <= alpha_i <= C_i
  std::vector<double> grad;    ///< G = Q alpha - e at the solution
  double rho = 0.0;            ///< the decision is sum_i alpha_i y_i K(x_i, x) - rho (b = -rho)
  double objective = 0.0;      ///< f(alpha) = 1/2 a^T Q a - e^T a (LIBSVM's "obj")
  double max_violation = 0.0;  ///< m(alpha) - M(alpha) at the end
  std::int64_t iterations = 0;
  bool converged = false;  ///< false when max_iter stopped it
};

/// Solves the binary C-SVC dual above. Requires y_i in {+1, -1} with both signs
/// present, y.size() == k.size(), cp > 0, cn > 0. Starts from alpha = 0.
/// rho is LIBSVM's: the mean of y_i G_i over free alphas, else the midpoint of
/// the bounds the others give.
SmoResult smo_solve(KernelRows& k, const std::vector<std::int8_t>& y, double cp, double cn,
                    const SmoOptions& options = {});

/// The decomposition SMO of the GPU solver (smo_cuda.cu), step for step on the
/// CPU: each outer iteration takes the working set of the q/2 largest -y_t G_t in
/// I_up and the q/2 largest y_t G_t in I_low (distinct; svm/working_set.hpp: float32
/// keys, ties to the lowest index, so two fits of one problem are bitwise equal and
/// the GPU solver selects the same sets), solves the sub-problem on it with the two-variable SMO
/// above (WSS2, tau = 1e-12) down to a violation of max(eps, 0.1 x the global
/// one) or 10 q iterations (at least 1000), then updates the whole gradient with
/// the working set's kernel rows. Stops when the global violation is below eps.
/// Same requirements and result as smo_solve; 2 <= working_set.
SmoResult smo_solve_decomposition(KernelRows& k, const std::vector<std::int8_t>& y, double cp,
                                  double cn, const SmoOptions& options, int working_set);

/// Fills r.rho, r.objective and r.max_violation from r.alpha and r.grad (LIBSVM's
/// rules; used by the CPU and the CUDA solvers alike).
void smo_finish(SmoResult& r, const std::vector<std::int8_t>& y, double cp, double cn);

/// m(a) - M(a) for a given alpha and gradient (the KKT check, used by diagnostics).
double max_kkt_violation(const std::vector<double>& alpha, const std::vector<double>& grad,
                         const std::vector<std::int8_t>& y, double cp, double cn);

namespace cuda {
/// One binary sub-problem for the GPU solver: the training indices, their +1/-1
/// labels, the two C values, and where the solution goes.
struct SmoProblem {
  const std::vector<std::int64_t>* samples = nullptr;
  const std::vector<std::int8_t>* y = nullptr;
  double cp = 0.0;
  double cn = 0.0;
  SmoResult* result = nullptr;
};
/// How many problems smo_solve_problems solves at once, each with its own stream
/// and buffers: up to 8 with the full kernel matrix, 1 when it computes rows.
int solver_workers(bool full_matrix, std::size_t problems);
/// Device bytes smo_solve_problems allocates besides k_full (and x): every
/// worker's buffers for the largest problem (l_max variables, d features, the
/// working set clamped to l_max). The caller's memory budget must count them: at
/// 60k samples one-vs-rest, 8 workers' [1024, 60000] kernel-row blocks are 2 GB.
std::size_t solver_buffer_bytes(std::int64_t l_max, std::int64_t d, int working_set,
                                bool full_matrix, std::size_t problems);
/// The decomposition SMO on `device` (smo_cuda.cu): x float32 [n, d] in device
/// memory; k_full the n x n kernel matrix in device memory, or null to compute the
/// working set's kernel rows with GEMM each outer iteration. Fills every problem's
/// result (alpha and gradient copied back, then smo_finish). Independent problems
/// run concurrently on their own streams when k_full is given.
void smo_solve_problems(const float* k_full, const float* x, std::int64_t n, std::int64_t d,
                        const KernelParams& params, std::vector<SmoProblem>& problems,
                        const SmoOptions& options, int working_set, int device);
}  // namespace cuda

}  // namespace minidl::svm
