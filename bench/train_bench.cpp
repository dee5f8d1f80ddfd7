// Training throughput of the models apps/train builds, one optimizer step at a time on a
// device-resident batch:
//   mlp  the 784-256-128-10 ReLU MLP (as build_mlp; replicated here: build_mlp_model)
//   cnn  the Fashion-MNIST CNN of `minidl-train --model cnn`, built by apps/train's own
//        build_cnn(cnn_config()): conv 5x5 32 same + ReLU + maxpool 2, conv 5x5 64 same +
//        ReLU + maxpool 2, dense 1024 + ReLU + dropout 0.4, dense 10
// Both end in softmax cross-entropy (mean) on int32 labels.
//
//   <dev>/mlp_<opt>/<B>       one step per iteration: zero_grad + forward + backward +
//                             optimizer step, on B synthetic images (N(0, 1) pixels,
//                             labels 0..9) already on the device
//   cuda/mlp_<opt>_x50/<B>    50 steps per iteration (CUDA only): the kernels' throughput
//                             with host launch latency amortised over the 50 steps
//   <opt>: adam (Adam, lr 1e-3) or sgd (SGD, lr 1e-2, momentum 0.9); <B>: 128 and 1024
//   <dev>/cnn_adam/128        the CNN's step (Adam, lr 1e-3, batch 128: its cnn_config());
//                             convolutions on the backend `auto` picks, as minidl-train does
//   cuda/cnn_adam_<conv>/128  (CUDA only) every convolution forced to one backend:
//                             cudnn or own (minidl's implicit-GEMM kernels)
//   cuda/cnn_adam[_<conv>]_x50/128   50 steps per iteration, as for the MLP
//   cpu/cnn_adam/<B>          also at B = 32 and 256 on the CPU
//   cpu/cnn_adam_<conv>/128   every convolution on one CPU backend: cpu (im2col + OpenBLAS,
//                             with the AVX2 direct path) or onednn (when built with oneDNN)
//   cpu/cnn_adam_nchw/<B>     cnn_adam/<B> with every value of the graph in NCHW
//                             (Graph::set_blocked_layouts(false)): oneDNN then reorders its
//                             operands every call, as before the graph kept the values between
//                             conv2 and the pooling layers blocked (NCHW8c; NCHW16c on AVX-512)
//   cpu/cnn_adam_unfolded/128 cnn_adam/128 with each convolution's fused ReLU backward as a
//                             pass of its own (Graph::set_backward_folds(false)), as before the
//                             pooling layers after them applied it as they write their
//                             gradient
//   cpu/<case>_contended/<B>, cpu/<case>_contended_pinned/<B>
//                             (for mlp_adam/128, mlp_sgd/128 and cnn_adam/128) the same step
//                             with a competing busy process beside it (bench/busy_loop.hpp: a
//                             shell busy loop, unpinned or pinned to the last CPU), started
//                             before the warm-up and killed after the timing: a shared machine
//                             (CI runner, laptop, a data loader beside the trainer)
//   cpu/mlp_<opt>_openblas[_contended]/128
//                             mlp_<opt>/128 with every gemm() on OpenBLAS
//                             (set_cpu_gemm_library, kernels/gemm.hpp), as before the default
//                             moved most of them to oneDNN's sgemm
//   cpu/mlp_gemms[_<library>][_contended]/128
//                             the matrix products of one MLP step and nothing else (MlpGemms:
//                             the step's floor), on the default library choice or all on
//                             openblas / onednn, quiet, and beside the busy loop on the pool
//                             as a busy step runs them; of_gemm_peak: their GFLOP/s over a
//                             1024^3 gemm()'s on every thread (Auto's library), measured
//                             once per process
//   cpu/<case>_omp[_contended[_pinned]]/<B>
//                             the same on the previous threading (set_parallel_backend(OpenMP):
//                             OpenMP loops, OpenBLAS and oneDNN always at every thread), for a
//                             before/after comparison in one run (core/parallel.hpp); and
//   cpu/<case>_pool[...]/<B>  on minidl's pool all the time (ParallelBackend::Pool), where
//                             the default (Adaptive) switches between the two
//
// Counters: images_per_second (B x steps / time), GFLOP/s, us_per_step; on the CPU
// contended_at_end (1 when the loops ran on the pool, libraries at one thread, at the end
// of the case), loop_threads_at_end (the threads the loops ran on then: on a busy machine
// the CPUs the other processes left free, core/parallel.hpp), switches (how often the
// Adaptive backend switched during it), and of its switches to the pool, busy_late (a
// thread late into a region) and busy_waiting (the threads waiting for a CPU: their run
// delay; core/parallel.cpp). GFLOP/s counts the
// multiply-adds of the GEMMs and convolutions only (bias, activations, pooling, dropout, the
// loss and the optimizer are left out), 2 FLOPs each, per step:
//   MLP  2 x B x (784*256 + 256*128 + 128*10) for forward, the same for dW, and for dx
//        of every layer but the first (whose dx is not computed)
//   CNN  per conv layer F = 2 B M H W C K^2 (same padding, so the output is H x W): forward,
//        dW and dx, except conv1's dx (not computed: its input needs no gradient);
//        per dense layer 2 B in out, three times. At B = 128: conv1 28x28x32 from 1 channel,
//        conv2 14x14x64 from 32, dense 3136x1024 and 1024x10: 10.5 GFLOP per step,
//        73% of it in conv2 (cnn_step_flops).
// CPU time is wall time; CUDA time is GPU time from CUDA events around the
// step(s) (manual time), which includes gaps while the host launches kernels;
// host_us_per_step is the host's enqueue time.
//
// No hidden host synchronisation: the loss is never read in the loop, the loss layer's label
// check (which reads a flag back) is off as in apps/train, and before timing, each CUDA case
// proves that a whole step enqueues without waiting for the GPU (no_sync_check below): the
// stream is held for 200 ms by a host function, a step is enqueued behind it, and the step
// must come back well before the 200 ms are up, with the stream still busy (once per case,
// after 3 warm-up steps, so cuDNN's algorithm search and the memory pools have settled).
// A step that synchronises (item(), a blocking cudaMemcpy, cudaMalloc / cudaFree) fails it.
//
// The run's context (console and JSON) records the CPU threads (omp_get_max_threads), the
// OpenBLAS build and threads, the OpenMP / OpenBLAS environment and the load average at start:
// on a shared 2-core machine the numbers mean little without them.
//
// Peer: bench/peers/torch_mlp.py (MLP) and bench/peers/torch_cnn.py (CNN) time the same
// steps in PyTorch and print minidl/PyTorch from this executable's JSON.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "busy_loop.hpp"
#include "core/cpu_features.hpp"
#include "core/info.hpp"
#include "core/parallel.hpp"
#include "core/tensor.hpp"
#include "kernels/conv2d.hpp"
#include "kernels/gemm.hpp"
#include "layers/activation.hpp"
#include "layers/dense.hpp"
#include "layers/sequential.hpp"
#include "optim/adam.hpp"
#include "optim/sgd.hpp"
#include "trainer.hpp"  // apps/train (minidl_train_core): build_cnn, cnn_config

