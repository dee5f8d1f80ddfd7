#include "core/storage.hpp"

#include <cstdint>
#include <cstring>

#include "core/error.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(Storage, HostMemoryIsAlignedAndWritable) {
  for (std::size_t n : {1u, 63u, 64u, 1000u, 1u << 20}) {
    const auto s = Storage::allocate(n, Device::cpu());
    ASSERT_NE(s->data(), nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s->data()) % 64, 0u);
    EXPECT_EQ(s->nbytes(), n);
    EXPECT_EQ(s->device(), Device::cpu());
    EXPECT_FALSE(s->pinned());
    std::memset(s->data(), 0xab, n);
  }
}

TEST(Storage, ZeroBytesIsFine) {
  const auto s = Storage::allocate(0, Device::cpu());
  EXPECT_EQ(s->nbytes(), 0u);
}

TEST(Storage, PinnedNeedsAGpu) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  MINIDL_EXPECT_THROW_WITH(Storage::allocate(16, Device::cpu(), true), DeviceError, "unavailable");
}

TEST(Storage, PinnedOnlyOnTheHost) {
  MINIDL_REQUIRE_CUDA();
  MINIDL_EXPECT_THROW_WITH(Storage::allocate(16, Device::cuda(), true), ValueError, "pinned");
  const auto s = Storage::allocate(1 << 16, Device::cpu(), true);
  EXPECT_TRUE(s->pinned());
  std::memset(s->data(), 1, s->nbytes());
}

TEST(Storage, DeviceMemoryComesFromThePool) {
  MINIDL_REQUIRE_CUDA();
  const auto s = Storage::allocate(1 << 20, Device::cuda());
  EXPECT_NE(s->data(), nullptr);
  EXPECT_EQ(s->device(), Device::cuda(0));
  EXPECT_EQ(Storage::allocate(0, Device::cuda())->data(), nullptr);
}

}  // namespace
}  // namespace minidl
