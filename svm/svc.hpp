// SVC: the soft-margin kernel support vector classifier of the course notes,
//   primal  J(w, b) = C sum_i max(0, 1 - y_i (w.phi(x_i) + b)) + ||w||^2 / 2,
//   dual    max_a e^T a - 1/2 a^T Q a,  0 <= a_i <= C,  y^T a = 0,
//           w = sum_i a_i y_i phi(x_i),  z(x) = b + sum_i a_i y_i K(x_i, x),
// trained with the SMO solver (smo.hpp), multi-class by one-vs-one voting as
// LIBSVM does, or one-vs-rest. It follows LIBSVM's conventions so that results
// can be checked against svm-train and models exchanged (model_file.hpp):
//  - classes are ordered by first appearance in the training labels, except that
//    two classes {-1, +1} are ordered (+1, -1);
//  - the sub-problem of classes (i, j), i < j, labels class i +1 and class j -1,
//    its decision value > 0 votes for i; the class with the most votes wins, ties
//    going to the class earlier in the order;
//  - support vectors are grouped by class in class order, by training index within
//    a class; b = -rho with LIBSVM's rho.
// One decision function per sub-problem: z_p(x) = sum_s coef[s, p] K(sv_s, x) - rho_p,
// computed for many x as one kernel matrix and one GEMM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"
#include "csr_matrix.hpp"
#include "kernel_function.hpp"
#include "samples.hpp"
#include "smo.hpp"

namespace minidl::svm {

enum class GammaMode { Scale, Auto, Value };
enum class MultiClass { OneVsOne, OneVsRest };

struct SvcOptions {
  double C = 1.0;  ///< > 0
  KernelType kernel = KernelType::Rbf;
  /// Scale: 1 / (d Var X) (the default); Auto: 1 / d; Value: `gamma`.
  GammaMode gamma_mode = GammaMode::Scale;
  /// Used with gamma_mode Value only. Setting it (!= 0) with Scale or Auto would be
  /// ignored, so SVC's constructor rejects that with a ValueError saying to set
  /// gamma_mode = GammaMode::Value; SvcOptions::with_gamma(g) sets both.
  double gamma = 0.0;
  double coef0 = 0.0;
  int degree = 3;
  double tol = 1e-3;          ///< LIBSVM's -e: stop at max KKT violation m(a) - M(a) <= tol
  std::int64_t max_iter = 0;  ///< per sub-problem; 0: max(10^7, 100 l)
  /// LIBSVM's -h: shrinking in the CPU two-variable solver (SmoOptions::shrinking).
  /// The same model within tol either way; on is faster.
  bool shrinking = true;
  /// C of class k = C * class_weight[k] (LIBSVM's -wk); classes not named keep C.
  std::map<std::int32_t, double> class_weight;
  /// class_weight[k] = n / (n_classes * n_k) (scikit-learn's "balanced"); replaces class_weight.
  bool balanced = false;
  /// Bytes the kernel matrix may take (host memory on the CPU, device memory on a
  /// GPU): the full n x n float32 matrix is computed once (one GEMM) and shared by
  /// all sub-problems when it fits; otherwise each sub-problem caches (CPU) or
  /// recomputes per working set with GEMM (CUDA; cuSPARSE SpMM for sparse samples)
  /// the kernel rows it needs.
  /// 0 (the default): half the physical memory on the CPU, 80% of the free device
  /// memory on a GPU.
  std::size_t memory_budget = 0;
  /// Variables per working set of the decomposition solver (2..1024): always on
  /// CUDA; on the CPU when cpu_decomposition is set.
  int working_set = 1024;
  /// CPU: the GPU's decomposition algorithm (smo_solve_decomposition) instead of
  /// LIBSVM's two-variable SMO (smo_solve, the default and the faster on a CPU).
  bool cpu_decomposition = false;
  MultiClass multi_class = MultiClass::OneVsOne;
  /// Dense or sparse (CSR) training data (samples.hpp): Auto keeps sparse samples
  /// sparse below kSparseDensity non-zeros (kernel rows from sparse dot products,
  /// never an n x d matrix) and dense ones dense.
  Storage storage = Storage::Auto;
  /// Called while fit / solve run: sub-problems done of the total, solver
  /// iterations, seconds elapsed (svm/smo.hpp, SolveConfig::progress: after every
  /// sub-problem and at most about every 0.2 s in between, never two calls at once).
  /// It does not change the model.
  ProgressCallback progress;

