// CUDA losses.
//   loss_kernel (elementwise.cuh) : BCE with logits, squared error, hinge: one
//                                   vectorised pass writes the gradient and sums
//                                   the losses per block; loss_finalize_kernel
//                                   adds the block sums in a fixed order.
//   ce_tile_kernel                : softmax cross-entropy, int32 labels, K <= 32.
//                                   A block stages 128 whole rows (contiguous in
//                                   memory) in shared memory with coalesced
//                                   loads, at an odd row stride (ce_tile.hpp: no
//                                   bank conflicts), one thread per row computes max, sum,
//                                   loss and gradient in place, and the tile is
//                                   stored back coalesced: one read, one write.
//   ce_warp_kernel<VPL, Soft>     : K <= 1024: one warp per row, the row in
//                                   registers; int32 labels or soft targets.
//   ce_block_kernel<Soft>         : K > 1024: one block per row, an online
//                                   (max, sum) pass, then the gradient pass.
//   first_non_sign_kernel         : hinge targets that are not +-1.
// Rows whose label is outside [0, K) get NaN loss and gradient, and the lowest
// such row (with its label) is recorded in the caller's deferred-check word
// (core/deferred_check.hpp): nothing here waits for the stream.
#include <climits>

#include "../core/deferred_check.hpp"

#include "ce_tile.hpp"
#include "functors.hpp"
#include "loss.hpp"
#include "softmax_rows.cuh"

namespace minidl::cuda_detail {

__global__ void loss_finalize_kernel(const double* __restrict__ partials, int count, double scale,
                                     float* loss) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) *loss = static_cast<float>(acc * scale);
}

}  // namespace minidl::cuda_detail

namespace minidl::cuda {

namespace {

using namespace cuda_detail;

constexpr int kTileRows = kCeTileRows;
constexpr int kWarpsPerBlock = 8;

// Keeps the lowest (index, payload) finding in a deferred-check word (core/deferred_check.hpp).
__device__ __forceinline__ void record_bad(unsigned long long* first_bad, std::int64_t index,
                                           std::uint32_t payload) {
  if (first_bad != nullptr)
    atomicMin(first_bad, static_cast<unsigned long long>(
                             detail::pack_finding(static_cast<std::uint32_t>(index), payload)));
}

__global__ void ce_tile_kernel(const float* __restrict__ z, const std::int32_t* __restrict__ labels,
                               float* __restrict__ grad, std::int64_t rows, int cols, float scale,
                               double* __restrict__ partials, unsigned long long* first_bad) {
  // kTileRows rows at the padded stride of ce_tile.hpp (bank-conflict-free row walks).
  extern __shared__ __align__(16) float tile[];
  __shared__ double scratch[32];
  const int stride = ce_tile_stride(cols);
  const std::int64_t row0 = blockIdx.x * std::int64_t{kTileRows};
  const int nrows = static_cast<int>(min(std::int64_t{kTileRows}, rows - row0));
  const int count = nrows * cols;
  const float* src = z + row0 * cols;
  float* dst = grad + row0 * cols;
  // Global memory moves in float4 where aligned (coalesced); shared memory is
  // addressed per element, since padded rows are not float4-contiguous.
  const bool vec = count % 4 == 0 && aligned16(src) && aligned16(dst);
  if (vec) {
    for (int i = threadIdx.x; i < count / 4; i += blockDim.x) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(src) + i);
      tile[ce_tile_index(4 * i, cols)] = v.x;
      tile[ce_tile_index(4 * i + 1, cols)] = v.y;
      tile[ce_tile_index(4 * i + 2, cols)] = v.z;
      tile[ce_tile_index(4 * i + 3, cols)] = v.w;
    }
  } else {
    for (int i = threadIdx.x; i < count; i += blockDim.x) tile[ce_tile_index(i, cols)] = __ldg(src + i);
  }
  __syncthreads();
  double loss = 0.0;
  if (static_cast<int>(threadIdx.x) < nrows) {
    float* t = tile + threadIdx.x * stride;
    const std::int64_t row = row0 + threadIdx.x;
    const std::int32_t y = __ldg(labels + row);
    const bool ok = y >= 0 && y < cols;
    const float zy = ok ? t[y] : NAN;
    float m = -INFINITY;
    for (int k = 0; k < cols; ++k) m = fmaxf(m, t[k]);
    float s = 0.0f;
    for (int k = 0; k < cols; ++k) {
      t[k] = expf(t[k] - m);
      s += t[k];
    }
    const float inv = 1.0f / s;
    loss = static_cast<double>((m - zy) + logf(s));
    for (int k = 0; k < cols; ++k) t[k] = ok ? (t[k] * inv - (k == y ? 1.0f : 0.0f)) * scale : NAN;
    if (!ok) record_bad(first_bad, row, static_cast<std::uint32_t>(y));
  }
  __syncthreads();
  if (vec) {
    for (int i = threadIdx.x; i < count / 4; i += blockDim.x) {
      reinterpret_cast<float4*>(dst)[i] =
          make_float4(tile[ce_tile_index(4 * i, cols)], tile[ce_tile_index(4 * i + 1, cols)],
                      tile[ce_tile_index(4 * i + 2, cols)], tile[ce_tile_index(4 * i + 3, cols)]);
    }
  } else {
    for (int i = threadIdx.x; i < count; i += blockDim.x) dst[i] = tile[ce_tile_index(i, cols)];
  }
  loss = block_sum(loss, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = loss;
}

template <int VPL, bool Soft>
__global__ void ce_warp_kernel(const float* __restrict__ z, const std::int32_t* __restrict__ labels,
                               const float* __restrict__ soft, float* __restrict__ grad,
                               std::int64_t rows, int cols, float scale,
                               double* __restrict__ partials, unsigned long long* first_bad) {
  __shared__ double warp_loss[kWarpsPerBlock];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t row = blockIdx.x * std::int64_t{kWarpsPerBlock} + warp;
  float loss = 0.0f;
  if (row < rows) {
    const std::int64_t base = row * cols;
    float v[VPL];
    float m = -INFINITY;
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      const int c = lane + 32 * j;
      v[j] = c < cols ? __ldg(z + base + c) : -INFINITY;
      m = fmaxf(m, v[j]);
    }
    m = warp_max(m);
    if constexpr (Soft) {
      float t[VPL];
      float mass = 0.0f, shifted = 0.0f;  // sum r_k, sum r_k (m - z_k)
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        const int c = lane + 32 * j;
        t[j] = c < cols ? __ldg(soft + base + c) : 0.0f;
        mass += t[j];
        if (c < cols) shifted += soft_target_term(t[j], m, v[j]);
      }
      float s = 0.0f;
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        const int c = lane + 32 * j;
        v[j] = c < cols ? expf(v[j] - m) : 0.0f;
        s += v[j];
      }
      s = warp_sum(s);
      mass = warp_sum(mass);
      shifted = warp_sum(shifted);
      loss = shifted + mass * logf(s);
      const float inv = 1.0f / s;
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        const int c = lane + 32 * j;
        if (c < cols) grad[base + c] = (v[j] * inv * mass - t[j]) * scale;
      }
    } else {
      const std::int32_t y = __ldg(labels + row);
      const bool ok = y >= 0 && y < cols;
      const float zy = ok ? __ldg(z + base + y) : NAN;
      float s = 0.0f;
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        const int c = lane + 32 * j;
        v[j] = c < cols ? expf(v[j] - m) : 0.0f;
        s += v[j];
      }
      s = warp_sum(s);
      loss = (m - zy) + logf(s);
      const float inv = 1.0f / s;
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        const int c = lane + 32 * j;
        if (c < cols) grad[base + c] = ok ? (v[j] * inv - (c == y ? 1.0f : 0.0f)) * scale : NAN;
      }
      if (!ok && lane == 0) record_bad(first_bad, row, static_cast<std::uint32_t>(y));
    }
  }
  if (lane == 0) warp_loss[warp] = static_cast<double>(loss);
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int w = 0; w < kWarpsPerBlock; ++w) total += warp_loss[w];
    partials[blockIdx.x] = total;
  }
}