namespace minidl::bench {
namespace {

constexpr std::int64_t kFeatures = 784;  // 28 x 28 Fashion-MNIST pixels
constexpr std::int64_t kHidden1 = 256;
constexpr std::int64_t kHidden2 = 128;
constexpr std::int64_t kClasses = 10;
constexpr std::int64_t kCnnBatch = 128;
constexpr int kStepsPerIteration = 50;  // the cuda/..._x50 cases

enum class Opt { Adam, Sgd };

const char* opt_name(Opt o) { return o == Opt::Adam ? "adam" : "sgd"; }

/// GEMM FLOPs of one MLP training step at batch b: forward x W^T per layer, backward
/// dW = dz^T x per layer and dx = dz W for every layer but the first.
double mlp_step_flops(std::int64_t b) {
  const double l1 = static_cast<double>(kFeatures * kHidden1);
  const double l2 = static_cast<double>(kHidden1 * kHidden2);
  const double l3 = static_cast<double>(kHidden2 * kClasses);
  const double per_sample =
      2.0 * (l1 + l2 + l3) /*forward*/ + 2.0 * (l1 + l2 + l3) /*dW*/ + 2.0 * (l2 + l3) /*dx*/;
  return per_sample * static_cast<double>(b);
}

/// Convolution and GEMM FLOPs of one CNN training step at batch b, walking the layers as
/// build_cnn lays them out from `c`: per conv (same padding, stride 1, so the output has the
/// input's side s) 2 M s^2 C K^2 per sample for forward, dW and dx (conv1: no dx), then a
/// 2 x 2 max-pool (s -> s / 2); per dense layer 2 in out, three times.
double cnn_step_flops(const train::TrainConfig& c, std::int64_t side, std::int64_t b) {
  double per_sample = 0.0;
  double s = static_cast<double>(side), in_channels = 1.0;
  bool first = true;
  for (std::int64_t m : c.conv_channels) {
    const double k2 = static_cast<double>(c.conv_kernel * c.conv_kernel);
    const double f = 2.0 * static_cast<double>(m) * s * s * in_channels * k2;
    per_sample += f * (first ? 2.0 : 3.0);
    first = false;
    in_channels = static_cast<double>(m);
    s = std::floor(s / 2.0);
  }
  double in = in_channels * s * s;
  for (std::int64_t h : c.hidden) {
    per_sample += 3.0 * 2.0 * in * static_cast<double>(h);
    in = static_cast<double>(h);
  }
  per_sample += 3.0 * 2.0 * in * static_cast<double>(kClasses);
  return per_sample * static_cast<double>(b);
}

/// As apps/train/trainer.cpp's build_mlp (hidden 256,128, no dropout).
Sequential build_mlp_model(Device device, std::int64_t batch) {
  Sequential net({kFeatures}, device, /*seed=*/1);
  net.add(std::make_shared<Dense>(kHidden1)).add(relu_layer());
  net.add(std::make_shared<Dense>(kHidden2)).add(relu_layer());
  net.add(std::make_shared<Dense>(kClasses), "logits");
  net.loss(softmax_cross_entropy_loss(LossOptions{Reduction::Mean, false}), {}, DType::Int32);
  net.build(batch);
  return net;
}

/// minidl-train --model cnn's configuration on `device`, convolutions on `backend`.
train::TrainConfig cnn_train_config(Device device, ConvBackend backend) {
  train::TrainConfig c = train::cnn_config();
  c.device = device;
  c.batch = kCnnBatch;
  c.conv_backend = conv_backend_name(backend);
  return c;
}

/// A model, its optimizer and one device-resident batch (N(0, 1) images, labels 0..9).
struct TrainStep {
  TrainStep(Sequential model, Device device, Opt opt, std::int64_t batch) : net(std::move(model)) {
    const std::vector<Parameter*> params = net.graph().parameters();
    if (opt == Opt::Adam) {
      AdamOptions o;
      o.learning_rate = 1e-3f;
      optimizer = std::make_unique<Adam>(params, o);
    } else {
      optimizer = std::make_unique<Sgd>(params, SgdOptions{1e-2f, 0.9f, false, 0.0f});
    }
    Generator gen(7);
    x = normal({batch, kFeatures}, 0.0f, 1.0f, gen, device);
    std::mt19937 rng(11);
    std::uniform_int_distribution<std::int32_t> label(0, kClasses - 1);
    std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
    for (auto& l : labels) l = label(rng);
    y = from_vector(labels, {batch}, device);
  }

