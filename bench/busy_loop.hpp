// A competing busy process beside a benchmark case: `/bin/sh -c 'while :; do :; done'`, the
// shell busy loop the contention measurements of issue 15 used, started before the case's
// warm-up and killed after its timing. Pinned, it runs on the last CPU this process may
// use; unpinned, the scheduler moves it (and minidl's threads) as it likes.
// The PyTorch peers start the same loop (bench/peers/_common.py, --contended).
#pragma once

#include <sched.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace minidl::bench {

class BusyLoop {
 public:
  /// Starts the loop; pinned: on the highest-numbered CPU of this process's affinity set.
  explicit BusyLoop(bool pinned) {
    int cpu = -1;
    if (pinned) {
      cpu_set_t set;
      CPU_ZERO(&set);
      if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int c = CPU_SETSIZE - 1; c >= 0 && cpu < 0; --c)
          if (CPU_ISSET(c, &set)) cpu = c;
      }
    }
    cpu_ = cpu;
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("BusyLoop: fork failed");
    if (pid_ == 0) {  // the child: only async-signal-safe calls until exec
      if (cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        sched_setaffinity(0, sizeof(one), &one);
      }
      execl("/bin/sh", "sh", "-c", "while :; do :; done", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~BusyLoop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  BusyLoop(const BusyLoop&) = delete;
  BusyLoop& operator=(const BusyLoop&) = delete;

  /// The CPU it is pinned to, or -1.
  int cpu() const { return cpu_; }

 private:
  pid_t pid_ = -1;
  int cpu_ = -1;
};

}  // namespace minidl::bench
