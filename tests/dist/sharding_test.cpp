// Sharded loading across the processes of the job (dist::sharded): every
// training index is seen exactly once per epoch across ranks, each global batch
// is exactly the one a single process with the global batch sees, and the last,
// partial batch is split (or empty on some ranks) as data/loader.hpp says.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "data/loader.hpp"
#include "dist/collectives.hpp"
#include "dist/data_parallel.hpp"
#include "dist/process.hpp"

namespace minidl::dist {
namespace {

std::string bytes_of(const std::vector<std::int32_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(std::int32_t));
}
std::vector<std::int32_t> ints_of(const std::string& s) {
  std::vector<std::int32_t> v(s.size() / sizeof(std::int32_t));
  if (!v.empty()) std::memcpy(v.data(), s.data(), s.size());
  return v;
}

void check_epochs(std::int64_t n, std::int64_t global_batch) {
  // Labels are the sample indices.
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  std::iota(labels.begin(), labels.end(), 0);
  Tensor y = from_vector(labels);
  Tensor x = zeros({n, 3});
  LoaderOptions options{global_batch, true, /*seed=*/17};
  DataLoader whole(x, y, options);
  DataLoader mine(x, y, sharded(options));
  ASSERT_EQ(mine.batches_per_epoch(), whole.batches_per_epoch());
  for (std::int64_t epoch = 0; epoch < 2; ++epoch) {
    whole.start_epoch(epoch);
    mine.start_epoch(epoch);
    std::multiset<std::int32_t> seen;
    Batch wb, mb;
    while (whole.next(wb)) {
      ASSERT_TRUE(mine.next(mb));
      EXPECT_EQ(mb.global_size, wb.size);
      const std::vector<std::string> shares = all_gather(bytes_of(mb.y.to_vector<std::int32_t>()));
      std::vector<std::int32_t> joined;
      for (int r = 0; r < world_size(); ++r) {
        const std::vector<std::int32_t> part = ints_of(shares[static_cast<std::size_t>(r)]);
        const std::int64_t expected = wb.size / world_size() + (r < wb.size % world_size());
        EXPECT_EQ(static_cast<std::int64_t>(part.size()), expected)
            << "rank " << r << ", epoch " << epoch << ", batch " << wb.index;
        joined.insert(joined.end(), part.begin(), part.end());
      }
      EXPECT_EQ(joined, wb.y.to_vector<std::int32_t>()) << "epoch " << epoch << ", batch " << wb.index;
      seen.insert(joined.begin(), joined.end());
    }
    EXPECT_FALSE(mine.next(mb));
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(n));
    std::int32_t i = 0;
    for (std::int32_t v : seen) EXPECT_EQ(v, i++) << "every index exactly once";
  }
}

TEST(Sharding, EveryIndexOncePerEpochAcrossRanks) { check_epochs(103, 10); }

// 41 samples in global batches of 20: the last batch has one sample; with two
// processes rank 1's share of it is empty.
TEST(Sharding, LastBatchSmallerThanTheWorld) { check_epochs(41, 20); }

}  // namespace
}  // namespace minidl::dist