  /// One training step (as Trainer::run's loop body); never reads anything back.
  void run() {
    optimizer->zero_grad();
    net.graph().forward({x, y});
    net.graph().backward(net.loss_value());
    optimizer->step();
  }

  float loss() { return net.graph().value(net.loss_value()).item<float>(); }

  Sequential net;
  std::unique_ptr<Optimizer> optimizer;
  Tensor x, y;
};

/// The matrix products of one MLP step at batch b, exactly as Dense runs them (forward
/// x W^T per layer; backward dW += dz^T x, the bias gradient as a GEMV, dx = dz W for every
/// layer but the first) and nothing else: the step's floor, what it would cost if the
/// activations, the loss, the bias adds and the optimizer were free.
struct MlpGemms {
  struct Layer {
    Tensor x, w, y, dy, dw, db, dx;
  };

  explicit MlpGemms(std::int64_t batch) : ones_b(ones({batch})) {
    Generator gen(3);
    const std::int64_t sizes[] = {kFeatures, kHidden1, kHidden2, kClasses};
    for (int l = 0; l < 3; ++l) {
      const std::int64_t in = sizes[l], out = sizes[l + 1];
      layers.push_back(Layer{normal({batch, in}, 0.0f, 1.0f, gen),
                             normal({out, in}, 0.0f, 0.05f, gen), empty({batch, out}),
                             normal({batch, out}, 0.0f, 1.0f, gen), zeros({out, in}), zeros({out}),
                             empty({batch, in})});
    }
  }

