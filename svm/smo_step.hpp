// LIBSVM's two-variable SMO step, written once for the CPU solvers (svm/smo.cpp)
// and the CUDA local solver (svm/smo_cuda.cu). Internal; not installed.
// Source: Chang & Lin, LIBSVM, svm.cpp Solver::Solve (the analytic update of
// alpha_i, alpha_j along y_i a_i + y_j a_j = const, then clipping to the box).
#pragma once

#include "../core/macros.hpp"

namespace minidl::svm {

/// LIBSVM's tau: the curvature used when K_ii + K_jj - 2 K_ij <= 0 (not positive definite).
constexpr double kSmoTau = 1e-12;

/// Updates (ai, aj) in place. qd_i, qd_j: the kernel diagonals K_ii, K_jj; qij =
/// y_i y_j K_ij; gi, gj: the gradients; ci, cj: the box bounds of each variable.
MINIDL_HD MINIDL_INLINE void smo_pair_step(bool same_label, double qd_i, double qd_j, double qij,
                                           double gi, double gj, double ci, double cj, double& ai,
                                           double& aj) {
  if (!same_label) {
    double quad = qd_i + qd_j + 2.0 * qij;
    if (quad <= 0) quad = kSmoTau;
    const double delta = (-gi - gj) / quad;
    const double diff = ai - aj;
    ai += delta;
    aj += delta;
    if (diff > 0) {
      if (aj < 0) {
        aj = 0;
        ai = diff;
      }
    } else if (ai < 0) {
      ai = 0;
      aj = -diff;
    }
    if (diff > ci - cj) {
      if (ai > ci) {
        ai = ci;
        aj = ci - diff;
      }
    } else if (aj > cj) {
      aj = cj;
      ai = cj + diff;
    }
  } else {
    double quad = qd_i + qd_j - 2.0 * qij;
    if (quad <= 0) quad = kSmoTau;
    const double delta = (gi - gj) / quad;
    const double sum = ai + aj;
    ai -= delta;
    aj += delta;
    if (sum > ci) {
      if (ai > ci) {
        ai = ci;
        aj = sum - ci;
      }
    } else if (aj < 0) {
      aj = 0;
      ai = sum;
    }
    if (sum > cj) {
      if (aj > cj) {
        aj = cj;
        ai = sum - cj;
      }
    } else if (ai < 0) {
      ai = 0;
      aj = sum;
    }
  }
}

}  // namespace minidl::svm
