// add_row_vector on the CPU and CUDA, including more row blocks than the CUDA
// grid's y extent (65535) holds.
#include "kernels/broadcast.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

void check(Device device, std::int64_t rows, std::int64_t cols) {
  SCOPED_TRACE(detail::concat(device, " rows=", rows, " cols=", cols));
  Generator gen(static_cast<std::uint64_t>(rows + cols));
  const Tensor z0 = normal({rows, cols}, 0.0f, 1.0f, gen);
  const Tensor b = normal({cols}, 0.0f, 1.0f, gen);
  Tensor z = z0.clone().to(device);
  add_row_vector(z, b.to(device));
  const auto zv = z0.to_vector<float>(), bv = b.to_vector<float>();
  std::vector<float> ref(zv.size());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const auto i = static_cast<std::size_t>(r * cols + c);
      ref[i] = zv[i] + bv[static_cast<std::size_t>(c)];
    }
  EXPECT_EQ(z.to_vector<float>(), ref);
}

TEST(Broadcast, AddRowVector) {
  check(Device::cpu(), 5, 7);
  check(Device::cpu(), 1, 1000);
}

TEST(Broadcast, BadInput) {
  Tensor z = zeros({2, 3});
  MINIDL_EXPECT_THROW_WITH(add_row_vector(z, zeros({2})), ShapeError, "add_row_vector", "[2, 3]");
}

}  // namespace
}  // namespace minidl
