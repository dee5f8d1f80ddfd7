// CsrMatrix: samples in compressed sparse row form, the SVM's input when the data
// is mostly zeros (LIBSVM files, text and click data). Row i holds the non-zeros
// col_idx[row_ptr[i] .. row_ptr[i + 1]) with their values; column indices are
// 0-based and strictly increasing within a row (LIBSVM's 1-based "index:value"
// becomes col_idx = index - 1). Host memory; float32 values, int32 column indices
// (so cols <= 2^31 - 1), int64 row offsets.
//
// A data set with 10^6 feature indices and a few hundred non-zeros per row takes
// a few KB per row here and never becomes a dense n x d matrix: the SVM computes its
// kernel rows from sparse dot products (svm/sparse_kernel.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/tensor.hpp"

namespace minidl::svm {

struct CsrMatrix {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<std::int64_t> row_ptr{0};  ///< rows + 1 offsets, row_ptr[0] = 0
  std::vector<std::int32_t> col_idx;     ///< nnz column indices
  std::vector<float> values;             ///< nnz values

  std::int64_t nnz() const { return static_cast<std::int64_t>(values.size()); }
  /// nnz / (rows * cols); 0 for an empty matrix.
  double density() const;
  /// Appends a row from (column, value) pairs: columns strictly increasing, each in
  /// [0, cols) (cols grows to fit when grow_cols is set). Zeros are kept as given.
  /// ValueError otherwise.
  void append_row(const std::int32_t* cols_of_row, const float* values_of_row, std::int64_t count,
                  bool grow_cols = false);
  /// Checks the invariants above (sizes, offsets, index order and range, finite
  /// values). Throws ValueError naming `where` and the first bad entry.
  void check(const char* where) const;
  /// Bytes held by the three arrays.
  std::size_t bytes() const;
};

/// The non-zeros of x (float32 [n, d], any device) as CSR: exact zeros left out.
CsrMatrix csr_from_dense(const Tensor& x);
/// m as a dense float32 [rows, cols] CPU tensor (absent entries 0). Throws
/// ValueError when rows * cols * 4 bytes exceeds max_bytes (it says how large).
Tensor csr_to_dense(const CsrMatrix& m, std::size_t max_bytes = std::size_t{1} << 34);
/// Rows idx[0], idx[1], ... of m (each in [0, m.rows)), same cols.
CsrMatrix csr_gather_rows(const CsrMatrix& m, const std::vector<std::int64_t>& idx);
/// ||row_i||^2 for every row, accumulated in double, as float.
std::vector<float> csr_row_sq_norms(const CsrMatrix& m);

}  // namespace minidl::svm
