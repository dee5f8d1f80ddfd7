// Shared helpers for minidl's GoogleTest suites.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/device.hpp"

/// CUDA cases skip (never fail) on a machine without a usable GPU.
#define MINIDL_REQUIRE_CUDA()                                                   \
  do {                                                                          \
    if (!::minidl::cuda_available())                                            \
      GTEST_SKIP() << "no usable GPU: " << ::minidl::cuda_unavailable_reason(); \
  } while (0)

/// Expects `statement` to throw `Type` whose what() contains every fragment.
#define MINIDL_EXPECT_THROW_WITH(statement, Type, ...)                                    \
  do {                                                                                    \
    try {                                                                                 \
      statement;                                                                          \
      ADD_FAILURE() << "expected " #Type " from: " #statement;                            \
    } catch (const Type& minidl_error_) {                                                 \
      for (const std::string& fragment : std::vector<std::string>{__VA_ARGS__}) {         \
        EXPECT_NE(std::string(minidl_error_.what()).find(fragment), std::string::npos)    \
            << "message \"" << minidl_error_.what() << "\" lacks \"" << fragment << "\""; \
      }                                                                                   \
    }                                                                                     \
  } while (0)

namespace minidl::test {

/// Compares element-wise with |a - b| <= atol + rtol * |ref| (llm.c's
/// validate_result): reports the first few mismatches and their count.
inline ::testing::AssertionResult all_close(const std::vector<float>& got,
                                            const std::vector<float>& ref, float atol, float rtol) {
  if (got.size() != ref.size()) {
    return ::testing::AssertionFailure() << "sizes differ: " << got.size() << " vs " << ref.size();
  }
  std::size_t bad = 0;
  ::testing::AssertionResult result = ::testing::AssertionFailure();
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool both_nan = std::isnan(got[i]) && std::isnan(ref[i]);
    if (both_nan || std::fabs(got[i] - ref[i]) <= atol + rtol * std::fabs(ref[i])) continue;
    if (bad < 5) result << "\n  [" << i << "] got " << got[i] << ", expected " << ref[i];
    ++bad;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return result << "\n  " << bad << " of " << got.size() << " elements differ";
}

/// Bit for bit (NaN payloads and signed zeros included): reports the first few differences
/// and their count.
inline ::testing::AssertionResult same_bits(const std::vector<float>& got,
                                            const std::vector<float>& ref) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << "sizes differ: " << got.size() << " vs " << ref.size();
  std::size_t bad = 0;
  ::testing::AssertionResult result = ::testing::AssertionFailure();
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &ref[i], sizeof(float)) == 0) continue;
    if (bad++ < 5) result << "\n  [" << i << "] got " << got[i] << ", expected " << ref[i];
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return result << "\n  " << bad << " of " << got.size() << " elements differ";
}

/// Sets an environment variable for the scope and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::string old_;
  bool had_;
};

inline ScopedEnv::ScopedEnv(const char* name, const char* value) : name_(name) {
  const char* old = std::getenv(name);
  had_ = old != nullptr;
  if (had_) old_ = old;
  setenv(name, value, 1);
}

inline ScopedEnv::~ScopedEnv() {
  if (had_)
    setenv(name_.c_str(), old_.c_str(), 1);
  else
    unsetenv(name_.c_str());
}

/// Lowers this process's file-size limit (RLIMIT_FSIZE, which binds root too) so
/// that writes past `bytes` fail with EFBIG, as on a full disk; SIGXFSZ, which
/// would kill the process, is ignored meanwhile. Restores both. Print nothing
/// while it is in force (the test log is a file too).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = old_;
    lowered.rlim_cur = old_.rlim_max == RLIM_INFINITY ? bytes : std::min(bytes, old_.rlim_max);
    ::setrlimit(RLIMIT_FSIZE, &lowered);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_{};
  void (*old_handler_)(int) = SIG_DFL;
};

}  // namespace minidl::test
