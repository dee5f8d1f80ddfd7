// core/parallel.hpp: the pool's contract (every index once, whole chunks, exceptions,
// nesting, one thread), reductions independent of the thread count, and a stalled
// worker that the caller never waits for.
#include "core/parallel.hpp"

#include <gtest/gtest.h>
#include <omp.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/info.hpp"
#include "core/tensor.hpp"
#include "kernels/gemm.hpp"

namespace minidl {
namespace {

// Restores the thread count and the backend a test changed.
class ParallelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    threads_ = cpu_threads();
    backend_ = parallel_backend();
  }
  void TearDown() override {
    parallel_detail::set_stalled_worker_for_testing(-1, 0);
    parallel_detail::set_busy_signals_for_testing(true, true);
    parallel_detail::set_other_busy_cpus_for_testing(-1.0);
    set_parallel_backend(backend_);
    set_cpu_threads(threads_);
  }
  int threads_ = 1;
  ParallelBackend backend_ = ParallelBackend::Adaptive;
};

// Runs parallel_for(n, grain) and checks that every index is covered exactly once, by
// ranges made of whole chunks.
void check_cover(std::int64_t n, std::int64_t grain_asked) {
  const std::int64_t grain = parallel_chunk(grain_asked < 1 ? 1 : grain_asked);
  std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n > 0 ? n : 0));
  std::atomic<int> bad_ranges{0};
  parallel_for(n, grain_asked, [&](std::int64_t b, std::int64_t e) {
    if (b < 0 || e > n || b >= e || b % grain != 0 || (e != n && e % grain != 0)) ++bad_ranges;
    for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
  });
  EXPECT_EQ(bad_ranges.load(), 0) << "n " << n << " grain " << grain;
  for (std::int64_t i = 0; i < n; ++i)
    ASSERT_EQ(hits[static_cast<std::size_t>(i)].load(), 1)
        << "index " << i << " of " << n << ", grain " << grain;
}

TEST_F(ParallelTest, EveryIndexRunsExactlyOnceInWholeChunks) {
  for (ParallelBackend b :
       {ParallelBackend::Pool, ParallelBackend::Adaptive, ParallelBackend::OpenMP}) {
    set_parallel_backend(b);
    EXPECT_EQ(parallel_backend(), b);
    for (int t : {1, 2, 3, 4}) {
      set_cpu_threads(t);
      EXPECT_EQ(cpu_threads(), t);
      for (std::int64_t n : {0, 1, 2, 7, 64, 1000, 100003})
        for (std::int64_t grain : {1, 3, 64, 1000}) check_cover(n, grain);
    }
  }
}

TEST_F(ParallelTest, BackendNames) {
  EXPECT_STREQ(parallel_backend_name(ParallelBackend::Adaptive), "adaptive");
  EXPECT_STREQ(parallel_backend_name(ParallelBackend::Pool), "pool");
  EXPECT_STREQ(parallel_backend_name(ParallelBackend::OpenMP), "openmp");
}

