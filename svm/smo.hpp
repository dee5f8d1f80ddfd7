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
// is below eps (LIBSVM's rule) or after max_iter iterations. Shrinking (LIBSVM's
// -h 1, on by default): every min(l, 1000) iterations the variables at a bound whose
// gradient keeps them there are left out of the scans and gradient updates; once
// the violation first falls below 10 eps, and whenever the active set is optimal,
// the left-out gradients are rebuilt exactly (from G_bar, the contribution of the
// variables at their upper bound, plus the free ones' rows) and all variables
// rejoin, so the solver stops only when all of them satisfy the KKT conditions.
//
// Kernel rows come from a KernelRows source (svm/kernel_rows.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "../core/tensor.hpp"
#include "kernel_function.hpp"
#include "kernel_rows.hpp"
#include "samples.hpp"

namespace minidl::svm {

struct SmoOptions {
  double eps = 1e-3;          ///< stop when m(a) - M(a) <= eps
  std::int64_t max_iter = 0;  ///< 0: LIBSVM's max(10^7, 100 l)
  /// smo_solve: LIBSVM's shrinking (-h 1). The same optimum within eps; fewer
  /// variables scanned per iteration. The decomposition and GPU solvers ignore it.
  bool shrinking = true;
};

/// A solver's progress hook: when set, the solver calls it with its iteration count
/// so far, every kProgressStride iterations (smo_solve) or every outer iteration
/// (smo_solve_decomposition). It does not change the result; what it throws ends
/// the solve and propagates.
using IterationHook = std::function<void(std::int64_t iterations)>;

/// How often smo_solve calls its IterationHook.
inline constexpr std::int64_t kProgressStride = 4096;

struct SmoResult {
  std::vector<double> alpha;   ///< the solution, 0 <= alpha_i <= C_i
  std::vector<double> grad;    ///< G = Q alpha - e at the solution
  double rho = 0.0;            ///< the decision is sum_i alpha_i y_i K(x_i, x) - rho (b = -rho)
  double objective = 0.0;      ///< f(alpha) = 1/2 a^T Q a - e^T a (LIBSVM's "obj")
  double max_violation = 0.0;  ///< m(alpha) - M(alpha) at the end
  std::int64_t iterations = 0;
  bool converged = false;  ///< false when max_iter stopped it
  /// The fewest variables the solver scanned at once (shrinking); l when it never shrank.
  std::int64_t smallest_active = 0;
};

/// Solves the binary C-SVC dual above. Requires y_i in {+1, -1} with both signs
/// present, y.size() == k.size(), cp > 0, cn > 0. Starts from alpha = 0.
/// rho is LIBSVM's: the mean of y_i G_i over free alphas, else the midpoint of
/// the bounds the others give.
SmoResult smo_solve(KernelRows& k, const std::vector<std::int8_t>& y, double cp, double cn,
                    const SmoOptions& options = {}, const IterationHook& on_iterations = {});

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
                                  double cn, const SmoOptions& options, int working_set,
                                  const IterationHook& on_iterations = {});

/// Fills r.rho, r.objective and r.max_violation from r.alpha and r.grad (LIBSVM's
/// rules; used by the CPU and the CUDA solvers alike).
void smo_finish(SmoResult& r, const std::vector<std::int8_t>& y, double cp, double cn);

/// m(a) - M(a) for a given alpha and gradient (the KKT check, used by diagnostics).
double max_kkt_violation(const std::vector<double>& alpha, const std::vector<double>& grad,
                         const std::vector<std::int8_t>& y, double cp, double cn);

// ---- the one entry: many sub-problems on x's device -------------------------------

/// One binary sub-problem of a multi-class fit: the training indices it uses, their
/// +1 / -1 labels (same length), and the C of the +1 and of the -1 samples.
struct BinaryProblem {
  std::vector<std::int64_t> samples;
  std::vector<std::int8_t> y;
  double cp = 0.0;
  double cn = 0.0;
};

/// What solve_problems reports while it runs.
struct SolveProgress {
  std::int64_t problems_done = 0;   ///< sub-problems finished
  std::int64_t problems_total = 0;  ///< sub-problems this call solves
  /// Solver iterations so far over all sub-problems, finished and running (outer
  /// iterations for the decomposition solvers, two-variable steps for smo_solve).
  std::int64_t iterations = 0;
  double elapsed_s = 0.0;  ///< seconds since solve_problems started
};
using ProgressCallback = std::function<void(const SolveProgress&)>;

