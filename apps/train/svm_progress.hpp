// Progress of a long SVM run on a terminal: one line on stderr, redrawn in place
//   training: 12/45 sub-problems, 1234567 iterations, 0:12 elapsed, about 0:34 left
// so that a 60,000-sample fit is not silent for minutes. Shown only when stderr is
// a terminal or the user forces it (--progress), never with -q; output files and
// stdout are untouched.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

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

/// Whether progress goes to stderr: forced, or stderr is a terminal; never when quiet.
bool progress_wanted(bool forced, bool quiet);

}  // namespace minidl::train
