// Copies out of pinned host tensors are asynchronous; the host's next write to the
// tensor, and its deallocation, wait for them (core/storage.hpp). Only a GPU can
// show it (names with "Parity"; they skip without one): refill the pinned source
// right after queueing the copy, and the device copy must still hold the old values.
#include "core/context.hpp"
#include "core/tensor.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(PinnedCopyParity, RefillingThePinnedSourceWaitsForTheCopy) {
  MINIDL_REQUIRE_CUDA();
  const std::int64_t n = std::int64_t{1} << 25;  // 128 MiB: several ms of DMA
  Tensor host = full({n}, 1.0f).pin_memory();
  ASSERT_TRUE(host.is_pinned());
  for (int round = 0; round < 3; ++round) {
    Tensor dev = empty({n}, Device::cuda());
    // Queue work ahead of the copy so that it surely has not run yet.
    for (int i = 0; i < 4; ++i) empty({n}, Device::cuda()).fill_(0.0);
    dev.copy_from(host);
    host.fill_(2.0 + round);                  // must wait for the DMA
    host.data<float>()[n - 1] = -1.0f;        // so must a write through data()
    const std::vector<float> got = dev.to_vector<float>();
    const auto expect = static_cast<float>(1 + round);  // the values before the refill
    std::int64_t wrong = 0;
    for (float v : got) wrong += v != expect;
    EXPECT_EQ(wrong, 0) << "round " << round;
    host.data<float>()[n - 1] = static_cast<float>(2 + round);  // the next round's value, everywhere
  }
}

TEST(PinnedCopyParity, FreeingThePinnedSourceWaitsForEveryDevice) {
  MINIDL_REQUIRE_CUDA();
  const std::int64_t n = std::int64_t{1} << 24;
  const int devices = cuda_device_count();
  std::vector<Tensor> outs;
  {
    Tensor host = full({n}, 3.0f).pin_memory();
    for (int d = 0; d < devices; ++d) {
      for (int i = 0; i < 4; ++i) empty({n}, Device::cuda(d)).fill_(0.0);
      outs.push_back(host.to(Device::cuda(d)));
    }
  }  // freed here: after every device's copy has read it
  for (int d = 0; d < devices; ++d) {
    const std::vector<float> got = outs[static_cast<std::size_t>(d)].to_vector<float>();
    std::int64_t wrong = 0;
    for (float v : got) wrong += v != 3.0f;
    EXPECT_EQ(wrong, 0) << "cuda:" << d;
  }
}

}  // namespace
}  // namespace minidl
