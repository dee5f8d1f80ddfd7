// solve_problems (svm/smo.hpp): the one place that decides where and how a fit's
// binary sub-problems are solved. Steps: the memory budget; the kernel's source
// (plan_kernel): on the CPU, one-vs-one rows on demand with the own-class segments
// shared (dense samples) or class blocks (sparse ones), else the full kernel matrix
// when it fits the budget (one GEMM, shared by every sub-problem) or per-problem
// row sources; then the CPU solvers over the sub-problems with OpenMP, or the GPU
// solver (smo_cuda.cu); progress reported throughout.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <utility>

#include <omp.h>
#include <unistd.h>

#include "../core/context.hpp"
#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "class_kernel.hpp"
#include "class_segments.hpp"
#include "smo.hpp"
#include "sparse_kernel.hpp"

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
    // A finished sub-problem is counted under the lock, so each one gets a call of
    // its own (two finishing at once would otherwise show up together twice).
    if (force) done_.fetch_add(1, std::memory_order_relaxed);
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

// How the kernel is provided: one-vs-one rows on demand with the own-class
// segments shared (dense samples on the CPU), class blocks (sparse one-vs-one on
// the CPU), the whole n x n matrix, or rows per sub-problem; and the bytes of each
// sub-problem's row cache (CPU), so that the kernel plus the caches (and transposed
// blocks, or the shared segments) of the sub-problems solved at once stay within
// the budget.
struct KernelPlan {
  bool full = false;           // one n x n float32 matrix shared by all sub-problems
  std::optional<ProblemGroups> groups;  // set: by groups (CPU): segments or blocks
  bool segments = false;       // groups: ClassSegments (else ClassKernel's blocks)
  std::size_t segment_budget = 0;  // segments: bytes of the shared own-group cache
  ClassSegments::Fill segment_fill = ClassSegments::Fill::WhenAsked;
  std::size_t row_budget = 0;  // bytes of each sub-problem's row cache (CPU)
};

// Sub-problems solved at once: one per CPU thread (core/parallel.hpp's cpu_threads(),
// not omp_get_max_threads(): on a busy machine the adaptive backend sets OpenMP to
// one thread for the libraries' fine-grained teams, which would serialise these
// independent, seconds-long solves; measured at 60,000 images under load: one core
// busy, the fit twice as long).
int cpu_workers(std::size_t problems) {
  return static_cast<int>(
      std::max<std::size_t>(1, std::min<std::size_t>(problems, std::size_t(cpu_threads()))));
}

// Rows a sub-problem caches when its rows are copies out of precomputed blocks: a
// hit saves one copy of the row, so a few dozen recent rows are all that pays.
constexpr std::size_t kBlockCacheRows = 128;

KernelPlan plan_kernel(std::int64_t n, std::int64_t d, const std::vector<BinaryProblem>& problems,
                       const SolveConfig& config, const Device& device, bool sparse) {
  const double budget = static_cast<double>(resolve_budget(config.memory_budget, device));
  std::int64_t l_max = 0;
  for (const BinaryProblem& p : problems)
    l_max = std::max<std::int64_t>(l_max, static_cast<std::int64_t>(p.samples.size()));
  const double full_bytes = double(n) * double(n) * 4.0;
  KernelPlan plan;
  if (device.is_cuda()) {
    // The solver's per-worker buffers (smo.hpp) share the budget with the full matrix.
    plan.full = full_bytes + double(cuda::solver_buffer_bytes(l_max, d, config.working_set, true,
                                                              problems.size())) <=
                budget;
    return plan;
  }
  const double workers = cpu_workers(problems.size());
  // With precomputed kernel values a row is a cheap copy: a few rows of cache are enough.
  const double min_cache = 2.0 * double(l_max) * 4.0;
  std::optional<ProblemGroups> groups = find_problem_groups(n, problems);
  if (groups && !sparse) {
    // One-vs-one, dense: rows computed when asked (a sub-problem asks for few: about
    // its support vectors; class_segments.hpp), the own-class segments shared. They
    // get up to half the budget, and are computed up front when all of them fit in
    // it (sum |G_a|^2 floats, 1.44 GB at 60,000 images in 10 classes); each worker's
    // row cache takes the rest.
    plan.groups = std::move(groups);
    plan.segments = true;
    const double all = double(ClassSegments::all_segments_bytes(*plan.groups));
    plan.segment_budget = static_cast<std::size_t>(std::min(all, budget / 2));
    if (all <= budget / 2) plan.segment_fill = ClassSegments::Fill::UpFront;
    plan.row_budget =
        static_cast<std::size_t>((budget - double(plan.segment_budget)) / workers);
    return plan;
  }
  if (groups) {
    const double need = double(ClassKernel::block_bytes(*groups)) +
                        workers * double(ClassKernel::transpose_bytes(*groups));
    if (need + workers * min_cache <= budget) {
      plan.groups = std::move(groups);
      plan.row_budget = static_cast<std::size_t>(
          std::min((budget - need) / workers, double(kBlockCacheRows) * double(l_max) * 4.0));
      return plan;
    }
  }
  plan.full = full_bytes + workers * min_cache <= budget;
  const double left = plan.full ? budget - full_bytes : budget;
  plan.row_budget = static_cast<std::size_t>(std::max(0.0, left / workers));
  return plan;
}

