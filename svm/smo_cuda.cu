// The GPU decomposition SMO for the binary C-SVC dual (see smo.hpp for the
// problem and LIBSVM's rules it follows). Per outer iteration:
//   select_ws_kernel   : one block. The maximal violation m(a) - M(a) (block max
//                        reductions), then the working set: the q/2 largest
//                        -y_t G_t over I_up and the q/2 largest y_t G_t over I_low
//                        (distinct indices), each by a radix select on the float
//                        keys (four 8-bit histogram passes in shared memory) and a
//                        compaction in index order (ballots and block scans), ties
//                        to the lowest index: svm/working_set.hpp's rule, the CPU
//                        solver's selection, the same set in every run.
//   gather_rows_kernel : the working set's kernel rows K[ws, :] of the sub-problem,
//                        gathered from the full n x n matrix shared by every
//                        one-vs-one pair (or, when it does not fit, computed by
//                        gather_x_kernel + cuBLAS SGEMM + the fused kernel map, or
//                        for sparse samples by cuSPARSE SpMM: sparse_rows_cuda.hpp).
//   local_smo_kernel   : one block, one thread per working-set variable: LIBSVM's
//                        SMO (maximal violator i, second-order j with tau = 1e-12,
//                        the clipped two-variable update) on the working set, alphas
//                        and gradients in double in shared memory, kernel values read
//                        from the gathered rows; stops at a local violation of
//                        max(eps, 0.1 x the global one).
//   grad_update_kernel : G_u += y_u sum_w y_w da_w K[w, u] for every u, in double,
//                        coalesced over u.
// The host loop stops when the global violation from select_ws_kernel is below eps.
// Independent sub-problems run concurrently, one host thread and stream each.
#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "../kernels/cuda_launch.cuh"
#include "../kernels/gemm.hpp"
#include "sparse_rows_cuda.hpp"
#include "kernel_function.hpp"
#include "smo.hpp"
#include "smo_step.hpp"
#include "working_set.hpp"

namespace minidl::svm::cuda_detail {

constexpr int kWsThreads = 1024;  // the largest working set; one thread per variable

__device__ __forceinline__ bool in_up(signed char y, double a, double c) {
  return ws_in_up(y, a, c);
}
__device__ __forceinline__ bool in_low(signed char y, double a, double c) {
  return ws_in_low(y, a, c);
}

// The exclusive count of `flag` over the threads before this one (thread order)
// and, in `total`, over the whole block: a ballot per warp and a scan of the warp
// counts. Every thread of the block must call it (blockDim.x a multiple of 32).
// warp_counts: 32 ints of shared memory.
__device__ int block_exclusive_count(bool flag, int* warp_counts, int& total) {
  const unsigned ballot = __ballot_sync(0xffffffffu, flag);
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  if (lane == 0) warp_counts[warp] = __popc(ballot);
  __syncthreads();
  int before = 0;
  total = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) {
    const int c = warp_counts[w];
    before += w < warp ? c : 0;
    total += c;
  }
  __syncthreads();  // warp_counts may be rewritten by the next call
  return before + __popc(ballot & ((1u << lane) - 1u));
}

// Block-wide max of v; every thread gets the result. scratch: 32 doubles.
__device__ double block_max(double v, double* scratch) {
  for (int off = 16; off > 0; off /= 2) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, off));
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) / 32;
  v = lane < warps ? scratch[lane] : -DBL_MAX;
  for (int off = 16; off > 0; off /= 2) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Block-wide (max value, its index; the larger index on ties); every thread gets both.
