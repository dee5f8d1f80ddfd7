// io/text_reader.hpp: Clinger's exact path gives strtod's double, bit for bit, on the
// numbers it takes, and declines the others.
#include "io/text_reader.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

namespace minidl {
namespace {

// Takes the decimal `s` (whole) when exact; then it must be strtod's value.
void expect_strtod(const std::string& s, bool must_take) {
  double v = 12345.0;
  const char* end = text::parse_decimal_exact(s.data(), s.data() + s.size(), v);
  if (end == nullptr) {
    EXPECT_FALSE(must_take) << s;
    EXPECT_EQ(v, 12345.0) << s;
    return;
  }
  char* strtod_end = nullptr;
  const double expected = std::strtod(s.c_str(), &strtod_end);
  EXPECT_EQ(end - s.data(), strtod_end - s.c_str()) << s;
  EXPECT_EQ(std::memcmp(&v, &expected, sizeof v), 0) << s << ": " << v << " vs " << expected;
}

TEST(TextReader, ExactPathIsStrtod) {
  for (const char* s : {"0", "-0", "1", "-1", "0.5", ".5", "5.", "-.25", "1e5", "1E+5", "1e-5",
                        "123456789", "0.810203493", "-2.2250738585072014e-308", "9007199254740992",
                        "9007199254740993", "1e22", "1e23", "0e999", "1.5e-22", "007"})
    expect_strtod(s, false);
  expect_strtod("0.810203493", true);
  expect_strtod("-1.25e3", true);
  expect_strtod("0.1", true);
  std::mt19937_64 rng(1);
  char buf[64];
  for (int i = 0; i < 300000; ++i) {
    double x;
    const std::uint64_t bits = rng();
    std::memcpy(&x, &bits, sizeof x);
    if (!(x == x)) continue;
    const int precision = 1 + static_cast<int>(rng() % 17);
    std::snprintf(buf, sizeof buf, i % 3 == 0 ? "%.*e" : "%.*g", precision, x);
    expect_strtod(buf, false);
    // Typical LIBSVM values: %.9g of floats near 1, %.17g of coefficients.
    const double y = static_cast<double>(static_cast<std::int64_t>(rng() % 2000000001) - 1000000000) /
                     std::pow(10.0, static_cast<double>(rng() % 12));
    std::snprintf(buf, sizeof buf, "%.9g", double(static_cast<float>(y)));
    expect_strtod(buf, true);
    std::snprintf(buf, sizeof buf, "%.16g", y);
    expect_strtod(buf, false);
  }
  // Not numbers, or not this path's: declined (the callers fall back to from_chars).
  for (const char* s : {"", "-", ".", "e5", "-e5", "inf", "nan", "+1", "0x10", "1e", "1e+",
                        "12345678901234567890", "1e400", "1e-400"}) {
    double v = 7.0;
    const char* end = text::parse_decimal_exact(s, s + std::strlen(s), v);
    if (end != nullptr) {
      // "0x10" reads "0" and stops at 'x', as strtod does not (the caller's end check).
      EXPECT_LT(end, s + std::strlen(s)) << s;
    }
  }
}

}  // namespace
}  // namespace minidl
