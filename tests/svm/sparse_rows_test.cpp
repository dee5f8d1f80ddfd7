// svm/sparse_rows_cuda.hpp on the host: the planning the GPU's sparse working-set
// rows rely on (block width, buffer sizes), and a clear error where no GPU is.
// The rows themselves are compared with the CPU's in the parity table
// (SvmSparseWorkingSetRows_*) and through SVC in svc_cuda_test.cpp, on a GPU.
#include "svm/sparse_rows_cuda.hpp"

#include "core/device.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

TEST(SparseRows, BlockColumnsKeepTheDenseBlockWithinItsBytes) {
  // 784 features: a whole 1024-row working set fits 64 MiB (3.1 MiB).
  EXPECT_EQ(sparse_rows_block_columns(784, 1024), 1024);
  // 10^6 features: 4 MB a row, 16 rows per SpMM.
  EXPECT_EQ(sparse_rows_block_columns(1000000, 1024), 16);
  EXPECT_LE(16 * 1000000 * 4, static_cast<std::int64_t>(kSparseRowsBlockBytes));
  EXPECT_GT(17 * 1000000 * 4, static_cast<std::int64_t>(kSparseRowsBlockBytes));
  // 2^31 - 1 features: a row alone is 8 GB; still one row at a time, never zero.
  EXPECT_EQ(sparse_rows_block_columns(2147483647, 1024), 1);
  EXPECT_EQ(sparse_rows_block_columns(10, 0), 1);
  EXPECT_EQ(sparse_rows_block_columns(100, 50, 100 * 4 * 7), 7);
}

TEST(SparseRows, ProblemNonZerosAndDeviceBytes) {
  CsrMatrix x;
  x.cols = 1000;
  const std::vector<std::vector<std::int32_t>> rows{{1, 5, 9}, {}, {0, 999}, {7}};
  for (const auto& r : rows) {
    const std::vector<float> v(r.size(), 1.0f);
    x.append_row(r.data(), v.data(), static_cast<std::int64_t>(r.size()));
  }
  const std::vector<std::int64_t> a{0, 2}, b{1, 3, 3}, none{};
  EXPECT_EQ(max_problem_nnz(x, {&a}), 5);
  EXPECT_EQ(max_problem_nnz(x, {&b, &a, &none}), 5);
  EXPECT_EQ(max_problem_nnz(x, {&b}), 2);
  const std::vector<std::int64_t> bad{4};
  MINIDL_EXPECT_THROW_WITH(max_problem_nnz(x, {&bad}), ValueError, "sample 4");
  // row offsets (l + 1) x 8, non-zeros x 12, norms l x 4, working-set norms q x 4,
  // and the dense block d x c x 4 (c = 8 here: all of q).
  EXPECT_EQ(sparse_rows_device_bytes(10, 100, 1000, 8),
            std::size_t(11 * 8 + 100 * 8 + 100 * 4 + 10 * 4 + 8 * 4 + 1000 * 8 * 4));
}

TEST(SparseRows, NoGpuIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present: the parity table runs the rows";
  CsrMatrix x;
  x.cols = 3;
  const std::int32_t c = 1;
  const float v = 2.0f;
  x.append_row(&c, &v, 1);
  EXPECT_THROW(cuda::sparse_working_set_rows(x, {0}, {0}, {KernelType::Rbf, 0.5, 0.0, 3}, 0),
               DeviceError);
}

}  // namespace
}  // namespace minidl::svm