// No v may be NaN: NaN compares false both ways, so lanes would keep different winners,
// and a loop that breaks on the result would leave some threads at the next barrier (a
// hang). Callers leave NaN candidates out, as the CPU solver's >= scans skip them.
__device__ void block_argmax(double& v, int& idx, double* sv, int* si) {
  for (int off = 16; off > 0; off /= 2) {
    const double ov = __shfl_xor_sync(0xffffffffu, v, off);
    const int oi = __shfl_xor_sync(0xffffffffu, idx, off);
    if (ov > v || (ov == v && oi > idx)) {
      v = ov;
      idx = oi;
    }
  }
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) {
    sv[warp] = v;
    si[warp] = idx;
  }
  __syncthreads();
  const int warps = (blockDim.x + 31) / 32;
  v = lane < warps ? sv[lane] : -DBL_MAX;
  idx = lane < warps ? si[lane] : -1;
  for (int off = 16; off > 0; off /= 2) {
    const double ov = __shfl_xor_sync(0xffffffffu, v, off);
    const int oi = __shfl_xor_sync(0xffffffffu, idx, off);
    if (ov > v || (ov == v && oi > idx)) {
      v = ov;
      idx = oi;
    }
  }
}

// Selects up to `half` indices of one side (0: I_up by -yG, 1: I_low by yG) not yet
// marked, appending them to ws at *count.
__device__ void select_side(int side, const double* grad, const double* alpha, const signed char* y,
                            const double* cbox, int l, int half, int* ws, int* count,
                            unsigned char* mark, unsigned* hist, unsigned* shared_u,
                            int* warp_counts) {
  // shared_u: [0] eligible count, [1] prefix, [2] mask, [3] remaining, [4] base
  if (threadIdx.x == 0) shared_u[0] = 0;
  __syncthreads();
  unsigned local = 0;
  for (int t = threadIdx.x; t < l; t += blockDim.x) {
    const bool ok = mark[t] == 0 &&
                    (side == 0 ? in_up(y[t], alpha[t], cbox[t]) : in_low(y[t], alpha[t], cbox[t]));
    local += ok ? 1u : 0u;
  }
  atomicAdd(&shared_u[0], local);
  __syncthreads();
  const unsigned need = min(shared_u[0], static_cast<unsigned>(half));
  if (need == 0) return;
  if (threadIdx.x == 0) {
    shared_u[1] = 0;
    shared_u[2] = 0;
    shared_u[3] = need;
    shared_u[4] = static_cast<unsigned>(*count);
  }
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
    __syncthreads();
    const unsigned prefix = shared_u[1];
    const unsigned mask = shared_u[2];
    for (int t = threadIdx.x; t < l; t += blockDim.x) {
      const bool ok = mark[t] == 0 && (side == 0 ? in_up(y[t], alpha[t], cbox[t])
                                                 : in_low(y[t], alpha[t], cbox[t]));
      if (!ok) continue;
      const unsigned key = ws_order_key(ws_score(side, y[t], grad[t]));
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned remaining = shared_u[3];
      unsigned above = 0;
      int b = 255;
      for (; b > 0; --b) {
        if (above + hist[b] >= remaining) break;
        above += hist[b];
      }
      shared_u[3] = remaining - above;
      shared_u[1] = prefix | (static_cast<unsigned>(b) << shift);
      shared_u[2] = mask | (255u << shift);
    }
    __syncthreads();
  }
  // The need-th largest key is `threshold`; shared_u[3] of the keys equal to it are
  // still wanted. Compact in index order (svm/working_set.hpp's rule): every key
  // above the threshold, and the ties with the lowest indices. Positions come from
  // block scans of ballots, not from an atomic counter, so the list is the same in
  // every run and sorted by index.
  const unsigned threshold = shared_u[1];
  const int ties_wanted = static_cast<int>(shared_u[3]);
  const int base = static_cast<int>(shared_u[4]);
  int ties_seen = 0;
  int placed = 0;
  for (int start = 0; start < l; start += blockDim.x) {
    const int t = start + static_cast<int>(threadIdx.x);
    bool ok = false;
    unsigned key = 0;
    if (t < l) {
      ok = mark[t] == 0 && (side == 0 ? in_up(y[t], alpha[t], cbox[t])
                                      : in_low(y[t], alpha[t], cbox[t]));
      if (ok) key = ws_order_key(ws_score(side, y[t], grad[t]));
    }
    const bool tie = ok && key == threshold;
    int ties_here = 0;
    const int tie_rank = ties_seen + block_exclusive_count(tie, warp_counts, ties_here);
    const bool take = ok && (key > threshold || (tie && tie_rank < ties_wanted));
    int taken_here = 0;
    const int pos = placed + block_exclusive_count(take, warp_counts, taken_here);
    if (take) ws[base + pos] = t;
    ties_seen += ties_here;
    placed += taken_here;
  }
  if (threadIdx.x == 0) *count = base + static_cast<int>(need);
  __syncthreads();
  for (int w = base + static_cast<int>(threadIdx.x); w < *count; w += blockDim.x) mark[ws[w]] = 1;
  __syncthreads();
}