template <bool Soft>
__global__ void ce_block_kernel(const float* __restrict__ z,
                                const std::int32_t* __restrict__ labels,
                                const float* __restrict__ soft, float* __restrict__ grad,
                                std::int64_t cols, float scale, double* __restrict__ partials,
                                unsigned long long* first_bad) {
  __shared__ MaxSum ms_scratch[32];
  __shared__ float scratch[32];
  const std::int64_t row = blockIdx.x;
  const std::int64_t base = row * cols;
  MaxSum ms = max_sum_empty();
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    ms = max_sum_add(ms, __ldg(z + base + c));
  ms = block_max_sum(ms, ms_scratch);
  const float inv = 1.0f / ms.s;
  if constexpr (Soft) {
    float mass = 0.0f, shifted = 0.0f;
    for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float zc = __ldg(z + base + c), t = __ldg(soft + base + c);
      mass += t;
      shifted += soft_target_term(t, ms.m, zc);
    }
    mass = block_sum_all(mass, scratch);
    shifted = block_sum_all(shifted, scratch);
    for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float zc = __ldg(z + base + c), t = __ldg(soft + base + c);
      grad[base + c] = (expf(zc - ms.m) * inv * mass - t) * scale;
    }
    if (threadIdx.x == 0) partials[row] = static_cast<double>(shifted + mass * logf(ms.s));
  } else {
    const std::int32_t y = __ldg(labels + row);
    const bool ok = y >= 0 && y < cols;
    for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float p = expf(__ldg(z + base + c) - ms.m) * inv;
      grad[base + c] = ok ? (p - (c == y ? 1.0f : 0.0f)) * scale : NAN;
    }
    if (threadIdx.x == 0) {
      const float zy = ok ? __ldg(z + base + y) : NAN;
      partials[row] = static_cast<double>((ms.m - zy) + logf(ms.s));
      if (!ok) record_bad(first_bad, row, static_cast<std::uint32_t>(y));
    }
  }
}

