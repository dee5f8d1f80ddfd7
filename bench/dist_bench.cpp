// Data-parallel training and MPI all-reduce, measured under mpirun (bench/dist_bench.sh
// runs the comparisons). A plain executable, not Google Benchmark: every process must
// run the same number of collectives, which Google Benchmark's adaptive iteration
// counts would not guarantee.
//
//   minidl_bench_dist allreduce [--min-mb 1] [--max-mb 64]
//       dist::all_reduce (Sum, float32, MPI on CPU tensors) of 1, 2, 4, ... MB
//       buffers; per size: the mean time of one all-reduce over enough repetitions
//       for ~0.5 s (at least 5, after 2 warm-up ones), and two bandwidths in NCCL's
//       convention (nccl-tests' PERFORMANCE.md): algbw = bytes / time and busbw =
//       algbw * 2 (W - 1) / W, the bytes each link carries in a ring all-reduce, which
//       is comparable across process counts and with NCCL's published figures.
//
//   minidl_bench_dist train [--model mlp|cnn] [--batch B] [--steps S]
//       minidl-train's MLP (784-256-128-10, Adam) or CNN (cnn_config(): conv 5x5 32
//       + pool, conv 5x5 64 + pool, dense 1024 + dropout 0.4, dense 10, Adam) on
//       synthetic 28x28 images through a sharded DataLoader, global batch B (default
//       128), each process B / W. Two phases in the same processes:
//         alone: S steps without communication (each process trains its own copy
//                on its share: what the step costs without the all-reduce);
//         data parallel: S steps with dist::DataParallel (gradients averaged in
//                buckets during backward, waited for in the optimizer's step).
//       Reports global images/s (B x S / time), the mean milliseconds of a step and
//       of its forward, backward and optimizer step(), and the communication's
//       share of the data-parallel step: exposed = (step_dp - step_alone) / step_dp
//       (everything data parallelism adds: packing buckets, MPI progress calls in
//       backward, waiting), waiting = (step() time dp - step() time alone) / step_dp
//       (the wait for the last buckets in the optimizer's step). With one process
//       both phases are the same and the shares are ~0.
//
// Only rank 0 prints. Times are wall time on the CPU (CUDA models are not
// measured here: the NCCL path is unverified).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/info.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "data/loader.hpp"
#include "dist/collectives.hpp"
#include "dist/data_parallel.hpp"
#include "dist/process.hpp"
#include "kernels/fill.hpp"
#include "optim/adam.hpp"
#include "trainer.hpp"  // apps/train (minidl_train_core): build_mlp, build_cnn, cnn_config