__global__ void __launch_bounds__(kWsThreads)
    select_ws_kernel(const double* __restrict__ grad, const double* __restrict__ alpha,
                     const signed char* __restrict__ y, const double* __restrict__ cbox, int l,
                     int half, int* ws, int* ws_count, unsigned char* mark, double* violation) {
  __shared__ double scratch[32];
  __shared__ unsigned hist[256];
  __shared__ unsigned shared_u[5];
  __shared__ int count;
  __shared__ int warp_counts[32];
  double up = -DBL_MAX;
  double low = -DBL_MAX;
  for (int t = threadIdx.x; t < l; t += blockDim.x) {
    mark[t] = 0;
    if (in_up(y[t], alpha[t], cbox[t])) up = fmax(up, -y[t] * grad[t]);
    if (in_low(y[t], alpha[t], cbox[t])) low = fmax(low, y[t] * grad[t]);
  }
  up = block_max(up, scratch);
  low = block_max(low, scratch);
  if (threadIdx.x == 0) {
    *violation = (up == -DBL_MAX || low == -DBL_MAX) ? 0.0 : up + low;
    count = 0;
  }
  __syncthreads();
  select_side(0, grad, alpha, y, cbox, l, half, ws, &count, mark, hist, shared_u, warp_counts);
  select_side(1, grad, alpha, y, cbox, l, half, ws, &count, mark, hist, shared_u, warp_counts);
  if (threadIdx.x == 0) *ws_count = count;
}

// kws[w, u] = K[idx[ws[w]], idx[u]] for the full n x n matrix.
__global__ void gather_rows_kernel(const float* __restrict__ kfull, std::int64_t n,
                                   const std::int64_t* __restrict__ idx, const int* __restrict__ ws,
                                   const int* __restrict__ ws_count, int l,
                                   float* __restrict__ kws) {
  const std::int64_t total = static_cast<std::int64_t>(*ws_count) * l;
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < total;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t w = e / l;
    const std::int64_t u = e - w * l;
    kws[e] = kfull[idx[ws[w]] * n + idx[u]];
  }
}

// xws[w, :] = xs[ws[w], :], nws[w] = norms[ws[w]] (xs: the sub-problem's rows).
__global__ void gather_x_kernel(const float* __restrict__ xs, const float* __restrict__ norms,
                                std::int64_t d, const int* __restrict__ ws,
                                const int* __restrict__ ws_count, float* __restrict__ xws,
                                float* __restrict__ nws) {
  const std::int64_t total = static_cast<std::int64_t>(*ws_count) * d;
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < total;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t w = e / d;
    xws[e] = xs[ws[w] * d + (e - w * d)];
    if (e - w * d == 0) nws[w] = norms[ws[w]];
  }
}

// xs[t, :] = x[idx[t], :].
__global__ void gather_problem_x_kernel(const float* __restrict__ x, std::int64_t d,
                                        const std::int64_t* __restrict__ idx, std::int64_t l,
                                        float* __restrict__ xs) {
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < l * d;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t t = e / d;
    xs[e] = x[idx[t] * d + (e - t * d)];
  }
}

