// The choice among cuDNN's timed convolution algorithms (conv2d_cudnn.cpp), as
// plain host code so that the CPU tests can run it on made-up search results.
// Internal; not installed.
//
// The rules, in order:
//   1. only algorithms that ran (status success);
//   2. only FP32 math (CUDNN_DEFAULT_MATH / CUDNN_FMA_MATH: the search runs under FMA
//      math, and every call too, so a DEFAULT-tagged result ran without TF32): a
//      tensor-op or TF32-converting algorithm changes results by ~1e-3 relative, which
//      is not what a float32 op promises;
//   3. in deterministic mode (core/determinism.hpp), only CUDNN_DETERMINISTIC
//      ones: backward passes otherwise may sum with atomics, and two identical
//      training runs drift apart;
//   4. the fastest of those; equal times go to the smaller workspace, then to the
//      earlier position in cuDNN's list.
// No qualifying algorithm throws CudaError naming the pass and why (with the hint
// MINIDL_DETERMINISTIC=0 when only rule 3 excluded them all).
#pragma once

#include <cstddef>
#include <vector>

namespace minidl::conv2d_algo {

struct Candidate {
  int algo = 0;              ///< cuDNN's algorithm enum value
  bool succeeded = false;    ///< perf.status == CUDNN_STATUS_SUCCESS
  float time_ms = 0.0f;      ///< perf.time
  std::size_t workspace = 0; ///< perf.memory
  bool deterministic = false;///< perf.determinism == CUDNN_DETERMINISTIC
  bool fp32_math = false;    ///< perf.mathType is CUDNN_DEFAULT_MATH or CUDNN_FMA_MATH
};

/// The position in `candidates` of the algorithm to use (the rules above).
/// `what` names the pass in errors ("forward", "backward-data", "backward-filter").
std::size_t choose(const std::vector<Candidate>& candidates, bool deterministic,
                   const char* what);

}  // namespace minidl::conv2d_algo
