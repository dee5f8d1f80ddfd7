// The thread pool of core/parallel.hpp.
//
// One job at a time. A job is published in a slot of atomics: the loop's callable (a
// function pointer and a context), n, grain, the chunk count, and one 64-bit word `state_`
// = (generation << 32) | next-chunk. Chunks are claimed by compare-and-swap on `state_`,
// which also checks the generation, so a worker that read the slot of an older job can
// never claim a chunk of a newer one with the older job's callable. The caller publishes
// a job in three steps: state_ = (g, kClosed) (nothing claimable), the slot's fields,
// state_ = (g, 0). It claims chunks itself, then waits (spin, then futex) until
// `done_` == chunks: only chunks already claimed can be pending, and those are being run.
//
// Idle workers spin on `wake_` (the last published generation) for kSpinMicroseconds, then
// sleep on it with futex(FUTEX_WAIT); the caller wakes sleepers after publishing.
//
// The Adaptive backend watches its OpenMP regions two ways, and calls the machine busy on
// either (then the loops go to the pool and the libraries to one thread, for a hold that
// doubles from 0.1 s to 2 s while the machine stays busy; then OpenMP is tried again):
//   - lateness: each region records when every thread entered it; one that entered more
//     than kLateMicroseconds after the caller opened it (far longer than a spinning or
//     futex-woken thread takes on an idle core) makes the region late. Busy: two late
//     regions within kLateWindowUs. (Two in a row would almost never come: the region
//     after a late one finds the late thread in the time slice it has just been given.
//     One alone is not enough, even while trying OpenMP again: on a machine that is
//     merely loaded now and then, single late regions come often enough to keep every
//     try from succeeding.)
//   - run delay: every thread of a region reads its own scheduler run delay (the time it
//     was ready to run and waited for a CPU) at most every kSampleUs, and the caller sums
//     the team's over windows of kWindowUs. Busy: more than 1/kBusyShare of two windows in
//     a row (of one, in the first kProbeUs of a try). This sees what lateness cannot: the
//     calling thread itself descheduled in the middle of a region, its team waiting at the
//     barrier. On an idle machine the run delay stays near zero; a daemon waking now and
//     then fills one window at most.
// Measured (bench/train_bench.cpp, cpu/mlp_sgd_contended/128, the old rule was two late
// regions in a row): a try of OpenMP on the busy machine lasted up to 375 ms before it
// went back to the pool (under 40 ms now).
#include "parallel.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <omp.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "error.hpp"

namespace minidl {

namespace {

constexpr std::int64_t kSpinMicroseconds = 50;
constexpr std::int64_t kLateMicroseconds = 300;
constexpr std::int64_t kHoldMinUs = 100'000, kHoldMaxUs = 2'000'000;
constexpr std::int64_t kLateWindowUs = 50'000, kProbeUs = 60'000;
// Run delay (time a thread was ready but waited for a CPU): each thread of an OpenMP
// region reads its own at most every kSampleUs; the caller looks at the team's total every
// kWindowUs and calls the machine busy when it exceeds 1/kBusyShare of the window.
constexpr std::int64_t kSampleUs = 4'000, kWindowUs = 20'000, kBusyShare = 4;
// The CPUs other processes keep busy (the pool's width on a busy machine) are measured over
// windows of at least kWidthSampleUs, and of at least kWidthCostShare times what the last
// reading took (core/parallel.hpp, "width").
constexpr std::int64_t kWidthSampleUs = 100'000, kWidthCostShare = 100;
constexpr std::int64_t kNeverUs = std::numeric_limits<std::int64_t>::min() / 2;
constexpr std::uint32_t kClosed = 0xFFFFFFFFu;
constexpr std::int64_t kMaxChunks = 0x7FFFFFFF;

using Clock = std::chrono::steady_clock;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

thread_local bool t_in_region = false;

using OmpThreadsScope = parallel_detail::ScopedLibraryThreads;

class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool(omp_get_max_threads());  // never destroyed: workers may
    return *pool;                                         // outlive static destructors
  }

  int threads() const { return threads_.load(std::memory_order_relaxed); }
  // The threads that take part in a loop, the caller included (1..threads()): all of them,
  // except while the Adaptive backend narrows the pool on a busy machine.
  int active() const { return active_.load(std::memory_order_relaxed); }
  void set_active(int n) {
    n = n < 1 ? 1 : (n > threads() ? threads() : n);
    if (active_.exchange(n, std::memory_order_seq_cst) != n) {
      parked_.fetch_add(1, std::memory_order_seq_cst);  // parked workers look again
      futex_wake_all(parked_);
    }
  }
  int stall_us() const { return stall_us_.load(std::memory_order_relaxed); }
  int stall_index() const { return stall_index_.load(std::memory_order_relaxed); }