  void run() {
    GemmOptions forward;
    forward.transpose_b = true;
    for (Layer& l : layers) gemm(l.x, l.w, l.y, forward);
    GemmOptions dw;
    dw.transpose_a = true;
    dw.beta = 1.0f;
    for (std::size_t i = layers.size(); i-- > 0;) {
      Layer& l = layers[i];
      gemm(l.dy, l.x, l.dw, dw);
      gemv(l.dy, ones_b, l.db, /*transpose_a=*/true, 1.0f, /*beta=*/1.0f);
      if (i > 0) gemm(l.dy, l.w, l.dx, GemmOptions{});
    }
  }

  std::vector<Layer> layers;
  Tensor ones_b;
};

/// This machine's GEMM rate at its best: a 1024 x 1024 x 1024 gemm() on every thread, on the
/// library Auto picks for it, the best of 5; measured once per process, before any busy loop
/// starts and before a case sets a library.
double gemm_peak_gflops() {
  static const double peak = [] {
    constexpr std::int64_t n = 1024;
    const Tensor a = ones({n, n}), b = ones({n, n});
    Tensor c = empty({n, n});
    gemm(a, b, c);
    double best = 0.0;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      gemm(a, b, c);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2.0 * static_cast<double>(n * n * n) / s * 1e-9);
    }
    return best;
  }();
  return peak;
}

enum class Contention { None, Unpinned, Pinned };

/// What a case trains: its model builder, optimizer, batch and FLOPs per step, and the busy
/// process beside it.
struct Workload {
  std::function<Sequential()> build;
  Opt opt;
  std::int64_t batch;
  double flops_per_step;
  Contention contention = Contention::None;
  ParallelBackend backend = ParallelBackend::Adaptive;
  CpuGemmLibrary gemm = CpuGemmLibrary::Auto;
};

/// Sets a process-wide setting (its getter and setter) for a scope, then puts the previous
/// value back.
template <class T, T (*Get)(), void (*Set)(T)>
class SettingScope {
 public:
  explicit SettingScope(T value) : saved_(Get()) { Set(value); }
  ~SettingScope() { Set(saved_); }
  SettingScope(const SettingScope&) = delete;
  SettingScope& operator=(const SettingScope&) = delete;

 private:
  T saved_;
};
/// The case's threading (core/parallel.hpp) and gemm()'s CPU library (kernels/gemm.hpp).
using BackendScope = SettingScope<ParallelBackend, parallel_backend, set_parallel_backend>;
using GemmLibraryScope = SettingScope<CpuGemmLibrary, cpu_gemm_library, set_cpu_gemm_library>;

void report(benchmark::State& state, const Workload& w, int steps_per_iteration, double seconds,
            double host_seconds) {
  const std::int64_t batch = w.batch;
  const double steps = static_cast<double>(state.iterations()) * steps_per_iteration;
  state.counters["images_per_second"] = static_cast<double>(batch) * steps / seconds;
  state.counters["GFLOP/s"] = w.flops_per_step * steps / seconds * 1e-9;
  state.counters["us_per_step"] = seconds / steps * 1e6;
  if (host_seconds > 0) state.counters["host_us_per_step"] = host_seconds / steps * 1e6;
}

#if MINIDL_WITH_CUDA
constexpr int kHoldMs = 200;  // how long no_sync_check holds the stream

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

