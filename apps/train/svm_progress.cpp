#include "svm_progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace minidl::train {

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(std::llround(std::max(seconds, 0.0)));
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

std::string progress_text(const std::string& stage, std::int64_t done, std::int64_t total,
                          const char* unit, std::int64_t iterations, double elapsed_s) {
  std::string text = detail::concat(stage, ": ", done, "/", total, " ", unit);
  if (iterations >= 0) text += detail::concat(", ", iterations, " iterations");
  text += ", " + clock_text(elapsed_s) + " elapsed";
  if (done > 0 && done < total)
    text += ", about " +
            clock_text(elapsed_s * static_cast<double>(total - done) / static_cast<double>(done)) +
            " left";
  return text;
}

void ProgressLine::stage(std::string name) {
  stage_ = std::move(name);
  start_ = std::chrono::steady_clock::now();
}

void ProgressLine::update(std::int64_t done, std::int64_t total, const char* unit,
                          std::int64_t iterations, double elapsed_s) {
  if (!enabled_) return;
  if (elapsed_s < 0)
    elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(out_, "\r%s\x1b[K", progress_text(stage_, done, total, unit, iterations, elapsed_s).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressLine::finish() {
  if (!drawn_) return;
  std::fprintf(out_, "\r\x1b[K");
  std::fflush(out_);
  drawn_ = false;
}

bool progress_wanted(bool forced, bool quiet) {
  return !quiet && (forced || ::isatty(STDERR_FILENO) == 1);
}

void PhaseTimings::mark(const std::string& name) {
  const auto now = std::chrono::steady_clock::now();
  const double s = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  for (auto& [phase, seconds] : phases_)
    if (phase == name) {
      seconds += s;
      return;
    }
  phases_.emplace_back(name, s);
}

void PhaseTimings::skip() { last_ = std::chrono::steady_clock::now(); }

std::string PhaseTimings::line() const {
  std::string out = "timings:";
  char buf[64];
  for (const auto& [phase, seconds] : phases_) {
    std::snprintf(buf, sizeof buf, "=%.3fs", seconds);
    out += " " + phase + buf;
  }
  std::snprintf(buf, sizeof buf, " total=%.3fs\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  return out + buf;
}

}  // namespace minidl::train