__global__ void __launch_bounds__(kWsThreads)
    local_smo_kernel(const float* __restrict__ kws, int l, const int* __restrict__ ws,
                     const int* __restrict__ ws_count, const signed char* __restrict__ y,
                     const double* __restrict__ cbox, double* __restrict__ alpha,
                     const double* __restrict__ grad, double* __restrict__ delta,
                     const double* __restrict__ global_violation, double eps, int max_iter) {
  __shared__ double s_alpha[kWsThreads];
  __shared__ double s_grad[kWsThreads];
  __shared__ double s_c[kWsThreads];
  __shared__ float s_kd[kWsThreads];
  __shared__ signed char s_y[kWsThreads];
  __shared__ double sv[32];
  __shared__ int si[32];
  __shared__ double s_delta[2];
  const int q = *ws_count;
  const int t = threadIdx.x;
  const bool active = t < q;
  const int gt = active ? ws[t] : 0;
  double a0 = 0.0;
  if (active) {
    s_alpha[t] = a0 = alpha[gt];
    s_grad[t] = grad[gt];
    s_c[t] = cbox[gt];
    s_y[t] = y[gt];
    s_kd[t] = kws[static_cast<std::int64_t>(t) * l + gt];
  }
  __syncthreads();
  const double local_eps = fmax(eps, 0.1 * *global_violation);
  for (int iter = 0; iter < max_iter; ++iter) {
    double up = -DBL_MAX;
    int i = -1;
    double low = -DBL_MAX;
    if (active) {
      const double u = -s_y[t] * s_grad[t];
      if (in_up(s_y[t], s_alpha[t], s_c[t]) && !isnan(u)) {  // NaN: see block_argmax
        up = u;
        i = t;
      }
      if (in_low(s_y[t], s_alpha[t], s_c[t])) low = s_y[t] * s_grad[t];
    }
    block_argmax(up, i, sv, si);
    low = block_max(low, sv);
    if (i < 0 || low == -DBL_MAX || up + low < local_eps) break;
    // j: the second-order gain over I_low (LIBSVM's WSS2), as a max of -obj.
    const double yi = s_y[i];
    const float* ki = kws + static_cast<std::int64_t>(i) * l;
    double gain = -DBL_MAX;
    int j = -1;
    if (active && in_low(s_y[t], s_alpha[t], s_c[t])) {
      const double gd = up + s_y[t] * s_grad[t];
      if (gd > 0) {
        const double quad = double(s_kd[i]) + s_kd[t] - 2.0 * ki[gt];  // K_ii + K_tt - 2 K_it
        const double g = gd * gd / (quad > 0 ? quad : kSmoTau);  // inf / inf with inf kernels
        if (!isnan(g)) {
          gain = g;
          j = t;
        }
      }
    }
    block_argmax(gain, j, sv, si);
    if (j < 0) break;
    if (t == 0) {
      const double yj = s_y[j];
      const double kij = ki[ws[j]];
      const double ci = s_c[i];
      const double cj = s_c[j];
      double ai = s_alpha[i];
      double aj = s_alpha[j];
      const double oi = ai;
      const double oj = aj;
      const double gi = s_grad[i];
      const double gj = s_grad[j];
      smo_pair_step(yi == yj, s_kd[i], s_kd[j], yi * yj * kij, gi, gj, ci, cj, ai, aj);
      s_alpha[i] = ai;
      s_alpha[j] = aj;
      s_delta[0] = (ai - oi) * yi;
      s_delta[1] = (aj - oj) * yj;
    }
    __syncthreads();
    if (active) {
      const float* kj = kws + static_cast<std::int64_t>(j) * l;
      s_grad[t] += s_y[t] * (ki[gt] * s_delta[0] + kj[gt] * s_delta[1]);
    }
    __syncthreads();
  }
  if (active) {
    alpha[gt] = s_alpha[t];
    delta[t] = (s_alpha[t] - a0) * s_y[t];
  }
}

