#include "libsvm_format.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <new>
#include <sstream>
#include <utility>
#include <vector>

#include "../io/atomic_file.hpp"

namespace minidl::svm {
namespace {

// "<name>:<line>:<column>: <what>": lines and columns count from 1, columns in
// bytes (a tab is one column), as compilers and editors' "go to" expect.
[[noreturn]] void fail(const std::string& name, std::int64_t line, std::size_t column,
                       const std::string& what) {
  throw IoError(detail::concat(name, ":", line, ":", column, ": ", what));
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The parsed text: CSR rows and labels, and where the largest index was.
struct Parsed {
  CsrMatrix x;
  std::vector<std::int32_t> labels;
  std::int64_t max_index = 0;
  std::int64_t max_index_line = 0;
};

// max_dense_bytes > 0: the dense reader's limit on one row (its message); 0: CSR,
// indices only bounded by int32.
Parsed parse(std::istream& in, const std::string& name, std::int64_t num_features,
             std::size_t max_dense_bytes) {
  Parsed out;
  std::vector<std::int32_t> row_cols;
  std::vector<float> row_values;
  std::string text;
  std::int64_t line_no = 0;
  while (std::getline(in, text)) {
    ++line_no;
    // A NUL byte would end the C strings strtod / strtoll read, silently
    // accepting "1\0garbage" as "1": refused where it is.
    const std::size_t nul = text.find('\0');
    if (nul != std::string::npos) fail(name, line_no, nul + 1, "NUL byte in a text file");
    std::size_t pos = 0;
    const std::size_t len = text.size();
    std::size_t column = 1;  // of the token next_token returned last
    auto next_token = [&]() -> std::string {
      while (pos < len && is_space(text[pos])) ++pos;
      const std::size_t start = pos;
      column = start + 1;
      while (pos < len && !is_space(text[pos])) ++pos;
      return text.substr(start, pos - start);
    };
    const std::string label_text = next_token();
    if (label_text.empty()) continue;  // blank line
    const std::size_t label_column = column;
    char* end = nullptr;
    errno = 0;
    const double label = std::strtod(label_text.c_str(), &end);
    if (end == label_text.c_str() || *end != '\0' || !std::isfinite(label))
      fail(name, line_no, label_column, "label " + detail::excerpt(label_text) + " is not a number");
    if (label != std::floor(label) || std::fabs(label) > 2147483647.0)
      fail(name, line_no, label_column,
           "label " + detail::excerpt(label_text) +
               " is not an integer in int32's range (minidl's SVC is a classifier)");
    row_cols.clear();
    row_values.clear();
    std::int64_t last = 0;
    for (std::string tok = next_token(); !tok.empty(); tok = next_token()) {
      const std::size_t colon = tok.find(':');
      if (colon == std::string::npos)
        fail(name, line_no, column,
             "feature " + detail::excerpt(tok) + " is not <index>:<value>");
      const std::size_t value_column = column + colon + 1;
      const std::string idx_text = tok.substr(0, colon);
      const std::string val_text = tok.substr(colon + 1);
      errno = 0;
      const long long index = std::strtoll(idx_text.c_str(), &end, 10);
      if (idx_text.empty() || *end != '\0' || errno == ERANGE || index < 1)
        fail(name, line_no, column,
             "feature index " + detail::excerpt(idx_text) + " is not an integer >= 1");
      if (index <= last)
        fail(name, line_no, column,
             detail::concat("feature index ", index, " does not increase (after ", last, ")"));
      if (num_features > 0 && index > num_features)
        fail(name, line_no, column,
             detail::concat("feature index ", index, " exceeds the ", num_features,
                            " features expected"));
      // One row alone already needs index floats once dense.
      if (max_dense_bytes > 0 && double(index) * 4.0 > double(max_dense_bytes))
        fail(name, line_no, column,
             detail::concat("feature index ", index, " would make even one dense row take ",
                            detail::gib_text(double(index) * 4.0), ", more than the limit of ",
                            detail::gib_text(double(max_dense_bytes)),
                            " (max_dense_bytes; minidl reads LIBSVM data into a dense matrix)"));
      if (index > std::numeric_limits<std::int32_t>::max())
        fail(name, line_no, column,
             detail::concat("feature index ", index, " is above 2147483647, the largest minidl "
                                                     "reads (int32 column indices)"));
      errno = 0;
      const double value = std::strtod(val_text.c_str(), &end);
      if (val_text.empty() || *end != '\0')
        fail(name, line_no, value_column,
             "feature value " + detail::excerpt(val_text) + " is not a number");
      if (!std::isfinite(value) || std::fabs(value) > 3.4028234663852886e38)
        fail(name, line_no, value_column,
             "feature value " + detail::excerpt(val_text) + " is not finite in float32");
      last = index;
      if (index > out.max_index) {
        out.max_index = index;
        out.max_index_line = line_no;
      }
      row_cols.push_back(static_cast<std::int32_t>(index - 1));
      row_values.push_back(static_cast<float>(value));
    }
    out.x.append_row(row_cols.data(), row_values.data(),
                     static_cast<std::int64_t>(row_cols.size()), true);
    out.labels.push_back(static_cast<std::int32_t>(label));
  }
  if (in.bad()) throw IoError(detail::concat(name, ": read error after line ", line_no));
  MINIDL_CHECK(out.x.rows > 0, IoError, name, ": no samples");
  const std::int64_t d = num_features > 0 ? num_features : out.max_index;
  MINIDL_CHECK(d > 0, IoError, name, ": no features in any sample");
  out.x.cols = d;
  return out;
}

LibsvmData parse_dense(std::istream& in, const std::string& name, std::int64_t num_features,
                       std::size_t max_dense_bytes) {
  const Parsed p = parse(in, name, num_features, std::max<std::size_t>(max_dense_bytes, 1));
  const std::int64_t n = p.x.rows;
  const std::int64_t d = p.x.cols;
  const double bytes = double(n) * double(d) * 4.0;
  if (bytes > double(max_dense_bytes)) {
    const std::string why =
        num_features > 0 ? detail::concat("num_features ", num_features)
                         : detail::concat("the largest feature index, ", p.max_index, " (line ",
                                          p.max_index_line, ")");
    throw IoError(detail::concat(name, ": ", n, " samples x ", d, " features (", why,
                                 ") would take ", detail::gib_text(bytes), " as a dense float32 matrix, more "
                                 "than the limit of ", detail::gib_text(double(max_dense_bytes)),
                                 " (max_dense_bytes)"));
  }
  return {csr_to_dense(p.x, max_dense_bytes), from_vector(p.labels, {n})};
}

}  // namespace

LibsvmData parse_libsvm(std::istream& in, const std::string& name, std::int64_t num_features,
                        std::size_t max_dense_bytes) {
  MINIDL_CHECK(num_features >= 0, ValueError, "parse_libsvm: num_features ", num_features, " < 0");
  try {
    return parse_dense(in, name, num_features, max_dense_bytes);
  } catch (const std::bad_alloc&) {
    throw IoError(detail::concat(name, ": out of host memory while reading LIBSVM data (limit ",
                                 detail::gib_text(double(max_dense_bytes)),
                                 " for the dense matrix; the machine had less free)"));
  }
}

LibsvmData read_libsvm(const std::string& path, std::int64_t num_features,
                       std::size_t max_dense_bytes) {
  std::ifstream in(path);
  MINIDL_CHECK(in.is_open(), IoError, path, ": cannot open for reading: ", errno_text(errno));
  return parse_libsvm(in, path, num_features, max_dense_bytes);
}

LibsvmCsrData parse_libsvm_csr(std::istream& in, const std::string& name,
                              std::int64_t num_features) {
  MINIDL_CHECK(num_features >= 0 && num_features <= std::numeric_limits<std::int32_t>::max(),
               ValueError, "parse_libsvm_csr: num_features ", num_features,
               " is outside [0, 2147483647]");
  try {
    Parsed p = parse(in, name, num_features, 0);
    const std::int64_t n = p.x.rows;
    return {std::move(p.x), from_vector(p.labels, {n})};
  } catch (const std::bad_alloc&) {
    throw IoError(detail::concat(name, ": out of host memory while reading LIBSVM data"));
  }
}

LibsvmCsrData read_libsvm_csr(const std::string& path, std::int64_t num_features) {
  std::ifstream in(path);
  MINIDL_CHECK(in.is_open(), IoError, path, ": cannot open for reading: ", errno_text(errno));
  return parse_libsvm_csr(in, path, num_features);
}

void write_libsvm(const std::string& path, const Tensor& x, const Tensor& y) {
  MINIDL_CHECK(x.rank() == 2, ShapeError, "write_libsvm: x must be [n, d], got ", x.shape());
  MINIDL_CHECK(y.rank() == 1 && y.size(0) == x.size(0), ShapeError,
               "write_libsvm: y must be [n] for x ", x.shape(), ", got ", y.shape());
  const std::vector<float> xv = x.to_vector<float>();
  const std::vector<std::int32_t> yv = y.to_vector<std::int32_t>();
  const std::int64_t n = x.size(0);
  const std::int64_t d = x.size(1);
  AtomicFile f(path, "write_libsvm");
  for (std::int64_t i = 0; i < n; ++i) {
    f.print("%d", yv[static_cast<std::size_t>(i)]);
    for (std::int64_t j = 0; j < d; ++j) {
      const float v = xv[static_cast<std::size_t>(i * d + j)];
      if (v != 0.0f) f.print(" %lld:%.9g", static_cast<long long>(j) + 1, double(v));
    }
    f.write("\n");
  }
  f.commit();
}

}  // namespace minidl::svm
