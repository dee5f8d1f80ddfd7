#include "svm/libsvm_format.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include "fuzz/libsvm_reference.hpp"

#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

LibsvmData parse(const std::string& text, std::int64_t d = 0,
                 std::size_t max_dense_bytes = kMaxDenseBytes) {
  std::istringstream in(text);
  return parse_libsvm(in, "mem.txt", d, max_dense_bytes);
}

TEST(LibsvmFormat, ParsesSparseRowsDense) {
  const LibsvmData data = parse("+1 1:0.5 3:-2\n-1 2:1e-3\n\n3 1:1 2:2 3:3\n2.0 3:4\n");
  ASSERT_EQ(data.x.shape(), Shape({4, 3}));
  EXPECT_EQ(data.y.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, -1, 3, 2}));
  EXPECT_EQ(data.x.to_vector<float>(),
            (std::vector<float>{0.5f, 0, -2, 0, 1e-3f, 0, 1, 2, 3, 0, 0, 4}));
}

TEST(LibsvmFormat, FixedFeatureCount) {
  const LibsvmData data = parse("1 2:1\n-1 1:1\n", 5);
  EXPECT_EQ(data.x.shape(), Shape({2, 5}));
  MINIDL_EXPECT_THROW_WITH(parse("1 2:1\n-1 6:1\n", 5), IoError, "mem.txt:2:", "6",
                           "exceeds the 5 features");
}

TEST(LibsvmFormat, ErrorsNameTheLine) {
  MINIDL_EXPECT_THROW_WITH(parse("1 1:1\nabc 1:2\n"), IoError, "mem.txt:2:", "label \"abc\"");
  MINIDL_EXPECT_THROW_WITH(parse("1 1:1\n1.5 1:2\n"), IoError, "mem.txt:2:", "not an integer");
  MINIDL_EXPECT_THROW_WITH(parse("1 1:1\n\n1 1 2\n"), IoError, "mem.txt:3:", "not <index>:<value>");
  MINIDL_EXPECT_THROW_WITH(parse("1 0:1\n"), IoError, "mem.txt:1:", "index \"0\"");
  MINIDL_EXPECT_THROW_WITH(parse("1 x:1\n"), IoError, "mem.txt:1:", "index \"x\"");
  MINIDL_EXPECT_THROW_WITH(parse("1 2:1 2:3\n"), IoError, "mem.txt:1:", "does not increase");
  MINIDL_EXPECT_THROW_WITH(parse("1 3:1 2:3\n"), IoError, "mem.txt:1:", "does not increase");
  MINIDL_EXPECT_THROW_WITH(parse("1 1:1\n1 2:zz\n"), IoError, "mem.txt:2:", "value \"zz\"");
  MINIDL_EXPECT_THROW_WITH(parse("1 1:nan\n"), IoError, "mem.txt:1:", "not finite");
  MINIDL_EXPECT_THROW_WITH(parse("1 1:inf\n"), IoError, "mem.txt:1:", "not finite");
  MINIDL_EXPECT_THROW_WITH(parse("1 1:1e39\n"), IoError, "mem.txt:1:", "not finite");
  MINIDL_EXPECT_THROW_WITH(parse("\n\n"), IoError, "mem.txt", "no samples");
  MINIDL_EXPECT_THROW_WITH(read_libsvm("/nonexistent/x.txt"), IoError, "/nonexistent/x.txt",
                           "cannot open");
}