// G_u += y_u sum_w delta_w K[w, u].
__global__ void grad_update_kernel(const float* __restrict__ kws, int l,
                                   const int* __restrict__ ws_count,
                                   const double* __restrict__ delta,
                                   const signed char* __restrict__ y, double* __restrict__ grad) {
  const int q = *ws_count;
  for (int u = blockIdx.x * blockDim.x + threadIdx.x; u < l; u += gridDim.x * blockDim.x) {
    double s = 0.0;
    for (int w = 0; w < q; ++w) {
      const double dw = delta[w];
      if (dw != 0.0) s += dw * kws[static_cast<std::int64_t>(w) * l + u];
    }
    grad[u] += y[u] * s;
  }
}

// One worker's device buffers, sized for the largest sub-problem.
struct Buffers {
  std::int64_t* idx = nullptr;
  signed char* y = nullptr;
  double* cbox = nullptr;
  double* alpha = nullptr;
  double* grad = nullptr;
  unsigned char* mark = nullptr;
  int* ws = nullptr;
  int* ws_count = nullptr;
  double* violation = nullptr;
  double* delta = nullptr;
  float* kws = nullptr;
  float* xs = nullptr;  // row-cache path: the sub-problem's rows, their norms,
  float* xnorms = nullptr;
  float* xws = nullptr;  // and the working set's rows and norms
  float* nws = nullptr;
};

// A worker's stream (its own, or the context's) and pinned staging. On leaving the
// worker, also by an exception, it waits for the stream's queued work before freeing
// anything, so the shared buffers are not released under kernels still running.
struct WorkerStream {
  cudaStream_t stream = nullptr;
  bool owned = false;
  int* host = nullptr;  // ws_count, then the violation (16 bytes)

  WorkerStream(cudaStream_t shared, bool own) : stream(shared) {
    if (own) {
      MINIDL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
      owned = true;
    }
    const cudaError_t pinned = cudaMallocHost(&host, 16);
    if (pinned != cudaSuccess) {
      host = nullptr;  // the destructor does not run for a constructor that throws
      if (owned) cudaStreamDestroy(stream);
      MINIDL_CUDA_CHECK(pinned);
    }
  }
  WorkerStream(const WorkerStream&) = delete;
  WorkerStream& operator=(const WorkerStream&) = delete;
  ~WorkerStream() {  // never throws; errors here are ignored (the first one was reported)
    cudaStreamSynchronize(stream);
    if (host != nullptr) cudaFreeHost(host);
    if (owned) cudaStreamDestroy(stream);
  }
};

// Device buffers from the context's pool, each at least one element, freed in the
// context's stream order when the owner goes out of scope, also by an exception (an
// allocation that failed part-way, a failed synchronisation).
class OwnedBuffers {
 public:
  explicit OwnedBuffers(CudaContext& ctx) : ctx_(ctx) {}
  OwnedBuffers(const OwnedBuffers&) = delete;
  OwnedBuffers& operator=(const OwnedBuffers&) = delete;
  ~OwnedBuffers() {
    for (void* p : ptrs_) ctx_.deallocate(p);
  }
  template <class T>
  T* alloc(std::int64_t count) {
    ptrs_.reserve(ptrs_.size() + 1);  // push_back below cannot throw and lose p
    void* p = ctx_.allocate(static_cast<std::size_t>(std::max<std::int64_t>(count, 1)) * sizeof(T));
    ptrs_.push_back(p);
    return static_cast<T*>(p);
  }

 private:
  CudaContext& ctx_;
  std::vector<void*> ptrs_;
};

}  // namespace minidl::svm::cuda_detail

