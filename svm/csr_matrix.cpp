#include "csr_matrix.hpp"

#include <cmath>
#include <limits>

namespace minidl::svm {

double CsrMatrix::density() const {
  if (rows == 0 || cols == 0) return 0.0;
  return static_cast<double>(nnz()) / (static_cast<double>(rows) * static_cast<double>(cols));
}

std::size_t CsrMatrix::bytes() const {
  return row_ptr.size() * sizeof(std::int64_t) + col_idx.size() * sizeof(std::int32_t) +
         values.size() * sizeof(float);
}

void CsrMatrix::append_row(const std::int32_t* cols_of_row, const float* values_of_row,
                           std::int64_t count, bool grow_cols) {
  MINIDL_CHECK(count >= 0, ValueError, "CsrMatrix::append_row: count ", count, " < 0");
  for (std::int64_t t = 0; t < count; ++t) {
    const std::int32_t c = cols_of_row[t];
    MINIDL_CHECK(c >= 0, ValueError, "CsrMatrix::append_row: column ", c, " < 0");
    MINIDL_CHECK(t == 0 || c > cols_of_row[t - 1], ValueError,
                 "CsrMatrix::append_row: column ", c, " does not increase (after ",
                 cols_of_row[t - 1], ")");
    if (c >= cols) {
      MINIDL_CHECK(grow_cols, ValueError, "CsrMatrix::append_row: column ", c,
                   " is outside the matrix's ", cols, " columns");
      cols = std::int64_t{c} + 1;
    }
  }
  col_idx.insert(col_idx.end(), cols_of_row, cols_of_row + count);
  values.insert(values.end(), values_of_row, values_of_row + count);
  row_ptr.push_back(static_cast<std::int64_t>(values.size()));
  ++rows;
}

void CsrMatrix::check(const char* where) const {
  MINIDL_CHECK(rows >= 0 && cols >= 0 && cols <= std::numeric_limits<std::int32_t>::max(),
               ValueError, where, ": a CSR matrix of ", rows, " x ", cols,
               " (columns must fit int32)");
  MINIDL_CHECK(static_cast<std::int64_t>(row_ptr.size()) == rows + 1 && row_ptr[0] == 0 &&
                   row_ptr.back() == nnz() && col_idx.size() == values.size(),
               ValueError, where, ": inconsistent CSR arrays: ", row_ptr.size(),
               " row offsets for ", rows, " rows, ", col_idx.size(), " column indices, ",
               values.size(), " values");
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t a = row_ptr[static_cast<std::size_t>(i)];
    const std::int64_t b = row_ptr[static_cast<std::size_t>(i + 1)];
    MINIDL_CHECK(a <= b, ValueError, where, ": row ", i, "'s offsets decrease (", a, " > ", b, ")");
    for (std::int64_t t = a; t < b; ++t) {
      const std::int32_t c = col_idx[static_cast<std::size_t>(t)];
      MINIDL_CHECK(c >= 0 && c < cols, ValueError, where, ": row ", i, " has column ", c,
                   " outside [0, ", cols, ")");
      MINIDL_CHECK(t == a || c > col_idx[static_cast<std::size_t>(t - 1)], ValueError, where,
                   ": row ", i, "'s columns do not increase at ", c);
      MINIDL_CHECK(std::isfinite(values[static_cast<std::size_t>(t)]), ValueError, where, ": x[",
                   i, ", ", c, "] = ", values[static_cast<std::size_t>(t)], " is not finite");
    }
  }
}

