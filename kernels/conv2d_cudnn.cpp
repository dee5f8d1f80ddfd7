// conv2d through cuDNN 9 (the legacy convolution API, still in cuDNN 9's cnn
// library): NCHW float32 descriptors, cross-correlation mode.
//
// Plans are cached per (device, geometry, deterministic setting): the first call
// with a new shape runs cuDNN's own search (cudnnFindConvolution*AlgorithmEx, which
// times the candidate algorithms on scratch tensors) for forward, backward-data and
// backward-filter, and keeps the choice of kernels/conv2d_algo.hpp: FP32 math
// only, deterministic algorithms only in deterministic mode (core/determinism.hpp),
// then the fastest. Everything the search touches (scratch tensors, its
// workspace) comes from CudaContext::allocate: the non-Ex search would cudaMalloc
// beside the stream-ordered pool, which keeps freed blocks, and could fail after
// a large free. The workspace for the calls themselves is one buffer per device
// from CudaContext::allocate, grown to the largest size any plan needs and kept,
// so steady-state steps neither search nor allocate.
// Not thread-safe across host threads using one device at once (minidl's
// contexts are driven from one host thread per device).
#include <cudnn.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "../core/context.hpp"
#include "../core/cuda_check.hpp"
#include "../core/determinism.hpp"
#include "../core/device_scope.hpp"
#include "conv2d.hpp"
#include "conv2d_algo.hpp"

