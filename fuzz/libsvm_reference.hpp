// The LIBSVM data reader as it was before it was made fast (line by line with
// std::getline, strtod / strtoll on token copies): the oracle that the fast reader
// (svm/libsvm_format.cpp: from_chars, blocks, parallel chunks) is compared with, on
// random files (tests/svm/libsvm_format_test.cpp) and on the fuzzer's inputs
// (fuzz/targets/libsvm_data.cpp). Same accepted syntax, values and error messages
// "<name>:<line>:<column>: <what>" by construction; slow, and only for tests.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <istream>
#include <limits>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../svm/csr_matrix.hpp"

namespace minidl::fuzz {

struct ReferenceLibsvm {
  svm::CsrMatrix x;                   ///< cols: num_features, else the largest index
  std::vector<std::int32_t> labels;
  std::string error;                  ///< the IoError's message; empty when it parsed
};

/// What parse_libsvm_csr (max_dense_bytes = 0) or parse_libsvm's parsing step
/// (max_dense_bytes > 0: its one-row limit; not the whole-matrix check after it)
/// reads from `in`, or the message of the error it throws.
inline ReferenceLibsvm reference_parse_libsvm(std::istream& in, const std::string& name,
                                              std::int64_t num_features,
                                              std::size_t max_dense_bytes) {
  ReferenceLibsvm out;
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::string text;
  std::int64_t line_no = 0;
  std::int64_t max_index = 0;
  const auto fail = [&](std::size_t column, const std::string& what) {
    out.error = detail::concat(name, ":", line_no, ":", column, ": ", what);
  };
  std::vector<std::int32_t> row_cols;
  std::vector<float> row_values;
  while (std::getline(in, text)) {
    ++line_no;
    const std::size_t nul = text.find('\0');
    if (nul != std::string::npos) return fail(nul + 1, "NUL byte in a text file"), out;
    std::size_t pos = 0;
    std::size_t column = 1;
    const auto next_token = [&]() {
      while (pos < text.size() && is_space(text[pos])) ++pos;
      const std::size_t start = pos;
      column = start + 1;
      while (pos < text.size() && !is_space(text[pos])) ++pos;
      return text.substr(start, pos - start);
    };
    const std::string label_text = next_token();
    if (label_text.empty()) continue;
    const std::size_t label_column = column;
    char* end = nullptr;
    const double label = std::strtod(label_text.c_str(), &end);
    if (end == label_text.c_str() || *end != '\0' || !std::isfinite(label))
      return fail(label_column, "label " + detail::excerpt(label_text) + " is not a number"), out;
    if (label != std::floor(label) || std::fabs(label) > 2147483647.0)
      return fail(label_column, "label " + detail::excerpt(label_text) +
                                    " is not an integer in int32's range (minidl's SVC is a "
                                    "classifier)"),
             out;
    row_cols.clear();
    row_values.clear();
    std::int64_t last = 0;
    for (std::string tok = next_token(); !tok.empty(); tok = next_token()) {
      const std::size_t colon = tok.find(':');
      if (colon == std::string::npos)
        return fail(column, "feature " + detail::excerpt(tok) + " is not <index>:<value>"), out;
      const std::size_t value_column = column + colon + 1;
      const std::string idx_text = tok.substr(0, colon);
      const std::string val_text = tok.substr(colon + 1);
      errno = 0;
      const long long index = std::strtoll(idx_text.c_str(), &end, 10);
      if (idx_text.empty() || *end != '\0' || errno == ERANGE || index < 1)
        return fail(column, "feature index " + detail::excerpt(idx_text) +
                                " is not an integer >= 1"),
               out;
      if (index <= last)
        return fail(column, detail::concat("feature index ", index,
                                           " does not increase (after ", last, ")")),
               out;
      if (num_features > 0 && index > num_features)
        return fail(column, detail::concat("feature index ", index, " exceeds the ",
                                           num_features, " features expected")),
               out;
      if (max_dense_bytes > 0 && double(index) * 4.0 > double(max_dense_bytes))
        return fail(column,
                    detail::concat("feature index ", index, " would make even one dense row take ",
                                   detail::gib_text(double(index) * 4.0),
                                   ", more than the limit of ",
                                   detail::gib_text(double(max_dense_bytes)),
                                   " (max_dense_bytes; minidl reads LIBSVM data into a dense "
                                   "matrix)")),
               out;
      if (index > std::numeric_limits<std::int32_t>::max())
        return fail(column, detail::concat("feature index ", index,
                                           " is above 2147483647, the largest minidl reads "
                                           "(int32 column indices)")),
               out;
      const double value = std::strtod(val_text.c_str(), &end);
      if (val_text.empty() || *end != '\0')
        return fail(value_column,
                    "feature value " + detail::excerpt(val_text) + " is not a number"),
               out;
      if (!std::isfinite(value) || std::fabs(value) > 3.4028234663852886e38)
        return fail(value_column,
                    "feature value " + detail::excerpt(val_text) + " is not finite in float32"),
               out;
      last = index;
      if (index > max_index) max_index = index;
      row_cols.push_back(static_cast<std::int32_t>(index - 1));
      row_values.push_back(static_cast<float>(value));
    }
    out.x.append_row(row_cols.data(), row_values.data(),
                     static_cast<std::int64_t>(row_cols.size()), true);
    out.labels.push_back(static_cast<std::int32_t>(label));
  }
  if (out.x.rows == 0) {
    out.error = name + ": no samples";
    return out;
  }
  const std::int64_t d = num_features > 0 ? num_features : max_index;
  if (d <= 0) {
    out.error = name + ": no features in any sample";
    return out;
  }
  out.x.cols = d;
  return out;
}

}  // namespace minidl::fuzz
