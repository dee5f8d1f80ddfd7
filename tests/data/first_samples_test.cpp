#include "data/fashion_mnist.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(FirstSamples, ViewsThePrefixWithoutCopying) {
  Dataset d{arange(0, 12).view({4, 3}), from_vector({5, 6, 7, 8})};
  const Dataset two = first_samples(d, 2);
  EXPECT_EQ(two.images.shape(), Shape({2, 3}));
  EXPECT_EQ(two.labels.to_vector<std::int32_t>(), (std::vector<std::int32_t>{5, 6}));
  EXPECT_EQ(two.images.to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(two.images.storage(), d.images.storage());  // a view
  for (std::int64_t all : {0, -1, 4, 10}) {
    EXPECT_EQ(first_samples(d, all).images.shape(), Shape({4, 3})) << all;
    EXPECT_EQ(first_samples(d, all).labels.shape(), Shape({4})) << all;
  }
}

}  // namespace
}  // namespace minidl