namespace minidl::cuda {

namespace {

using Key = std::tuple<int, bool, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                       std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                       std::int64_t, std::int64_t>;

Key key_of(const Conv2dGeometry& g, int device, bool det) {
  return Key{device,     det,        g.batch,    g.in_channels, g.height,   g.width, g.out_channels,
             g.kernel_h, g.kernel_w, g.stride_h, g.stride_w,    g.pad_top,  g.pad_left};
}

int ci(std::int64_t v) { return static_cast<int>(v); }

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  std::size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {  // never throws: errors on teardown are ignored
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

struct Workspace {
  void* ptr = nullptr;
  std::size_t bytes = 0;
};

struct Cache {
  std::mutex mutex;
  std::map<Key, std::unique_ptr<Plan>> plans;
  std::map<int, Workspace> workspaces;  // per device, kept for the process's life
};

Cache& cache() {
  static Cache* c = new Cache();  // leaked on purpose: no teardown-order problems at exit
  return *c;
}

// cuDNN's search results as conv2d_algo candidates.
template <class Perf>
std::vector<conv2d_algo::Candidate> candidates(const Perf* perf, int count) {
  std::vector<conv2d_algo::Candidate> out;
  for (int i = 0; i < count; ++i) {
    conv2d_algo::Candidate c;
    c.algo = static_cast<int>(perf[i].algo);
    c.succeeded = perf[i].status == CUDNN_STATUS_SUCCESS;
    c.time_ms = perf[i].time;
    c.workspace = perf[i].memory;
    c.deterministic = perf[i].determinism == CUDNN_DETERMINISTIC;
    c.fp32_math = perf[i].mathType == CUDNN_DEFAULT_MATH || perf[i].mathType == CUDNN_FMA_MATH;
    out.push_back(c);
  }
  return out;
}

// Device memory from the context's pool, returned (stream-ordered) at scope exit.
class Scratch {
 public:
  Scratch(CudaContext& ctx, std::size_t bytes) : ctx_(ctx), ptr_(ctx.allocate(bytes)) {}
  ~Scratch() { ctx_.deallocate(ptr_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return ptr_; }

 private:
  CudaContext& ctx_;
  void* ptr_;
};

// The search's workspace: the largest any algorithm of any pass asks for, capped at
// a quarter of the memory an allocation can get (the pool's unused blocks included: a
// shape first met late in a run, a last short batch, found the driver's free memory alone
// small) (an algorithm that needs more is reported as failed by the search and not chosen).
std::size_t search_workspace_bytes(cudnnHandle_t h, const Plan& p, CudaContext& ctx) {
  std::size_t most = 0, bytes = 0;
  for (int a = 0; a < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; ++a)
    if (cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y,
                                                static_cast<cudnnConvolutionFwdAlgo_t>(a),
                                                &bytes) == CUDNN_STATUS_SUCCESS)
      most = std::max(most, bytes);
  for (int a = 0; a < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT; ++a)
    if (cudnnGetConvolutionBackwardDataWorkspaceSize(
            h, p.w, p.y, p.conv, p.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(a), &bytes) ==
        CUDNN_STATUS_SUCCESS)
      most = std::max(most, bytes);
  for (int a = 0; a < CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT; ++a)
    if (cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, p.x, p.y, p.conv, p.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(a), &bytes) ==
        CUDNN_STATUS_SUCCESS)
      most = std::max(most, bytes);
  return std::min(most, ctx.memory_info().available() / 4);
}

Plan& plan_for(const Conv2dGeometry& g, int device) {
  Cache& c = cache();
  const bool det = deterministic();
  const Key key = key_of(g, device, det);
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.plans.find(key);
  if (it != c.plans.end()) return *it->second;

  CudaContext& ctx = CudaContext::get(device);
  MINIDL_CUDA_CHECK(cudaSetDevice(device));
  cudnnHandle_t h = ctx.cudnn();
  auto p = std::make_unique<Plan>();
  MINIDL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  MINIDL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  MINIDL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
  MINIDL_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  MINIDL_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  MINIDL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                ci(g.batch), ci(g.in_channels), ci(g.height),
                                                ci(g.width)));
  MINIDL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                ci(g.batch), ci(g.out_channels), ci(g.out_h),
                                                ci(g.out_w)));
  MINIDL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                                ci(g.out_channels), 1, 1));
  MINIDL_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                ci(g.out_channels), ci(g.in_channels),
                                                ci(g.kernel_h), ci(g.kernel_w)));
  MINIDL_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, ci(g.pad_top), ci(g.pad_left),
                                                     ci(g.stride_h), ci(g.stride_w), 1, 1,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // Plain FP32 math: TF32 tensor cores would change results by ~1e-3 relative. The search
  // runs under FMA math, and so does every call (fma_math below): a result the search tags
  // CUDNN_DEFAULT_MATH was timed under FMA, while DEFAULT at the call would allow TF32 on
  // Ampere and later.
  MINIDL_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH));
  int n = 0, d = 0;
  int dims[4];
  MINIDL_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &dims[0], &dims[1],
                                                           &dims[2], &dims[3]));
  MINIDL_CHECK(dims[2] == g.out_h && dims[3] == g.out_w, CudaError,
               "conv2d (cuDNN): cuDNN computes a ", dims[2], "x", dims[3], " output, minidl ",
               g.out_h, "x", g.out_w);

  // The search runs the algorithms on scratch tensors of the plan's shapes (zeros:
  // garbage could hold NaNs that slow some algorithms down), never on the caller's.
  constexpr int kAlgos = 16;
  const std::size_t x_bytes = sizeof(float) * static_cast<std::size_t>(g.batch * g.in_channels *
                                                                       g.height * g.width);
  const std::size_t y_bytes = sizeof(float) * static_cast<std::size_t>(g.batch * g.out_channels *
                                                                       g.out_h * g.out_w);
  const std::size_t w_bytes = sizeof(float) * static_cast<std::size_t>(
                                                  g.out_channels * g.in_channels * g.kernel_h *
                                                  g.kernel_w);
  const Scratch sx(ctx, x_bytes), sy(ctx, y_bytes), sw(ctx, w_bytes);
  MINIDL_CUDA_CHECK(cudaMemsetAsync(sx.get(), 0, x_bytes, ctx.stream()));
  MINIDL_CUDA_CHECK(cudaMemsetAsync(sy.get(), 0, y_bytes, ctx.stream()));
  MINIDL_CUDA_CHECK(cudaMemsetAsync(sw.get(), 0, w_bytes, ctx.stream()));
  const std::size_t ws_bytes = search_workspace_bytes(h, *p, ctx);
  const Scratch sws(ctx, ws_bytes);
  cudnnConvolutionFwdAlgoPerf_t fwd[kAlgos];
  MINIDL_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, p->x, sx.get(), p->w, sw.get(),
                                                            p->conv, p->y, sy.get(), kAlgos, &n,
                                                            fwd, sws.get(), ws_bytes));
  d = static_cast<int>(conv2d_algo::choose(candidates(fwd, n), det, "forward"));
  p->fwd = fwd[d].algo;
  p->fwd_ws = fwd[d].memory;
  cudnnConvolutionBwdDataAlgoPerf_t bd[kAlgos];
  MINIDL_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
      h, p->w, sw.get(), p->y, sy.get(), p->conv, p->x, sx.get(), kAlgos, &n, bd, sws.get(),
      ws_bytes));
  d = static_cast<int>(conv2d_algo::choose(candidates(bd, n), det, "backward-data"));
  p->bwd_data = bd[d].algo;
  p->bwd_data_ws = bd[d].memory;
  cudnnConvolutionBwdFilterAlgoPerf_t bf[kAlgos];
  MINIDL_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
      h, p->x, sx.get(), p->y, sy.get(), p->conv, p->w, sw.get(), kAlgos, &n, bf, sws.get(),
      ws_bytes));
  d = static_cast<int>(conv2d_algo::choose(candidates(bf, n), det, "backward-filter"));
  p->bwd_filter = bf[d].algo;
  p->bwd_filter_ws = bf[d].memory;

  Plan& ref = *p;
  c.plans.emplace(key, std::move(p));
  return ref;
}