// Every class of bad line gives "<file>:<line>:<column>: " with the column (bytes,
// from 1) of the token at fault, or of the value after its ':', in both readers.
// The first group are lines svm-train rejects ("Wrong input format at line N",
// without a column); the second, lines it accepts and then crashes or computes
// garbage on (index 0 or negative, NaN, indices out of order or beyond the model,
// a huge index, a NUL byte).
TEST(LibsvmFormat, ErrorsNameLineAndColumn) {
  struct Case {
    std::string text;
    std::int64_t d;
    std::string where;
    std::string what;
  };
  const std::vector<Case> cases{
      {"1 1:1\nabc 1:2\n", 0, "mem.txt:2:1: ", "label \"abc\" is not a number"},
      {"1 1:1\n  1.5 1:2\n", 0, "mem.txt:2:3: ", "label \"1.5\" is not an integer"},
      {"99999999999 1:1\n", 0, "mem.txt:1:1: ", "label \"99999999999\" is not an integer in int32's range"},
      {"1 1:1\n\n1 1:2 2\n", 0, "mem.txt:3:7: ", "feature \"2\" is not <index>:<value>"},
      {"1 1:1\n-1 2:x\n", 0, "mem.txt:2:6: ", "feature value \"x\" is not a number"},
      {"1 1:\n", 0, "mem.txt:1:5: ", "feature value \"\" is not a number"},
      {"1\t:5\n", 0, "mem.txt:1:3: ", "feature index \"\" is not an integer >= 1"},
      {"1 x:1\n", 0, "mem.txt:1:3: ", "feature index \"x\" is not an integer >= 1"},
      {"1 1:1\r\n-1 2:1 3:1e5x\r\n", 0, "mem.txt:2:10: ", "feature value \"1e5x\""},
      // svm-train takes these and crashes or reads garbage:
      {"1 0:1\n", 0, "mem.txt:1:3: ", "feature index \"0\" is not an integer >= 1"},
      {"1 2:1 -3:1\n", 0, "mem.txt:1:7: ", "feature index \"-3\" is not an integer >= 1"},
      {"1 1:1\n-1 2:0.5 2:3\n", 0, "mem.txt:2:10: ", "feature index 2 does not increase (after 2)"},
      {"1 5:1 3:1\n", 0, "mem.txt:1:7: ", "feature index 3 does not increase (after 5)"},
      {"1 1:0.5 2:nan\n", 0, "mem.txt:1:11: ", "feature value \"nan\" is not finite in float32"},
      {"1 1:-inf\n", 0, "mem.txt:1:5: ", "feature value \"-inf\" is not finite in float32"},
      {"1 1:1 2:1e39\n", 0, "mem.txt:1:9: ", "feature value \"1e39\" is not finite in float32"},
      {"1 1:1 4:1\n", 3, "mem.txt:1:7: ", "feature index 4 exceeds the 3 features expected"},
      {"1 99999999999999999999:1\n", 0, "mem.txt:1:3: ",
       "feature index \"99999999999999999999\" is not an integer >= 1"},
      {std::string("1 1:1\n1 1:1", 11) + std::string(1, '\0') + "5\n", 0, "mem.txt:2:6: ",
       "NUL byte"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    MINIDL_EXPECT_THROW_WITH(parse(c.text, c.d), IoError, c.where + c.what);
    std::istringstream in(c.text);
    MINIDL_EXPECT_THROW_WITH(parse_libsvm_csr(in, "mem.txt", c.d), IoError, c.where + c.what);
  }
  // Each reader's own limit: the dense row size, and int32 column indices.
  MINIDL_EXPECT_THROW_WITH(parse("1 1:1 1000000000:1\n"), IoError,
                           "mem.txt:1:7: feature index 1000000000 would make even one dense row");
  std::istringstream big("-1 2:1\n1 1:1 3000000000:1\n");
  MINIDL_EXPECT_THROW_WITH(parse_libsvm_csr(big, "mem.txt"), IoError,
                           "mem.txt:2:7: feature index 3000000000 is above 2147483647");
}

TEST(LibsvmFormat, WriteReadRoundTripIsExact) {
  svm_test::TempDir dir;
  const LibsvmData data = svm_test::make_blobs(50, 7, {3, -1, 7}, 1.0f, 11);
  std::vector<float> xv = data.x.to_vector<float>();
  xv[3] = 0.0f;  // a sparse entry
  xv[10] = 1.0f / 3.0f;
  const Tensor x = from_vector(xv, {50, 7});
  write_libsvm(dir.file("d.txt"), x, data.y);
  const LibsvmData back = read_libsvm(dir.file("d.txt"), 7);
  EXPECT_EQ(back.x.to_vector<float>(), xv);
  EXPECT_EQ(back.y.to_vector<std::int32_t>(), data.y.to_vector<std::int32_t>());
  MINIDL_EXPECT_THROW_WITH(write_libsvm(dir.file("e.txt"), x, from_vector({1, 2}, {2})), ShapeError,
                           "y must be [n]");
}

TEST(LibsvmFormat, FailedWriteKeepsThePreviousFile) {
  svm_test::TempDir dir;
  const std::string path = dir.file("d.txt");
  write_libsvm(path, from_vector({1.0f, 2.0f}, {1, 2}), from_vector({1}, {1}));
  std::string message;
  {
    const test::FileSizeLimit limit(4096);
    try {
      write_libsvm(path, full({200, 50}, 1.25), zeros({200}, Device::cpu(), DType::Int32));
    } catch (const IoError& e) {
      message = e.what();
    }
  }
  ASSERT_FALSE(message.empty()) << "the write past the file-size limit did not fail";
  EXPECT_NE(message.find("write_libsvm"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  std::ifstream in(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()),
            "1 1:1 2:2\n");
}

// A 22-byte line used to allocate 4 GB (8 GB while reading) and get the fit
// killed by the OOM killer; the dense width is now bounded before allocating.
TEST(LibsvmFormat, TinyInputCannotAllocateGigabytes) {
  MINIDL_EXPECT_THROW_WITH(parse("1 1000000000:1\n"), IoError, "mem.txt:1:",
                           "feature index 1000000000", "3.73 GiB", "1 GiB", "max_dense_bytes");
  // Many rows of a moderate width: the whole matrix is what is bounded.
  std::string rows;
  for (int i = 0; i < 300; ++i) rows += "1 1000000:1\n";
  MINIDL_EXPECT_THROW_WITH(parse(rows), IoError, "mem.txt:", "300 samples x 1000000 features",
                           "largest feature index, 1000000 (line 1)", "1.12 GiB");
  MINIDL_EXPECT_THROW_WITH(parse("1 1:1\n", 300000000), IoError, "num_features 300000000");
  // The limit is the caller's to raise or lower.
  EXPECT_EQ(parse("1 1000:1\n").x.shape(), Shape({1, 1000}));
  MINIDL_EXPECT_THROW_WITH(parse("1 1000:1\n2 3:1\n", 0, 4000), IoError, "2 samples x 1000",
                           "max_dense_bytes");
}

TEST(LibsvmFormat, OverflowingNumbersAndLongTokens) {
  MINIDL_EXPECT_THROW_WITH(parse("99999999999 1:1\n"), IoError, "mem.txt:1:", "int32");
  MINIDL_EXPECT_THROW_WITH(parse("1 99999999999999999999:1\n"), IoError, "mem.txt:1:",
                           "not an integer >= 1");
  MINIDL_EXPECT_THROW_WITH(parse("1 -3:1\n"), IoError, "not an integer >= 1");
  // A 5 MB token is shown cut short, with its length.
  const std::string huge(5000000, '7');
  try {
    parse("1 1:" + huge + "x\n");
    ADD_FAILURE() << "expected IoError";
  } catch (const IoError& e) {
    const std::string m = e.what();
    EXPECT_LT(m.size(), 300u) << m.substr(0, 300);
    EXPECT_NE(m.find("(5000001 bytes)"), std::string::npos) << m.substr(0, 300);
  }
}

// --- the fast reader (blocks, parallel chunks, from_chars) against the line-by-line
// reader it replaced (fuzz/libsvm_reference.hpp), on random files.

// Ways to cut the text: one serial pass, and blocks / chunks small enough that cuts
// fall inside lines, tokens and numbers (a line longer than a block is read whole).
const std::vector<LibsvmReadTuning>& tunings() {
  static const std::vector<LibsvmReadTuning> t{
      {std::size_t{1} << 30, 1}, {1, 1}, {7, 3}, {64, 5}, {300, 8}, {4096, 2}, {13, 0}, {},
  };
  return t;
}

std::string read_error(const std::string& text, std::int64_t d, const LibsvmReadTuning& tuning,
                       LibsvmCsrData* out) {
  std::istringstream in(text);
  try {
    *out = parse_libsvm_csr(in, "mem.txt", d, tuning);
  } catch (const IoError& e) {
    return e.what();
  }
  return {};
}

// Compares every tuning's result (CSR arrays bit for bit, labels, or the error
// message) with the reference reader's.
void expect_same_as_reference(const std::string& text, std::int64_t d = 0) {
  std::istringstream ref_in(text);
  const fuzz::ReferenceLibsvm ref = fuzz::reference_parse_libsvm(ref_in, "mem.txt", d, 0);
  for (const LibsvmReadTuning& tuning : tunings()) {
    SCOPED_TRACE(::testing::Message() << "block " << tuning.block_bytes << ", chunks "
                                      << tuning.chunks);
    LibsvmCsrData got;
    const std::string error = read_error(text, d, tuning, &got);
    ASSERT_EQ(error, ref.error);
    if (!error.empty()) continue;
    EXPECT_EQ(got.x.rows, ref.x.rows);
    EXPECT_EQ(got.x.cols, ref.x.cols);
    EXPECT_EQ(got.x.row_ptr, ref.x.row_ptr);
    EXPECT_EQ(got.x.col_idx, ref.x.col_idx);
    ASSERT_EQ(got.x.values.size(), ref.x.values.size());
    for (std::size_t i = 0; i < ref.x.values.size(); ++i)
      ASSERT_EQ(std::memcmp(&got.x.values[i], &ref.x.values[i], sizeof(float)), 0) << "value " << i;
    EXPECT_EQ(got.y.to_vector<std::int32_t>(), ref.labels);
  }
}

// A random LIBSVM text: labels and values in many spellings strtod accepts (signs,
// "2.0", exponents, hex floats, underflow to 0, leading zeros), spaces, tabs and
// "\r\n" between tokens, blank and whitespace-only lines, long and empty rows, and
// the last line with or without its newline.
std::string random_text(std::mt19937& rng, int lines) {
  std::uniform_int_distribution<int> pick(0, 99);
  std::uniform_real_distribution<double> value(-3.0, 3.0);
  const auto space = [&]() -> std::string {
    const int r = pick(rng);
    return r < 80 ? " " : r < 90 ? "\t" : r < 95 ? "  " : " \t ";
  };
  const char* labels[] = {"1", "-1", "+1", "2.0", "3", "007", "-0", "1e1", "0x3", "2147483647"};
  std::string text;
  char buf[64];
  for (int l = 0; l < lines; ++l) {
    const int kind = pick(rng);
    if (kind < 5) {
      text += "\n";
      continue;
    }
    if (kind < 8) {
      text += " \t \r\n";
      continue;
    }
    if (pick(rng) < 10) text += space();
    text += labels[pick(rng) % 10];
    std::int64_t index = 0;
    const int features = pick(rng) < 5 ? 0 : pick(rng) < 10 ? 200 : pick(rng) % 20;
    for (int f = 0; f < features; ++f) {
      index += 1 + pick(rng) % 5;
      text += space();
      const int spell = pick(rng);
      if (spell < 3) {
        std::snprintf(buf, sizeof buf, "+%lld:%.9g", static_cast<long long>(index), value(rng));
      } else if (spell < 6) {
        std::snprintf(buf, sizeof buf, "%05lld:%a", static_cast<long long>(index), value(rng));
      } else if (spell < 8) {
        std::snprintf(buf, sizeof buf, "%lld:%.3e", static_cast<long long>(index), value(rng) * 1e-300 * 1e-30);
      } else if (spell < 10) {
        std::snprintf(buf, sizeof buf, "%lld:+.5", static_cast<long long>(index));
      } else if (spell < 12) {
        std::snprintf(buf, sizeof buf, "%lld:%.17g", static_cast<long long>(index), value(rng) * 1e30);
      } else {
        std::snprintf(buf, sizeof buf, "%lld:%.9g", static_cast<long long>(index), value(rng));
      }
      text += buf;
    }
    if (pick(rng) < 10) text += space();
    text += pick(rng) < 10 ? "\r\n" : "\n";
  }
  if (!text.empty() && pick(rng) < 30) text.pop_back();  // no final newline
  return text;
}

TEST(LibsvmFormat, ParallelReadIsTheSerialRead) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 30; ++trial) {
    SCOPED_TRACE(trial);
    const std::string text = random_text(rng, 1 + trial * 7);
    expect_same_as_reference(text);
    expect_same_as_reference(text, 2000);
  }
}

