// Decimal numbers read fast and exactly as strtod reads them, for the LIBSVM readers
// (svm/libsvm_format.cpp, svm/model_file.cpp).
//
// Clinger's fast path ("How to read floating point numbers accurately", PLDI 1990):
// when a decimal has at most 19 digits whose integer m is at most 2^53 and its power of
// ten 10^k has |k| <= 22, both m and 10^|k| are exact doubles, so the one IEEE
// multiplication or division m * 10^k or m / 10^-k rounds once and gives the correctly
// rounded value, which is what glibc's strtod returns (round to nearest). That covers
// what minidl and LIBSVM write ("%.9g" values, "%.17g" coefficients of up to 16
// digits); anything else is left to the caller's general path (std::from_chars, and
// strtod for the spellings from_chars does not take).
#pragma once

#include <cstdint>

namespace minidl::text {

/// Reads [-]digits[.digits][(e|E)[+|-]digits] (at least one digit before the exponent)
/// starting at p, not past e. Returns the end of the number with `out` set, or nullptr
/// (out untouched) when the text does not start with that form or the number is outside
/// the exact range above. The caller checks what follows the end.
inline const char* parse_decimal_exact(const char* p, const char* e, double& out) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  const auto digit = [](char c) { return static_cast<unsigned>(c - '0') < 10u; };
  bool negative = false;
  if (p < e && *p == '-') {
    negative = true;
    ++p;
  }
  std::uint64_t m = 0;
  int digits = 0;
  int fraction = 0;
  for (; p < e && digit(*p); ++p, ++digits)
    if (digits < 19) m = m * 10 + static_cast<unsigned>(*p - '0');
  if (p < e && *p == '.') {
    for (++p; p < e && digit(*p); ++p, ++digits, ++fraction)
      if (digits < 19) m = m * 10 + static_cast<unsigned>(*p - '0');
  }
  if (digits == 0 || digits > 19) return nullptr;
  int exponent = 0;
  if (p < e && (*p == 'e' || *p == 'E')) {
    const char* q = p + 1;
    bool exponent_negative = false;
    if (q < e && (*q == '+' || *q == '-')) exponent_negative = *q++ == '-';
    if (q == e || !digit(*q)) return nullptr;  // "1e", "1e+": strtod stops at the 'e'
    for (; q < e && digit(*q); ++q)
      if (exponent < 100000) exponent = exponent * 10 + (*q - '0');
    exponent = exponent_negative ? -exponent : exponent;
    p = q;
  }
  const int k = exponent - fraction;
  if (m > (std::uint64_t{1} << 53) || k < -22 || k > 22) {
    if (m != 0) return nullptr;
  }
  double v = static_cast<double>(m);
  if (m != 0) v = k < 0 ? v / kPow10[-k] : v * kPow10[k];
  out = negative ? -v : v;
  return p;
}

}  // namespace minidl::text