CsrMatrix csr_from_dense(const Tensor& x_in) {
  MINIDL_CHECK(x_in.defined() && x_in.rank() == 2 && x_in.dtype() == DType::Float32, ShapeError,
               "csr_from_dense: x must be float32 [n, d], got ",
               x_in.defined() ? x_in.description() : std::string("an undefined tensor"));
  MINIDL_CHECK(x_in.size(1) <= std::numeric_limits<std::int32_t>::max(), ShapeError,
               "csr_from_dense: ", x_in.size(1), " columns do not fit int32 indices");
  const Tensor x = x_in.to(Device::cpu());
  const std::int64_t n = x.size(0);
  const std::int64_t d = x.size(1);
  const float* p = x.data<float>();
  CsrMatrix m;
  m.cols = d;
  m.rows = n;
  m.row_ptr.reserve(static_cast<std::size_t>(n + 1));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < d; ++j)
      if (p[i * d + j] != 0.0f) {
        m.col_idx.push_back(static_cast<std::int32_t>(j));
        m.values.push_back(p[i * d + j]);
      }
    m.row_ptr.push_back(m.nnz());
  }
  return m;
}

Tensor csr_to_dense(const CsrMatrix& m, std::size_t max_bytes) {
  const double bytes = double(m.rows) * double(m.cols) * 4.0;
  MINIDL_CHECK(bytes <= double(max_bytes), ValueError, "csr_to_dense: ", m.rows, " x ", m.cols,
               " would take ", detail::gib_text(bytes), " dense, more than the limit of ",
               detail::gib_text(double(max_bytes)));
  Tensor x = zeros({m.rows, m.cols});
  float* p = x.data<float>();
  for (std::int64_t i = 0; i < m.rows; ++i)
    for (std::int64_t t = m.row_ptr[static_cast<std::size_t>(i)];
         t < m.row_ptr[static_cast<std::size_t>(i + 1)]; ++t)
      p[i * m.cols + m.col_idx[static_cast<std::size_t>(t)]] = m.values[static_cast<std::size_t>(t)];
  return x;
}

CsrMatrix csr_gather_rows(const CsrMatrix& m, const std::vector<std::int64_t>& idx) {
  CsrMatrix out;
  out.cols = m.cols;
  out.rows = static_cast<std::int64_t>(idx.size());
  out.row_ptr.reserve(idx.size() + 1);
  std::int64_t total = 0;
  for (std::int64_t i : idx) {
    MINIDL_CHECK(i >= 0 && i < m.rows, ValueError, "csr_gather_rows: row ", i, " outside [0, ",
                 m.rows, ")");
    total += m.row_ptr[static_cast<std::size_t>(i + 1)] - m.row_ptr[static_cast<std::size_t>(i)];
  }
  out.col_idx.reserve(static_cast<std::size_t>(total));
  out.values.reserve(static_cast<std::size_t>(total));
  for (std::int64_t i : idx) {
    const auto a = static_cast<std::size_t>(m.row_ptr[static_cast<std::size_t>(i)]);
    const auto b = static_cast<std::size_t>(m.row_ptr[static_cast<std::size_t>(i + 1)]);
    out.col_idx.insert(out.col_idx.end(), m.col_idx.begin() + static_cast<std::ptrdiff_t>(a),
                       m.col_idx.begin() + static_cast<std::ptrdiff_t>(b));
    out.values.insert(out.values.end(), m.values.begin() + static_cast<std::ptrdiff_t>(a),
                      m.values.begin() + static_cast<std::ptrdiff_t>(b));
    out.row_ptr.push_back(out.nnz());
  }
  return out;
}

std::vector<float> csr_row_sq_norms(const CsrMatrix& m) {
  std::vector<float> out(static_cast<std::size_t>(m.rows));
  for (std::int64_t i = 0; i < m.rows; ++i) {
    double s = 0.0;
    for (std::int64_t t = m.row_ptr[static_cast<std::size_t>(i)];
         t < m.row_ptr[static_cast<std::size_t>(i + 1)]; ++t)
      s += double(m.values[static_cast<std::size_t>(t)]) * m.values[static_cast<std::size_t>(t)];
    out[static_cast<std::size_t>(i)] = static_cast<float>(s);
  }
  return out;
}

}  // namespace minidl::svm
