// CsrMatrix (svm/csr_matrix.hpp) and the CSR LIBSVM reader (parse_libsvm_csr).
#include "svm/csr_matrix.hpp"

#include <limits>
#include <sstream>

#include "svm/libsvm_format.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

LibsvmCsrData parse_csr(const std::string& text, std::int64_t d = 0) {
  std::istringstream in(text);
  return parse_libsvm_csr(in, "mem.txt", d);
}

TEST(CsrMatrix, DenseRoundTripDropsZeros) {
  const Tensor x = from_vector({0.f, 1.5f, 0.f, -2.f, 0.f, 0.f, 0.f, 0.f, 3.f}, {3, 3});
  const CsrMatrix m = csr_from_dense(x);
  EXPECT_EQ(m.rows, 3);
  EXPECT_EQ(m.cols, 3);
  EXPECT_EQ(m.row_ptr, (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(m.col_idx, (std::vector<std::int32_t>{1, 0, 2}));
  EXPECT_EQ(m.values, (std::vector<float>{1.5f, -2.f, 3.f}));
  EXPECT_DOUBLE_EQ(m.density(), 3.0 / 9.0);
  EXPECT_NO_THROW(m.check("test"));
  EXPECT_EQ(csr_to_dense(m).to_vector<float>(), x.to_vector<float>());
  MINIDL_EXPECT_THROW_WITH(csr_to_dense(m, 35), ValueError, "3 x 3", "limit");
}

TEST(CsrMatrix, GatherRowsAndNorms) {
  const Tensor x = from_vector({1.f, 0.f, 2.f, 0.f, 3.f, 0.f}, {3, 2});
  const CsrMatrix m = csr_from_dense(x);
  const CsrMatrix g = csr_gather_rows(m, {2, 0, 2});
  EXPECT_EQ(csr_to_dense(g).to_vector<float>(), (std::vector<float>{3.f, 0.f, 1.f, 0.f, 3.f, 0.f}));
  EXPECT_EQ(csr_row_sq_norms(m), (std::vector<float>{1.f, 4.f, 9.f}));
  MINIDL_EXPECT_THROW_WITH(csr_gather_rows(m, {3}), ValueError, "row 3");
}

TEST(CsrMatrix, AppendRowAndCheckRefuseBadRows) {
  CsrMatrix m;
  m.cols = 4;
  const std::int32_t c[] = {0, 3};
  const float v[] = {1.f, 2.f};
  m.append_row(c, v, 2);
  EXPECT_EQ(m.rows, 1);
  const std::int32_t down[] = {2, 1};
  MINIDL_EXPECT_THROW_WITH(m.append_row(down, v, 2), ValueError, "does not increase");
  const std::int32_t far[] = {7};
  MINIDL_EXPECT_THROW_WITH(m.append_row(far, v, 1), ValueError, "outside", "4 columns");
  m.append_row(far, v, 1, true);
  EXPECT_EQ(m.cols, 8);
  EXPECT_NO_THROW(m.check("t"));
  CsrMatrix bad = m;
  bad.values[0] = std::numeric_limits<float>::quiet_NaN();
  MINIDL_EXPECT_THROW_WITH(bad.check("where"), ValueError, "where", "x[0, 0]", "not finite");
  bad = m;
  bad.row_ptr.pop_back();
  MINIDL_EXPECT_THROW_WITH(bad.check("where"), ValueError, "inconsistent");
}

TEST(CsrMatrix, LibsvmReaderKeepsTheDataSparse) {
  const LibsvmCsrData d = parse_csr("+1 1:0.5 3:-2\n-1 2:1e-3\n\n3 1:1 2:2 3:3\n2.0 3:4\n");
  EXPECT_EQ(d.x.rows, 4);
  EXPECT_EQ(d.x.cols, 3);
  EXPECT_EQ(d.y.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, -1, 3, 2}));
  EXPECT_EQ(csr_to_dense(d.x).to_vector<float>(),
            (std::vector<float>{0.5f, 0, -2, 0, 1e-3f, 0, 1, 2, 3, 0, 0, 4}));
  // The dense reader gives the same matrix.
  std::istringstream in("+1 1:0.5 3:-2\n-1 2:1e-3\n\n3 1:1 2:2 3:3\n2.0 3:4\n");
  EXPECT_EQ(parse_libsvm(in, "mem.txt").x.to_vector<float>(),
            csr_to_dense(d.x).to_vector<float>());
  // A fixed feature count, and an empty row.
  const LibsvmCsrData f = parse_csr("1 2:1\n-1\n", 5);
  EXPECT_EQ(f.x.cols, 5);
  EXPECT_EQ(f.x.row_ptr, (std::vector<std::int64_t>{0, 1, 1}));
}

TEST(CsrMatrix, LibsvmReaderTakesAMillionFeatures) {
  // Indices up to 10^6 (and up to int32's limit) need no dense row: memory per non-zero.
  const LibsvmCsrData d = parse_csr("1 7:1 999999:2 1000000:3\n-1 2147483647:1\n");
  EXPECT_EQ(d.x.cols, 2147483647);
  EXPECT_EQ(d.x.nnz(), 4);
  EXPECT_EQ(d.x.col_idx[2], 999999);
  EXPECT_EQ(d.x.col_idx[3], 2147483646);
  MINIDL_EXPECT_THROW_WITH(parse_csr("1 2147483648:1\n"), IoError, "mem.txt:1:", "2147483648",
                           "int32");
  MINIDL_EXPECT_THROW_WITH(parse_csr("1 3:1 2:1\n"), IoError, "mem.txt:1:", "does not increase");
  MINIDL_EXPECT_THROW_WITH(parse_csr("1 6:1\n", 5), IoError, "exceeds the 5 features");
  MINIDL_EXPECT_THROW_WITH(parse_csr("\n\n"), IoError, "no samples");
  MINIDL_EXPECT_THROW_WITH(read_libsvm_csr("/nonexistent/minidl.txt"), IoError,
                           "/nonexistent/minidl.txt", "cannot open");
}

}  // namespace
}  // namespace minidl::svm
