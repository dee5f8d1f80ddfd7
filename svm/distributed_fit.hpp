// SVC::fit shared among the processes of a distributed job (dist/): the
// one-vs-one (or one-vs-rest) sub-problems are independent, so each process
// solves its share of them and every process assembles the same model from all
// the solutions.
//
//   dist::Session session;                  // under mpirun -np 4
//   svm::SVC svc(options);
//   svm::fit_distributed(svc, x, y);        // svc is fitted on every rank
//   if (dist::rank() == 0) svm::save_libsvm_model("model.txt", svc);
//
// Steps (svc.hpp's plan -> solve -> assemble): every process makes the same plan
// from the same x and y; assign_problems gives problem p to one rank; each rank
// solves its problems where x is (CPU or GPU); the solutions travel as bytes
// (dist::all_gather of a string: the doubles bit for bit, so no rounding is
// added); every rank assembles the model from all of them in plan order. Each
// sub-problem is solved exactly as a single-process fit solves it
// (svm/smo.hpp, solve_problems), so the model, and the LIBSVM model file written
// from it, are the ones one process gives (tests/apps/dist_cli_test.cpp compares
// the files byte for byte).
//
// Requirements: every process calls it with the same x, y and options (the
// plan's shape is checked across processes: ValueError naming the rank that
// differs). The processes must share a byte order and double format (any
// cluster of one architecture). In a world of one it is svc.fit(x, y).
#pragma once

#include <cstdint>
#include <vector>

#include "../core/tensor.hpp"
#include "svc.hpp"

namespace minidl::svm {

/// The rank that solves each problem: problems sorted by estimated cost (l^2 for
/// l samples, the kernel rows' work), largest first, each given to the rank with
/// the least total cost so far (lowest rank on ties). A pure function of its
/// arguments, so every process computes the same assignment. Requires world >= 1
/// and sizes >= 0 (ValueError).
std::vector<int> assign_problems(const std::vector<std::int64_t>& sizes, int world);

/// Fits `svc` on (x, y) with the sub-problems shared among dist::world_size()
/// processes (above); on return svc is fitted on every process. Throws what
/// SVC::fit throws (on every process, for errors in x, y or the options), and
/// Error from the collectives.
SVC& fit_distributed(SVC& svc, const Tensor& x, const Tensor& y);

}  // namespace minidl::svm
