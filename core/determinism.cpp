#include "determinism.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <string>

#include "error.hpp"

namespace minidl {

namespace detail {

bool parse_deterministic(const char* value, bool fallback) {
  if (value == nullptr || *value == '\0') return fallback;
  std::string v(value);
  std::transform(v.begin(), v.end(), v.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (v == "1" || v == "on" || v == "true" || v == "yes") return true;
  if (v == "0" || v == "off" || v == "false" || v == "no") return false;
  throw ValueError(concat("MINIDL_DETERMINISTIC must be 0 or 1 (or off/on, false/true), got '",
                          value, "'"));
}

}  // namespace detail

namespace {
std::atomic<bool>& setting() {
  static std::atomic<bool> on{detail::parse_deterministic(std::getenv("MINIDL_DETERMINISTIC"), true)};
  return on;
}
}  // namespace

bool deterministic() { return setting().load(std::memory_order_relaxed); }
void set_deterministic(bool on) { setting().store(on, std::memory_order_relaxed); }

}  // namespace minidl
