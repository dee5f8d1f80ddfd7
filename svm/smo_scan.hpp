// The CPU solver's per-iteration scans over its active variables (smo_solve in
// svm/smo.cpp; internal, not installed): LIBSVM's second-order working-set
// selection (WSS2: the maximal violator i, then j by the largest gain) and the
// gradient update with the two kernel rows. Between them they are most of the
// solver's own time (the kernel rows aside): at 10,000 Fashion-MNIST images a
// third of the fit, every iteration a pass over every active variable.
//
// Each scan has a portable loop (the solver's original scalar code) and an AVX2
// one, 4 doubles a vector, entered where core/cpu_features.hpp says the CPU has
// AVX2 and FMA (the file is compiled without FMA contraction, so every sum and
// product rounds as the scalar one does). They give the same results bit for
// bit, ties included: a scan takes the LAST index among equal scores (LIBSVM's
// `>=` for i and `<=` for j, in the active list's order), so each vector lane
// keeps the last of its own indices and the lanes are merged by value, then by
// index. The solver's iterates, and the model, therefore do not depend on which
// loop ran (tests/svm/smo_scan_test.cpp compares them on random and tie-heavy
// inputs of every length mod 4).
#pragma once

#include <cstdint>
#include <limits>

namespace minidl::svm {

/// The solver's state, packed: entry k for the k-th scanned variable (smo_solve
/// keeps these copies of its active variables' state; LIBSVM swaps its active set
/// to the front of its arrays instead): the label as +1.0 / -1.0, alpha, the
/// gradient G = Q alpha - e, the box bound C, and the kernel diagonal K_tt.
struct SmoScanVars {
  const double* yd = nullptr;
  const double* alpha = nullptr;
  const double* grad = nullptr;
  const double* cbox = nullptr;
  const double* qd = nullptr;
};

/// The first pick of WSS2: the position i maximising -y G over I_up (y = +1 below
/// its C, y = -1 above 0), the last such among equals; gmax = -y_i G_i. i = -1 and
/// gmax = -inf when I_up is empty.
struct SmoPickI {
  std::int64_t i = -1;
  double gmax = -std::numeric_limits<double>::infinity();
};

/// The second pick: over I_low (y = +1 above 0, y = -1 below its C), gmax2 = max
/// y G, and the position j minimising -(gmax + y_t G_t)^2 / max(K_ii + K_tt - 2 K_it,
/// tau) among those with gmax + y_t G_t > 0 (the last among equals); j = -1 when
/// there is none (always when ki is null).
struct SmoPickJ {
  std::int64_t j = -1;
  double gmax2 = -std::numeric_limits<double>::infinity();
};

/// The pick of i over positions [0, n). portable: the scalar loop even where AVX2
/// runs (for tests and comparisons), here and below.
SmoPickI smo_pick_i(const SmoScanVars& v, std::int64_t n, bool portable = false);

/// The pick of j over positions [0, n), given gmax and i's kernel row ki (null
/// when there is no i) and qdi = K_ii. Position k's variable is column cols[k] of
/// a kernel row (cols strictly increasing), or column k when cols is null.
SmoPickJ smo_pick_j(const SmoScanVars& v, const std::int64_t* cols, std::int64_t n, double gmax,
                    double qdi, const float* ki, bool portable = false);

/// The gradient update after a step on (i, j), then the next pick of i on the
/// result: grad[k] += yd[k] (ki[c] di + kj[c] dj) for k < n, c = cols[k] or k (in
/// place), then returns smo_pick_i(v, n) in one pass. Requires v.grad == grad and
/// v.alpha already holding the step's alphas.
SmoPickI smo_update_gradient(double* grad, const SmoScanVars& v, const float* ki, const float* kj,
                             double di, double dj, const std::int64_t* cols, std::int64_t n,
                             bool portable = false);

}  // namespace minidl::svm
