// The aliasing test behind map_kernel's choice between its __restrict__/__ldg
// variant and the plain one (kernels/alias.hpp): in-place calls (axpy, in-place
// activations) must take the plain one. The kernels themselves run on a GPU only;
// the CPU results of in-place calls are checked here too.
#include "kernels/alias.hpp"

#include "kernels/activation.hpp"
#include "kernels/arith.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(Alias, OverlapOfFloatRanges) {
  float buf[16] = {};
  EXPECT_TRUE(detail::ranges_overlap(buf, 16, buf, 16));
  EXPECT_TRUE(detail::ranges_overlap(buf, 16, buf + 3, 16));
  EXPECT_TRUE(detail::ranges_overlap(buf + 3, 16, buf, 16));
  EXPECT_FALSE(detail::ranges_overlap(buf, 16, buf + 4, 16));
  EXPECT_FALSE(detail::ranges_overlap(buf + 4, 16, buf, 16));
  EXPECT_FALSE(detail::ranges_overlap(buf, 0, buf, 16));
  EXPECT_FALSE(detail::output_overlaps(buf, 0, static_cast<const float*>(buf)));
  // axpy's call: out = y, inputs (x, y).
  EXPECT_TRUE(detail::output_overlaps(buf + 8, 8, static_cast<const float*>(buf),
                                      static_cast<const float*>(buf + 8)));
  EXPECT_FALSE(detail::output_overlaps(buf + 8, 8, static_cast<const float*>(buf)));
  EXPECT_FALSE(detail::output_overlaps(buf, 8));
}

TEST(AliasParity, InPlaceElementwiseOnCudaMatchesTheCpu) {
  MINIDL_REQUIRE_CUDA();
  Generator gen(4);
  for (std::int64_t n : {1, 5, 4096, (1 << 20) + 3}) {
    SCOPED_TRACE(n);
    const Tensor x = normal({n}, 0.0f, 1.0f, gen);
    const Tensor y0 = normal({n}, 0.0f, 1.0f, gen);
    Tensor yc = y0.clone();
    axpy(0.5f, x, yc);
    Tensor yg = y0.to(Device::cuda());
    axpy(0.5f, x.to(Device::cuda()), yg);
    EXPECT_TRUE(test::all_close(yg.to_vector<float>(), yc.to_vector<float>(), 0.0f, 0.0f));
    Tensor zc = x.clone(), zg = x.to(Device::cuda());
    activation_forward(Activation::ReLU, zc, zc);
    activation_forward(Activation::ReLU, zg, zg);
    EXPECT_TRUE(test::all_close(zg.to_vector<float>(), zc.to_vector<float>(), 0.0f, 0.0f));
  }
}

}  // namespace
}  // namespace minidl