  void set_threads(int n) {
    std::lock_guard<std::mutex> lock(config_mutex_);
    if (n == threads()) return;
    stop_workers();
    threads_.store(n, std::memory_order_relaxed);
    active_.store(n, std::memory_order_relaxed);
    start_workers();
  }

  void run(std::int64_t n, std::int64_t grain, parallel_detail::RangeFn fn);

  void set_stall(int index, int us, int every) {
    stall_index_.store(index, std::memory_order_relaxed);
    stall_every_.store(every < 1 ? 1 : every, std::memory_order_relaxed);
    stall_us_.store(us, std::memory_order_relaxed);
  }
  // Whether the next OpenMP region of the Adaptive backend stalls (every stall_every_-th).
  bool stall_this_region() {
    return stall_us() > 0 &&
           omp_regions_.fetch_add(1, std::memory_order_relaxed) %
                   stall_every_.load(std::memory_order_relaxed) ==
               0;
  }

  std::atomic<std::int64_t> loops_{0}, worker_chunks_{0}, stalls_{0};

 private:
  explicit Pool(int threads) {
    threads_.store(threads < 1 ? 1 : threads, std::memory_order_relaxed);
    active_.store(this->threads(), std::memory_order_relaxed);
    start_workers();
  }

  void start_workers() {
    stop_.store(false, std::memory_order_relaxed);
    const int workers = threads() - 1;
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this, i] { worker_main(i); });
  }

  void stop_workers() {
    stop_.store(true, std::memory_order_seq_cst);
    wake_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(wake_);
    parked_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(parked_);
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

  void worker_main(int index);
  // Claims and runs chunks of generation `gen` until none is left. Returns how many it ran.
  // A worker (count_join) adds itself to joined_ before its first chunk is counted done.
  std::int64_t work(std::uint32_t gen, bool count_join);
  void run_chunk(std::int64_t c, std::int64_t n, std::int64_t grain, parallel_detail::RangeFn fn);

  std::atomic<int> threads_{1};
  std::atomic<int> active_{1};
  std::atomic<std::uint32_t> parked_{0};  // futex word of workers beyond active()
  std::mutex config_mutex_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> busy_{false};  // a job is running (one at a time)

  // The job slot.
  std::atomic<std::uint64_t> state_{kClosed};
  std::atomic<void (*)(const void*, std::int64_t, std::int64_t)> call_{nullptr};
  std::atomic<const void*> ctx_{nullptr};
  std::atomic<std::int64_t> n_{0}, grain_{0}, chunks_{0};
  std::atomic<std::uint32_t> done_{0};
  std::atomic<std::uint32_t> joined_{0};  // workers that claimed a chunk of this job
  std::atomic<std::uint32_t> caller_sleeping_{0};
  std::atomic<std::uint32_t> wake_{0};  // futex word of idle workers
  std::atomic<int> sleepers_{0};
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;

  std::atomic<int> stall_index_{-1}, stall_us_{0}, stall_every_{1};
  std::atomic<std::int64_t> omp_regions_{0};
};