struct SolveConfig {
  KernelParams kernel;  ///< gamma resolved (check_kernel_params passes)
  SmoOptions smo;       ///< eps, max_iter
  /// Bytes the kernel matrix and kernel-row caches may take together (host memory
  /// on the CPU, device memory on a GPU); 0: half the physical memory on the CPU,
  /// 80% of the free device memory on a GPU. One-vs-one sub-problems on the CPU:
  /// with dense samples, rows computed when asked, the own-class segments in a
  /// cache shared by the sub-problems (svm/class_segments.hpp; up to half the
  /// budget, the row caches the rest); with sparse ones, the class blocks
  /// (svm/class_kernel.hpp) when they fit. Otherwise: the full n x n float32 matrix is
  /// computed once (one GEMM) and shared by all sub-problems when it fits with two
  /// rows of cache per concurrently solved sub-problem; otherwise each sub-problem
  /// caches (CPU: budget / sub-problems solved at once, with its batch buffer) or
  /// recomputes per working set with GEMM (CUDA) the rows it needs. The CPU caches'
  /// floor is 4 rows per sub-problem solved at once (the solver needs two, and
  /// a row is computed as two to stay on sgemm): a budget below that is raised to it.
  /// KernelMemory (kernel_rows.hpp) counts what is held.
  std::size_t memory_budget = 0;
  int working_set = 1024;          ///< decomposition solvers' working set (2..1024)
  bool cpu_decomposition = false;  ///< CPU: smo_solve_decomposition instead of smo_solve
  /// Called after every finished sub-problem (the last call has problems_done ==
  /// problems_total) and, while sub-problems run, at most about every 0.2 s. Calls
  /// come from the solving threads but never two at once; it must not throw.
  ProgressCallback progress;
};

/// The checks every solver makes of a binary problem before it starts (smo_solve,
/// smo_solve_decomposition, and solve_problems for every problem, whatever the device):
/// labels +1 or -1 with both present, Cp and Cn finite and > 0, eps > 0. ValueError
/// starting with `who`.
void check_smo_problem(const std::vector<std::int8_t>& y, double cp, double cn, double eps,
                       const std::string& who);

/// Solves every problem in `problems` where x is: on the CPU (OpenMP over the
/// sub-problems, smo_solve or smo_solve_decomposition) for CPU samples, on the GPU
/// (cuda::smo_solve_problems) for CUDA ones. x: dense float32 [n, d], or sparse
/// (CSR; kernel rows from sparse dot products on the CPU, sparse_kernel.hpp; on a
/// GPU the full kernel matrix by cuSPARSE when it fits the budget, else the working
/// set's rows by cuSPARSE SpMM each outer iteration, sparse_rows_cuda.hpp). Every sample index in [0, n). Results in the order of `problems`. Each problem is solved exactly as
/// smo_solve (or the decomposition solver) would alone, so a subset of a fit's
/// problems solved here gives the same results as solving them all at once.
/// Throws what the solvers throw (ValueError for bad labels or C).
std::vector<SmoResult> solve_problems(const Samples& x, const std::vector<BinaryProblem>& problems,
                                      const SolveConfig& config);

/// A memory budget in bytes: `requested`, or when it is 0 the default (SvcOptions::
/// memory_budget): half the physical memory on the CPU, 80% of what a device allocation
/// can get on a GPU. Concurrent fits (cross-validation's folds, probability's fold fits)
/// split it between them.
std::size_t resolve_budget(std::size_t requested, const Device& device);

namespace cuda {
/// One binary sub-problem for the GPU solver: the training indices, their +1/-1
/// labels, the two C values, and where the solution goes.
struct SmoProblem {
  const std::vector<std::int64_t>* samples = nullptr;
  const std::vector<std::int8_t>* y = nullptr;
  double cp = 0.0;
  double cn = 0.0;
  SmoResult* result = nullptr;
  /// When set: called with the outer iterations so far after each outer iteration
  /// (done = false) and once when the result is filled (done = true).
  std::function<void(std::int64_t iterations, bool done)> on_progress;
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
/// working set's kernel rows each outer iteration: with GEMM from x, or, when
/// x_csr is given (x then unused, may be null), with cuSPARSE SpMM from the sparse
/// samples (sparse_rows_cuda.hpp; unverified). Fills every problem's
/// result (alpha and gradient copied back, then smo_finish). Independent problems
/// run concurrently on their own streams when k_full is given.
void smo_solve_problems(const float* k_full, const float* x, std::int64_t n, std::int64_t d,
                        const KernelParams& params, std::vector<SmoProblem>& problems,
                        const SmoOptions& options, int working_set, int device,
                        const CsrMatrix* x_csr = nullptr);
}  // namespace cuda

}  // namespace minidl::svm
