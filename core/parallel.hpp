// minidl's CPU thread pool: how every parallel loop of minidl's CPU kernels runs, and how
// many threads OpenBLAS and oneDNN get.
//
// Why (issue 15): with OpenMP alone, each of the many short parallel regions of a
// training step ends in a barrier where every thread waits for the slowest one, and
// libgomp's idle threads spin for milliseconds between regions. When another process
// keeps one of the cores busy, the scheduler deschedules one of the team's threads for a
// whole time slice, every barrier waits for it, and the spinning threads take the CPU
// the working ones need: an MLP step fell to 1/15 of its quiet rate.
//
// The default backend, Adaptive, runs each loop one of two ways:
//   - quiet machine: an OpenMP `parallel` region over the loop's chunks, as before (on an
//     idle machine libgomp's spinning team is the fastest there is, and OpenBLAS and
//     oneDNN share it), and every region measures how late its threads arrive;
//   - busy machine: when regions keep starting with a thread late, or the threads keep
//     waiting for a CPU (their scheduler run delay; core/parallel.cpp), minidl's own
//     pool below, and the libraries that run OpenMP teams of their own (OpenBLAS,
//     oneDNN) get one thread on the calling thread (library_threads()), so no barrier
//     can wait for a descheduled thread; minidl's GEMMs are then cut into pieces on the
//     pool (kernels/gemm.cpp).
//     After a hold (0.1 s, doubling up to 2 s while the machine stays busy) it tries
//     OpenMP again.
//     Width: while busy, the pool runs each loop on as many threads as the other processes leave
//     CPUs free (loop_threads(): this process's CPUs, its affinity, less the CPUs other
//     processes kept busy, rounded; at least 1, at most cpu_threads()); the workers beyond it
//     sleep. At a width of 1 the loops run on the calling thread and each GEMM is one call on
//     it. "Kept busy" is measured on this process's CPUs alone: their lines of /proc/stat
//     (busy share, steal included) less this process's own CPU time, over windows of 100 ms
//     (or 100 times a reading's cost, if longer), on the quiet machine too, so the estimate is
//     ready when the machine is called busy. So a container's or a taskset's process is not
//     narrowed by processes on CPUs it cannot use (the system's run queue, /proc/loadavg, counts
//     those too). A busy loop that shares the CPUs with a wider team gets less than a whole CPU
//     (2/3 beside two threads on two CPUs) and still rounds to one; once the team is narrower,
//     it gets its whole CPU. Why narrow: a thread that shares its core with another process's
//     busy thread is descheduled for whole time slices (milliseconds), and every loop whose
//     chunk it holds waits for it; a step is a few milliseconds. Measured on the 2-core machine
//     with one busy loop beside the MLP step (SGD, batch 128): two threads used 1.03-1.32 cores
//     between them and ran 75-80k images/s, one thread 92-95k, the rate it has on a quiet
//     machine (README, "CPU threads on a busy machine").
// The pool:
//   - lets the calling thread take part in its own loop, and hands out the chunks of a
//     loop dynamically (an atomic counter): a worker that has not woken up yet simply
//     gets no chunk, and the caller never waits for a thread that has not started; it
//     waits only for chunks already claimed (by threads that are running them);
//   - lets an idle worker spin for a bounded time (50 us) and then sleep on a futex, so
//     idle threads do not take a busy machine's CPU;
//   - runs loops with a single chunk, loops on one thread, and nested calls (a loop
//     body that calls parallel_for again) inline on the calling thread.
// ParallelBackend::Pool uses the pool all the time (as a busy machine would), OpenMP
// the OpenMP regions all the time (the previous behaviour: libraries always at
// cpu_threads(), nothing measured); bench/train_bench.cpp's `_omp` cases run it.
//
// Determinism: chunk boundaries depend only on n and grain, whatever thread runs a chunk
// and whichever way the loop runs, and parallel_reduce combines its
// per-chunk partials in chunk order on the caller, so results do not depend on
// scheduling nor, for minidl's own loops, on the thread count. README, "Reproducibility".
//
// API for other parts of minidl (svm/, data/ may adopt it):
//   parallel_for(n, grain, body)         body(begin, end) over [0, n)
//   parallel_chunks(chunks, body)        body(c) for every chunk index c < chunks
//   parallel_reduce(n, grain, body)      sum over chunks of body(begin, end) (double),
//                                        combined in chunk order
//   cpu_threads() / set_cpu_threads(n)   (core/info.hpp) the thread count
// The body must be safe to run concurrently on different ranges. An exception thrown by
// a body stops the claiming of further chunks and is rethrown on the calling thread once
// every claimed chunk has finished (the first one, if several threw).
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace minidl {

enum class ParallelBackend {
  Adaptive,  // OpenMP regions while the machine is quiet, the pool while it is busy (default)
  Pool,      // minidl's pool all the time, libraries at one thread
  OpenMP,    // the previous behaviour: OpenMP regions, libraries always at cpu_threads()
};

/// The backend parallel_for & co. use (process-wide).
ParallelBackend parallel_backend();
/// Changes it. Call between training steps, not from inside a parallel loop.
void set_parallel_backend(ParallelBackend backend);
const char* parallel_backend_name(ParallelBackend backend);

/// The number of CPU threads minidl's loops use, the caller included (>= 1). Starts at
/// omp_get_max_threads() (OMP_NUM_THREADS, else the cores); set_cpu_threads changes it.
int cpu_threads();

/// The threads OpenBLAS and oneDNN are given on the thread that runs the loops:
/// cpu_threads(), or 1 while parallel_contended().
int library_threads();

/// The threads minidl's loops run on now, the caller included: cpu_threads(), except while
/// the Adaptive backend finds the machine busy: then the CPUs the other processes leave
/// free (at least 1; the header comment, "width").
int loop_threads();

/// Whether loops currently run on the pool with the libraries at one thread: always with
/// the Pool backend, never with OpenMP, while the machine looks busy with Adaptive.
bool parallel_contended();

/// Whether the calling thread is inside a parallel loop (of the pool or an OpenMP region),
/// where further calls run inline.
bool in_parallel_region();

namespace parallel_detail {

/// A non-owning reference to a callable void(std::int64_t, std::int64_t).
struct RangeFn {
  void (*call)(const void* ctx, std::int64_t begin, std::int64_t end);
  const void* ctx;
};

/// Runs chunks [c * grain, ...) for c < chunks of [0, n) on the pool (see the header
/// comment). Requires grain >= 1, n > 0.
void run(std::int64_t n, std::int64_t grain, RangeFn fn);

/// Sets the calling thread's OpenMP thread count (which OpenBLAS and oneDNN follow) to n
/// for a scope, and puts the previous count back.
class ScopedLibraryThreads {
 public:
  explicit ScopedLibraryThreads(int n);
  ~ScopedLibraryThreads();
  ScopedLibraryThreads(const ScopedLibraryThreads&) = delete;
  ScopedLibraryThreads& operator=(const ScopedLibraryThreads&) = delete;

 private:
  int saved_;
};

/// set_cpu_threads's part here (core/info.cpp calls it).
void set_threads(int n);

/// The busy machine's width: min(threads, cpus - round(other_busy_cpus)), at least 1.
int busy_width(int threads, int cpus, double other_busy_cpus);

/// The busy and total time (USER_HZ ticks) of some CPUs, summed: busy = user + nice + system +
/// irq + softirq + steal (steal: time the hypervisor gave this CPU to another machine), total
/// = busy + idle + iowait.
struct CpuTicks {
  std::int64_t busy = 0, total = 0;
  int cpus = 0;  // how many CPUs' lines were summed
};
/// Sums the "cpu<N>" lines of /proc/stat's text for the CPUs N with cpus[N] true (lines of
/// other CPUs, the "cpu" total and malformed lines are skipped).
CpuTicks cpu_ticks(std::string_view proc_stat, const std::vector<bool>& cpus);
/// The CPUs other processes kept busy between two readings of the same CPUs: their busy
/// share times their count, less `own_cpus` (this process's CPU time over the wall time), at
/// least 0; -1 if the readings do not compare (other CPUs, no time between them).
double other_busy_cpus(const CpuTicks& before, const CpuTicks& after, double own_cpus);
/// Measures other_busy_cpus over the next `milliseconds` (the caller sleeps), or -1 where
/// Linux's /proc/stat cannot tell.
double measure_other_busy_cpus(int milliseconds);
/// Test hook: n >= 0 makes the estimate n (the width then follows from it); n < 0 measures.
void set_other_busy_cpus_for_testing(double n);

/// Test hook: while set, worker `index` (0-based, not the caller) sleeps `microseconds`
/// each time it wakes up for a loop, before it claims a chunk: a thread the scheduler has
/// descheduled. In the Adaptive backend's OpenMP regions (where the sleep is at most 2 ms)
/// only every `every`-th region stalls. set_stalled_worker_for_testing(-1, 0) clears it
/// (and ends a stall early).
void set_stalled_worker_for_testing(int index, int microseconds, int every = 1);
/// How many such stalls have ended.
std::int64_t stalls_finished();

/// Statistics for tests and benchmarks: loops run on the pool since start, chunks run by
/// workers (not the caller), and switches of the Adaptive backend between quiet and busy.
std::int64_t loops_run();
std::int64_t chunks_run_by_workers();
std::int64_t contended_switches();
/// Why the Adaptive backend called the machine busy, counted since start: late threads,
/// or threads waiting for a CPU (run delay). run_delay_readable(): whether this system
/// reports a thread's run delay (/proc/thread-self/schedstat) at all.
std::int64_t busy_calls_from_lateness();
std::int64_t busy_calls_from_run_delay();
bool run_delay_readable();
/// Test hook: which of the two signals may call the machine busy (both by default).
void set_busy_signals_for_testing(bool lateness, bool run_delay);

}  // namespace parallel_detail

/// A grain for a loop whose every index costs about `work_per_index` elements: enough
/// indices for `target_work` elements per chunk (at least 1), so that short rows are
/// batched and long ones run one per chunk.
constexpr std::int64_t grain_for(std::int64_t work_per_index, std::int64_t target_work) {
  const std::int64_t g = target_work / (work_per_index > 1 ? work_per_index : 1);
  return g > 1 ? g : 1;
}

/// The chunk size parallel_for cuts a loop of more than `grain` indices into: grain / 4
/// (at least 1), so that the threads get even shares (a loop of 3 grains is 12 chunks,
/// not 3, which two threads would split 2 : 1).
constexpr std::int64_t parallel_chunk(std::int64_t grain) { return grain >= 4 ? grain / 4 : 1; }

/// body(begin, end) for consecutive ranges that together cover [0, n) exactly once: one
/// call body(0, n) on the calling thread when n <= grain (too little work for threads to
/// pay for themselves), else ranges made of whole chunks of parallel_chunk(grain) indices
/// (chunk c = [c * chunk, min(n, (c + 1) * chunk))), in parallel. n <= 0 does nothing.
/// grain < 1 is taken as 1. Results must not depend on how [0, n) is cut (elementwise
/// loops); use parallel_chunks / parallel_reduce when they do.
template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n <= grain) {
    body(std::int64_t{0}, n);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  parallel_detail::run(n, parallel_chunk(grain),
                       {[](const void* ctx, std::int64_t b, std::int64_t e) {
                          (*static_cast<Fn*>(const_cast<void*>(ctx)))(b, e);
                        },
                        &body});
}