// The descriptor's math before a call: FMA only (plan_for), never the CUDNN_DEFAULT_MATH
// a search result may be tagged with, which allows TF32 on Ampere and later.
void fma_math(const Plan& p) {
  MINIDL_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, CUDNN_FMA_MATH));
}

// The device's workspace, grown (never shrunk) to at least `bytes`.
void* workspace(int device, std::size_t bytes) {
  if (bytes == 0) return nullptr;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  Workspace& ws = c.workspaces[device];
  if (ws.bytes < bytes) {
    CudaContext& ctx = CudaContext::get(device);
    if (ws.ptr != nullptr) ctx.deallocate(ws.ptr);  // stream-ordered: safe for queued work
    ws.ptr = nullptr;
    ws.bytes = 0;
    ws.ptr = ctx.allocate(bytes);
    ws.bytes = bytes;
  }
  return ws.ptr;
}

}  // namespace

void conv2d_forward_cudnn(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                          float* y, int device) {
  if (g.batch == 0) return;  // y is empty (cuDNN rejects a 0-sized descriptor)
  const detail::DeviceScope scope(device);  // a cached plan's call runs on its device too
  Plan& p = plan_for(g, device);
  void* ws = workspace(device, p.fwd_ws);
  cudnnHandle_t h = CudaContext::get(device).cudnn();
  const float one = 1.0f, zero = 0.0f;
  fma_math(p);
  MINIDL_CUDNN_CHECK(
      cudnnConvolutionForward(h, &one, p.x, x, p.w, w, p.conv, p.fwd, ws, p.fwd_ws, &zero, p.y, y));
  if (b != nullptr) MINIDL_CUDNN_CHECK(cudnnAddTensor(h, &one, p.bias, b, &one, p.y, y));
}

void conv2d_backward_data_cudnn(const Conv2dGeometry& g, const float* dy, const float* w, float* dx,
                                int device) {
  if (g.batch == 0) return;  // dx is empty
  const detail::DeviceScope scope(device);
  Plan& p = plan_for(g, device);
  void* ws = workspace(device, p.bwd_data_ws);
  cudnnHandle_t h = CudaContext::get(device).cudnn();
  const float one = 1.0f, zero = 0.0f;
  fma_math(p);
  MINIDL_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, p.w, w, p.y, dy, p.conv, p.bwd_data, ws,
                                                  p.bwd_data_ws, &zero, p.x, dx));
}

void conv2d_backward_filter_cudnn(const Conv2dGeometry& g, const float* x, const float* dy,
                                  float* dw, float beta, int device) {
  if (g.batch == 0) {  // an empty sum: dw = beta dw, beta 0 or 1
    if (beta == 0.0f) {
      CudaContext& ctx = CudaContext::get(device);
      MINIDL_CUDA_CHECK(cudaSetDevice(device));
      MINIDL_CUDA_CHECK(cudaMemsetAsync(
          dw, 0,
          sizeof(float) * static_cast<std::size_t>(g.out_channels * g.in_channels * g.kernel_h *
                                                   g.kernel_w),
          ctx.stream()));
    }
    return;
  }
  const detail::DeviceScope scope(device);
  Plan& p = plan_for(g, device);
  void* ws = workspace(device, p.bwd_filter_ws);
  cudnnHandle_t h = CudaContext::get(device).cudnn();
  const float one = 1.0f;
  fma_math(p);
  MINIDL_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, p.x, x, p.y, dy, p.conv, p.bwd_filter,
                                                    ws, p.bwd_filter_ws, &beta, p.w, dw));
}

}  // namespace minidl::cuda