namespace {

using namespace minidl;
using clock_type = std::chrono::steady_clock;

int cpu_threads() { return runtime_info().openmp_threads; }

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// The slowest process's value: what the job waits for.
double max_over_ranks(double v) {
  std::vector<std::string> all = dist::all_gather(std::to_string(v));
  double m = v;
  for (const std::string& s : all) m = std::max(m, std::stod(s));
  return m;
}

std::string arg(int argc, char** argv, const char* name, const std::string& fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

void bench_allreduce(int argc, char** argv) {
  const int world = dist::world_size();
  const long min_mb = std::stol(arg(argc, argv, "--min-mb", "1"));
  const long max_mb = std::stol(arg(argc, argv, "--max-mb", "64"));
  if (dist::rank() == 0) {
    std::printf("all_reduce (Sum, float32, CPU tensors over MPI), %d processes, %d threads each\n",
                world, cpu_threads());
    std::printf("%10s %8s %12s %14s %14s\n", "MB", "reps", "ms", "algbw GB/s", "busbw GB/s");
  }
  for (long mb = min_mb; mb <= max_mb; mb *= 2) {
    const std::int64_t n = mb * (1 << 20) / 4;
    Tensor t = empty({n});
    fill(t, 1.0);
    for (int i = 0; i < 2; ++i) dist::all_reduce(t);
    // Enough repetitions for ~0.5 s, decided on rank 0's estimate so that every
    // process runs the same number.
    dist::barrier();
    auto t0 = clock_type::now();
    dist::all_reduce(t);
    std::vector<double> estimate{seconds_since(t0)};
    dist::all_reduce(estimate, dist::ReduceOp::Mean);
    const int reps = std::max(5, static_cast<int>(std::min(200.0, 0.5 / std::max(estimate[0], 1e-6))));
    dist::barrier();
    t0 = clock_type::now();
    for (int i = 0; i < reps; ++i) dist::all_reduce(t);
    const double per = max_over_ranks(seconds_since(t0)) / reps;
    const double bytes = static_cast<double>(n) * 4.0;
    const double algbw = bytes / per / 1e9;
    const double busbw = world > 1 ? algbw * 2.0 * (world - 1) / world : 0.0;
    if (dist::rank() == 0)
      std::printf("%10ld %8d %12.3f %14.3f %14.3f\n", mb, reps, per * 1e3, algbw, busbw);
  }
}

struct PhaseTimes {
  double total = 0, forward = 0, backward = 0, step = 0;  // seconds, sums over steps
};

PhaseTimes run_steps(Sequential& net, Optimizer& opt, DataLoader& loader, int steps,
                     std::int64_t epoch) {
  PhaseTimes t;
  Graph& g = net.graph();
  loader.start_epoch(epoch);
  Batch batch;
  dist::barrier();
  const auto start = clock_type::now();
  for (int s = 0; s < steps && loader.next(batch); ++s) {
    opt.zero_grad();
    auto t0 = clock_type::now();
    g.forward({batch.x, batch.y});
    t.forward += seconds_since(t0);
    t0 = clock_type::now();
    g.backward(net.loss_value());
    t.backward += seconds_since(t0);
    t0 = clock_type::now();
    opt.step();
    t.step += seconds_since(t0);
  }
  t.total = seconds_since(start);
  return t;
}

void bench_train(int argc, char** argv) {
  const int world = dist::world_size();
  const std::string model = arg(argc, argv, "--model", "mlp");
  const std::int64_t batch = std::stoll(arg(argc, argv, "--batch", "128"));
  const int steps = std::stoi(arg(argc, argv, "--steps", model == "cnn" ? "20" : "200"));
  MINIDL_CHECK(model == "mlp" || model == "cnn", ValueError, "--model: mlp or cnn, got ", model);
  MINIDL_CHECK(batch >= world && batch % world == 0, ValueError, "--batch ", batch,
               " must be a multiple of the ", world, " processes");
  train::TrainConfig config = model == "cnn" ? train::cnn_config() : train::TrainConfig{};
  config.batch = batch / world;  // each process's model takes its share
  // Synthetic images: N(0, 1) pixels, labels 0..9; 2 warm-up steps + 2 phases.
  const std::int64_t n = batch * (steps + 2);
  Generator gen(7);
  const Tensor images = normal({n, 784}, 0.0f, 1.0f, gen);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % 10);
  LoaderOptions lo;
  lo.batch_size = batch;
  lo.shuffle = true;
  lo.seed = 1;
  DataLoader loader(images, from_vector(labels, {n}), dist::sharded(lo));
  Sequential net = train::build_model(config, 784);
  Adam adam(net.graph().parameters());

  (void)run_steps(net, adam, loader, 2, 0);  // warm-up
  const PhaseTimes alone = run_steps(net, adam, loader, steps, 1);
  dist::DataParallel ddp(net, adam);
  (void)run_steps(net, adam, loader, 2, 0);  // warm-up of the buckets
  const PhaseTimes dp = run_steps(net, adam, loader, steps, 2);

  const double total_alone = max_over_ranks(alone.total), total_dp = max_over_ranks(dp.total);
  const double step_alone = max_over_ranks(alone.step), step_dp = max_over_ranks(dp.step);
  const double fwd = max_over_ranks(dp.forward), bwd = max_over_ranks(dp.backward);
  if (dist::rank() == 0) {
    const double ms = 1e3 / steps;
    std::printf("%s, global batch %lld, %d processes x %d threads, %d steps\n", model.c_str(),
                static_cast<long long>(batch), world, cpu_threads(), steps);
    std::printf("  alone:         %9.1f images/s  step %8.2f ms (optimizer step() %6.2f ms)\n",
                static_cast<double>(batch) * steps / total_alone, total_alone * ms,
                step_alone * ms);
    std::printf("  data parallel: %9.1f images/s  step %8.2f ms (forward %6.2f, backward %6.2f, "
                "optimizer step() %6.2f ms)\n",
                static_cast<double>(batch) * steps / total_dp, total_dp * ms, fwd * ms, bwd * ms,
                step_dp * ms);
    std::printf("  communication: exposed %.1f%% of the step, waiting in step() %.1f%%\n",
                100.0 * std::max(0.0, total_dp - total_alone) / total_dp,
                100.0 * std::max(0.0, step_dp - step_alone) / total_dp);
    std::printf("RESULT model=%s processes=%d threads=%d batch=%lld images_per_second=%.1f "
                "step_ms=%.3f exposed_comm=%.4f waiting_comm=%.4f\n",
                model.c_str(), world, cpu_threads(), static_cast<long long>(batch),
                static_cast<double>(batch) * steps / total_dp, total_dp * ms,
                std::max(0.0, total_dp - total_alone) / total_dp,
                std::max(0.0, step_dp - step_alone) / total_dp);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    minidl::dist::Session session;
    const std::string what = argc > 1 ? argv[1] : "";
    if (what == "allreduce") {
      bench_allreduce(argc, argv);
    } else if (what == "train") {
      bench_train(argc, argv);
    } else {
      std::fprintf(stderr,
                   "usage: minidl_bench_dist allreduce [--min-mb 1] [--max-mb 64]\n"
                   "       minidl_bench_dist train [--model mlp|cnn] [--batch 128] [--steps S]\n"
                   "(under mpirun -np N for N processes; bench/dist_bench.sh runs the comparisons)\n");
      return 2;
    }
    return 0;
  } catch (const std::exception& e) {
    const std::string message = std::string("minidl_bench_dist: ") + e.what();
    if (minidl::dist::initialized() && minidl::dist::world_size() > 1) minidl::dist::abort(message);
    std::cerr << message << "\n";
    return 1;
  }
}