std::vector<SmoResult> solve_on_cuda(const Samples& x, const std::vector<BinaryProblem>& problems,
                                     const SolveConfig& config, const KernelPlan& plan,
                                     ProgressTracker& progress) {
  const Device dev = x.device();
  const std::int64_t n = x.rows();
  Tensor kd;
  KernelMemoryLease kd_lease;
  if (plan.full) {
    kd_lease.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(n) * 4);
    kd = empty({n, n}, dev);
    if (x.sparse()) {
      MINIDL_CUDA_CALL(cuda::sparse_kernel_matrix(x.csr(), config.kernel, kd.data<float>(),
                                                  dev.index()));
    } else {
      const Tensor norms = row_sq_norms(x.dense());
      kernel_matrix(x.dense(), x.dense(), kd, config.kernel, norms, norms);
    }
  }
  // Without the full matrix, sparse samples give the working set's rows by cuSPARSE
  // SpMM each outer iteration (sparse_rows_cuda.hpp; unverified), dense ones by SGEMM.
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
  // Unused in a CPU-only build, where MINIDL_CUDA_CALL only throws.
  [[maybe_unused]] const float* xd = x.sparse() ? nullptr : x.dense().data<float>();
  MINIDL_CUDA_CALL(cuda::smo_solve_problems(plan.full ? kd.data<float>() : nullptr, xd, n,
                                            x.cols(), config.kernel, jobs, config.smo,
                                            config.working_set, dev.index(),
                                            x.sparse() ? &x.csr() : nullptr));
  return solved;
}

std::vector<SmoResult> solve_on_cpu(const Samples& x, const std::vector<BinaryProblem>& problems,
                                    const SolveConfig& config, const KernelPlan& plan,
                                    ProgressTracker& progress) {
  const std::int64_t n = x.rows();
  const std::int64_t d = x.cols();
  const bool sparse = x.sparse();
  const float* xp = sparse ? nullptr : x.dense().data<float>();
  Tensor kfull;
  KernelMemoryLease kfull_lease;
  std::unique_ptr<ClassKernel> blocks;
  std::unique_ptr<ClassSegments> segments;
  if (plan.segments) {
    segments = std::make_unique<ClassSegments>(x.dense(), *plan.groups, config.kernel,
                                               plan.segment_budget, plan.segment_fill);
  } else if (plan.groups) {
    blocks = std::make_unique<ClassKernel>(x, *plan.groups, config.kernel);
  } else if (plan.full) {
    kfull_lease.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(n) * 4);
    kfull = empty({n, n});
    if (sparse) {
      sparse_kernel_matrix(x.csr(), x.csr(), config.kernel, kfull.data<float>());
    } else {
      const Tensor norms = row_sq_norms(x.dense());
      kernel_matrix(x.dense(), x.dense(), kfull, config.kernel, norms, norms);
    }
  }
  const auto n_problems = static_cast<std::int64_t>(problems.size());
  // Largest first: the last sub-problems to start are the short ones, so the
  // workers finish together.
  std::vector<std::int64_t> order(problems.size());
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&problems](std::int64_t u, std::int64_t v) {
    return problems[static_cast<std::size_t>(u)].samples.size() >
           problems[static_cast<std::size_t>(v)].samples.size();
  });
  const int workers = cpu_workers(problems.size());
  // Each worker's buffer for a problem's transposed class block (class blocks only),
  // allocated when the worker first needs it.
  const std::size_t transpose_floats =
      blocks ? ClassKernel::transpose_bytes(blocks->groups()) / sizeof(float) : 0;
  std::vector<std::vector<float>> transposed(static_cast<std::size_t>(workers));
  std::vector<std::unique_ptr<KernelMemoryLease>> transposed_lease(
      static_cast<std::size_t>(workers));
  std::vector<SmoResult> solved(problems.size());
  std::exception_ptr error;
  std::mutex error_mutex;
  std::atomic<bool> failed{false};