TEST_F(ParallelTest, ZeroAndOneElementRanges) {
  set_cpu_threads(2);
  int calls = 0;
  parallel_for(0, 1, [&](std::int64_t, std::int64_t) { ++calls; });
  parallel_for(-5, 1, [&](std::int64_t, std::int64_t) { ++calls; });
  parallel_chunks(0, [&](std::int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
  std::int64_t got_b = -1, got_e = -1;
  parallel_for(1, 1, [&](std::int64_t b, std::int64_t e) {
    ++calls;
    got_b = b;
    got_e = e;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(got_b, 0);
  EXPECT_EQ(got_e, 1);
  // A grain below 1 is taken as 1.
  check_cover(10, 0);
  check_cover(10, -3);
  EXPECT_EQ(parallel_reduce(0, 4, [](std::int64_t, std::int64_t) { return 1.0; }), 0.0);
}

TEST_F(ParallelTest, ParallelChunksRunsEveryChunkOnce) {
  set_cpu_threads(2);
  std::vector<std::atomic<int>> hits(513);
  parallel_chunks(513, [&](std::int64_t c) { hits[static_cast<std::size_t>(c)]++; });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST_F(ParallelTest, OneThreadRunsEverythingOnTheCaller) {
  set_parallel_backend(ParallelBackend::Pool);
  set_cpu_threads(1);
  const std::int64_t before = parallel_detail::chunks_run_by_workers();
  const std::thread::id me = std::this_thread::get_id();
  std::atomic<int> elsewhere{0};
  for (int rep = 0; rep < 20; ++rep) {
    parallel_for(10000, 7, [&](std::int64_t, std::int64_t) {
      if (std::this_thread::get_id() != me) ++elsewhere;
    });
  }
  EXPECT_EQ(elsewhere.load(), 0);
  EXPECT_EQ(parallel_detail::chunks_run_by_workers(), before);
  EXPECT_THROW(set_cpu_threads(0), ValueError);
  EXPECT_EQ(cpu_threads(), 1);
}

TEST_F(ParallelTest, ExceptionsReachTheCaller) {
  set_cpu_threads(2);
  for (int rep = 0; rep < 60; ++rep) {
    set_parallel_backend(rep % 3 == 0   ? ParallelBackend::Pool
                         : rep % 3 == 1 ? ParallelBackend::Adaptive
                                        : ParallelBackend::OpenMP);
    // Every chunk throws, so whichever thread runs one, the exception is the same.
    try {
      parallel_for(1000, 10, [&](std::int64_t b, std::int64_t) {
        throw std::runtime_error("chunk at " + std::to_string(b) + " failed");
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("failed"), std::string::npos);
    }
    // Only one chunk throws: still rethrown, with its type.
    EXPECT_THROW(parallel_chunks(64,
                                 [&](std::int64_t c) {
                                   if (c == 37) throw ShapeError("chunk 37");
                                 }),
                 ShapeError);
    // And the pool keeps working afterwards.
    check_cover(5000, 10);
  }
}

TEST_F(ParallelTest, NestedCallsRunInlineAndCoverTheirRange) {
  set_cpu_threads(2);
  for (ParallelBackend backend :
       {ParallelBackend::Pool, ParallelBackend::Adaptive, ParallelBackend::OpenMP}) {
    set_parallel_backend(backend);
    EXPECT_FALSE(in_parallel_region());
    std::vector<std::atomic<int>> hits(64 * 100);
    std::atomic<int> outside{0};
    parallel_chunks(64, [&](std::int64_t c) {
      if (!in_parallel_region()) ++outside;
      // OpenBLAS / oneDNN called from inside a loop run on one thread (they run one
      // thread inside an OpenMP region, and follow the OpenMP count on the pool).
      if (omp_get_max_threads() != 1 && !omp_in_parallel()) ++outside;
      parallel_for(100, 7, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(c * 100 + i)]++;
      });
    });
    EXPECT_EQ(outside.load(), 0);
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
    EXPECT_FALSE(in_parallel_region());
    EXPECT_EQ(omp_get_max_threads(), library_threads());
  }
}

// Terms whose double sum depends on the order: 1e16 swallows a following 1.
double term(std::int64_t i) {
  return i % 997 == 0 ? 1e16 : 1.0 + 1e-3 * static_cast<double>(i % 13);
}

TEST_F(ParallelTest, ReductionsAreBitwiseIdenticalAcrossThreadCountsAndRuns) {
  const std::int64_t n = 200003, grain = 4096;
  auto chunk_sum = [](std::int64_t b, std::int64_t e) {
    double s = 0.0;
    for (std::int64_t i = b; i < e; ++i) s += term(i);
    return s;
  };
  // The fixed order, written out: chunks in order, then the chunk sums in order.
  double expect = 0.0;
  for (std::int64_t b = 0; b < n; b += grain) expect += chunk_sum(b, std::min(n, b + grain));
  for (int t : {1, 2, 3, 4}) {
    set_cpu_threads(t);
    for (int rep = 0; rep < 30; ++rep) {
      set_parallel_backend(rep % 3 == 0   ? ParallelBackend::Pool
                           : rep % 3 == 1 ? ParallelBackend::Adaptive
                                          : ParallelBackend::OpenMP);
      const double got = parallel_reduce(n, grain, chunk_sum);
      ASSERT_EQ(std::memcmp(&got, &expect, sizeof(double)), 0)
          << t << " threads, run " << rep << ": " << got << " vs " << expect;
    }
  }
  // The order matters for these terms (so the test can fail): one plain sum differs.
  double plain = 0.0;
  for (std::int64_t i = 0; i < n; ++i) plain += term(i);
  EXPECT_NE(plain, expect);
}

TEST_F(ParallelTest, TheCallerNeverWaitsForAStalledWorker) {
  set_parallel_backend(ParallelBackend::Pool);
  set_cpu_threads(2);
  // Worker 0 sleeps 30 s whenever it wakes for a loop: a descheduled thread.
  parallel_detail::set_stalled_worker_for_testing(0, 30'000'000);
  const std::int64_t worker_chunks = parallel_detail::chunks_run_by_workers();
  const std::int64_t stalls = parallel_detail::stalls_finished();
  std::vector<std::atomic<int>> hits(64);
  for (int rep = 0; rep < 500; ++rep) {
    parallel_for(64, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
    });
  }
  // Every loop finished, all on the caller, while the worker was still in its first stall:
  // no loop waited for it.
  for (auto& h : hits) EXPECT_EQ(h.load(), 500);
  EXPECT_EQ(parallel_detail::chunks_run_by_workers(), worker_chunks);
  EXPECT_EQ(parallel_detail::stalls_finished(), stalls);
}

TEST_F(ParallelTest, LateThreadsMoveTheLoopsToThePoolUntilTheMachineIsQuietAgain) {
  set_parallel_backend(ParallelBackend::Adaptive);
  set_cpu_threads(2);
  // Lateness alone: the test machine's own load (other tests at once) must not decide.
  parallel_detail::set_busy_signals_for_testing(true, false);
  // Nothing else running, as far as the width goes: the pool keeps both threads.
  parallel_detail::set_other_busy_cpus_for_testing(0.0);
  EXPECT_FALSE(parallel_contended());
  EXPECT_EQ(library_threads(), 2);
  EXPECT_EQ(omp_get_max_threads(), 2);
  // The second thread arrives late at every loop (2 ms in an OpenMP region; never on the
  // pool): a machine where another process holds a core.
  parallel_detail::set_stalled_worker_for_testing(0, 30'000'000);
  const std::int64_t switches = parallel_detail::contended_switches();
  for (int rep = 0; rep < 4 && !parallel_contended(); ++rep) check_cover(1000, 10);
  EXPECT_TRUE(parallel_contended());
  EXPECT_EQ(parallel_detail::contended_switches(), switches + 1);
  EXPECT_EQ(library_threads(), 1);
  EXPECT_EQ(loop_threads(), 2);
  EXPECT_EQ(omp_get_max_threads(), 1);  // what OpenBLAS and oneDNN follow on this thread
  // Busy: loops run on the pool, the caller never waits for the stalled worker.
  const std::int64_t pool_loops = parallel_detail::loops_run();
  for (int rep = 0; rep < 20; ++rep) check_cover(1000, 10);
  EXPECT_GE(parallel_detail::loops_run(), pool_loops + 20);
  // Quiet again: after its hold (0.1 s) the backend tries OpenMP, finds every thread on
  // time, and stays there. (Time-based: on a test machine busy with other tests the
  // holds grow to 2 s, and a try can meet two late regions; then the next one is waited
  // for.)
  parallel_detail::set_stalled_worker_for_testing(-1, 0);
  int loops = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (parallel_contended() && std::chrono::steady_clock::now() < deadline) {
    check_cover(1000, 10);
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    ++loops;
  }
  EXPECT_FALSE(parallel_contended()) << "after " << loops << " loops";
  EXPECT_EQ(library_threads(), 2);
  EXPECT_EQ(omp_get_max_threads(), 2);
  // (A loaded test machine may itself make a thread late now and then; only the
  // direction of the switches is checked, not that it never happens.)
}

// A descheduled thread is late at one region, then on time for the slice it is given:
// late regions come spaced out, never two in a row. They still count.
TEST_F(ParallelTest, LateRegionsSpacedOutStillMoveTheLoopsToThePool) {
  set_parallel_backend(ParallelBackend::Adaptive);
  set_cpu_threads(2);
  parallel_detail::set_busy_signals_for_testing(true, false);
  EXPECT_FALSE(parallel_contended());
  const std::int64_t by_lateness = parallel_detail::busy_calls_from_lateness();
  // The second thread is 2 ms late at every 4th region only.
  parallel_detail::set_stalled_worker_for_testing(0, 30'000'000, 4);
  int loops = 0;
  for (; loops < 40 && !parallel_contended(); ++loops) check_cover(1000, 10);
  EXPECT_TRUE(parallel_contended()) << "after " << loops << " loops";
  EXPECT_LE(loops, 8);  // the second late region: loop 5
  EXPECT_EQ(parallel_detail::busy_calls_from_lateness(), by_lateness + 1);
}

// Threads that keep waiting for a CPU (other processes' threads on every core) move the
// loops to the pool even when none of them is ever late into a region.
TEST_F(ParallelTest, ThreadsWaitingForACpuMoveTheLoopsToThePool) {
  if (!parallel_detail::run_delay_readable()) GTEST_SKIP() << "no /proc/thread-self/schedstat";
  const unsigned cpus = std::thread::hardware_concurrency();
  if (cpus == 0 || cpus > 16) GTEST_SKIP() << cpus << " CPUs: too many to keep busy here";
  set_parallel_backend(ParallelBackend::Adaptive);
  set_cpu_threads(2);
  parallel_detail::set_busy_signals_for_testing(false, true);
  EXPECT_FALSE(parallel_contended());
  const std::int64_t by_run_delay = parallel_detail::busy_calls_from_run_delay();
  std::atomic<bool> stop{false};
  std::vector<std::thread> spinners;
  for (unsigned i = 0; i < cpus; ++i)
    spinners.emplace_back([&stop] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!parallel_contended() && std::chrono::steady_clock::now() < deadline)
    check_cover(20000, 100);
  stop = true;
  for (std::thread& t : spinners) t.join();
  EXPECT_TRUE(parallel_contended());
  EXPECT_EQ(parallel_detail::busy_calls_from_run_delay(), by_run_delay + 1);
}

TEST(ParallelWidth, TheFreeCpusWithinOneAndTheThreadCount) {
  using parallel_detail::busy_width;
  EXPECT_EQ(busy_width(2, 2, 1.0), 1);  // this machine with one busy loop beside
  EXPECT_EQ(busy_width(2, 2, 0.0), 2);
  EXPECT_EQ(busy_width(2, 2, 0.4), 2);  // the average of the samples, rounded
  EXPECT_EQ(busy_width(2, 2, 0.6), 1);
  EXPECT_EQ(busy_width(16, 16, 1.0), 15);
  EXPECT_EQ(busy_width(4, 16, 1.0), 4);  // never more than the threads asked for
  EXPECT_EQ(busy_width(8, 4, 10.0), 1);  // never fewer than one
  EXPECT_EQ(busy_width(1, 8, 0.0), 1);
}

// /proc/stat's lines of the process's CPUs alone are summed: busy = user + nice + system +
// irq + softirq + steal, total = busy + idle + iowait (guest time is already in user).
TEST(ParallelWidth, TicksOfTheProcesssCpusOnly) {
  using parallel_detail::cpu_ticks;
  const std::string stat =
      "cpu  900 900 900 900 900 900 900 900 900 900\n"
      "cpu0 10 1 2 100 3 4 5 6 50 7\n"
      "cpu1 1000 0 0 0 0 0 0 0 0 0\n"
      "cpu2 20 0 10 70\n"  // an old kernel's four fields
      "cpu3 x\n"
      "cpu4 1 1 1 1 1 1 1 1\n"
      "intr 1 2 3\n";
  const std::vector<bool> cpus{true, false, true, true, false};  // cpu4 not allowed
  const parallel_detail::CpuTicks t = cpu_ticks(stat, cpus);
  EXPECT_EQ(t.cpus, 2);  // cpu0 and cpu2 (cpu3 is malformed)
  EXPECT_EQ(t.busy, (10 + 1 + 2 + 4 + 5 + 6) + (20 + 10));
  EXPECT_EQ(t.total, (10 + 1 + 2 + 4 + 5 + 6 + 100 + 3) + (20 + 10 + 70));
  EXPECT_EQ(cpu_ticks(stat, {}).cpus, 0);  // no CPU allowed
  EXPECT_EQ(cpu_ticks("", cpus).cpus, 0);
  EXPECT_EQ(cpu_ticks("cpu0 1 2 3", cpus).cpus, 0);  // too few fields
  // The fields end at a negative one: four fields, then a negative fifth is not counted.
  const parallel_detail::CpuTicks negative = cpu_ticks("cpu0 1 2 3 4 -5 6", cpus);
  EXPECT_EQ(negative.cpus, 1);
  EXPECT_EQ(negative.busy, 6);
  EXPECT_EQ(negative.total, 10);
  EXPECT_EQ(cpu_ticks("cpu0 1 2 -3 4 5 6", cpus).cpus, 0);
  EXPECT_EQ(cpu_ticks("cpu0 4503599627370497 0 0 0", cpus).cpus, 0);  // past 2^52 ticks
  EXPECT_EQ(cpu_ticks("cpu 1 2 3 4 5", {true}).cpus, 0);              // the total line
}

TEST(ParallelWidth, OtherBusyCpusAreTheBusyShareLessThisProcesss) {
  using parallel_detail::CpuTicks;
  using parallel_detail::other_busy_cpus;
  const CpuTicks before{1000, 5000, 2};
  // 2 CPUs for 10 ticks each, both busy the whole time, this process on one of them.
  EXPECT_DOUBLE_EQ(other_busy_cpus(before, {1020, 5020, 2}, 1.0), 1.0);
  // Half busy, all of it this process's: nobody else.
  EXPECT_DOUBLE_EQ(other_busy_cpus(before, {1010, 5020, 2}, 1.0), 0.0);
  // This process measured a little more than the ticks saw: still 0, never negative.
  EXPECT_DOUBLE_EQ(other_busy_cpus(before, {1010, 5020, 2}, 1.1), 0.0);
  // Two threads beside a busy loop, a fair share each: the loop has 2/3 of a CPU.
  EXPECT_NEAR(other_busy_cpus(before, {1030, 5030, 2}, 4.0 / 3.0), 2.0 / 3.0, 1e-12);
  // Readings that do not compare.
  EXPECT_EQ(other_busy_cpus(before, before, 0.0), -1.0);           // no time
  EXPECT_EQ(other_busy_cpus(before, {1020, 5020, 3}, 0.0), -1.0);  // other CPUs
  EXPECT_EQ(other_busy_cpus({0, 0, 0}, {0, 10, 0}, 0.0), -1.0);    // no CPUs
  EXPECT_EQ(other_busy_cpus(before, {1030, 5020, 2}, 0.0), -1.0);  // busy > total
  EXPECT_EQ(other_busy_cpus(before, {900, 5020, 2}, 0.0), -1.0);   // went back
}

// A busy process on this process's CPU is measured (where Linux's /proc/stat tells): the
// test thread moves itself and the busy process onto one CPU, and sleeps while measuring.
TEST(ParallelWidth, AnotherProcesssBusyThreadOnThisCpuIsMeasured) {
  if (parallel_detail::measure_other_busy_cpus(20) < 0.0) GTEST_SKIP() << "no /proc/stat";
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  int cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved)) ++cpu;
  ASSERT_LT(cpu, CPU_SETSIZE);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // this thread only
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // inherits the one CPU
    execl("/bin/sh", "sh", "-c", "while :; do :; done", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double others = parallel_detail::measure_other_busy_cpus(300);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_EQ(sched_setaffinity(0, sizeof saved, &saved), 0);
  // The CPU was busy all the time, with (almost) none of it this thread's.
  EXPECT_GT(others, 0.7);
  EXPECT_LE(others, 1.0);
}

// A busy machine whose other processes leave this one CPU: the loops run on the calling
// thread (no pool, no worker), a GEMM is one call on it; when the CPU comes free again
// the pool widens back within a sample or two.
TEST_F(ParallelTest, ABusyMachineNarrowsThePoolToItsFreeCpus) {
  set_parallel_backend(ParallelBackend::Adaptive);
  set_cpu_threads(2);
  parallel_detail::set_busy_signals_for_testing(true, false);
  const int cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (cpus < 2) GTEST_SKIP() << "one CPU";
  parallel_detail::set_other_busy_cpus_for_testing(static_cast<double>(cpus - 1));
  parallel_detail::set_stalled_worker_for_testing(0, 30'000'000);  // late at every region
  for (int rep = 0; rep < 4 && !parallel_contended(); ++rep) check_cover(1000, 10);
  ASSERT_TRUE(parallel_contended());
  EXPECT_EQ(loop_threads(), 1);
  EXPECT_EQ(library_threads(), 1);
  const std::int64_t pool_loops = parallel_detail::loops_run();
  const std::int64_t worker_chunks = parallel_detail::chunks_run_by_workers();
  const std::thread::id me = std::this_thread::get_id();
  std::atomic<int> elsewhere{0};
  for (int rep = 0; rep < 20; ++rep) {
    check_cover(1000, 10);
    parallel_for(10000, 7, [&](std::int64_t, std::int64_t) {
      if (std::this_thread::get_id() != me) ++elsewhere;
    });
  }
  const std::int64_t n = 192;
  std::vector<float> av(static_cast<std::size_t>(n * n)), bv(av.size());
  for (std::size_t i = 0; i < av.size(); ++i) {
    av[i] = static_cast<float>(static_cast<int>(i % 7) - 3);
    bv[i] = static_cast<float>(static_cast<int>(i % 5) - 2);
  }
  const Tensor a = from_vector(av, {n, n}), b = from_vector(bv, {n, n});
  Tensor c;
  gemm(a, b, c);  // 14 MFLOP: cut into pieces on the pool at a width of two
  EXPECT_EQ(parallel_detail::loops_run(), pool_loops);
  EXPECT_EQ(parallel_detail::chunks_run_by_workers(), worker_chunks);
  EXPECT_EQ(elsewhere.load(), 0);
  const std::vector<float> got = c.to_vector<float>();
  for (std::int64_t i : {std::int64_t{0}, n / 2, n - 1})
    for (std::int64_t j : {std::int64_t{0}, n / 3, n - 1}) {
      double want = 0.0;  // small integers: exact in float
      for (std::int64_t k = 0; k < n; ++k)
        want += static_cast<double>(av[static_cast<std::size_t>(i * n + k)]) *
                bv[static_cast<std::size_t>(k * n + j)];
      EXPECT_EQ(got[static_cast<std::size_t>(i * n + j)], static_cast<float>(want));
    }
  // The other processes stop: the width comes back to both threads (a window every 100 ms).
  parallel_detail::set_other_busy_cpus_for_testing(0.0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (parallel_contended() && loop_threads() < 2 &&
         std::chrono::steady_clock::now() < deadline) {
    check_cover(1000, 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (parallel_contended()) {
    EXPECT_EQ(loop_threads(), 2);
    const std::int64_t before = parallel_detail::loops_run();
    check_cover(1000, 10);
    EXPECT_EQ(parallel_detail::loops_run(), before + 1);
  }  // (else the hold ended and OpenMP was tried again first: nothing to check)
}

// The Pool backend chosen before anything else has run keeps every thread (it used to
// lower omp_get_max_threads() to 1 before the pool read it, and the pool got one thread).
// In a fresh process, which the threadsafe death-test style starts.
TEST(ParallelFirstUse, ThePoolBackendChosenFirstKeepsEveryThread) {
  const std::string style = GTEST_FLAG_GET(death_test_style);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const char* saved = std::getenv("OMP_NUM_THREADS");
  const std::string saved_value = saved ? saved : "";
  setenv("OMP_NUM_THREADS", "3", 1);
  EXPECT_EXIT(
      {
        set_parallel_backend(ParallelBackend::Pool);
        std::exit(cpu_threads() == 3 && loop_threads() == 3 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  if (saved) {
    setenv("OMP_NUM_THREADS", saved_value.c_str(), 1);
  } else {
    unsetenv("OMP_NUM_THREADS");
  }
  GTEST_FLAG_SET(death_test_style, style);
}

TEST_F(ParallelTest, LoopsFromTwoThreadsAtOnceBothComplete) {
  set_cpu_threads(2);
  std::vector<std::atomic<int>> a(100000), b(100000);
  std::thread other([&] {
    for (int rep = 0; rep < 50; ++rep)
      parallel_for(100000, 1000, [&](std::int64_t s, std::int64_t e) {
        for (std::int64_t i = s; i < e; ++i) a[static_cast<std::size_t>(i)]++;
      });
  });
  for (int rep = 0; rep < 50; ++rep)
    parallel_for(100000, 1000, [&](std::int64_t s, std::int64_t e) {
      for (std::int64_t i = s; i < e; ++i) b[static_cast<std::size_t>(i)]++;
    });
  other.join();
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].load(), 50);
    ASSERT_EQ(b[i].load(), 50);
  }
}

}  // namespace
}  // namespace minidl
