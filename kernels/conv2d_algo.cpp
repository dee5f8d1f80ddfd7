#include "conv2d_algo.hpp"

#include "../core/error.hpp"

namespace minidl::conv2d_algo {

std::size_t choose(const std::vector<Candidate>& candidates, bool deterministic,
                   const char* what) {
  std::size_t best = candidates.size();
  bool any_fp32 = false;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    if (!c.succeeded || !c.fp32_math) continue;
    any_fp32 = true;
    if (deterministic && !c.deterministic) continue;
    if (best == candidates.size()) {
      best = i;
      continue;
    }
    const Candidate& b = candidates[best];
    if (c.time_ms < b.time_ms || (c.time_ms == b.time_ms && c.workspace < b.workspace)) best = i;
  }
  if (best != candidates.size()) return best;
  if (any_fp32) {
    throw CudaError(detail::concat(
        "conv2d (cuDNN): no deterministic ", what,
        " algorithm works for this shape (deterministic mode is on; MINIDL_DETERMINISTIC=0 or "
        "set_deterministic(false) allows the others)"));
  }
  throw CudaError(detail::concat("conv2d (cuDNN): no ", what,
                                 " algorithm with FP32 math works for this shape (", candidates.size(),
                                 " tried)"));
}

}  // namespace minidl::conv2d_algo
