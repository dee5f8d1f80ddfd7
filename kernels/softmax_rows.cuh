// Row-wise softmax building blocks shared by the softmax and cross-entropy
// kernels (internal; not installed).
#pragma once

#include <cstdint>
#include <type_traits>

#include "elementwise.cuh"
#include "online_softmax.hpp"

namespace minidl::cuda_detail {

/// Values per lane for a warp that holds a row of `cols` <= 1024 in registers:
/// the smallest power of two with 32 * vpl >= cols.
inline int values_per_lane(std::int64_t cols) {
  int vpl = 1;
  while (32 * vpl < cols) vpl *= 2;
  return vpl;
}

/// Calls f(std::integral_constant<int, VPL>{}) with VPL = values_per_lane(cols)
/// (cols <= 1024), so a generic lambda can launch the matching kernel instance.
template <class F>
void with_values_per_lane(std::int64_t cols, F&& f) {
  switch (values_per_lane(cols)) {
    case 1:
      f(std::integral_constant<int, 1>{});
      break;
    case 2:
      f(std::integral_constant<int, 2>{});
      break;
    case 4:
      f(std::integral_constant<int, 4>{});
      break;
    case 8:
      f(std::integral_constant<int, 8>{});
      break;
    case 16:
      f(std::integral_constant<int, 16>{});
      break;
    default:
      f(std::integral_constant<int, 32>{});
      break;
  }
}

// MaxSum, max_sum_add and max_sum_merge (the online softmax normaliser, finite
// for -inf inputs) live in online_softmax.hpp, shared with the CPU tests.

/// Block-wide merge; every thread gets the result. `scratch` holds 32 pairs.
__device__ __forceinline__ MaxSum block_max_sum(MaxSum v, MaxSum* scratch) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const MaxSum o{__shfl_xor_sync(0xffffffffu, v.m, offset),
                   __shfl_xor_sync(0xffffffffu, v.s, offset)};
    v = max_sum_merge(v, o);
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    MaxSum w = lane < warps ? scratch[lane] : max_sum_empty();
    for (int offset = 16; offset > 0; offset >>= 1) {
      const MaxSum o{__shfl_xor_sync(0xffffffffu, w.m, offset),
                     __shfl_xor_sync(0xffffffffu, w.s, offset)};
      w = max_sum_merge(w, o);
    }
    if (lane == 0) scratch[0] = w;
  }
  __syncthreads();
  v = scratch[0];
  __syncthreads();
  return v;
}

/// Block-wide sum of a float; every thread gets the result.
__device__ __forceinline__ float block_sum_all(float v, float* scratch) {
  v = block_sum(v, scratch);
  if (threadIdx.x == 0) scratch[0] = v;
  __syncthreads();
  v = scratch[0];
  __syncthreads();
  return v;
}

}  // namespace minidl::cuda_detail
