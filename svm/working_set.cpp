#include "working_set.hpp"

#include <algorithm>

#include "../core/device.hpp"
#include "../core/error.hpp"

namespace minidl::svm {

std::vector<std::int64_t> select_working_set(const std::vector<std::int8_t>& y,
                                             const std::vector<double>& alpha,
                                             const std::vector<double>& grad,
                                             const std::vector<double>& cbox, int half) {
  const std::size_t l = y.size();
  MINIDL_CHECK(alpha.size() == l && grad.size() == l && cbox.size() == l, ShapeError,
               "select_working_set: ", l, " labels but ", alpha.size(), " alphas, ", grad.size(),
               " gradients and ", cbox.size(), " bounds");
  MINIDL_CHECK(half >= 0, ValueError, "select_working_set: half must be >= 0, got ", half);
  std::vector<unsigned char> taken(l, 0);
  std::vector<std::int64_t> ws;
  std::vector<std::pair<std::uint32_t, std::int64_t>> cand;  // (key, index)
  for (int side = 0; side < 2; ++side) {
    cand.clear();
    for (std::size_t t = 0; t < l; ++t) {
      if (taken[t] != 0) continue;
      const bool in = side == 0 ? ws_in_up(y[t], alpha[t], cbox[t])
                                : ws_in_low(y[t], alpha[t], cbox[t]);
      if (in) cand.emplace_back(ws_order_key(ws_score(side, y[t], grad[t])),
                                static_cast<std::int64_t>(t));
    }
    const std::size_t take = std::min(cand.size(), static_cast<std::size_t>(half));
    // A strict total order (key descending, then index ascending): the chosen set
    // is unique whatever nth_element does with equal elements.
    std::nth_element(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(take), cand.end(),
                     [](const auto& a, const auto& b) {
                       return a.first > b.first || (a.first == b.first && a.second < b.second);
                     });
    const std::size_t first = ws.size();
    for (std::size_t c = 0; c < take; ++c) {
      ws.push_back(cand[c].second);
      taken[static_cast<std::size_t>(cand[c].second)] = 1;
    }
    std::sort(ws.begin() + static_cast<std::ptrdiff_t>(first), ws.end());
  }
  return ws;
}

#if !MINIDL_WITH_CUDA
// A CPU-only build has no select_ws_kernel: the declared entry point says so (the
// CUDA build defines it in smo_cuda.cu), so callers link and get a DeviceError.
namespace cuda {
std::vector<std::int64_t> select_working_set(const std::vector<std::int8_t>&,
                                             const std::vector<double>&,
                                             const std::vector<double>&,
                                             const std::vector<double>&, int, int) {
  throw DeviceError(detail::concat("cuda::select_working_set: no CUDA backend: ",
                                   cuda_unavailable_reason()));
}
}  // namespace cuda
#endif

}  // namespace minidl::svm
