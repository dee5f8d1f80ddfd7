#include "svm/libsvm_format.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

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

}  // namespace
}  // namespace minidl::svm
