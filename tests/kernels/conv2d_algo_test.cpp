// The choice among cuDNN's timed convolution algorithms (kernels/conv2d_algo.hpp),
// on made-up search results: cuDNN itself only runs on a GPU.
#include "kernels/conv2d_algo.hpp"

#include "core/error.hpp"
#include "test_util.hpp"

namespace minidl::conv2d_algo {
namespace {

Candidate c(int algo, float ms, bool det, bool ok = true, bool fp32 = true,
            std::size_t workspace = 0) {
  Candidate x;
  x.algo = algo;
  x.succeeded = ok;
  x.time_ms = ms;
  x.workspace = workspace;
  x.deterministic = det;
  x.fp32_math = fp32;
  return x;
}

TEST(Conv2dAlgo, DeterministicModeSkipsFasterNonDeterministicAlgorithms) {
  // cuDNN lists by time: the atomics-based backward-filter algorithm first.
  const std::vector<Candidate> found{c(0, 0.5f, false), c(1, 0.9f, true), c(3, 0.7f, true)};
  EXPECT_EQ(choose(found, true, "backward-filter"), 2u);
  EXPECT_EQ(choose(found, false, "backward-filter"), 0u);
}

TEST(Conv2dAlgo, FailedAndTensorOpAlgorithmsAreNeverChosen) {
  const std::vector<Candidate> found{c(6, 0.1f, true, false), c(1, 0.2f, true, true, false),
                                     c(2, 0.8f, true)};
  EXPECT_EQ(choose(found, true, "forward"), 2u);
  EXPECT_EQ(choose(found, false, "forward"), 2u);
}

TEST(Conv2dAlgo, TiesGoToTheSmallerWorkspaceThenTheEarlierOne) {
  const std::vector<Candidate> found{c(0, 1.0f, true, true, true, 100),
                                     c(1, 1.0f, true, true, true, 10),
                                     c(2, 1.0f, true, true, true, 10)};
  EXPECT_EQ(choose(found, true, "forward"), 1u);
}

TEST(Conv2dAlgo, NothingQualifiesIsAClearError) {
  MINIDL_EXPECT_THROW_WITH(choose({c(0, 0.5f, false), c(1, 0.6f, false)}, true, "backward-data"),
                           CudaError, "no deterministic backward-data algorithm",
                           "MINIDL_DETERMINISTIC=0");
  MINIDL_EXPECT_THROW_WITH(choose({c(0, 0.5f, true, false), c(1, 0.6f, true, true, false)}, true,
                                  "forward"),
                           CudaError, "no forward algorithm with FP32 math", "2 tried");
  MINIDL_EXPECT_THROW_WITH(choose({}, false, "forward"), CudaError, "0 tried");
}

}  // namespace
}  // namespace minidl::conv2d_algo
