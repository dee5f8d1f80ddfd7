// The kernel map on the CPU over a block of dot products, in place:
//   k[i, j] = map(k[i, j], a_norms[i], b_norms[j]).
// One loop for every kernel (KernelMap's switch), and for RBF, the map of every
// large SVM kernel, a copy of the loop compiled for AVX2+FMA (8 lanes; the exp is
// fn::exp_poly's, which vectorises where glibc's expf is a scalar call), entered
// when the CPU has both (core/cpu_features.hpp). The math is KernelMap's either way
// (KernelMap::rbf), so the two loops differ by FMA contraction at most.
#pragma once

#include <cstdint>

#include "kernel_function.hpp"

namespace minidl::svm {

/// k: rows x cols floats, row stride ld (>= cols), overwritten. a_norms [rows],
/// b_norms [cols]: squared row norms (read by RBF only; may be null otherwise).
/// Serial: callers parallelise over blocks or rows.
void map_kernel_block(float* k, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                      const float* a_norms, const float* b_norms, const KernelMap& map);

}  // namespace minidl::svm
