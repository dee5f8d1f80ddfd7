// Fuzz target "libsvm_data": parse_libsvm and parse_libsvm_csr on the same bytes,
// and write_libsvm + read_libsvm of what parsed. Checks beyond "no crash":
//  - every error names the place: "fuzz:<line>:<column>: " for a bad token, or
//    "fuzz: " for the whole input (no samples, the dense size limit);
//  - the two readers agree: the same error, except where the dense reader's size
//    limit (max_dense_bytes) stops it first; the same matrix and labels otherwise;
//  - the round trip through write_libsvm gives the same values;
//  - the fast CSR reader (blocks, parallel chunks, from_chars) reads what the
//    line-by-line reader it replaced reads (fuzz/libsvm_reference.hpp): the same
//    rows bit for bit, or the same error message, also with the text cut into
//    blocks of 5 bytes and 3 chunks each.
#include <cctype>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../svm/libsvm_format.hpp"
#include "../libsvm_reference.hpp"
#include "../targets.hpp"

namespace minidl::fuzz {
namespace {

// "fuzz: ..." or "fuzz:<digits>:<digits>: ...".
bool names_the_place(const std::string& m) {
  if (m.rfind("fuzz:", 0) != 0) return false;
  std::size_t at = 5;
  if (at < m.size() && m[at] == ' ') return true;
  for (int field = 0; field < 2; ++field) {
    const std::size_t start = at;
    while (at < m.size() && std::isdigit(static_cast<unsigned char>(m[at])) != 0) ++at;
    if (at == start || at >= m.size() || m[at] != ':') return false;
    ++at;
  }
  return at < m.size() && m[at] == ' ';
}

// The same floats bit for bit (-0 and 0 differ).
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace

int libsvm_data(const std::uint8_t* data, std::size_t size) {
  static ScratchFile file("libsvm-data");
  const std::string text(reinterpret_cast<const char*>(data), size);
  svm::LibsvmData first;
  std::string dense_error;
  try {
    std::istringstream in(text);
    first = svm::parse_libsvm(in, "fuzz", 0, kFuzzMaxBytes);
  } catch (const Error& e) {
    dense_error = e.what();
    if (!names_the_place(dense_error)) violated("parse_libsvm error without its place: " + dense_error);
  }
  svm::LibsvmCsrData sparse;
  std::string csr_error;
  try {
    std::istringstream in(text);
    sparse = svm::parse_libsvm_csr(in, "fuzz", 0);
  } catch (const Error& e) {
    csr_error = e.what();
    if (!names_the_place(csr_error)) violated("parse_libsvm_csr error without its place: " + csr_error);
  }
  {
    std::istringstream in(text);
    const ReferenceLibsvm ref = reference_parse_libsvm(in, "fuzz", 0, 0);
    if (ref.error != csr_error)
      violated("parse_libsvm_csr and the line-by-line reader disagree: \"" + csr_error +
               "\" vs \"" + ref.error + "\"");
    if (csr_error.empty() &&
        (ref.x.rows != sparse.x.rows || ref.x.cols != sparse.x.cols ||
         ref.x.row_ptr != sparse.x.row_ptr || ref.x.col_idx != sparse.x.col_idx ||
         !same_bits(ref.x.values, sparse.x.values) ||
         ref.labels != sparse.y.to_vector<std::int32_t>()))
      violated("parse_libsvm_csr and the line-by-line reader read different data");
    std::istringstream again(text);
    std::string cut_error;
    svm::LibsvmCsrData cut;
    try {
      cut = svm::parse_libsvm_csr(again, "fuzz", 0, {5, 3});
    } catch (const Error& e) {
      cut_error = e.what();
    }
    if (cut_error != csr_error)
      violated("parse_libsvm_csr cut in chunks gives another error: \"" + cut_error + "\" vs \"" +
               csr_error + "\"");
    if (csr_error.empty() &&
        (cut.x.row_ptr != sparse.x.row_ptr || cut.x.col_idx != sparse.x.col_idx ||
         !same_bits(cut.x.values, sparse.x.values) ||
         cut.y.to_vector<std::int32_t>() != sparse.y.to_vector<std::int32_t>()))
      violated("parse_libsvm_csr cut in chunks reads different data");
  }
  const bool dense_limit = dense_error.find("max_dense_bytes") != std::string::npos;
  if (!csr_error.empty() && dense_error.empty())
    violated("parse_libsvm_csr refused what parse_libsvm read: " + csr_error);
  if (!csr_error.empty() && !dense_limit && csr_error != dense_error)
    violated("the readers disagree: \"" + dense_error + "\" vs \"" + csr_error + "\"");
  if (csr_error.empty() && !dense_error.empty() && !dense_limit)
    violated("parse_libsvm refused what parse_libsvm_csr read: " + dense_error);
  if (!dense_error.empty()) return 0;

  if (first.x.rank() != 2 || first.y.rank() != 1 || first.x.size(0) != first.y.size(0) ||
      first.x.size(0) == 0 || first.x.size(1) == 0)
    violated("parse_libsvm returned inconsistent shapes");
  sparse.x.check("fuzz: parse_libsvm_csr");
  if (sparse.x.rows != first.x.size(0) || sparse.x.cols != first.x.size(1) ||
      sparse.y.to_vector<std::int32_t>() != first.y.to_vector<std::int32_t>())
    violated("parse_libsvm and parse_libsvm_csr read different shapes or labels");
  {
    // Entry by entry, without another dense copy (a 16 MiB matrix is allowed).
    const float* dense = first.x.data<float>();
    const std::int64_t d = sparse.x.cols;
    for (std::int64_t i = 0; i < sparse.x.rows; ++i) {
      std::int64_t next = 0;  // columns before it are checked
      for (std::int64_t t = sparse.x.row_ptr[static_cast<std::size_t>(i)];
           t < sparse.x.row_ptr[static_cast<std::size_t>(i + 1)]; ++t) {
        const std::int64_t c = sparse.x.col_idx[static_cast<std::size_t>(t)];
        for (; next < c; ++next)
          if (dense[i * d + next] != 0.0f) violated("parse_libsvm has a value CSR lacks");
        if (dense[i * d + c] != sparse.x.values[static_cast<std::size_t>(t)])
          violated("parse_libsvm and parse_libsvm_csr read different values");
        next = c + 1;
      }
      for (; next < d; ++next)
        if (dense[i * d + next] != 0.0f) violated("parse_libsvm has a value CSR lacks");
    }
  }
  // Values are written with 9 significant digits: float32 round-trips exactly.
  svm::write_libsvm(file.path(), first.x, first.y);
  const svm::LibsvmData second = svm::read_libsvm(file.path(), first.x.size(1), kFuzzMaxBytes);
  if (second.x.to_vector<float>() != first.x.to_vector<float>() ||
      second.y.to_vector<std::int32_t>() != first.y.to_vector<std::int32_t>())
    violated("LIBSVM data changed in a write/read round trip");
  return 0;
}

}  // namespace minidl::fuzz