namespace minidl::svm::cuda {

std::vector<std::int64_t> select_working_set(const std::vector<std::int8_t>& y,
                                             const std::vector<double>& alpha,
                                             const std::vector<double>& grad,
                                             const std::vector<double>& cbox, int half,
                                             int device) {
  using namespace cuda_detail;
  const std::size_t l = y.size();
  MINIDL_CHECK(alpha.size() == l && grad.size() == l && cbox.size() == l, ShapeError,
               "cuda::select_working_set: ", l, " labels but ", alpha.size(), " alphas, ",
               grad.size(), " gradients and ", cbox.size(), " bounds");
  MINIDL_CHECK(half >= 0 && 2 * half <= kWsThreads && l <= 0x7fffffffu, ValueError,
               "cuda::select_working_set: half = ", half, " (at most ", kWsThreads / 2,
               "), l = ", l);
  CudaContext& ctx = CudaContext::get(device);
  MINIDL_CUDA_CHECK(cudaSetDevice(device));  // the launch below goes to the current device
  OwnedBuffers owned(ctx);
  const auto n = static_cast<std::int64_t>(l);
  auto* dy = owned.alloc<signed char>(n);
  auto* da = owned.alloc<double>(n);
  auto* dg = owned.alloc<double>(n);
  auto* dc = owned.alloc<double>(n);
  auto* mark = owned.alloc<unsigned char>(n);
  auto* ws = owned.alloc<int>(2 * half);
  auto* count = owned.alloc<int>(1);
  auto* violation = owned.alloc<double>(1);
  std::vector<int> host_ws(static_cast<std::size_t>(2 * half));
  int host_count = 0;
  ctx.copy_host_to_device(dy, y.data(), l);
  ctx.copy_host_to_device(da, alpha.data(), l * sizeof(double));
  ctx.copy_host_to_device(dg, grad.data(), l * sizeof(double));
  ctx.copy_host_to_device(dc, cbox.data(), l * sizeof(double));
  select_ws_kernel<<<1, kWsThreads, 0, ctx.stream()>>>(dg, da, dy, dc, static_cast<int>(l), half,
                                                       ws, count, mark, violation);
  MINIDL_CUDA_LAUNCH_CHECK("svm select_ws_kernel");
  ctx.copy_device_to_host(&host_count, count, sizeof(int));
  ctx.copy_device_to_host(host_ws.data(), ws, host_ws.size() * sizeof(int));
  return std::vector<std::int64_t>(host_ws.begin(), host_ws.begin() + host_count);
}

void smo_solve_problems(const float* k_full, const float* x, std::int64_t n, std::int64_t d,
                        const KernelParams& params, std::vector<SmoProblem>& problems,
                        const SmoOptions& options, int working_set, int device,
                        const CsrMatrix* x_csr) {
  using namespace cuda_detail;
  using minidl::cuda_detail::grid_for;
  using minidl::cuda_detail::kBlock;
  if (problems.empty()) return;
  MINIDL_CHECK(working_set >= 2 && working_set <= kWsThreads, ValueError,
               "SVC working_set must be in [2, ", kWsThreads, "], got ", working_set);
  CudaContext& ctx = CudaContext::get(device);
  MINIDL_CUDA_CHECK(cudaSetDevice(device));
  std::int64_t l_max = 0;
  for (const SmoProblem& p : problems)
    l_max = std::max<std::int64_t>(l_max, static_cast<std::int64_t>(p.samples->size()));
  const int q_max = static_cast<int>(std::min<std::int64_t>(working_set, l_max));
  const bool full = k_full != nullptr;
  const int workers = solver_workers(full, problems.size());
  OwnedBuffers owned(ctx);  // freed last, after the workers' streams have drained
  std::vector<Buffers> bufs(static_cast<std::size_t>(workers));
  for (Buffers& b : bufs) {
    b.idx = owned.alloc<std::int64_t>(l_max);
    b.y = owned.alloc<signed char>(l_max);
    b.cbox = owned.alloc<double>(l_max);
    b.alpha = owned.alloc<double>(l_max);
    b.grad = owned.alloc<double>(l_max);
    b.mark = owned.alloc<unsigned char>(l_max);
    b.ws = owned.alloc<int>(q_max);
    b.ws_count = owned.alloc<int>(1);
    b.violation = owned.alloc<double>(1);
    b.delta = owned.alloc<double>(q_max);
    b.kws = owned.alloc<float>(std::int64_t{q_max} * l_max);
    if (!full && x_csr == nullptr) {
      b.xs = owned.alloc<float>(l_max * d);
      b.xnorms = owned.alloc<float>(l_max);
      b.xws = owned.alloc<float>(std::int64_t{q_max} * d);
      b.nws = owned.alloc<float>(q_max);
    }
  }
  // Sparse samples without k_full: one worker (solver_workers), its rows by SpMM.
  std::unique_ptr<SparseRows> sparse_rows;
  if (!full && x_csr != nullptr) {
    std::vector<const std::vector<std::int64_t>*> sets;
    for (const SmoProblem& p : problems) sets.push_back(p.samples);
    sparse_rows = std::make_unique<SparseRows>(*x_csr, params, l_max,
                                               max_problem_nnz(*x_csr, sets), q_max, device);
  }
  ctx.synchronize();  // the buffers (and k_full) are ready before other streams use them

  const KernelMap map = make_kernel_map(params);
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&](int worker) {
    try {
      MINIDL_CUDA_CHECK(cudaSetDevice(device));
      // Several workers need a stream each; the row-computing path (one worker) stays
      // on the context's stream, where its cuBLAS handle is.
      const WorkerStream own(ctx.stream(), full && workers > 1);
      cudaStream_t stream = own.stream;
      int* host = own.host;
      Buffers& b = bufs[static_cast<std::size_t>(worker)];
      for (std::size_t p = next++; p < problems.size(); p = next++) {
        SmoProblem& prob = problems[p];
        const auto l = static_cast<std::int64_t>(prob.samples->size());
        const int q = static_cast<int>(std::min<std::int64_t>(working_set, l)) & ~1;
        std::vector<double> cbox(static_cast<std::size_t>(l));
        std::vector<double> minus_one(static_cast<std::size_t>(l), -1.0);
        for (std::size_t t = 0; t < cbox.size(); ++t)
          cbox[t] = (*prob.y)[t] > 0 ? prob.cp : prob.cn;
        MINIDL_CUDA_CHECK(cudaMemcpyAsync(b.idx, prob.samples->data(), l * sizeof(std::int64_t),
                                          cudaMemcpyHostToDevice, stream));
        MINIDL_CUDA_CHECK(cudaMemcpyAsync(b.y, prob.y->data(), l, cudaMemcpyHostToDevice, stream));
        MINIDL_CUDA_CHECK(cudaMemcpyAsync(b.cbox, cbox.data(), l * sizeof(double),
                                          cudaMemcpyHostToDevice, stream));
        MINIDL_CUDA_CHECK(cudaMemcpyAsync(b.grad, minus_one.data(), l * sizeof(double),
                                          cudaMemcpyHostToDevice, stream));
        MINIDL_CUDA_CHECK(cudaMemsetAsync(b.alpha, 0, l * sizeof(double), stream));
        if (sparse_rows != nullptr) {
          sparse_rows->begin_problem(*prob.samples);
        } else if (!full) {
          gather_problem_x_kernel<<<grid_for(l * d, device), kBlock, 0, stream>>>(x, d, b.idx, l,
                                                                                  b.xs);
          MINIDL_CUDA_LAUNCH_CHECK("svm gather_problem_x_kernel");
          svm::cuda::row_sq_norms(b.xs, l, d, b.xnorms, device);
        }
        const std::int64_t max_outer =
            options.max_iter > 0 ? options.max_iter : std::max<std::int64_t>(100000, 100 * l);
        SmoResult& res = *prob.result;
        res.converged = false;
        std::int64_t outer = 0;
        for (;; ++outer) {
          select_ws_kernel<<<1, kWsThreads, 0, stream>>>(b.grad, b.alpha, b.y, b.cbox,
                                                         static_cast<int>(l), q / 2, b.ws,
                                                         b.ws_count, b.mark, b.violation);
          MINIDL_CUDA_LAUNCH_CHECK("svm select_ws_kernel");
          MINIDL_CUDA_CHECK(
              cudaMemcpyAsync(host, b.ws_count, sizeof(int), cudaMemcpyDeviceToHost, stream));
          MINIDL_CUDA_CHECK(cudaMemcpyAsync(host + 2, b.violation, sizeof(double),
                                            cudaMemcpyDeviceToHost, stream));
          MINIDL_CUDA_CHECK(cudaStreamSynchronize(stream));
          double violation = 0;
          std::memcpy(&violation, host + 2, sizeof(double));
          if (violation < options.eps || host[0] < 2) {
            res.converged = true;
            break;
          }
          if (outer >= max_outer) break;
          const int count = host[0];
          if (full) {
            gather_rows_kernel<<<grid_for(std::int64_t{count} * l, device), kBlock, 0, stream>>>(
                k_full, n, b.idx, b.ws, b.ws_count, static_cast<int>(l), b.kws);
            MINIDL_CUDA_LAUNCH_CHECK("svm gather_rows_kernel");
          } else if (sparse_rows != nullptr) {
            // K[ws, :] by SpMM + the kernel map, on the context's stream (= `stream`).
            sparse_rows->rows(b.ws, count, b.kws);
          } else {
            gather_x_kernel<<<grid_for(std::int64_t{count} * d, device), kBlock, 0, stream>>>(
                b.xs, b.xnorms, d, b.ws, b.ws_count, b.xws, b.nws);
            MINIDL_CUDA_LAUNCH_CHECK("svm gather_x_kernel");
            // K[ws, :] = map(X_ws X_s^T): the context's cuBLAS handle is on `stream`.
            minidl::cuda::gemm(false, true, count, l, d, 1.0f, b.xws, d, b.xs, d, 0.0f, b.kws, l,
                               false, device);
            svm::cuda::kernel_map(b.kws, count, l, b.nws, b.xnorms, map, device);
          }
          local_smo_kernel<<<1, kWsThreads, 0, stream>>>(
              b.kws, static_cast<int>(l), b.ws, b.ws_count, b.y, b.cbox, b.alpha, b.grad, b.delta,
              b.violation, options.eps, std::max(1000, 10 * q));
          MINIDL_CUDA_LAUNCH_CHECK("svm local_smo_kernel");
          grad_update_kernel<<<grid_for(l, device), kBlock, 0, stream>>>(
              b.kws, static_cast<int>(l), b.ws_count, b.delta, b.y, b.grad);
          MINIDL_CUDA_LAUNCH_CHECK("svm grad_update_kernel");
          if (prob.on_progress) prob.on_progress(outer + 1, false);
        }
        res.alpha.assign(static_cast<std::size_t>(l), 0.0);
        res.grad.assign(static_cast<std::size_t>(l), 0.0);
        MINIDL_CUDA_CHECK(cudaMemcpyAsync(res.alpha.data(), b.alpha, l * sizeof(double),
                                          cudaMemcpyDeviceToHost, stream));
        MINIDL_CUDA_CHECK(cudaMemcpyAsync(res.grad.data(), b.grad, l * sizeof(double),
                                          cudaMemcpyDeviceToHost, stream));
        MINIDL_CUDA_CHECK(cudaStreamSynchronize(stream));
        res.iterations = outer;
        smo_finish(res, *prob.y, prob.cp, prob.cn);
        if (prob.on_progress) prob.on_progress(outer, true);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  if (workers == 1) {
    work(0);
  } else {
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) threads.emplace_back(work, w);
    for (std::thread& th : threads) th.join();
  }
  sparse_rows.reset();
  if (error) std::rethrow_exception(error);
}

}  // namespace minidl::svm::cuda
