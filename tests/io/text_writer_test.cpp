// io/text_writer.hpp: to_chars gives printf's bytes; write_rows writes every row once,
// in order, whatever the batches and threads.
#include "io/text_writer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "core/info.hpp"
#include "io_test_util.hpp"

namespace minidl {
namespace {

std::string printf_g(double v, int precision) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", precision, v);
  return buf;
}

TEST(TextWriter, NumbersAreThePrintfBytes) {
  std::mt19937_64 rng(3);
  std::vector<double> values{0.0, -0.0, 1.0, -1.0, 0.5, 1e-5, 1e-4, 123456789.0, 1234567890.0,
                             1e16, 1e17, 1e-300, 5e-324, 1.7976931348623157e308, 0.1, 1.0 / 3.0,
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(),
                             double(std::numeric_limits<float>::denorm_min()),
                             double(std::numeric_limits<float>::max())};
  for (int i = 0; i < 50000; ++i) {
    const std::uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    if (std::isnan(v)) continue;
    values.push_back(v);
    // A float's bit pattern, and values near round decimals (ties, carries).
    const auto fbits = static_cast<std::uint32_t>(bits >> 32);
    float f;
    std::memcpy(&f, &fbits, sizeof f);
    if (!std::isnan(f)) values.push_back(double(f));
    values.push_back(double(static_cast<std::int64_t>(bits % 2000001) - 1000000) / 1000.0);
  }
  for (double v : values) {
    for (int p : {6, 9, 17}) {
      std::string out = "x";
      text::put_g(out, v, p);
      ASSERT_EQ(out, "x" + printf_g(v, p)) << "precision " << p;
    }
    const float f = static_cast<float>(v);
    if (!std::isinf(f) || std::isinf(v)) {
      std::string out;
      text::put_float9(out, f);
      ASSERT_EQ(out, printf_g(double(f), 9));
    }
  }
  for (long long v : {0LL, 1LL, -1LL, 2147483647LL, -2147483648LL,
                      std::numeric_limits<long long>::min(), std::numeric_limits<long long>::max()}) {
    std::string out;
    text::put_int(out, v);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld", v);
    EXPECT_EQ(out, buf);
  }
}

// put_float9's own exact path (128-bit integers, half to even) against printf on
// random float bit patterns of every exponent, values near round decimals (where
// rounding carries: 9.99999999e+n), powers of two and subnormals.
TEST(TextWriter, Float9IsPrintfOnEveryExponent) {
  std::mt19937 rng(9);
  std::vector<float> values{1.0f, -1.0f, 0.5f, 1e-6f, 1e-7f, 1e-38f, 1e-45f, 3.4028235e38f,
                            999999999.0f, 9.99999999e9f, 0.000099999999f, 123456789.0f};
  for (int e = -149; e <= 127; ++e) values.push_back(std::ldexp(1.0f, e));
  for (int i = 0; i < 300000; ++i) {
    const auto bits = static_cast<std::uint32_t>(rng());  // mt19937: 32 random bits
    float f;
    std::memcpy(&f, &bits, sizeof f);
    if (!std::isnan(f)) values.push_back(f);
    const float near = std::pow(10.0f, static_cast<float>(static_cast<int>(rng() % 60) - 30));
    values.push_back(std::nextafter(near, (i & 1) != 0 ? 0.0f : 1e38f));
  }
  for (float f : values) {
    std::string out;
    text::put_float9(out, f);
    ASSERT_EQ(out, printf_g(double(f), 9)) << std::hexfloat << f;
  }
}

TEST(TextWriter, RowsAreWrittenOnceInOrder) {
  test::TempDir dir;
  const int saved = cpu_threads();
  for (int threads : {1, 2, 3}) {
    set_cpu_threads(threads);
    for (std::int64_t rows : {0, 1, 7, 5000}) {
      for (std::int64_t row_bytes : {1, 100, 1 << 20, 1 << 22}) {
        const std::string path = dir.file("rows.txt");
        AtomicFile f(path, "test");
        text::write_rows(f, rows, row_bytes, [](std::int64_t i, std::string& out) {
          text::put_int(out, i * i);
          out += i % 3 == 0 ? "\n" : " x\n";
        });
        f.commit();
        std::string expected;
        for (std::int64_t i = 0; i < rows; ++i)
          expected += std::to_string(i * i) + (i % 3 == 0 ? "\n" : " x\n");
        ASSERT_EQ(test::read_bytes(path), expected)
            << threads << " threads, " << rows << " rows of " << row_bytes << " bytes";
      }
    }
  }
  set_cpu_threads(saved);
}

// A row that throws: the exception reaches the caller, and without commit() the
// target keeps its old content.
TEST(TextWriter, AnExceptionLeavesTheOldFile) {
  test::TempDir dir;
  const std::string path = dir.file("rows.txt");
  test::write_bytes(path, "old\n");
  try {
    AtomicFile f(path, "test");
    text::write_rows(f, 100000, 10, [](std::int64_t i, std::string& out) {
      if (i == 77777) throw ValueError("row 77777");
      out += "row\n";
    });
    f.commit();
    ADD_FAILURE() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "row 77777");
  }
  EXPECT_EQ(test::read_bytes(path), "old\n");
}

}  // namespace
}  // namespace minidl
