#include "svm/libsvm_format.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

LibsvmData parse(const std::string& text, std::int64_t d = 0) {
  std::istringstream in(text);
  return parse_libsvm(in, "mem.txt", d);
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

}  // namespace
}  // namespace minidl::svm
