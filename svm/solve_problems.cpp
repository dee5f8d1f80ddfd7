// solve_problems (svm/smo.hpp): the one place that decides where and how a fit's
// binary sub-problems are solved. Steps: the memory budget; the full kernel matrix
// when it fits the budget (one GEMM, shared by every sub-problem) or per-problem
// row sources; then the CPU solvers over the sub-problems with OpenMP, or the GPU
// solver (smo_cuda.cu); progress reported throughout.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <utility>

#include <unistd.h>

#include "../core/context.hpp"
#include "../core/dispatch.hpp"
#include "smo.hpp"

namespace minidl::svm {

namespace {

using Clock = std::chrono::steady_clock;

// Sums the iterations of every sub-problem and calls the user's callback: always
// when a sub-problem finishes, otherwise at most every kMinInterval; never two
// calls at once (a thread that finds the callback busy skips its update).
class ProgressTracker {
 public:
  ProgressTracker(const ProgressCallback& callback, std::size_t problems)
      : callback_(callback), iterations_(problems), start_(Clock::now()), last_(start_) {
    for (auto& it : iterations_) it.store(0, std::memory_order_relaxed);
  }

  void iterations(std::size_t problem, std::int64_t count) {
    iterations_[problem].store(count, std::memory_order_relaxed);
    report(false);
  }

  void finished(std::size_t problem, std::int64_t count) {
    iterations_[problem].store(count, std::memory_order_relaxed);
    done_.fetch_add(1, std::memory_order_relaxed);
    report(true);
  }

 private:
  static constexpr std::chrono::milliseconds kMinInterval{200};

  void report(bool force) {
    if (!callback_) return;
    std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
    if (force)
      lock.lock();
    else if (!lock.try_lock())
      return;
    const Clock::time_point now = Clock::now();  // under the lock: calls see it increase
    if (!force && now - last_ < kMinInterval) return;
    last_ = now;
    SolveProgress p;
    p.problems_done = done_.load(std::memory_order_relaxed);
    p.problems_total = static_cast<std::int64_t>(iterations_.size());
    for (const auto& it : iterations_) p.iterations += it.load(std::memory_order_relaxed);
    p.elapsed_s = std::chrono::duration<double>(now - start_).count();
    callback_(p);
  }

