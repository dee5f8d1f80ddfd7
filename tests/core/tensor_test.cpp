#include "core/tensor.hpp"

#include <sstream>

#include "core/context.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(Tensor, DefaultIsUndefined) {
  const Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_EQ(t.description(), "Tensor(undefined)");
  MINIDL_EXPECT_THROW_WITH(t.clone(), ValueError, "undefined");
  MINIDL_EXPECT_THROW_WITH(t.to_vector<float>(), ValueError, "undefined");
}

TEST(Tensor, Factories) {
  EXPECT_EQ(zeros({2, 3}).to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(ones({4}).to_vector<float>(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(full({3}, -2.5).to_vector<float>(), std::vector<float>(3, -2.5f));
  EXPECT_EQ(full({2}, 7, Device::cpu(), DType::Int32).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{7, 7}));
  const Tensor e = empty({5, 0});
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(e.to_vector<float>().empty());
}

TEST(Tensor, Metadata) {
  const Tensor t = zeros({2, 3, 4}, Device::cpu(), DType::Int32);
  EXPECT_EQ(t.rank(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.dtype(), DType::Int32);
  EXPECT_EQ(t.device(), Device::cpu());
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_EQ(t.description(), "Tensor(shape=[2, 3, 4], dtype=int32, device=cpu)");
}

TEST(Tensor, ArangeFollowsNumpy) {
  EXPECT_EQ(arange(0, 5).to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1, 2, 0.25).to_vector<float>(), (std::vector<float>{1, 1.25f, 1.5f, 1.75f}));
  EXPECT_EQ(arange(5, 0, -2, Device::cpu(), DType::Int32).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{5, 3, 1}));
  EXPECT_EQ(arange(3, 3).numel(), 0);
  EXPECT_EQ(arange(3, 0).numel(), 0);
  MINIDL_EXPECT_THROW_WITH(arange(0, 1, 0), ValueError, "step");
  MINIDL_EXPECT_THROW_WITH(arange(0, INFINITY), ValueError, "finite");
  MINIDL_EXPECT_THROW_WITH(arange(0, 3, 0.5, Device::cpu(), DType::Int32), ValueError, "step 0.5",
                           "int32");
}

TEST(Tensor, FromVector) {
  const Tensor t = from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  const Tensor i = from_vector(std::vector<std::int32_t>{4, -1});
  EXPECT_EQ(i.dtype(), DType::Int32);
  EXPECT_EQ(i.shape(), (Shape{2}));
  MINIDL_EXPECT_THROW_WITH(from_vector({1.f, 2.f, 3.f}, {2, 2}), ShapeError, "3 values", "[2, 2]");
}

TEST(Tensor, ItemNeedsOneElement) {
  EXPECT_EQ(full({1, 1}, 4.5).item<float>(), 4.5f);
  EXPECT_EQ(full({}, 3).item<float>(), 3.0f);
  MINIDL_EXPECT_THROW_WITH(zeros({2}).item<float>(), ShapeError, "exactly one", "[2]");
}

TEST(Tensor, TypedAccessChecksTheDtype) {
  const Tensor t = zeros({2});
  EXPECT_NE(t.data<float>(), nullptr);
  MINIDL_EXPECT_THROW_WITH(t.data<std::int32_t>(), DTypeError, "float32", "int32");
  MINIDL_EXPECT_THROW_WITH(t.to_vector<std::int32_t>(), DTypeError, "float32");
}

TEST(Tensor, CopiesShareStorageAndCloneDoesNot) {
  Tensor a = zeros({3});
  Tensor shared = a;
  Tensor copy = a.clone();
  a.fill_(5);
  EXPECT_EQ(shared.to_vector<float>(), std::vector<float>(3, 5.0f));
  EXPECT_EQ(copy.to_vector<float>(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(a.to(Device::cpu()).storage(), a.storage());  // same device: a handle, no copy
}

TEST(Tensor, ViewSharesStorage) {
  Tensor a = arange(0, 12);
  Tensor v = a.view({3, 4});
  EXPECT_EQ(v.shape(), (Shape{3, 4}));
  EXPECT_EQ(v.storage(), a.storage());
  EXPECT_EQ(a.reshape({2, -1, 2}).shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(a.reshape({-1}).shape(), (Shape{12}));
  v.fill_(1);
  EXPECT_EQ(a.to_vector<float>(), std::vector<float>(12, 1.0f));
}

TEST(Tensor, BadViewsAreErrors) {
  const Tensor a = zeros({3, 4});
  MINIDL_EXPECT_THROW_WITH(a.view({5, 2}), ShapeError, "[3, 4]", "[5, 2]");
  MINIDL_EXPECT_THROW_WITH(a.view({-1, -1}), ShapeError, "more than one -1");
  MINIDL_EXPECT_THROW_WITH(a.view({5, -1}), ShapeError, "cannot infer");
  MINIDL_EXPECT_THROW_WITH(zeros({0, 3}).view({0, -1}), ShapeError, "cannot infer");
}

TEST(Tensor, CopyFromChecksShapesAndDtypes) {
  Tensor dst = zeros({2, 2});
  dst.copy_from(from_vector({1.f, 2.f, 3.f, 4.f}, {2, 2}));
  EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  MINIDL_EXPECT_THROW_WITH(dst.copy_from(zeros({4})), ShapeError, "[2, 2]", "[4]");
  MINIDL_EXPECT_THROW_WITH(dst.copy_from(zeros({2, 2}, Device::cpu(), DType::Int32)), DTypeError,
                           "float32", "int32");
}

TEST(Tensor, FillInt32NeedsIntegers) {
  Tensor t = zeros({3}, Device::cpu(), DType::Int32);
  t.fill_(-4);
  EXPECT_EQ(t.to_vector<std::int32_t>(), std::vector<std::int32_t>(3, -4));
  MINIDL_EXPECT_THROW_WITH(t.fill_(1.5), ValueError, "1.5", "int32");
  MINIDL_EXPECT_THROW_WITH(t.fill_(3e10), ValueError, "int32");
}

TEST(Tensor, PrintsLikeNumpy) {
  std::ostringstream out;
  out << from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  EXPECT_EQ(out.str(), "Tensor(shape=[2, 3], dtype=float32, device=cpu)\n[[1, 2, 3],\n [4, 5, 6]]");
  std::ostringstream scalar;
  scalar << full({}, 2);
  EXPECT_EQ(scalar.str(), "Tensor(shape=[], dtype=float32, device=cpu)\n2");
}

TEST(Tensor, LargeTensorsPrintSummarised) {
  std::ostringstream out;
  out << arange(0, 2000, 1, Device::cpu(), DType::Int32);
  EXPECT_EQ(out.str(),
            "Tensor(shape=[2000], dtype=int32, device=cpu)\n[0, 1, 2, ..., 1997, 1998, 1999]");
}

// ---- CUDA ------------------------------------------------------------------------

TEST(TensorCuda, RoundTripKeepsEveryBit) {
  MINIDL_REQUIRE_CUDA();
  Generator gen(5);
  // Sizes around the 8 MiB staging chunk exercise partial and multiple chunks.
  for (std::int64_t n : {1, 1000, (8 << 20) / 4 - 1, (8 << 20) / 4, 5 << 20}) {
    const Tensor host = normal({n}, 0.0f, 1.0f, gen);
    const Tensor dev = host.to(Device::cuda());
    EXPECT_EQ(dev.device(), Device::cuda(0));
    EXPECT_EQ(dev.shape(), host.shape());
    EXPECT_EQ(dev.to(Device::cpu()).to_vector<float>(), host.to_vector<float>()) << "n = " << n;
    EXPECT_EQ(dev.to_vector<float>(), host.to_vector<float>()) << "n = " << n;
  }
}

TEST(TensorCuda, FactoriesMatchTheCpu) {
  MINIDL_REQUIRE_CUDA();
  const Device g = Device::cuda();
  EXPECT_EQ(zeros({7, 3}, g).to_vector<float>(), zeros({7, 3}).to_vector<float>());
  EXPECT_EQ(ones({1000}, g).to_vector<float>(), ones({1000}).to_vector<float>());
  EXPECT_EQ(full({5}, -3, g, DType::Int32).to_vector<std::int32_t>(),
            std::vector<std::int32_t>(5, -3));
  EXPECT_EQ(arange(-3, 7, 0.1, g).to_vector<float>(), arange(-3, 7, 0.1).to_vector<float>());
  EXPECT_EQ(arange(10, -10, -3, g, DType::Int32).to_vector<std::int32_t>(),
            arange(10, -10, -3, Device::cpu(), DType::Int32).to_vector<std::int32_t>());
  EXPECT_EQ((from_vector({1.f, 2.f}, {2, 1}, g).to_vector<float>()), (std::vector<float>{1, 2}));
  EXPECT_EQ(full({}, 9, g).item<float>(), 9.0f);
  EXPECT_EQ(empty({0}, g).to_vector<float>().size(), 0u);
}

TEST(TensorCuda, CloneCopyFromAndViewOnTheDevice) {
  MINIDL_REQUIRE_CUDA();
  const Device g = Device::cuda();
  Tensor a = arange(0, 6, 1, g).view({2, 3});
  Tensor b = a.clone();
  EXPECT_NE(b.storage(), a.storage());
  a.fill_(0);
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  Tensor c = zeros({2, 3}, g);
  c.copy_from(b);  // device -> device
  EXPECT_EQ(c.to_vector<float>(), b.to_vector<float>());
  Tensor h = zeros({2, 3});
  h.copy_from(c);  // device -> host
  EXPECT_EQ(h.to_vector<float>(), b.to_vector<float>());
  c.copy_from(from_vector({9.f, 8.f, 7.f, 6.f, 5.f, 4.f}, {2, 3}));  // host -> device
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{9, 8, 7, 6, 5, 4}));
  std::ostringstream out;
  out << c;
  EXPECT_EQ(out.str(),
            "Tensor(shape=[2, 3], dtype=float32, device=cuda:0)\n[[9, 8, 7],\n [6, 5, 4]]");
}

TEST(TensorCuda, PinnedCopiesAreAsynchronousButOrdered) {
  MINIDL_REQUIRE_CUDA();
  Generator gen(8);
  const Tensor host = uniform({1 << 20}, 0.0f, 1.0f, gen);
  const Tensor pinned = host.pin_memory();
  EXPECT_TRUE(pinned.is_pinned());
  EXPECT_EQ(pinned.device(), Device::cpu());
  const Tensor dev = pinned.to(Device::cuda());
  // Queued after the copy on the same stream, so it sees the copied data.
  EXPECT_EQ(dev.clone().to_vector<float>(), host.to_vector<float>());
  MINIDL_EXPECT_THROW_WITH(dev.pin_memory(), DeviceError, "only CPU tensors");
}

TEST(TensorCuda, SourceMayChangeRightAfterAStagedCopy) {
  MINIDL_REQUIRE_CUDA();
  Tensor host = full({3 << 20}, 1.0);
  const Tensor dev = host.to(Device::cuda());
  host.fill_(2);  // the copy above has staged its data already
  EXPECT_EQ(dev.to_vector<float>(), std::vector<float>(3 << 20, 1.0f));
}

TEST(TensorCuda, EveryDeviceRoundTrips) {
  MINIDL_REQUIRE_CUDA();
  const Tensor host = arange(0, 4096);
  for (int i = 0; i < cuda_device_count(); ++i) {
    const Tensor d = host.to(Device::cuda(i));
    EXPECT_EQ(d.device(), Device::cuda(i));
    EXPECT_EQ(d.to(Device::cuda(0)).to_vector<float>(), host.to_vector<float>());
  }
}

TEST(TensorCuda, MemoryReturnsToThePool) {
  MINIDL_REQUIRE_CUDA();
  CudaContext& ctx = CudaContext::get(0);
  ctx.synchronize();
  const std::size_t before = ctx.memory_info().pool_used;
  {
    const Tensor t = zeros({1 << 24}, Device::cuda());
    ctx.synchronize();
    EXPECT_GE(ctx.memory_info().pool_used, before + (std::size_t{1} << 26));
  }
  ctx.synchronize();
  EXPECT_EQ(ctx.memory_info().pool_used, before);
  EXPECT_GE(ctx.memory_info().pool_reserved, std::size_t{1} << 26);  // kept for reuse
}

}  // namespace
}  // namespace minidl
