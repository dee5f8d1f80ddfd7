#include "kernels/arith.hpp"

#include "test_util.hpp"

namespace minidl {
namespace {

const Tensor kA = from_vector({1.0f, -2.0f, 3.5f}, {3});
const Tensor kB = from_vector({4.0f, 0.5f, -1.0f}, {3});

TEST(Arith, Values) {
  EXPECT_EQ(add(kA, kB).to_vector<float>(), (std::vector<float>{5, -1.5f, 2.5f}));
  EXPECT_EQ(sub(kA, kB).to_vector<float>(), (std::vector<float>{-3, -2.5f, 4.5f}));
  EXPECT_EQ(mul(kA, kB).to_vector<float>(), (std::vector<float>{4, -1, -3.5f}));
  EXPECT_EQ(scale(kA, -2.0f).to_vector<float>(), (std::vector<float>{-2, 4, -7}));
  Tensor y = kB.clone();
  axpy(2.0f, kA, y);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{6, -3.5f, 6}));
}

TEST(Arith, InPlaceOutputs) {
  Tensor a = kA.clone();
  add(a, kB, a);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{5, -1.5f, 2.5f}));
  scale(a, 0.5f, a);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{2.5f, -0.75f, 1.25f}));
}

TEST(Arith, BadInput) {
  MINIDL_EXPECT_THROW_WITH(add(kA, zeros({4})), ShapeError, "add", "[3]", "[4]");
  MINIDL_EXPECT_THROW_WITH(mul(kA, zeros({3}, Device::cpu(), DType::Int32)), DTypeError, "mul",
                           "int32");
  Tensor y = zeros({2});
  MINIDL_EXPECT_THROW_WITH(axpy(1.0f, kA, y), ShapeError, "axpy", "[3]", "[2]");
  Tensor out = zeros({3}, Device::cpu(), DType::Int32);
  MINIDL_EXPECT_THROW_WITH(sub(kA, kB, out), DTypeError, "sub", "output");
}

// CPU-vs-CUDA values: tests/parity (Add_*, Sub_*, Mul_*, Scale_*, Axpy_*).
TEST(ArithCuda, DeviceMismatchIsAnError) {
  MINIDL_REQUIRE_CUDA();
  MINIDL_EXPECT_THROW_WITH(add(kA, kA.to(Device::cuda())), DeviceError, "add", "cuda:0");
}

}  // namespace
}  // namespace minidl
