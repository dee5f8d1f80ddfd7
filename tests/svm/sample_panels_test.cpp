// SamplePanels (svm/sample_panels.hpp): dot products of query rows with packed
// samples equal plain dot products; a value does not depend on how many rows were
// asked with it (bitwise), and the AVX2 and portable loops agree bitwise, for
// sample counts that leave a partial panel and query counts that leave partial tiles.
#include "svm/sample_panels.hpp"

#include <cmath>

#include "core/tensor.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

TEST(SamplePanels, DotsArePlainDotProductsWhateverTheBatch) {
  Generator gen(3);
  for (const auto& [n, d] : {std::pair<std::int64_t, std::int64_t>{37, 5}, {16, 1}, {50, 33}}) {
    SCOPED_TRACE(testing::Message() << n << " x " << d);
    const std::vector<float> x = normal({n, d}, 0.0f, 1.0f, gen).to_vector<float>();
    const SamplePanels panels(x.data(), n, d);
    EXPECT_EQ(panels.rows(), n);
    EXPECT_EQ(panels.bytes(), static_cast<std::size_t>((n + 15) / 16 * 16 * d) * sizeof(float));
    std::vector<float> scratch;
    // Every row alone (m = 1) is the reference for the batches.
    std::vector<std::vector<float>> alone(static_cast<std::size_t>(n),
                                          std::vector<float>(static_cast<std::size_t>(n)));
    for (std::int64_t i = 0; i < n; ++i) {
      const float* q[1] = {x.data() + i * d};
      float* o[1] = {alone[static_cast<std::size_t>(i)].data()};
      panels.dots(q, 1, o, scratch);
      for (std::int64_t j = 0; j < n; ++j) {
        double ref = 0.0;
        for (std::int64_t k = 0; k < d; ++k) ref += double(x[i * d + k]) * x[j * d + k];
        const float got = alone[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
        ASSERT_NEAR(got, ref, 1e-5 * (1.0 + std::fabs(ref)) * double(d)) << i << ", " << j;
        EXPECT_EQ(got, SamplePanels::dot(x.data() + i * d, x.data() + j * d, d));
      }
    }
    for (const std::int64_t m : {2, 6, 7, 13}) {
      for (const bool portable : {false, true}) {
        std::vector<const float*> q;
        std::vector<std::vector<float>> out(static_cast<std::size_t>(m),
                                            std::vector<float>(static_cast<std::size_t>(n)));
        std::vector<float*> o;
        for (std::int64_t r = 0; r < m; ++r) {
          q.push_back(x.data() + ((r * 5 + 1) % n) * d);
          o.push_back(out[static_cast<std::size_t>(r)].data());
        }
        panels.dots(q.data(), m, o.data(), scratch, portable);
        for (std::int64_t r = 0; r < m; ++r)
          ASSERT_EQ(out[static_cast<std::size_t>(r)], alone[static_cast<std::size_t>((r * 5 + 1) % n)])
              << "m " << m << " row " << r << (portable ? " portable" : "");
      }
    }
  }
}

TEST(SamplePanels, NoSamplesOrNoQueriesWriteNothing) {
  const std::vector<float> x{1.0f, 2.0f};
  const SamplePanels empty_set(x.data(), 0, 2);
  std::vector<float> out{7.0f};
  float* o[1] = {out.data()};
  const float* q[1] = {x.data()};
  std::vector<float> scratch;
  empty_set.dots(q, 1, o, scratch);
  const SamplePanels one(x.data(), 1, 2);
  one.dots(q, 0, o, scratch);
  EXPECT_EQ(out[0], 7.0f);
  one.dots(q, 1, o, scratch);
  EXPECT_EQ(out[0], 5.0f);
  EXPECT_THROW(SamplePanels(x.data(), 1, 0), ValueError);
}

}  // namespace
}  // namespace minidl::svm
