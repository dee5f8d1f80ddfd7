#include "option_values.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace minidl::train {

void bad_value(const std::string& option, const std::string& text, const std::string& what) {
  throw ValueError(detail::concat(option, ": ", detail::excerpt(text, 64), " ", what));
}

long long parse_integer(const std::string& option, const std::string& text, long long lo,
                        long long hi) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || v < lo || v > hi ||
      std::isspace(static_cast<unsigned char>(text[0])))
    bad_value(option, text, detail::concat("is not an integer in [", lo, ", ", hi, "]"));
  return v;
}

double parse_real(const std::string& option, const std::string& text, double lo, bool lo_open,
                  double hi) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const bool in_range = lo_open ? v > lo : v >= lo;
  if (text.empty() || *end != '\0' || !std::isfinite(v) || !in_range || v > hi ||
      std::isspace(static_cast<unsigned char>(text[0]))) {
    std::ostringstream range;
    range << (lo_open ? "(" : "[") << lo << ", " << hi << "]";
    bad_value(option, text, "is not a finite number in " + range.str());
  }
  return v;
}

void check_member(const std::string& option, const std::string& v,
                  std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return;
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  bad_value(option, v, "is not one of " + list);
}

}  // namespace minidl::train
