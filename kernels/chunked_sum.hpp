// Sums whose bits do not depend on the number of threads (core/determinism.hpp):
// the terms are cut into fixed-size chunks, each chunk is summed in order (chunks
// run in parallel on core/parallel.hpp's pool), then the chunk sums are added in
// order. An OpenMP
// `reduction(+)` instead splits the range by thread count, so a loss summed on 1
// and on 2 threads differed in its last bits, and so did every training run that
// read it. Internal; not installed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../core/parallel.hpp"

namespace minidl::cpu_detail {

/// sum_{i < n} term(i) in double, in the fixed order above. term(i) may write
/// per-i outputs (a gradient); it is called exactly once per i. Runs chunks in
/// parallel when n * cost_per_term > 2^15.
template <class F>
double chunked_sum(std::int64_t n, std::int64_t chunk, std::int64_t cost_per_term, F term) {
  if (n <= 0) return 0.0;
  chunk = std::max<std::int64_t>(chunk, 1);
  const std::int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks));
  auto run = [&](std::int64_t c) {
    const std::int64_t end = std::min(n, (c + 1) * chunk);
    double s = 0.0;
    for (std::int64_t i = c * chunk; i < end; ++i) s += term(i);
    partial[static_cast<std::size_t>(c)] = s;
  };
  if (n * cost_per_term > (1 << 15) && chunks > 1) {
    parallel_chunks(chunks, run);
  } else {
    for (std::int64_t c = 0; c < chunks; ++c) run(c);
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace minidl::cpu_detail