  /// gamma_mode = Value, gamma = g (chainable: SvcOptions{}.with_gamma(0.5)).
  SvcOptions& with_gamma(double g) {
    gamma_mode = GammaMode::Value;
    gamma = g;
    return *this;
  }
};

/// Where a training sample lies, from y z (the course notes' categories). "On the
/// margin" is |y z - 1| <= tol (the solver's own precision).
enum class MarginCategory : std::int8_t { CorrectSide, OnMargin, InsideMargin, Misclassified };
const char* margin_category_name(MarginCategory c);

/// One binary sub-problem's solution and the course notes' diagnostics.
struct BinaryResult {
  std::int32_t positive_class = 0;    ///< index into classes()
  std::int32_t negative_class = 0;    ///< index into classes(); -1: all the others (one-vs-rest)
  std::vector<std::int64_t> samples;  ///< training indices in the sub-problem
  std::vector<std::int8_t> y;         ///< +1 / -1 per sample
  std::vector<double> alpha;          ///< per sample, 0 <= alpha <= C_i
  double cp = 0.0, cn = 0.0;          ///< C of the +1 and -1 samples
  double rho = 0.0;                   ///< intercept b = -rho
  std::vector<double> margin;         ///< y z per sample
  std::vector<double> slack;          ///< xi = max(0, 1 - y z) per sample
  std::vector<MarginCategory> category;
  double max_kkt_violation = 0.0;  ///< m(a) - M(a)
  double sum_alpha_y = 0.0;        ///< sum_i a_i y_i (0 at the optimum)
  double dual_objective = 0.0;     ///< e^T a - 1/2 a^T Q a (= -LIBSVM's "obj")
  std::int64_t iterations = 0;
  bool converged = false;
  std::int64_t n_sv = 0;   ///< alpha > 0
  std::int64_t n_bsv = 0;  ///< alpha = C_i
};

/// A fit's sub-problems before they are solved (SVC::plan): what fit decides from
/// the data and the options. Step 1 of fit; plan -> solve -> assemble is fit.
struct SvcPlan {
  KernelParams kernel;  ///< gamma resolved
  std::int64_t n_samples = 0;
  std::int64_t n_features = 0;
  std::vector<std::int32_t> classes;       ///< labels in LIBSVM's order
  std::vector<std::int32_t> sample_class;  ///< per training sample: index into classes
  /// One per decision, in decision order: pairs (0,1), (0,2), ..., (1,2), ... for
  /// one-vs-one; class c against the rest for one-vs-rest.
  std::vector<BinaryProblem> problems;
  /// (positive class, negative class) per problem, indices into classes; the
  /// negative class is -1 for one-vs-rest ("all the others").
  std::vector<std::pair<std::int32_t, std::int32_t>> problem_classes;
  bool one_vs_rest = false;  ///< k > 2 classes trained one-vs-rest
  bool sparse = false;       ///< the samples are solved on in CSR form (SvcOptions::storage)
};

class SVC {
 public:
  explicit SVC(SvcOptions options = {});

  /// Trains on x (dense float32 [n, d], or sparse CSR: samples.hpp) and y int32 [n]
  /// (class labels, >= 2 classes).
  /// Throws ValueError for a single class, NaN / infinite features, C <= 0, tol <= 0,
  /// a class_weight for an absent label or <= 0, bad kernel parameters; ShapeError /
  /// DTypeError for mismatched operands. Runs where x is: the CPU solver for a CPU
  /// tensor, the GPU decomposition solver (smo_cuda.cu) for a CUDA tensor.
  SVC& fit(const Samples& x, const Tensor& y);

  // fit in three steps, for callers that solve the sub-problems themselves (one
  // subset of the one-vs-one pairs per process, then one model from all of them):
  //   const SvcPlan plan = svc.plan(x, y);
  //   std::vector<SmoResult> mine = svc.solve(plan, x, my_problem_indices);
  //   ... gather every problem's SmoResult, in plan.problems order ...
  //   svc.assemble(plan, x, all);  // the same model fit(x, y) gives

  /// Step 1: checks x, y and the options (the errors fit lists), resolves gamma,
  /// orders the classes and lists the sub-problems. Does not change *this.
  SvcPlan plan(const Samples& x, const Tensor& y) const;
  /// Step 2: solves plan.problems[which[0]], plan.problems[which[1]], ... where x is
  /// (svm/smo.hpp, solve_problems), with this SVC's options (tol, max_iter,
  /// memory_budget, working_set, cpu_decomposition, progress). Results in the order
  /// of `which`. Requires x as given to plan; ValueError for an index outside
  /// [0, plan.problems.size()) or repeated.
  std::vector<SmoResult> solve(const SvcPlan& plan, const Samples& x,
                               const std::vector<std::int64_t>& which) const;
  /// Step 2 for every problem of the plan.
  std::vector<SmoResult> solve(const SvcPlan& plan, const Samples& x) const;
  /// Step 3: the fitted model from every problem's solution (solutions[p] solves
  /// plan.problems[p]): diagnostics per sub-problem, support vectors, coefficients.
  /// Requires x as given to plan; ShapeError for a solution count or a solution
  /// length that does not match the plan.
  SVC& assemble(SvcPlan plan, const Samples& x, std::vector<SmoResult> solutions);

