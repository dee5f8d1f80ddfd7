#include "libsvm_format.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "../io/atomic_file.hpp"

namespace minidl::svm {
namespace {

[[noreturn]] void fail(const std::string& name, std::int64_t line, const std::string& what) {
  throw IoError(detail::concat(name, ":", line, ": ", what));
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

LibsvmData parse_libsvm(std::istream& in, const std::string& name, std::int64_t num_features) {
  MINIDL_CHECK(num_features >= 0, ValueError, "parse_libsvm: num_features ", num_features, " < 0");
  struct Entry {
    std::int64_t index;
    float value;
  };
  std::vector<std::vector<Entry>> rows;
  std::vector<std::int32_t> labels;
  std::int64_t max_index = 0;
  std::string text;
  std::int64_t line_no = 0;
  while (std::getline(in, text)) {
    ++line_no;
    std::size_t pos = 0;
    const std::size_t len = text.size();
    auto next_token = [&]() -> std::string {
      while (pos < len && is_space(text[pos])) ++pos;
      const std::size_t start = pos;
      while (pos < len && !is_space(text[pos])) ++pos;
      return text.substr(start, pos - start);
    };
    const std::string label_text = next_token();
    if (label_text.empty()) continue;  // blank line
    char* end = nullptr;
    errno = 0;
    const double label = std::strtod(label_text.c_str(), &end);
    if (end == label_text.c_str() || *end != '\0' || !std::isfinite(label))
      fail(name, line_no, "label \"" + label_text + "\" is not a number");
    if (label != std::floor(label) || std::fabs(label) > 2147483647.0)
      fail(name, line_no,
           "label \"" + label_text + "\" is not an integer (minidl's SVC is a classifier)");
    std::vector<Entry> row;
    std::int64_t last = 0;
    for (std::string tok = next_token(); !tok.empty(); tok = next_token()) {
      const std::size_t colon = tok.find(':');
      if (colon == std::string::npos)
        fail(name, line_no, "feature \"" + tok + "\" is not <index>:<value>");
      const std::string idx_text = tok.substr(0, colon);
      const std::string val_text = tok.substr(colon + 1);
      errno = 0;
      const long long index = std::strtoll(idx_text.c_str(), &end, 10);
      if (idx_text.empty() || *end != '\0' || errno == ERANGE || index < 1)
        fail(name, line_no, "feature index \"" + idx_text + "\" is not an integer >= 1");
      if (index <= last)
        fail(name, line_no,
             detail::concat("feature index ", index, " does not increase (after ", last, ")"));
      if (num_features > 0 && index > num_features)
        fail(name, line_no,
             detail::concat("feature index ", index, " exceeds the ", num_features,
                            " features expected"));
      errno = 0;
      const double value = std::strtod(val_text.c_str(), &end);
      if (val_text.empty() || *end != '\0')
        fail(name, line_no, "feature value \"" + val_text + "\" is not a number");
      if (!std::isfinite(value) || std::fabs(value) > 3.4028234663852886e38)
        fail(name, line_no, "feature value \"" + val_text + "\" is not finite in float32");
      last = index;
      if (index > max_index) max_index = index;
      row.push_back({index, static_cast<float>(value)});
    }
    rows.push_back(std::move(row));
    labels.push_back(static_cast<std::int32_t>(label));
  }
  if (in.bad()) throw IoError(detail::concat(name, ": read error after line ", line_no));
  MINIDL_CHECK(!rows.empty(), IoError, name, ": no samples");
  const std::int64_t d = num_features > 0 ? num_features : max_index;
  MINIDL_CHECK(d > 0, IoError, name, ": no features in any sample");
  const auto n = static_cast<std::int64_t>(rows.size());
  Tensor x = zeros({n, d});
  float* xp = x.data<float>();
  for (std::int64_t i = 0; i < n; ++i)
    for (const Entry& e : rows[static_cast<std::size_t>(i)]) xp[i * d + e.index - 1] = e.value;
  return {x, from_vector(labels, {n})};
}

LibsvmData read_libsvm(const std::string& path, std::int64_t num_features) {
  std::ifstream in(path);
  MINIDL_CHECK(in.is_open(), IoError, path, ": cannot open for reading");
  return parse_libsvm(in, path, num_features);
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
