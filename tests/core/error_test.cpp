#include "core/error.hpp"

#include "core/context.hpp"
#include "core/tensor.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(Error, HierarchyLetsCallersCatchTheBase) {
  EXPECT_THROW(throw ShapeError("s"), Error);
  EXPECT_THROW(throw ValueError("v"), Error);
  EXPECT_THROW(throw DTypeError("d"), Error);
  EXPECT_THROW(throw DeviceError("d"), Error);
  EXPECT_THROW(throw IoError("i"), Error);
  EXPECT_THROW(throw CudaError("c"), Error);
  EXPECT_THROW(throw OutOfMemoryError("o", 1, 2, 3), CudaError);
  EXPECT_THROW(throw Error("e"), std::runtime_error);
}

TEST(Error, CheckMacroStreamsItsMessage) {
  const Shape a{2, 3}, b{3, 2};
  MINIDL_EXPECT_THROW_WITH(MINIDL_CHECK(a == b, ShapeError, "add: ", a, " vs ", b), ShapeError,
                           "add: [2, 3] vs [3, 2]");
  EXPECT_NO_THROW(MINIDL_CHECK(a == a, ShapeError, "never"));
}

TEST(Error, OutOfMemoryCarriesTheNumbers) {
  const OutOfMemoryError e("oom", 100, 40, 200);
  EXPECT_EQ(e.requested_bytes(), 100u);
  EXPECT_EQ(e.free_bytes(), 40u);
  EXPECT_EQ(e.total_bytes(), 200u);
}

// Asking a GPU for far more than it has says how much was asked and how much is free,
// and leaves the device usable.
TEST(Error, CudaOutOfMemorySaysHowMuch) {
  MINIDL_REQUIRE_CUDA();
  const std::int64_t huge = std::int64_t{1} << 48;  // 1 PiB of float32
  try {
    (void)empty({huge}, Device::cuda());
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    EXPECT_EQ(e.requested_bytes(), static_cast<std::size_t>(huge) * 4);
    EXPECT_GT(e.total_bytes(), 0u);
    EXPECT_NE(std::string(e.what()).find("asked for"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("free"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ones({4}, Device::cuda()).to_vector<float>(), std::vector<float>(4, 1.0f));
}

}  // namespace
}  // namespace minidl