  /// Decision values float32 [m, n_decisions] (one column per sub-problem: pairs
  /// (0,1), (0,2), ..., (1,2), ... for one-vs-one; one per class for one-vs-rest;
  /// one column for two classes) on x's device. Requires a fitted model and
  /// x [m, n_features()]. The kernel block and the GEMM with the coefficients run
  /// on x's device; the intercepts are applied on the host (so a CUDA x
  /// synchronises), in blocks of test rows that bound the kernel block's memory.
  /// Sparse x (or a model trained sparse): the kernel block from sparse dot
  /// products on the CPU (the result still on x's device).
  Tensor decision_function(const Samples& x) const;
  /// Predicted labels int32 [m] on the CPU.
  Tensor predict(const Samples& x) const;

  bool fitted() const { return fitted_; }
  const SvcOptions& options() const { return options_; }
  const KernelParams& kernel() const { return kernel_; }  ///< with gamma resolved
  std::int64_t n_features() const { return n_features_; }
  /// Class labels in LIBSVM's order.
  const std::vector<std::int32_t>& classes() const { return classes_; }
  /// Training indices of the support vectors, grouped by class (empty for a loaded model).
  const std::vector<std::int64_t>& support() const { return support_; }
  /// Support vectors per class, in classes() order.
  const std::vector<std::int64_t>& n_support() const { return n_support_; }
  /// float32 [n_sv, d] on the CPU. ValueError for a model trained on sparse
  /// samples (its support vectors are CSR: support_vector_samples()).
  const Tensor& support_vectors() const;
  /// The support vectors as trained on: dense [n_sv, d] or CSR.
  Samples support_vector_samples() const;
  /// Whether the support vectors are kept sparse (trained on CSR samples).
  bool sparse_model() const { return sv_csr_ != nullptr; }
  /// coef[s, p]: alpha_s y_s of support vector s in decision p (0 where s is not
  /// in that sub-problem), double [n_sv * n_decisions] row-major.
  const std::vector<double>& decision_coef() const { return coef_; }
  std::int64_t n_decisions() const { return static_cast<std::int64_t>(rho_.size()); }
  /// LIBSVM's dual_coef layout (one-vs-one): [n_classes - 1, n_sv], alpha y of
  /// sv s (class c) in the pair (c, j) at row j - 1 when c < j, at row j when c > j.
  std::vector<double> dual_coef() const;
  /// rho per decision; intercept b_p = -rho_p.
  const std::vector<double>& rho() const { return rho_; }
  std::vector<double> intercept() const;
  /// w per decision for the linear kernel: [n_decisions, d] = coef^T sv. ValueError otherwise.
  Tensor coef() const;
  /// The sub-problems' solutions and diagnostics (empty for a loaded model).
  const std::vector<BinaryResult>& binary_results() const { return results_; }

  /// Platt sigmoids P(first class of decision p | z_p) = 1 / (1 + exp(prob_a[p] z_p +
  /// prob_b[p])), one per one-vs-one decision (LIBSVM's probA / probB): set by
  /// fit_probability (probability.hpp) or a model file; empty otherwise.
  bool has_probability() const { return !prob_a_.empty(); }
  const std::vector<double>& prob_a() const { return prob_a_; }
  const std::vector<double>& prob_b() const { return prob_b_; }
  /// Requires a fitted one-vs-one model and n_decisions() finite values in each;
  /// ValueError otherwise. Refitting the model (fit) clears them.
  void set_probability(std::vector<double> prob_a, std::vector<double> prob_b);

  /// Builds a fitted model from its parts (model files): one-vs-one; sv grouped by
  /// class with n_support, dense [n_sv, d] (kept on the CPU) or CSR (kept sparse:
  /// sparse_model()); coef [n_sv * n_pairs]; rho [n_pairs].
  static SVC from_parts(const KernelParams& kernel, std::vector<std::int32_t> classes,
                        std::vector<std::int64_t> n_support, const Samples& sv,
                        std::vector<double> coef, std::vector<double> rho);

 private:
  void check_fitted(const char* where) const;

  SvcOptions options_;
  KernelParams kernel_;
  bool fitted_ = false;
  std::int64_t n_features_ = 0;
  std::vector<std::int32_t> classes_;
  std::vector<std::int64_t> support_;
  std::vector<std::int64_t> n_support_;
  std::vector<std::int32_t> sv_class_;  // class index per support vector
  Tensor sv_;                                  // dense support vectors
  std::shared_ptr<const CsrMatrix> sv_csr_;   // or sparse ones
  std::vector<double> coef_;
  std::vector<double> rho_;
  std::vector<BinaryResult> results_;
  std::vector<double> prob_a_, prob_b_;
  bool one_vs_rest_ = false;  // k > 2 classes trained one-vs-rest
};

}  // namespace minidl::svm