__global__ void first_non_sign_kernel(const float* __restrict__ y, std::int64_t n,
                                      unsigned long long* first_bad) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const float v = __ldg(y + i);
    if (v != 1.0f && v != -1.0f) record_bad(first_bad, i, __float_as_uint(v));
  }
}

}  // namespace

void elementwise_loss(ElementwiseLoss kind, const float* z, const float* y, float* grad,
                      float* loss, std::int64_t n, float grad_scale, double loss_scale,
                      int device) {
  switch (kind) {
    case ElementwiseLoss::BceWithLogits:
      cuda_detail::elementwise_loss(device, z, y, grad, n, grad_scale, loss_scale,
                                    fn::BceWithLogits{}, loss);
      break;
    case ElementwiseLoss::SquaredError:
      cuda_detail::elementwise_loss(device, z, y, grad, n, grad_scale, loss_scale,
                                    fn::SquaredError{}, loss);
      break;
    case ElementwiseLoss::Hinge:
      cuda_detail::elementwise_loss(device, z, y, grad, n, grad_scale, loss_scale, fn::Hinge{},
                                    loss);
      break;
  }
}

void record_non_sign(const float* y, std::int64_t n, unsigned long long* bad_word, int device) {
  if (n == 0) return;
  first_non_sign_kernel<<<grid_for(n, device), kBlock, 0, stream_for(device)>>>(y, n, bad_word);
  MINIDL_CUDA_LAUNCH_CHECK("first_non_sign_kernel");
}

void softmax_cross_entropy(const float* logits, const std::int32_t* labels,
                           const float* soft_targets, float* grad, float* loss, std::int64_t rows,
                           std::int64_t cols, float scale, unsigned long long* bad_word,
                           int device) {
  cudaStream_t stream = stream_for(device);
  CudaContext& ctx = CudaContext::get(device);
  const bool soft = soft_targets != nullptr;
  MINIDL_CHECK(cols <= 0x7fffffff && rows <= 0x7fffffff, ShapeError, "softmax_cross_entropy: [",
               rows, ", ", cols, "] is too large for the CUDA kernels");
  const int k = static_cast<int>(cols);
  std::int64_t blocks = 1;
  if (!soft && cols <= 32) {
    blocks = (rows + kTileRows - 1) / kTileRows;
  } else if (cols <= 1024) {
    blocks = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  } else {
    blocks = rows;
  }
  blocks = std::max<std::int64_t>(blocks, 1);
  auto* partials =
      static_cast<double*>(ctx.allocate(sizeof(double) * static_cast<std::size_t>(blocks)));
  MINIDL_CUDA_CHECK(
      cudaMemsetAsync(partials, 0, sizeof(double) * static_cast<std::size_t>(blocks), stream));
  const auto grid = static_cast<unsigned>(blocks);
  if (rows > 0) {
    if (!soft && cols <= 32) {
      const std::size_t smem = sizeof(float) * static_cast<std::size_t>(ce_tile_floats(k));
      ce_tile_kernel<<<grid, kTileRows, smem, stream>>>(logits, labels, grad, rows, k, scale,
                                                        partials, bad_word);
      MINIDL_CUDA_LAUNCH_CHECK("ce_tile_kernel");
    } else if (cols <= 1024) {
      with_values_per_lane(cols, [&](auto vpl) {
        constexpr int VPL = decltype(vpl)::value;
        if (soft) {
          ce_warp_kernel<VPL, true><<<grid, 32 * kWarpsPerBlock, 0, stream>>>(
              logits, labels, soft_targets, grad, rows, k, scale, partials, bad_word);
        } else {
          ce_warp_kernel<VPL, false><<<grid, 32 * kWarpsPerBlock, 0, stream>>>(
              logits, labels, soft_targets, grad, rows, k, scale, partials, bad_word);
        }
      });
      MINIDL_CUDA_LAUNCH_CHECK("ce_warp_kernel");
    } else {
      if (soft) {
        ce_block_kernel<true><<<grid, 512, 0, stream>>>(logits, labels, soft_targets, grad, cols,
                                                        scale, partials, bad_word);
      } else {
        ce_block_kernel<false><<<grid, 512, 0, stream>>>(logits, labels, soft_targets, grad, cols,
                                                         scale, partials, bad_word);
      }
      MINIDL_CUDA_LAUNCH_CHECK("ce_block_kernel");
    }
  }
  loss_finalize_kernel<<<1, 1024, 0, stream>>>(partials, static_cast<int>(blocks),
                                               static_cast<double>(scale), loss);
  MINIDL_CUDA_LAUNCH_CHECK("loss_finalize_kernel");
  ctx.deallocate(partials);
}

}  // namespace minidl::cuda
