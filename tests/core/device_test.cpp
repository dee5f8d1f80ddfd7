#include "core/device.hpp"

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/tensor.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(Device, DefaultIsCpu) {
  const Device d;
  EXPECT_TRUE(d.is_cpu());
  EXPECT_EQ(d, Device::cpu());
  EXPECT_EQ(d.str(), "cpu");
}

TEST(Device, CudaCarriesItsIndex) {
  const Device d = Device::cuda(3);
  EXPECT_TRUE(d.is_cuda());
  EXPECT_EQ(d.index(), 3);
  EXPECT_EQ(d.str(), "cuda:3");
  EXPECT_NE(Device::cuda(0), Device::cuda(1));
  EXPECT_NE(Device::cuda(0), Device::cpu());
}

TEST(Device, Parse) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:2"), Device::cuda(2));
  MINIDL_EXPECT_THROW_WITH(Device::parse("gpu"), DeviceError, "\"gpu\"");
  MINIDL_EXPECT_THROW_WITH(Device::parse("cuda:"), DeviceError, "\"cuda:\"");
  MINIDL_EXPECT_THROW_WITH(Device::parse("cuda:x1"), DeviceError, "\"cuda:x1\"");
}

// A long text is quoted by its first 64 bytes and its size, not echoed whole (the command
// lines pass --device's value straight here; fuzz target command_line).
TEST(Device, ParseQuotesALongTextInPart) {
  const std::string text = "cuda:" + std::string(100000, '7');
  try {
    (void)Device::parse(text);
    FAIL() << "no DeviceError";
  } catch (const DeviceError& e) {
    const std::string what = e.what();
    EXPECT_LT(what.size(), 200u) << what.substr(0, 300);
    EXPECT_NE(what.find("(100005 bytes)"), std::string::npos) << what.substr(0, 300);
  }
}

TEST(Device, AvailabilityIsConsistent) {
  if (cuda_available()) {
    EXPECT_TRUE(built_with_cuda());
    EXPECT_GT(cuda_device_count(), 0);
    EXPECT_EQ(cuda_unavailable_reason(), "");
  } else {
    EXPECT_EQ(cuda_device_count(), 0);
    EXPECT_FALSE(cuda_unavailable_reason().empty());
  }
}

TEST(Device, CpuIsAlwaysUsable) { EXPECT_NO_THROW(check_device(Device::cpu())); }

// The CUDA-enabled build on a machine with no GPU (or a GPU machine with CUDA
// switched off) must answer "no GPU" and fail clearly, never crash.
TEST(Device, EnvironmentVariableTurnsCudaOff) {
  test::ScopedEnv off("MINIDL_DISABLE_CUDA", "1");
  EXPECT_FALSE(cuda_available());
  EXPECT_EQ(cuda_device_count(), 0);
  EXPECT_NE(cuda_unavailable_reason().find("MINIDL_DISABLE_CUDA"), std::string::npos);
  MINIDL_EXPECT_THROW_WITH(zeros({2, 2}, Device::cuda()), DeviceError, "cuda:0",
                           "MINIDL_DISABLE_CUDA");
  MINIDL_EXPECT_THROW_WITH(CudaContext::get(0), DeviceError, "unavailable");
  MINIDL_EXPECT_THROW_WITH(zeros({2}).to(Device::cuda()), DeviceError, "cuda:0");
  MINIDL_EXPECT_THROW_WITH(zeros({2}).pin_memory(), DeviceError, "unavailable");
}

TEST(Device, ZeroMeansEnabled) {
  test::ScopedEnv on("MINIDL_DISABLE_CUDA", "0");
  EXPECT_EQ(cuda_unavailable_reason().find("MINIDL_DISABLE_CUDA"), std::string::npos);
}

TEST(Device, CudaTensorWithoutGpuIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  MINIDL_EXPECT_THROW_WITH(empty({3}, Device::cuda()), DeviceError, "CUDA is unavailable");
  MINIDL_EXPECT_THROW_WITH(check_device(Device::cuda(0)), DeviceError, "cuda:0");
}

TEST(Device, NonexistentGpuIndexIsAClearError) {
  MINIDL_REQUIRE_CUDA();
  const int n = cuda_device_count();
  MINIDL_EXPECT_THROW_WITH(empty({3}, Device::cuda(n)), DeviceError, "does not exist");
  MINIDL_EXPECT_THROW_WITH(check_device(Device::cuda(-1)), DeviceError, "does not exist");
}

TEST(Device, ContextIsCreatedOnceAndDescribesTheGpu) {
  MINIDL_REQUIRE_CUDA();
  CudaContext& a = CudaContext::get(0);
  CudaContext& b = CudaContext::get(0);
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(a.device(), 0);
  EXPECT_FALSE(a.info().name.empty());
  EXPECT_GT(a.info().multiprocessors, 0);
  EXPECT_GT(a.info().total_memory, 0u);
  EXPECT_NE(a.stream(), nullptr);
  EXPECT_NE(a.cublas(), nullptr);
  EXPECT_EQ(a.cublas(), a.cublas());
  EXPECT_NE(a.cudnn(), nullptr);
  EXPECT_NO_THROW(a.synchronize());
  const CudaMemoryInfo m = a.memory_info();
  EXPECT_GT(m.device_total, 0u);
  EXPECT_LE(m.device_free, m.device_total);
  EXPECT_GE(m.available(), m.device_free);
}

TEST(CudaMemoryInfo, AvailableCountsThePoolsUnusedBlocks) {
  // The pool keeps freed blocks (release threshold: never), so the driver's free figure
  // alone shrinks over a run; what an allocation can get includes them.
  CudaMemoryInfo m;
  m.device_free = 1000;
  m.device_total = 4000;
  m.pool_reserved = 600;
  m.pool_used = 250;
  EXPECT_EQ(m.available(), 1350u);
  m.pool_used = 600;
  EXPECT_EQ(m.available(), 1000u);
  m.pool_used = 700;  // the two attributes are read one after the other: never negative
  EXPECT_EQ(m.available(), 1000u);
}

}  // namespace
}  // namespace minidl
