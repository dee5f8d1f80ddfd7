// The cross-entropy tile kernel's shared-memory layout (kernels/ce_tile.hpp),
// checked on the CPU: every element of 128 rows has its own slot, and a warp's
// row walk (32 threads, 32 consecutive rows, one column) touches 32 distinct banks
// for every K the kernel takes (1..32).
#include "kernels/ce_tile.hpp"

#include <algorithm>
#include <set>

#include "test_util.hpp"

namespace minidl::cuda_detail {
namespace {

// Ways of the worst bank conflict when 32 consecutive rows read one column.
int conflict_ways(int stride, int cols) {
  int worst = 1;
  for (int k = 0; k < cols; ++k) {
    int per_bank[32] = {};
    for (int r = 0; r < 32; ++r) worst = std::max(worst, ++per_bank[(r * stride + k) % 32]);
  }
  return worst;
}

TEST(CeTile, PaddedRowsAreBankConflictFree) {
  for (int k = 1; k <= 32; ++k) {
    SCOPED_TRACE(k);
    EXPECT_EQ(ce_tile_stride(k) % 2, 1);
    EXPECT_GE(ce_tile_stride(k), k);
    EXPECT_LE(ce_tile_stride(k), k + 1);
    EXPECT_EQ(conflict_ways(ce_tile_stride(k), k), 1);
  }
  // The unpadded layout had them (what the padding fixes).
  EXPECT_EQ(conflict_ways(32, 32), 32);
  EXPECT_EQ(conflict_ways(10, 10), 2);
  EXPECT_EQ(conflict_ways(16, 16), 16);
}

TEST(CeTile, EveryElementHasItsOwnSlotInsideItsRow) {
  for (int k = 1; k <= 32; ++k) {
    SCOPED_TRACE(k);
    std::set<int> used;
    for (int i = 0; i < kCeTileRows * k; ++i) {
      const int at = ce_tile_index(i, k);
      ASSERT_GE(at, 0);
      ASSERT_LT(at, ce_tile_floats(k));
      EXPECT_EQ(at / ce_tile_stride(k), i / k);  // row i / K
      EXPECT_EQ(at % ce_tile_stride(k), i % k);  // column i % K
      used.insert(at);
    }
    EXPECT_EQ(used.size(), static_cast<std::size_t>(kCeTileRows * k));
    EXPECT_LE(ce_tile_floats(k) * 4 + 32 * 8, 48 * 1024);  // + scratch: the default limit
  }
}

}  // namespace
}  // namespace minidl::cuda_detail
