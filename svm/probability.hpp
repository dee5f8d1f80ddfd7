// Class probabilities for a one-vs-one SVC, the method LIBSVM's -b 1 implements:
//
//  1. Platt scaling of each pairwise decision value f (Platt, "Probabilistic
//     outputs for support vector machines", 1999), fitted as Lin, Lin & Weng
//     propose ("A note on Platt's probabilistic outputs for support vector
//     machines", Machine Learning 68, 2007):
//        P(y = +1 | f) = 1 / (1 + exp(A f + B)),
//     (A, B) minimising the cross-entropy against the regularised targets
//        t_i = (N+ + 1) / (N+ + 2) for y_i = +1,   t_i = 1 / (N- + 2) for y_i = -1,
//     by Newton's method with a backtracking line search (their Algorithm 1). The
//     f_i are out-of-sample decision values: each sub-problem is retrained on
//     k - 1 of k folds (5, as LIBSVM) and evaluated on the fold left out.
//  2. Pairwise coupling (Wu, Lin & Weng, "Probability estimates for multi-class
//     classification by pairwise coupling", JMLR 5, 2004, their method 2, eq. (18)):
//     with r_ij = P(y = i | y in {i, j}, x) (r_ji = 1 - r_ij), the class
//     probabilities p solve
//        min_p  sum_i sum_{j != i} (r_ji p_i - r_ij p_j)^2,   sum_i p_i = 1,
//     i.e. min p^T Q p with Q_ii = sum_{s != i} r_si^2, Q_ij = -r_ji r_ij. minidl
//     solves the optimality system [Q e; e^T 0] [p; b] = [0; 1] directly (their
//     eq. (19)-(20); Theorem 2 there: its solution is >= 0 when every r_ij > 0),
//     where LIBSVM iterates towards the same solution (their eq. (21)).
//
// Model files carry (A, B) per pair as LIBSVM's probA / probB (model_file.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "../core/tensor.hpp"
#include "svc.hpp"

namespace minidl::svm {

/// P(+1 | f) = 1 / (1 + exp(a f + b)).
struct PlattSigmoid {
  double a = 0.0;
  double b = 0.0;
};

/// Fits (A, B) to decision values f and labels y (+1 / -1, same length >= 1) by
/// Lin, Lin & Weng's Newton method: start A = 0, B = log((N- + 1) / (N+ + 1));
/// Hessian + 1e-12 I; step halved until the objective falls by at least
/// 1e-4 x step x g^T d; stops when both gradient entries are below 1e-5, after
/// 100 iterations, or when the step falls under 1e-10. Throws ValueError for
/// mismatched sizes, an empty input, a label other than +-1 or a non-finite f.
PlattSigmoid fit_platt(const std::vector<double>& f, const std::vector<std::int8_t>& y);

/// 1 / (1 + exp(a f + b)), computed without overflow for any finite a f + b.
double platt_probability(double f, const PlattSigmoid& s);

/// Pairwise probabilities are kept in [kMinPairProbability, 1 - kMinPairProbability]
/// before coupling (LIBSVM's bound too): r_ij = 0 would make Q singular.
inline constexpr double kMinPairProbability = 1e-7;

/// Wu, Lin & Weng's method 2: class probabilities p [k] (>= 0, summing to 1) from
/// r [k * k] row-major, r[i k + j] = P(i | i or j) for i != j (the diagonal is
/// ignored). Requires k >= 2 and every off-diagonal r in (0, 1) with
/// r_ij + r_ji = 1 (to 1e-9); ValueError otherwise.
std::vector<double> couple_pairwise(const std::vector<double>& r, int k);

struct ProbabilityOptions {
  int folds = 5;           ///< internal cross-validation folds, >= 2
  std::uint64_t seed = 1;  ///< fold assignment (Philox; the same seed gives the same folds)
  /// Called after each pair x fold fit (done, total), never two calls at once. The
  /// model's own SvcOptions::progress is not passed to these fits.
  std::function<void(std::int64_t done, std::int64_t total)> on_fit;
};

/// Fits the Platt sigmoid of every one-vs-one decision of `model`, which must have
/// been fitted (SVC::fit) on exactly this x [n, d] (dense or CSR: the fold fits use
/// the storage the model's SvcOptions::storage gives x, so CSR data stay CSR) and y [n]: each pair's samples
/// are split into options.folds folds stratified by side, the pair's binary SVC
/// (the model's kernel with its resolved gamma, tolerance, and the pair's C for
/// each side) is retrained without each fold and evaluated on it, and fit_platt
/// turns the held-out values into (A, B). A training part with one side only
/// gives its held-out samples f = +1 or -1 (that side), as LIBSVM does. The
/// pair x fold fits run concurrently on the CPU (OpenMP). Stores the result with
/// SVC::set_probability. ValueError for an unfitted, loaded or one-vs-rest model,
/// folds < 2; ShapeError when x, y do not match the model's training data.
void fit_probability(SVC& model, const Samples& x, const Tensor& y,
                     const ProbabilityOptions& options = {});

/// Class probabilities double [m * k] row-major (classes() order) for x [m, d]
/// (dense or CSR, as SVC::decision_function takes it):
/// decision values, Platt sigmoids, clamping, couple_pairwise. Requires a model
/// with probabilities (fit_probability or a model file with probA / probB);
/// ValueError otherwise.
std::vector<double> predict_proba(const SVC& model, const Samples& x);

/// The class index (into classes()) of the highest probability in each row of
/// probabilities [m * k]; ties go to the lower index (LIBSVM's -b 1 rule).
std::vector<std::int32_t> most_probable(const std::vector<double>& probabilities, int k);

}  // namespace minidl::svm