#pragma omp parallel for schedule(dynamic, 1) num_threads(workers)
  for (std::int64_t q = 0; q < n_problems; ++q) {
    if (failed.load()) continue;
    const std::int64_t p = order[static_cast<std::size_t>(q)];
    try {
      const BinaryProblem& b = problems[static_cast<std::size_t>(p)];
      const auto l = static_cast<std::int64_t>(b.samples.size());
      std::unique_ptr<KernelRows> rows;
      // A whole l x l matrix's worth is all a cache can use (plus its batch buffer).
      const std::size_t cache =
          std::min<std::size_t>(plan.row_budget, std::size_t(l) * std::size_t(l + 64) * 4);
      if (segments) {
        rows = segments->problem_rows(static_cast<std::size_t>(p), cache);
      } else if (blocks) {
        const auto w = static_cast<std::size_t>(omp_get_thread_num());
        if (transposed[w].empty()) {
          transposed_lease[w] =
              std::make_unique<KernelMemoryLease>(transpose_floats * sizeof(float));
          transposed[w].resize(std::max<std::size_t>(transpose_floats, 1));
        }
        rows = blocks->problem_rows(static_cast<std::size_t>(p), cache, transposed[w].data());
      } else if (plan.full) {
        rows = subset_kernel_rows(kfull.data<float>(), n, b.samples, cache);
      } else if (sparse) {
        rows = sparse_kernel_rows(csr_gather_rows(x.csr(), b.samples), config.kernel, cache);
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

// The budget in bytes: the caller's, or half the physical memory (CPU) / 80% of
// the memory a device allocation can get, the pool's unused blocks included (GPU).
std::size_t resolve_budget(std::size_t requested, const Device& device) {
  if (requested != 0) return requested;
  if (device.is_cuda())
    return static_cast<std::size_t>(
        0.8 * double(CudaContext::get(device.index()).memory_info().available()));
  return static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) *
         static_cast<std::size_t>(sysconf(_SC_PAGE_SIZE)) / 2;
}

std::vector<SmoResult> solve_problems(const Samples& x, const std::vector<BinaryProblem>& problems,
                                      const SolveConfig& config) {
  if (x.sparse()) {
    x.csr().check("solve_problems");
  } else {
    const Tensor& t = x.dense();
    MINIDL_CHECK(t.defined() && t.rank() == 2 && t.dtype() == DType::Float32, ShapeError,
                 "solve_problems: x must be float32 [n, d], got ",
                 t.defined() ? t.description() : std::string("an undefined tensor"));
  }
  const std::int64_t n = x.rows();
  for (std::size_t p = 0; p < problems.size(); ++p) {
    const BinaryProblem& b = problems[p];
    MINIDL_CHECK(b.samples.size() == b.y.size(), ShapeError, "solve_problems: problem ", p, " has ",
                 b.samples.size(), " samples and ", b.y.size(), " labels");
    for (std::int64_t s : b.samples)
      MINIDL_CHECK(s >= 0 && s < n, ValueError, "solve_problems: problem ", p, " names sample ", s,
                   ", outside x's ", n, " rows");
    // Here, not only in the CPU solvers: the GPU solver checks nothing itself (a problem of
    // one class came back "converged" with alpha = 0 there, an empty one with rho = NaN).
    check_smo_problem(b.y, b.cp, b.cn, config.smo.eps,
                      "solve_problems: problem " + std::to_string(p));
  }
  check_kernel_params(config.kernel);
  if (problems.empty()) return {};
  const KernelPlan plan = plan_kernel(n, x.cols(), problems, config, x.device(), x.sparse());
  ProgressTracker progress(config.progress, problems.size());
  return x.device().is_cuda() ? solve_on_cuda(x, problems, config, plan, progress)
                              : solve_on_cpu(x, problems, config, plan, progress);
}

}  // namespace minidl::svm