/// Empty string if a step enqueues without waiting for the GPU; otherwise what went wrong.
std::string no_sync_check(TrainStep& step, int device) {
  cudaStream_t stream = CudaContext::get(device).stream();
  CudaContext::get(device).synchronize();
  cuda_check(
      cudaLaunchHostFunc(
          stream, [](void*) { std::this_thread::sleep_for(std::chrono::milliseconds(kHoldMs)); },
          nullptr),
      "cudaLaunchHostFunc");
  const auto t0 = std::chrono::steady_clock::now();
  step.run();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const cudaError_t busy = cudaStreamQuery(stream);
  CudaContext::get(device).synchronize();
  if (ms >= 0.5 * kHoldMs || busy != cudaErrorNotReady) {
    return "a training step waited for the GPU (enqueue took " + std::to_string(ms) +
           " ms behind a " + std::to_string(kHoldMs) + " ms stream hold; stream " +
           (busy == cudaErrorNotReady ? "busy" : "idle") + " afterwards): a hidden host sync";
  }
  return "";
}
#endif

void train(benchmark::State& state, const std::string& name, const Workload& w, Device device,
           int steps_per_iteration) {
  const BackendScope backend(w.backend);
  const GemmLibraryScope gemm_library(w.gemm);
  const std::int64_t switches0 = parallel_detail::contended_switches();
  const std::int64_t late0 = parallel_detail::busy_calls_from_lateness();
  const std::int64_t waiting0 = parallel_detail::busy_calls_from_run_delay();
  std::unique_ptr<BusyLoop> busy;  // before the warm-up, gone after the timing
  if (w.contention != Contention::None)
    busy = std::make_unique<BusyLoop>(w.contention == Contention::Pinned);
  TrainStep step(w.build(), device, w.opt, w.batch);
  for (int i = 0; i < 3; ++i) step.run();  // warm-up: first touch, pool growth, module loading
  const float first_loss = step.loss();    // reads back (synchronises) outside the timing
  double seconds = 0.0, host_seconds = 0.0;
#if MINIDL_WITH_CUDA
  if (device.is_cuda()) {
    // Once per case: Google Benchmark calls this function several times per case.
    static std::map<std::string, std::string> problems;
    const auto known = problems.find(name);
    const std::string problem = known != problems.end()
                                    ? known->second
                                    : (problems[name] = no_sync_check(step, device.index()));
    if (!problem.empty()) {
      state.SkipWithError(problem.c_str());
      return;
    }
    CudaEventTimer timer(device.index());
    for (auto _ : state) {
      timer.start();
      const auto h0 = std::chrono::steady_clock::now();
      for (int s = 0; s < steps_per_iteration; ++s) step.run();
      host_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - h0).count();
      const double t = timer.stop();
      state.SetIterationTime(t);
      seconds += t;
    }
  }
#endif
  if (!device.is_cuda()) {
    for (auto _ : state) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int s = 0; s < steps_per_iteration; ++s) step.run();
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  }
  const float last_loss = step.loss();
  if (!std::isfinite(first_loss) || !std::isfinite(last_loss)) {
    state.SkipWithError("the loss is not finite");
    return;
  }
  report(state, w, steps_per_iteration, seconds, device.is_cuda() ? host_seconds : 0.0);
  state.counters["loss"] = last_loss;
  if (busy) state.counters["busy_loop_cpu"] = busy->cpu();
  if (!device.is_cuda()) {
    state.counters["contended_at_end"] = parallel_contended() ? 1 : 0;
    state.counters["loop_threads_at_end"] = loop_threads();
    state.counters["switches"] =
        static_cast<double>(parallel_detail::contended_switches() - switches0);
    state.counters["busy_late"] =
        static_cast<double>(parallel_detail::busy_calls_from_lateness() - late0);
    state.counters["busy_waiting"] =
        static_cast<double>(parallel_detail::busy_calls_from_run_delay() - waiting0);
  }
}

/// cpu/mlp_gemms[_<library>][_contended]/<B>: MlpGemms once per iteration, on `library`.
/// Quiet on the default backend (each product threaded by its library); contended on the
/// pool, as the step runs on a busy machine (the products cut into pieces, kernels/gemm.cpp):
/// pure products would never show the Adaptive backend a busy machine (it watches minidl's
/// own loops).
void mlp_gemms(benchmark::State& state, std::int64_t batch, bool contended,
               CpuGemmLibrary library) {
  const double peak = gemm_peak_gflops();  // before the busy loop starts
  const BackendScope backend(contended ? ParallelBackend::Pool : ParallelBackend::Adaptive);
  const GemmLibraryScope gemm_library(library);
  std::unique_ptr<BusyLoop> busy;
  if (contended) busy = std::make_unique<BusyLoop>(false);
  MlpGemms gemms(batch);
  for (int i = 0; i < 3; ++i) gemms.run();
  double seconds = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    gemms.run();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const Workload w{nullptr, Opt::Sgd, batch, mlp_step_flops(batch)};
  report(state, w, 1, seconds, 0.0);
  state.counters["gemm_peak_GFLOP/s"] = peak;
  state.counters["of_gemm_peak"] = state.counters["GFLOP/s"].value / peak;
  if (busy) state.counters["busy_loop_cpu"] = busy->cpu();
}

