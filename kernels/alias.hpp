// Whether an elementwise kernel's output overlaps one of its inputs (internal; not
// installed). map_kernel reads its inputs through the read-only data cache (__ldg)
// and marks its pointers __restrict__, which is only valid when the output is
// written nowhere the inputs are read: axpy (y = a x + y), in-place activations
// and in-place dropout are not. The launcher picks the plain kernel for those.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../core/macros.hpp"

namespace minidl::detail {

/// True when the byte ranges [a, a + a_bytes) and [b, b + b_bytes) share a byte.
MINIDL_HD MINIDL_INLINE bool ranges_overlap(const void* a, std::size_t a_bytes, const void* b,
                                            std::size_t b_bytes) {
  if (a_bytes == 0 || b_bytes == 0) return false;
  const auto x = reinterpret_cast<std::uintptr_t>(a);
  const auto y = reinterpret_cast<std::uintptr_t>(b);
  return x < y + b_bytes && y < x + a_bytes;
}

/// True when out[0, n) overlaps any of in[0, n) (n elements each).
template <class... In>
bool output_overlaps(const float* out, std::int64_t n, const In*... in) {
  (void)out;  // unused when there are no inputs
  if (n <= 0) return false;
  const auto count = static_cast<std::size_t>(n);
  return (false || ... || ranges_overlap(out, count * sizeof(float), in, count * sizeof(In)));
}

}  // namespace minidl::detail