void Pool::run_chunk(std::int64_t c, std::int64_t n, std::int64_t grain,
                     parallel_detail::RangeFn fn) {
  if (!failed_.load(std::memory_order_relaxed)) {
    const std::int64_t begin = c * grain;
    const std::int64_t end = n - begin > grain ? begin + grain : n;
    try {
      fn.call(fn.ctx, begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
}

std::int64_t Pool::work(std::uint32_t gen, bool count_join) {
  std::int64_t ran = 0;
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<std::uint32_t>(s >> 32) != gen) return ran;
    const std::uint32_t next = static_cast<std::uint32_t>(s);
    if (next == kClosed) return ran;
    // The slot's fields, read before the claim: if the claim succeeds, the generation was
    // still `gen` at that moment, so they were `gen`'s.
    const std::int64_t chunks = chunks_.load(std::memory_order_relaxed);
    if (static_cast<std::int64_t>(next) >= chunks) return ran;
    const parallel_detail::RangeFn fn{call_.load(std::memory_order_relaxed),
                                      ctx_.load(std::memory_order_relaxed)};
    const std::int64_t n = n_.load(std::memory_order_relaxed);
    const std::int64_t grain = grain_.load(std::memory_order_relaxed);
    if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
      continue;  // s now holds the current state
    run_chunk(next, n, grain, fn);
    if (ran++ == 0 && count_join) joined_.fetch_add(1, std::memory_order_relaxed);
    const std::uint32_t finished = done_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (finished == static_cast<std::uint32_t>(chunks) &&
        caller_sleeping_.load(std::memory_order_seq_cst) != 0)
      futex_wake_all(done_);
    s = state_.load(std::memory_order_acquire);
  }
}

void Pool::worker_main(int index) {
  t_in_region = true;      // a loop body that calls parallel_for runs it inline
  omp_set_num_threads(1);  // and OpenBLAS / oneDNN called from a chunk run on this thread
  std::uint32_t seen = wake_.load(std::memory_order_acquire);
  for (;;) {
    // Beyond the active width: sleep until the width or the pool changes. (A worker that
    // read the width just before it shrank may still take part in a loop or two; chunks
    // are claimed, so any number of threads is correct.)
    const std::uint32_t parked = parked_.load(std::memory_order_seq_cst);
    if (index + 1 >= active() && !stop_.load(std::memory_order_seq_cst)) {
      futex_wait(parked_, parked);
      seen = wake_.load(std::memory_order_acquire);  // loops published meanwhile are done
      continue;
    }
    if (stop_.load(std::memory_order_acquire)) return;
    // Wait for a new generation: spin for a bounded time, then sleep.
    std::uint32_t now = wake_.load(std::memory_order_acquire);
    if (now == seen) {
      const auto deadline = Clock::now() + std::chrono::microseconds(kSpinMicroseconds);
      int spins = 0;
      while ((now = wake_.load(std::memory_order_acquire)) == seen &&
             !stop_.load(std::memory_order_relaxed)) {
        cpu_relax();
        if (++spins % 64 == 0 && Clock::now() > deadline) break;
      }
      // (stop_ is checked too: a worker that started after stop_workers's wake-up read
      // the final wake_ as `seen`.)
      while (now == seen && !stop_.load(std::memory_order_acquire)) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        if (wake_.load(std::memory_order_seq_cst) == seen && !stop_.load(std::memory_order_seq_cst))
          futex_wait(wake_, seen);
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        now = wake_.load(std::memory_order_acquire);
      }
    }
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    if (stall_us_.load(std::memory_order_relaxed) > 0 &&
        stall_index_.load(std::memory_order_relaxed) == index) {
      // Descheduled, as far as the pool can tell; ends early when the hook is cleared.
      const auto until = Clock::now() + std::chrono::microseconds(stall_us_.load());
      while (stall_us_.load(std::memory_order_relaxed) > 0 && Clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      stalls_.fetch_add(1, std::memory_order_relaxed);
    }
    // The generation the caller published with this wake-up (state_'s upper half).
    const std::uint32_t gen =
        static_cast<std::uint32_t>(state_.load(std::memory_order_acquire) >> 32);
    const std::int64_t ran = work(gen, true);
    if (ran > 0) worker_chunks_.fetch_add(ran, std::memory_order_relaxed);
  }
}

void Pool::run(std::int64_t n, std::int64_t grain, parallel_detail::RangeFn fn) {
  std::int64_t chunks = (n + grain - 1) / grain;
  bool expected = false;
  if (active() <= 1 || chunks <= 1 || t_in_region ||
      !busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
    // Inline: one thread (or a width of one), one chunk, a nested call, or another
    // thread's job is running.
    fn.call(fn.ctx, 0, n);
    return;
  }
  if (chunks > kMaxChunks) {  // keep the chunk index in 31 bits (boundaries stay fixed by n)
    grain = (n + kMaxChunks - 1) / kMaxChunks;
    chunks = (n + grain - 1) / grain;
  }
  struct Region {
    Region() { t_in_region = true; }
    ~Region() { t_in_region = false; }
  } region;
  OmpThreadsScope one_thread(1);  // libraries called from a chunk on this thread
  // Publish: close, fill the slot, open.
  const std::uint64_t old = state_.load(std::memory_order_relaxed);
  const std::uint32_t gen = static_cast<std::uint32_t>(old >> 32) + 1;
  state_.store((static_cast<std::uint64_t>(gen) << 32) | kClosed, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_release);
  call_.store(fn.call, std::memory_order_relaxed);
  ctx_.store(fn.ctx, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  grain_.store(grain, std::memory_order_relaxed);
  chunks_.store(chunks, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  joined_.store(0, std::memory_order_relaxed);
  failed_.store(false, std::memory_order_relaxed);
  error_ = nullptr;
  state_.store(static_cast<std::uint64_t>(gen) << 32, std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake_all(wake_);

  // Take part.
  work(gen, false);

  // Wait for the chunks the workers claimed.
  const std::uint32_t total = static_cast<std::uint32_t>(chunks);
  if (done_.load(std::memory_order_acquire) != total) {
    int spins = 0;
    while (done_.load(std::memory_order_acquire) != total && ++spins < 4000) cpu_relax();
    for (std::uint32_t d; (d = done_.load(std::memory_order_seq_cst)) != total;) {
      caller_sleeping_.store(1, std::memory_order_seq_cst);
      if (done_.load(std::memory_order_seq_cst) == d) futex_wait(done_, d);
      caller_sleeping_.store(0, std::memory_order_relaxed);
    }
  }
  // Close the job: a late worker finds nothing to claim.
  state_.store((static_cast<std::uint64_t>(gen) << 32) | kClosed, std::memory_order_release);

  loops_.fetch_add(1, std::memory_order_relaxed);
  std::exception_ptr error = error_;
  error_ = nullptr;
  busy_.store(false, std::memory_order_release);
  if (error) std::rethrow_exception(error);
}

std::atomic<int> g_backend{static_cast<int>(ParallelBackend::Adaptive)};

// The adaptive backend's state (see the header): whether the machine looks busy, when to
// try OpenMP again, and how long the last busy spell was held.
struct Adaptive {
  std::atomic<bool> contended{false};
  std::atomic<std::int64_t> probe_at_us{0};  // steady-clock time to go back to OpenMP
  std::atomic<std::int64_t> hold_us{kHoldMinUs};
  std::atomic<std::int64_t> quiet_since_us{kNeverUs};  // when OpenMP was last tried again
  std::atomic<std::int64_t> last_late_us{kNeverUs};    // the last late region's time
  std::atomic<std::int64_t> window_start_us{kNeverUs};  // of the run-delay window
  std::atomic<int> busy_windows{0};                       // busy windows in a row
  std::atomic<std::int64_t> busy_from_lateness{0}, busy_from_run_delay{0};  // statistics
  std::atomic<std::int64_t> switches{0};
  // The width on a busy machine: the CPUs other processes kept busy in the last window,
  // when the next window ends, and a test override (>= 0: that many, not measured).
  std::atomic<double> others{0.0};
  std::atomic<std::int64_t> next_width_us{kNeverUs};
  std::atomic<bool> sampling{false};
  std::atomic<double> others_for_testing{-1.0};
};

Adaptive& adaptive() {
  static Adaptive a;
  return a;
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

// The run delay of the team's threads: the second field of /proc/thread-self/schedstat
// (nanoseconds spent runnable but not running, since the thread started; Linux's
// sched_info, Documentation/scheduler/sched-stats.rst). Each thread reads its own, at most
// every kSampleUs, and adds what grew since its last reading in the same epoch to
// g_run_delay_ns; a new epoch (OpenMP tried again) discards what grew in between. Where the
// file cannot be read (not Linux, no sched_info), nothing is added and lateness alone
// decides.
std::atomic<std::int64_t> g_run_delay_ns{0};
std::atomic<bool> g_use_lateness{true}, g_use_run_delay{true};  // tests turn one off
std::atomic<std::uint32_t> g_run_delay_epoch{0};

// The run delay (ns) in an open /proc/thread-self/schedstat ("<on cpu> <run delay>
// <slices>"), or -1 if it cannot be read.
std::int64_t read_run_delay_ns(int fd) {
  char buf[96];
  const ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
  if (got <= 0) return -1;
  buf[got] = '\0';
  char* p = buf;
  std::strtoll(p, &p, 10);  // time on the CPU
  char* end = p;
  const std::int64_t delay = std::strtoll(p, &end, 10);
  return end != p && delay >= 0 ? delay : -1;
}

int open_schedstat() { return open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC); }

struct RunDelaySampler {
  int fd = -1;  // -2: unavailable
  std::uint32_t epoch = 0;
  std::int64_t last_ns = -1;
  std::int64_t next_us = 0;

  ~RunDelaySampler() {
    if (fd >= 0) close(fd);
  }

  void sample(std::int64_t now) {
    if (now < next_us || fd == -2) return;
    next_us = now + kSampleUs;
    if (fd == -1 && (fd = open_schedstat()) < 0) {
      fd = -2;
      return;
    }
    const std::int64_t delay = read_run_delay_ns(fd);
    if (delay < 0) return;
    const std::uint32_t e = g_run_delay_epoch.load(std::memory_order_relaxed);
    if (last_ns >= 0 && e == epoch && delay > last_ns)
      g_run_delay_ns.fetch_add(delay - last_ns, std::memory_order_relaxed);
    epoch = e;
    last_ns = delay;
  }
};

thread_local RunDelaySampler t_run_delay;

// OpenMP `parallel` over the chunks (static schedule), exceptions caught per chunk and
// rethrown on the caller. Returns whether a thread entered the region later than
// kLateMicroseconds after the caller opened it (a descheduled thread).
bool omp_loop(std::int64_t n, std::int64_t grain, parallel_detail::RangeFn fn, bool measure,
              int stall_thread, int stall_us) {
  const std::int64_t chunks = (n + grain - 1) / grain;
  std::atomic<std::int64_t> latest{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  const auto t0 = Clock::now();
#pragma omp parallel if (chunks > 1)
  {
    if (stall_us > 0 && omp_get_thread_num() == stall_thread)
      std::this_thread::sleep_for(std::chrono::microseconds(stall_us));
    if (measure) {
      const auto t = Clock::now();
      t_run_delay.sample(
          std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
      const std::int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(t - t0).count();
      std::int64_t seen = latest.load(std::memory_order_relaxed);
      while (us > seen && !latest.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
      }
    }
#pragma omp for schedule(static)
    for (std::int64_t c = 0; c < chunks; ++c) {
      if (failed.load(std::memory_order_relaxed)) continue;
      const std::int64_t begin = c * grain;
      try {
        fn.call(fn.ctx, begin, n - begin > grain ? begin + grain : n);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
  }
  if (error) std::rethrow_exception(error);
  return latest.load(std::memory_order_relaxed) > kLateMicroseconds;
}

// The CPUs this process may run on (its affinity), or false where Linux cannot tell.
bool affinity(cpu_set_t& set) {
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof set, &set) == 0;
}

// Those CPUs as a mask by CPU number (empty if unknown), and their count.
std::vector<bool> affinity_mask() {
  cpu_set_t set;
  if (!affinity(set)) return {};
  std::vector<bool> mask(CPU_SETSIZE, false);
  for (int c = 0; c < CPU_SETSIZE; ++c) mask[static_cast<std::size_t>(c)] = CPU_ISSET(c, &set);
  return mask;
}

int affinity_cpus() {
  cpu_set_t set;
  return std::max(1, affinity(set) ? CPU_COUNT(&set) : omp_get_num_procs());
}

// /proc/stat's per-CPU lines into `text` (the file up to its "intr" line), or false.
bool read_proc_stat(std::string& text) {
  text.clear();
  const int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char chunk[4096];
  ssize_t got;
  while ((got = read(fd, chunk, sizeof chunk)) > 0) {
    const std::size_t from = text.size() > 5 ? text.size() - 5 : 0;  // "\nintr" across chunks
    text.append(chunk, static_cast<std::size_t>(got));
    if (text.find("\nintr", from) != std::string::npos) break;
  }
  close(fd);
  return !text.empty();
}

std::int64_t process_cpu_ns() {
  timespec t{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) != 0) return -1;
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// One reading for the width: the ticks of this process's CPUs, this process's CPU time and
// the wall clock. Used only under Adaptive::sampling.
struct WidthReading {
  parallel_detail::CpuTicks ticks;
  std::int64_t cpu_ns = -1, wall_ns = 0;
};

bool take_reading(WidthReading& r, std::string& buffer) {
  const std::vector<bool> mask = affinity_mask();
  if (mask.empty() || !read_proc_stat(buffer)) return false;
  r.cpu_ns = process_cpu_ns();
  r.wall_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  r.ticks = parallel_detail::cpu_ticks(buffer, mask);
  return r.cpu_ns >= 0 && r.ticks.cpus > 0;
}

// The CPUs other processes kept busy between two readings, or -1 if they do not compare.
double others_between(const WidthReading& before, const WidthReading& after) {
  const double wall = static_cast<double>(after.wall_ns - before.wall_ns);
  if (wall <= 0.0) return -1.0;
  return parallel_detail::other_busy_cpus(before.ticks, after.ticks,
                                          static_cast<double>(after.cpu_ns - before.cpu_ns) / wall);
}

struct WidthSampler {
  WidthReading last;
  bool have_last = false;
  std::string buffer;
};

WidthSampler& width_sampler() {
  static WidthSampler s;
  return s;
}

// Keeps the estimate of the CPUs other processes keep busy (Adaptive::others) current: a new
// window of /proc/stat at most every kWidthSampleUs (and at most every kWidthCostShare times
// what the last reading took), on the quiet machine too, so that the estimate is ready when
// the machine is called busy. While busy (and at the switch, `fresh`), the pool's width
// follows it.
void update_width(std::int64_t now, bool fresh) {
  Adaptive& a = adaptive();
  if (!fresh && now < a.next_width_us.load(std::memory_order_relaxed)) return;
  if (a.sampling.exchange(true, std::memory_order_acquire)) return;  // another thread is at it
  const double forced = a.others_for_testing.load(std::memory_order_relaxed);
  if (forced >= 0.0) {
    a.others.store(forced, std::memory_order_relaxed);
  } else if (now >= a.next_width_us.load(std::memory_order_relaxed)) {
    a.next_width_us.store(now + kWidthSampleUs, std::memory_order_relaxed);
    WidthSampler& s = width_sampler();
    WidthReading reading;
    if (take_reading(reading, s.buffer)) {
      const double others = s.have_last ? others_between(s.last, reading) : -1.0;
      if (others >= 0.0) a.others.store(others, std::memory_order_relaxed);
      s.last = reading;
      s.have_last = true;
    }
    // /proc/stat grows with the CPUs (its generation too): on a large machine, read it less
    // often, so that the readings stay under 1% of a thread.
    const std::int64_t cost = now_us() - now;
    if (cost * kWidthCostShare > kWidthSampleUs)
      a.next_width_us.store(now + cost * kWidthCostShare, std::memory_order_relaxed);
  }
  if (fresh || a.contended.load(std::memory_order_relaxed)) {
    Pool& pool = Pool::get();
    pool.set_active(parallel_detail::busy_width(pool.threads(), affinity_cpus(),
                                                a.others.load(std::memory_order_relaxed)));
  }
  a.sampling.store(false, std::memory_order_release);
}

// A new run-delay window from `now`: what the threads waited before is not counted.
void restart_run_delay(std::int64_t now) {
  g_run_delay_epoch.fetch_add(1, std::memory_order_relaxed);
  g_run_delay_ns.store(0, std::memory_order_relaxed);
  adaptive().window_start_us.store(now, std::memory_order_relaxed);
  adaptive().busy_windows.store(0, std::memory_order_relaxed);
}

void set_contended(bool on) {
  Adaptive& a = adaptive();
  const std::int64_t now = now_us();
  if (on) {
    // Held longer when the last try of OpenMP came soon after the previous spell.
    const std::int64_t quiet_for = now - a.quiet_since_us.load(std::memory_order_relaxed);
    std::int64_t hold = a.hold_us.load(std::memory_order_relaxed);
    hold = quiet_for < kHoldMaxUs ? std::min(hold * 2, kHoldMaxUs) : kHoldMinUs;
    a.hold_us.store(hold, std::memory_order_relaxed);
    a.probe_at_us.store(now + hold, std::memory_order_relaxed);
    update_width(now, /*fresh=*/true);
  } else {
    a.quiet_since_us.store(now, std::memory_order_relaxed);
    restart_run_delay(now);
    Pool::get().set_active(cpu_threads());
  }
  a.contended.store(on, std::memory_order_relaxed);
  a.switches.fetch_add(1, std::memory_order_relaxed);
  // The libraries' thread count on this thread (the one that runs the training).
  omp_set_num_threads(on ? 1 : cpu_threads());
}

}  // namespace

ParallelBackend parallel_backend() {
  return static_cast<ParallelBackend>(g_backend.load(std::memory_order_relaxed));
}

void set_parallel_backend(ParallelBackend backend) {
  // The pool first: it takes its thread count from omp_get_max_threads(), which the last
  // line lowers to 1 for the Pool backend.
  Pool& pool = Pool::get();
  pool.set_active(pool.threads());
  g_backend.store(static_cast<int>(backend), std::memory_order_relaxed);
  Adaptive& a = adaptive();
  a.contended.store(false, std::memory_order_relaxed);
  a.hold_us.store(kHoldMinUs, std::memory_order_relaxed);
  a.quiet_since_us.store(kNeverUs, std::memory_order_relaxed);
  a.last_late_us.store(kNeverUs, std::memory_order_relaxed);
  restart_run_delay(now_us());
  omp_set_num_threads(library_threads());
}

const char* parallel_backend_name(ParallelBackend backend) {
  switch (backend) {
    case ParallelBackend::Adaptive:
      return "adaptive";
    case ParallelBackend::Pool:
      return "pool";
    case ParallelBackend::OpenMP:
      return "openmp";
  }
  return "?";
}

int cpu_threads() { return Pool::get().threads(); }

int loop_threads() {
  switch (parallel_backend()) {
    case ParallelBackend::Pool:
    case ParallelBackend::OpenMP:
      return cpu_threads();
    case ParallelBackend::Adaptive:
      return parallel_contended() ? Pool::get().active() : cpu_threads();
  }
  return cpu_threads();
}

bool parallel_contended() {
  switch (parallel_backend()) {
    case ParallelBackend::Pool:
      return true;
    case ParallelBackend::OpenMP:
      return false;
    case ParallelBackend::Adaptive:
      return adaptive().contended.load(std::memory_order_relaxed);
  }
  return false;
}

int library_threads() { return parallel_contended() ? 1 : cpu_threads(); }

bool in_parallel_region() { return t_in_region || omp_in_parallel(); }

namespace parallel_detail {

int busy_width(int threads, int cpus, double other_busy_cpus) {
  const int free_cpus = cpus - static_cast<int>(std::lround(other_busy_cpus));
  return std::max(1, std::min(threads, free_cpus));
}

CpuTicks cpu_ticks(std::string_view proc_stat, const std::vector<bool>& cpus) {
  CpuTicks t;
  std::size_t pos = 0;
  while (pos < proc_stat.size()) {
    std::size_t eol = proc_stat.find('\n', pos);
    if (eol == std::string_view::npos) eol = proc_stat.size();
    const std::string_view line = proc_stat.substr(pos, eol - pos);
    pos = eol + 1;
    // "cpu<N> user nice system idle iowait irq softirq steal guest guest_nice" (USER_HZ
    // ticks; guest time is already in user and nice). The first line, "cpu", is the sum.
    if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || line[3] < '0' || line[3] > '9')
      continue;
    const char* p = line.data() + 3;
    const char* end = line.data() + line.size();
    unsigned long cpu = 0;
    auto [after_cpu, ec] = std::from_chars(p, end, cpu);
    if (ec != std::errc() || cpu >= cpus.size() || !cpus[cpu]) continue;
    p = after_cpu;
    std::int64_t field[8] = {};
    int fields = 0;
    while (fields < 8) {
      while (p < end && *p == ' ') ++p;
      std::int64_t value = 0;
      auto [next, err] = std::from_chars(p, end, value);
      if (err != std::errc() || value < 0) break;  // the fields end here
      field[fields++] = value;
      p = next;
    }
    // Not a line of this format, or counts no machine reaches (2^52 ticks: 10^6 years at
    // 100 a second), which keeps the sums below from overflowing.
    constexpr std::int64_t kMaxTicks = std::int64_t{1} << 52;
    if (fields < 4 || std::any_of(field, field + 8, [](std::int64_t f) { return f > kMaxTicks; }))
      continue;
    if (t.total > std::numeric_limits<std::int64_t>::max() - 8 * kMaxTicks) break;
    const std::int64_t busy = field[0] + field[1] + field[2] + field[5] + field[6] + field[7];
    t.busy += busy;
    t.total += busy + field[3] + field[4];
    ++t.cpus;
  }
  return t;
}

double other_busy_cpus(const CpuTicks& before, const CpuTicks& after, double own_cpus) {
  const std::int64_t total = after.total - before.total, busy = after.busy - before.busy;
  if (before.cpus <= 0 || after.cpus != before.cpus || total <= 0 || busy < 0 || busy > total)
    return -1.0;
  const double all = static_cast<double>(busy) / static_cast<double>(total) * after.cpus;
  return std::max(0.0, all - own_cpus);
}

void set_other_busy_cpus_for_testing(double n) {
  adaptive().others_for_testing.store(n, std::memory_order_relaxed);
}

double measure_other_busy_cpus(int milliseconds) {
  std::string buffer;
  WidthReading before, after;
  if (!take_reading(before, buffer)) return -1.0;
  std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
  if (!take_reading(after, buffer)) return -1.0;
  return others_between(before, after);
}

ScopedLibraryThreads::ScopedLibraryThreads(int n) : saved_(omp_get_max_threads()) {
  Pool::get();  // (as in set_parallel_backend: the pool's count before a scope lowers it)
  if (saved_ != n) omp_set_num_threads(n);
}

ScopedLibraryThreads::~ScopedLibraryThreads() {
  if (omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
}

void run(std::int64_t n, std::int64_t grain, RangeFn fn) {
  Pool& pool = Pool::get();
  const ParallelBackend backend = parallel_backend();
  if (backend == ParallelBackend::OpenMP) {
    omp_loop(n, grain, fn, false, -1, 0);
    return;
  }
  if (t_in_region || omp_in_parallel() || pool.threads() <= 1) {
    fn.call(fn.ctx, 0, n);
    return;
  }
  if (backend == ParallelBackend::Pool) {
    pool.run(n, grain, fn);
    return;
  }
  Adaptive& a = adaptive();
  if (a.contended.load(std::memory_order_relaxed)) {
    const std::int64_t now = now_us();
    if (now < a.probe_at_us.load(std::memory_order_relaxed)) {
      update_width(now, /*fresh=*/false);
      pool.run(n, grain, fn);
      return;
    }
    set_contended(false);  // try OpenMP again
  }
  const bool stall = pool.stall_this_region();
  const bool late = omp_loop(n, grain, fn, true, stall ? pool.stall_index() + 1 : -1,
                             stall ? std::min(pool.stall_us(), 2000) : 0);
  const std::int64_t now = now_us();
  update_width(now, /*fresh=*/false);  // keeps the estimate current for the switch
  const bool probing = now - a.quiet_since_us.load(std::memory_order_relaxed) < kProbeUs;
  bool busy_late = false, busy_waiting = false;
  if (late) {
    const std::int64_t previous = a.last_late_us.exchange(now, std::memory_order_relaxed);
    busy_late = now - previous < kLateWindowUs;
  }
  const std::int64_t start = a.window_start_us.load(std::memory_order_relaxed);
  if (now - start >= kWindowUs) {
    a.window_start_us.store(now, std::memory_order_relaxed);
    const std::int64_t waited_us = g_run_delay_ns.exchange(0, std::memory_order_relaxed) / 1000;
    const int windows = waited_us * kBusyShare > now - start
                            ? a.busy_windows.fetch_add(1, std::memory_order_relaxed) + 1
                            : (a.busy_windows.store(0, std::memory_order_relaxed), 0);
    busy_waiting = windows >= 2 || (probing && windows >= 1);
  }
  busy_late = busy_late && g_use_lateness.load(std::memory_order_relaxed);
  busy_waiting = busy_waiting && g_use_run_delay.load(std::memory_order_relaxed);
  if (busy_late || busy_waiting) {
    (busy_late ? a.busy_from_lateness : a.busy_from_run_delay)
        .fetch_add(1, std::memory_order_relaxed);
    set_contended(true);
  }
}

std::int64_t contended_switches() { return adaptive().switches.load(std::memory_order_relaxed); }
void set_busy_signals_for_testing(bool lateness, bool run_delay) {
  g_use_lateness.store(lateness);
  g_use_run_delay.store(run_delay);
}

std::int64_t busy_calls_from_lateness() { return adaptive().busy_from_lateness.load(); }
std::int64_t busy_calls_from_run_delay() { return adaptive().busy_from_run_delay.load(); }
bool run_delay_readable() {
  const int fd = open_schedstat();
  if (fd < 0) return false;
  const bool ok = read_run_delay_ns(fd) >= 0;
  close(fd);
  return ok;
}

void set_threads(int n) {
  MINIDL_CHECK(n >= 1, ValueError, "set_cpu_threads: need at least one thread, got ", n);
  Pool::get().set_threads(n);
}

void set_stalled_worker_for_testing(int index, int microseconds, int every) {
  Pool::get().set_stall(index, microseconds, every);
}

std::int64_t loops_run() { return Pool::get().loops_.load(); }
std::int64_t chunks_run_by_workers() { return Pool::get().worker_chunks_.load(); }
std::int64_t stalls_finished() { return Pool::get().stalls_.load(); }

}  // namespace parallel_detail

}  // namespace minidl