/// Registers `<dev>/<model>/<B>` and, on CUDA, `<dev>/<model>_x50/<B>` as well.
void register_case(Device device, const std::string& model, const Workload& w) {
  const std::string dev = device.is_cuda() ? "cuda" : "cpu";
  std::vector<int> variants{1};
  if (device.is_cuda()) variants.push_back(kStepsPerIteration);
  for (int steps : variants) {
    const std::string name = dev + "/" + model +
                             (steps > 1 ? "_x" + std::to_string(steps) : std::string()) + "/" +
                             std::to_string(w.batch);
    auto* b = benchmark::RegisterBenchmark(
        name.c_str(),
        [name, w, device, steps](benchmark::State& s) { train(s, name, w, device, steps); });
    b->Unit(benchmark::kMicrosecond);
    if (device.is_cuda())
      b->UseManualTime();
    else
      b->UseRealTime();
  }
}

// The contended twins of a CPU case: _contended and _contended_pinned; and the case and its
// twins on the previous threading (OpenMP loops, libraries always at every thread):
// <model>_omp, _omp_contended, _omp_contended_pinned; and on minidl's pool all the time:
// <model>_pool, ...
void register_contended(Device device, const std::string& model, Workload w) {
  if (device.is_cuda()) return;
  for (ParallelBackend backend :
       {ParallelBackend::Adaptive, ParallelBackend::OpenMP, ParallelBackend::Pool}) {
    w.backend = backend;
    const std::string name = backend == ParallelBackend::Adaptive ? model
                             : backend == ParallelBackend::OpenMP ? model + "_omp"
                                                                  : model + "_pool";
    if (backend != ParallelBackend::Adaptive) {
      w.contention = Contention::None;
      register_case(device, name, w);
    }
    w.contention = Contention::Unpinned;
    register_case(device, name + "_contended", w);
    w.contention = Contention::Pinned;
    register_case(device, name + "_contended_pinned", w);
  }
}

