// Progress of a long SVM run on a terminal: one line on stderr, redrawn in place
//   training: 12/45 sub-problems, 1234567 iterations, 0:12 elapsed, about 0:34 left
// so that a 60,000-sample fit is not silent for minutes. Shown only when stderr is
// a terminal or the user forces it (--progress), never with -q; output files and
// stdout are untouched.
//
// PhaseTimings (--timings): the seconds of each phase of a run, one line on stderr
// at the end, for users and for bench/peers/svm_peers.py (which compares minidl's fit
// with another solver's fit, and whole runs with whole runs):
//   timings: read=0.412s fit=1.070s write=0.105s total=1.613s
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace minidl::train {

/// "m:ss" (or "h:mm:ss" from an hour on) for a non-negative number of seconds.
std::string clock_text(double seconds);

/// The progress line without terminal control characters: `stage`, `done` of
/// `total` `unit` (e.g. "sub-problems"), iterations when >= 0, the elapsed time,
/// and once done > 0 an estimate of the time left, elapsed x (total - done) / done
/// (work per unit assumed alike, which sub-problems of one-vs-one roughly are).
std::string progress_text(const std::string& stage, std::int64_t done, std::int64_t total,
                          const char* unit, std::int64_t iterations, double elapsed_s);

class ProgressLine {
 public:
  /// enabled: draw at all (the caller decides: a terminal or --progress, and not -q).
  ProgressLine(std::FILE* out, bool enabled) : out_(out), enabled_(enabled) {}
  ~ProgressLine() { finish(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return enabled_; }
  /// Starts a stage: its clock starts now.
  void stage(std::string name);
  /// Redraws the line (elapsed_s < 0: measured from the stage's start).
  void update(std::int64_t done, std::int64_t total, const char* unit,
              std::int64_t iterations = -1, double elapsed_s = -1.0);
  /// Clears the line (so later output starts on a clean one).
  void finish();

 private:
  std::FILE* out_;
  bool enabled_;
  bool drawn_ = false;
  std::string stage_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

/// Seconds per phase of a run. The clock of the run (total) starts at construction;
/// mark(name) gives the time since the previous mark (or the start) to phase `name`.
class PhaseTimings {
 public:
  PhaseTimings() = default;
  void mark(const std::string& name);
  /// Drops the time since the previous mark from the phases (it still counts in total).
  void skip();
  /// "timings: <name>=<seconds>s ... total=<seconds>s\n", phases in the order of their
  /// first mark, seconds with 3 decimals; total is the time since construction.
  std::string line() const;
  const std::vector<std::pair<std::string, double>>& phases() const { return phases_; }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_ = start_;
  std::vector<std::pair<std::string, double>> phases_;
};

/// Whether progress goes to stderr: forced, or stderr is a terminal; never when quiet.
bool progress_wanted(bool forced, bool quiet);

}  // namespace minidl::train
