// The decomposition SMO's working-set selection, one rule for the CPU solver
// (smo.cpp, smo_solve_decomposition) and the GPU one (smo_cuda.cu,
// select_ws_kernel). Internal; not installed.
//
// The rule: side 0 takes the `half` largest scores -y_t G_t over I_up; side 1 then
// takes the `half` largest y_t G_t over I_low among the indices side 0 left. Scores
// are compared as float32 through ws_order_key (a total order: -0 < +0, NaN by its
// bits), and equal keys go to the LOWEST index. The selection is therefore a
// function of (alpha, G, y, C) alone: no warp scheduling, no atomics, no sort
// stability. Each side's indices are listed in increasing index order, side 0
// first; the local solver's tie-breaks depend on that position, so both solvers
// list them the same way.
//
// Why it matters: at the first outer iteration every G_t = -1, so every candidate
// ties. The GPU kernel used to compact with an atomicAdd counter, so the entering
// set (and the whole fit: alphas, iterations, SV count) changed from run to run.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/macros.hpp"

namespace minidl::svm {

/// Maps a float to a uint32 whose unsigned order is the float order (negative
/// values reversed, sign bit flipped on the others); -0 maps below +0.
MINIDL_HD MINIDL_INLINE std::uint32_t ws_order_key(float f) {
#if defined(__CUDA_ARCH__)
  const std::uint32_t u = __float_as_uint(f);
#else
  std::uint32_t u = 0;
  std::memcpy(&u, &f, sizeof(u));
#endif
  return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

/// I_up: y = +1 below its bound, or y = -1 above 0.
MINIDL_HD MINIDL_INLINE bool ws_in_up(std::int8_t y, double a, double c) {
  return (y > 0 && a < c) || (y < 0 && a > 0);
}
/// I_low: y = +1 above 0, or y = -1 below its bound.
MINIDL_HD MINIDL_INLINE bool ws_in_low(std::int8_t y, double a, double c) {
  return (y > 0 && a > 0) || (y < 0 && a < c);
}
/// The score of t on a side: -y G for side 0 (I_up), y G for side 1 (I_low), as float32.
MINIDL_HD MINIDL_INLINE float ws_score(int side, std::int8_t y, double g) {
  return static_cast<float>(side == 0 ? -y * g : y * g);
}

/// The working set for the current alpha and gradient (all of length l = y.size();
/// cbox the per-variable bound): at most 2 * half distinct indices, side 0 then
/// side 1, each in increasing index order (the rule above). Requires half >= 0.
std::vector<std::int64_t> select_working_set(const std::vector<std::int8_t>& y,
                                             const std::vector<double>& alpha,
                                             const std::vector<double>& grad,
                                             const std::vector<double>& cbox, int half);

namespace cuda {
/// The GPU solver's selection (select_ws_kernel in smo_cuda.cu) on the same inputs,
/// for tests: uploads them to `device`, runs the kernel once, returns its list.
/// Requires y.size() <= INT32_MAX and 0 <= half <= 512.
std::vector<std::int64_t> select_working_set(const std::vector<std::int8_t>& y,
                                             const std::vector<double>& alpha,
                                             const std::vector<double>& grad,
                                             const std::vector<double>& cbox, int half,
                                             int device);
}  // namespace cuda

}  // namespace minidl::svm
