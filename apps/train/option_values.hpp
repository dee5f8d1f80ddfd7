// Strict parsing of command-line values, shared by minidl-train and the
// LIBSVM-compatible SVM tools: numbers are taken as text and checked here, since
// CLI11 (and LIBSVM's atof / atoi) would turn "--seed -1" into 2^64 - 1, accept
// "nan" for a float, or read "-c abc" as 0. Every error is a ValueError that
// names the option and quotes the value (cut to 64 bytes).
#pragma once

#include <initializer_list>
#include <string>

#include "core/error.hpp"

namespace minidl::train {

/// Throws ValueError "<option>: <text> <what>".
[[noreturn]] void bad_value(const std::string& option, const std::string& text,
                            const std::string& what);

/// A decimal integer in [lo, hi]: no leading space, no trailing text, no overflow.
long long parse_integer(const std::string& option, const std::string& text, long long lo,
                        long long hi);

/// A finite number in [lo, hi] (lo excluded when lo_open).
double parse_real(const std::string& option, const std::string& text, double lo, bool lo_open,
                  double hi);

/// ValueError "<option>: <v> is not one of a, b, c" unless v is one of `allowed`.
void check_member(const std::string& option, const std::string& v,
                  std::initializer_list<const char*> allowed);

}  // namespace minidl::train