  const ProgressCallback& callback_;
  std::vector<std::atomic<std::int64_t>> iterations_;
  std::atomic<std::int64_t> done_{0};
  Clock::time_point start_;
  Clock::time_point last_;
  std::mutex mutex_;
};

// The budget in bytes: the caller's, or half the physical memory (CPU) / 80% of
// the free device memory (GPU).
std::size_t resolve_budget(std::size_t requested, const Device& device) {
  if (requested != 0) return requested;
  if (device.is_cuda())
    return static_cast<std::size_t>(
        0.8 * double(CudaContext::get(device.index()).memory_info().device_free));
  return static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) *
         static_cast<std::size_t>(sysconf(_SC_PAGE_SIZE)) / 2;
}

// How the kernel is provided: the whole n x n matrix, or rows per sub-problem.
struct KernelPlan {
  bool full = false;           // one n x n float32 matrix shared by all sub-problems
  std::size_t row_budget = 0;  // bytes of each sub-problem's row cache
};

KernelPlan plan_kernel(std::int64_t n, std::int64_t d, const std::vector<BinaryProblem>& problems,
                       const SolveConfig& config, const Device& device) {
  const std::size_t budget = resolve_budget(config.memory_budget, device);
  // On the GPU the solver's per-worker buffers (smo.hpp) share the budget with the
  // full matrix.
  std::int64_t l_max = 0;
  for (const BinaryProblem& p : problems)
    l_max = std::max<std::int64_t>(l_max, static_cast<std::int64_t>(p.samples.size()));
  const double solver_bytes =
      device.is_cuda() ? double(cuda::solver_buffer_bytes(l_max, d, config.working_set, true,
                                                          problems.size()))
                       : 0.0;
  KernelPlan plan;
  plan.full = double(n) * double(n) * 4.0 + solver_bytes <= static_cast<double>(budget);
  plan.row_budget =
      plan.full ? std::size_t{256} << 20 : std::max<std::size_t>(budget / 2, std::size_t{16} << 20);
  return plan;
}

std::vector<SmoResult> solve_on_cuda(const Tensor& x, const std::vector<BinaryProblem>& problems,
                                     const SolveConfig& config, const KernelPlan& plan,
                                     ProgressTracker& progress) {
  const Device dev = x.device();
  const std::int64_t n = x.size(0);
  Tensor kd;
  if (plan.full) {
    kd = empty({n, n}, dev);
    const Tensor norms = row_sq_norms(x);
    kernel_matrix(x, x, kd, config.kernel, norms, norms);
  }
  std::vector<SmoResult> solved(problems.size());
  std::vector<cuda::SmoProblem> jobs;
  for (std::size_t p = 0; p < problems.size(); ++p) {
    const BinaryProblem& b = problems[p];
    cuda::SmoProblem job{&b.samples, &b.y, b.cp, b.cn, &solved[p], {}};
    job.on_progress = [&progress, p](std::int64_t iterations, bool done) {
      if (done)
        progress.finished(p, iterations);
      else
        progress.iterations(p, iterations);
    };
    jobs.push_back(std::move(job));
  }
  MINIDL_CUDA_CALL(cuda::smo_solve_problems(plan.full ? kd.data<float>() : nullptr,
                                            x.data<float>(), n, x.size(1), config.kernel, jobs,
                                            config.smo, config.working_set, dev.index()));
  return solved;
}

std::vector<SmoResult> solve_on_cpu(const Tensor& x, const std::vector<BinaryProblem>& problems,
                                    const SolveConfig& config, const KernelPlan& plan,
                                    ProgressTracker& progress) {
  const std::int64_t n = x.size(0);
  const std::int64_t d = x.size(1);
  const float* xp = x.data<float>();
  Tensor kfull;
  if (plan.full) {
    kfull = empty({n, n});
    const Tensor norms = row_sq_norms(x);
    kernel_matrix(x, x, kfull, config.kernel, norms, norms);
  }
  const auto n_problems = static_cast<std::int64_t>(problems.size());
  std::vector<SmoResult> solved(problems.size());
  std::exception_ptr error;
  std::mutex error_mutex;
  std::atomic<bool> failed{false};
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t p = 0; p < n_problems; ++p) {
    if (failed.load()) continue;
    try {
      const BinaryProblem& b = problems[static_cast<std::size_t>(p)];
      const auto l = static_cast<std::int64_t>(b.samples.size());
      std::unique_ptr<KernelRows> rows;
      const std::size_t cache = std::min<std::size_t>(plan.row_budget, std::size_t(l) * l * 4 + 8);
      if (plan.full) {
        rows = subset_kernel_rows(kfull.data<float>(), n, b.samples, cache);
      } else {
        Tensor xs = empty({l, d});
        for (std::int64_t t = 0; t < l; ++t)
          std::copy_n(xp + b.samples[static_cast<std::size_t>(t)] * d, d, xs.data<float>() + t * d);
        rows = computed_kernel_rows(xs, config.kernel, cache);
      }
      const IterationHook hook = [&progress, p](std::int64_t it) {
        progress.iterations(static_cast<std::size_t>(p), it);
      };
      SmoResult r = config.cpu_decomposition
                        ? smo_solve_decomposition(*rows, b.y, b.cp, b.cn, config.smo,
                                                  config.working_set, hook)
                        : smo_solve(*rows, b.y, b.cp, b.cn, config.smo, hook);
      progress.finished(static_cast<std::size_t>(p), r.iterations);
      solved[static_cast<std::size_t>(p)] = std::move(r);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed.store(true);
    }
  }
  if (error) std::rethrow_exception(error);
  return solved;
}

}  // namespace

std::vector<SmoResult> solve_problems(const Tensor& x, const std::vector<BinaryProblem>& problems,
                                      const SolveConfig& config) {
  MINIDL_CHECK(x.defined() && x.rank() == 2 && x.dtype() == DType::Float32, ShapeError,
               "solve_problems: x must be float32 [n, d], got ",
               x.defined() ? x.description() : std::string("an undefined tensor"));
  const std::int64_t n = x.size(0);
  for (std::size_t p = 0; p < problems.size(); ++p) {
    const BinaryProblem& b = problems[p];
    MINIDL_CHECK(b.samples.size() == b.y.size(), ShapeError, "solve_problems: problem ", p, " has ",
                 b.samples.size(), " samples and ", b.y.size(), " labels");
    for (std::int64_t s : b.samples)
      MINIDL_CHECK(s >= 0 && s < n, ValueError, "solve_problems: problem ", p, " names sample ", s,
                   ", outside x's ", n, " rows");
  }
  check_kernel_params(config.kernel);
  if (problems.empty()) return {};
  const KernelPlan plan = plan_kernel(n, x.size(1), problems, config, x.device());
  ProgressTracker progress(config.progress, problems.size());
  return x.device().is_cuda() ? solve_on_cuda(x, problems, config, plan, progress)
                              : solve_on_cpu(x, problems, config, plan, progress);
}

}  // namespace minidl::svm