/// body(c) for every c in [0, chunks), exactly once each, in parallel (one index per
/// chunk: for loops whose iterations are large, or whose per-index work must not be
/// merged with its neighbours').
template <class F>
void parallel_chunks(std::int64_t chunks, F&& body) {
  if (chunks <= 0) return;
  if (chunks == 1) {
    body(std::int64_t{0});
    return;
  }
  using Fn = std::remove_reference_t<F>;
  parallel_detail::run(chunks, 1,
                       {[](const void* ctx, std::int64_t b, std::int64_t e) {
                          for (std::int64_t c = b; c < e; ++c)
                            (*static_cast<Fn*>(const_cast<void*>(ctx)))(c);
                        },
                        &body});
}
/// sum_{c < chunks} body(c * grain, min(n, (c + 1) * grain)) with the chunk sums (double)
/// added in chunk order on the calling thread: the bits do not depend on the thread count
/// or on which thread ran which chunk. n <= 0 gives 0.
template <class F>
double parallel_reduce(std::int64_t n, std::int64_t grain, F&& body);

}  // namespace minidl

template <class F>
double minidl::parallel_reduce(std::int64_t n, std::int64_t grain, F&& body) {
  if (n <= 0) return 0.0;
  if (grain < 1) grain = 1;
  const std::int64_t chunks = (n + grain - 1) / grain;
  std::vector<double> partial(static_cast<std::size_t>(chunks));
  parallel_chunks(chunks, [&](std::int64_t c) {
    const std::int64_t end = c + 1 < chunks ? (c + 1) * grain : n;
    partial[static_cast<std::size_t>(c)] = body(c * grain, end);
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}