void register_for(Device device) {
  for (std::int64_t batch : {128, 1024}) {
    for (Opt opt : {Opt::Adam, Opt::Sgd}) {
      const std::string model = std::string("mlp_") + opt_name(opt);
      const Workload w{[device, batch] { return build_mlp_model(device, batch); }, opt, batch,
                       mlp_step_flops(batch)};
      register_case(device, model, w);
      if (batch == 128) register_contended(device, model, w);
    }
  }
  if (!device.is_cuda()) {
    // The MLP step with every gemm() on OpenBLAS (kernels/gemm.hpp), as before Auto moved
    // most of them to oneDNN: cpu/mlp_<opt>_openblas[_contended]/128.
    for (Opt opt : {Opt::Adam, Opt::Sgd}) {
      Workload w{[device] { return build_mlp_model(device, 128); }, opt, 128, mlp_step_flops(128)};
      w.gemm = CpuGemmLibrary::OpenBlas;
      const std::string model = std::string("mlp_") + opt_name(opt) + "_openblas";
      register_case(device, model, w);
      w.contention = Contention::Unpinned;
      register_case(device, model + "_contended", w);
    }
    // The MLP step's matrix products alone (its floor), on each library, quiet and beside a
    // busy loop.
    std::vector<CpuGemmLibrary> libraries{CpuGemmLibrary::Auto, CpuGemmLibrary::OpenBlas};
    if (cpu::onednn_available()) libraries.push_back(CpuGemmLibrary::OneDnn);
    for (CpuGemmLibrary library : libraries) {
      for (bool contended : {false, true}) {
        const std::string suffix = library == CpuGemmLibrary::Auto
                                       ? std::string()
                                       : std::string("_") + cpu_gemm_library_name(library);
        const std::string name =
            "cpu/mlp_gemms" + suffix + (contended ? "_contended" : "") + "/128";
        auto* b = benchmark::RegisterBenchmark(
            name.c_str(),
            [contended, library](benchmark::State& s) { mlp_gemms(s, 128, contended, library); });
        b->Unit(benchmark::kMicrosecond);
        b->UseRealTime();
      }
    }
  }
  // The CNN: `auto` as minidl-train runs it (on the CPU also at batch 32 and 256, and with a
  // busy process beside it); each backend of the device on its own.
  std::vector<ConvBackend> backends{ConvBackend::Auto};
  if (device.is_cuda()) {
    backends.insert(backends.end(), {ConvBackend::Cudnn, ConvBackend::Own});
  } else {
    backends.push_back(ConvBackend::Cpu);
    if (cpu::onednn_available()) backends.push_back(ConvBackend::OneDnn);
  }
  const std::int64_t side = 28;  // sqrt(kFeatures), as build_cnn derives it
  for (ConvBackend backend : backends) {
    train::TrainConfig c = cnn_train_config(device, backend);
    const bool is_auto = backend == ConvBackend::Auto;
    const std::string model =
        is_auto ? "cnn_adam" : "cnn_adam_" + std::string(conv_backend_name(backend));
    std::vector<std::int64_t> batches{c.batch};
    if (is_auto && !device.is_cuda()) batches = {32, c.batch, 256};
    for (std::int64_t batch : batches) {
      c.batch = batch;
      const Workload w{[c] { return train::build_cnn(c, kFeatures); }, Opt::Adam, c.batch,
                       cnn_step_flops(c, side, c.batch)};
      register_case(device, model, w);
      if (is_auto && batch == kCnnBatch) register_contended(device, model, w);
      // The same step with one of the graph's optimisations turned off, as the reference
      // it is measured against.
      const auto register_variant = [&](const char* name, void (*configure)(Graph&)) {
        const Workload variant{[c, configure] {
                                 Sequential net = train::build_cnn(c, kFeatures);
                                 configure(net.graph());
                                 net.build(c.batch);
                                 return net;
                               },
                               Opt::Adam, c.batch, cnn_step_flops(c, side, c.batch)};
        register_case(device, name, variant);
      };
      // Every value in NCHW (Graph::set_blocked_layouts(false)): oneDNN reorders its
      // operands every call, as before the graph kept blocked layouts.
      if (is_auto && !device.is_cuda())
        register_variant("cnn_adam_nchw", [](Graph& g) { g.set_blocked_layouts(false); });
      // Each convolution's ReLU backward as a pass of its own (Graph::set_backward_folds(false)),
      // as before the pooling layers took it over.
      if (is_auto && !device.is_cuda() && batch == kCnnBatch)
        register_variant("cnn_adam_unfolded", [](Graph& g) { g.set_backward_folds(false); });
    }
  }
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string(fallback);
}

void add_cpu_context() {
  const RuntimeInfo info = runtime_info();
  benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  benchmark::AddCustomContext("openblas_threads", std::to_string(info.openblas_threads));
  benchmark::AddCustomContext("openblas_config", info.openblas_config);
  benchmark::AddCustomContext("cpu_features", cpu_features_string());
  benchmark::AddCustomContext("onednn", cpu::onednn_available() ? cpu::onednn_version()
                                                                : std::string("(not built in)"));
  for (const char* var : {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                          "OPENBLAS_NUM_THREADS", "OMP_PROC_BIND"}) {
    benchmark::AddCustomContext(std::string("env_") + var, env_or(var, "(unset)"));
  }
  std::ifstream loadavg("/proc/loadavg");
  std::string l1, l5, l15;
  if (loadavg >> l1 >> l5 >> l15)
    benchmark::AddCustomContext("loadavg_at_start", l1 + " " + l5 + " " + l15);
}

}  // namespace
}  // namespace minidl::bench

int main(int argc, char** argv) {
  using namespace minidl;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bench::add_device_context();
  bench::add_cpu_context();
  bench::register_for(Device::cpu());
  if (cuda_available()) bench::register_for(Device::cuda());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