// One bad token anywhere, in any chunk: the error of the first one, at its line and
// column, whatever the cuts (the lines before it may sit in other chunks).
TEST(LibsvmFormat, ErrorsFromAnyChunkNameTheirLineAndColumn) {
  std::mt19937 rng(11);
  const char* bad[] = {"# a comment", "abc 1:2", "1 1:2 2", "1 3:1 2:1", "1 1:zz", "1 0:1",
                       "1 1:nan", "1 1:1e39", "1.5 1:1", "1 1:1 5:2 5:3", "1 x:1", "1 1:"};
  for (int trial = 0; trial < 40; ++trial) {
    SCOPED_TRACE(trial);
    std::string text = random_text(rng, 60);
    // Insert a bad line (and sometimes a NUL byte) at a line boundary.
    std::vector<std::size_t> starts{0};
    for (std::size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') starts.push_back(i + 1);
    const std::size_t at = starts[rng() % starts.size()];
    std::string line = std::string(bad[rng() % 12]) + "\n";
    if (trial % 5 == 0) line = std::string("1 1:1 2:") + '\0' + "5\n";
    text.insert(at, line);
    if (trial % 3 == 0) text += "\nzz 1:1\n";  // a second error later
    expect_same_as_reference(text);
  }
  // The line and column of an error in the last chunk of a file cut into 8.
  std::string text;
  for (int i = 0; i < 4000; ++i) text += "1 1:0.5 2:0.25 7:-1\n";
  text += "2 1:1 3:x\n";
  for (const LibsvmReadTuning& tuning : tunings()) {
    std::istringstream in(text);
    MINIDL_EXPECT_THROW_WITH(parse_libsvm_csr(in, "mem.txt", 0, tuning), IoError,
                             "mem.txt:4001:9: feature value \"x\" is not a number");
  }
  // The dense reader cuts the same way.
  std::istringstream in(text);
  MINIDL_EXPECT_THROW_WITH(parse_libsvm(in, "mem.txt", 0, kMaxDenseBytes, {100, 8}), IoError,
                           "mem.txt:4001:9: feature value \"x\" is not a number");
}

TEST(LibsvmFormat, DenseReaderCutsLikeTheSparseOne) {
  std::mt19937 rng(3);
  const std::string text = random_text(rng, 300);
  std::istringstream a(text);
  std::istringstream b(text);
  const LibsvmData serial = parse_libsvm(a, "mem.txt", 0, kMaxDenseBytes, {std::size_t{1} << 30, 1});
  const LibsvmData cut = parse_libsvm(b, "mem.txt", 0, kMaxDenseBytes, {5, 7});
  EXPECT_EQ(cut.x.shape(), serial.x.shape());
  EXPECT_EQ(cut.x.to_vector<float>(), serial.x.to_vector<float>());
  EXPECT_EQ(cut.y.to_vector<std::int32_t>(), serial.y.to_vector<std::int32_t>());
}

// write_libsvm's bytes are printf's "%d" and " %lld:%.9g", as before it formatted in
// parallel with to_chars; and what it writes reads back the same.
TEST(LibsvmFormat, WriterBytesAreThePrintfOnes) {
  svm_test::TempDir dir;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::int64_t n = 3000;
  const std::int64_t d = 37;
  std::vector<float> xv(static_cast<std::size_t>(n * d));
  std::vector<std::int32_t> yv(static_cast<std::size_t>(n));
  std::string expected;
  char buf[64];
  for (std::int64_t i = 0; i < n; ++i) {
    yv[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(rng() % 7) - 3;
    std::snprintf(buf, sizeof buf, "%d", yv[static_cast<std::size_t>(i)]);
    expected += buf;
    for (std::int64_t j = 0; j < d; ++j) {
      float v = rng() % 3 == 0 ? 0.0f : normal(rng) * std::pow(10.0f, float(rng() % 20) - 10.0f);
      if (j == 5) v = 1e-40f;  // a subnormal
      xv[static_cast<std::size_t>(i * d + j)] = v;
      if (v != 0.0f) {
        std::snprintf(buf, sizeof buf, " %lld:%.9g", static_cast<long long>(j) + 1, double(v));
        expected += buf;
      }
    }
    expected += "\n";
  }
  const Tensor x = from_vector(xv, {n, d});
  const Tensor y = from_vector(yv, {n});
  write_libsvm(dir.file("d.txt"), x, y);
  std::ifstream f(dir.file("d.txt"), std::ios::binary);
  const std::string written((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(written, expected);
  const LibsvmData back = read_libsvm(dir.file("d.txt"), d);
  EXPECT_EQ(back.x.to_vector<float>(), xv);
  EXPECT_EQ(back.y.to_vector<std::int32_t>(), yv);
}

}  // namespace
}  // namespace minidl::svm
