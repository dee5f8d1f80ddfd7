// Fuzz target "libsvm_data": parse_libsvm, and write_libsvm + read_libsvm of
// what it parsed.
#include <sstream>
#include <string>

#include "../../core/error.hpp"
#include "../../svm/libsvm_format.hpp"
#include "../targets.hpp"

namespace minidl::fuzz {

int libsvm_data(const std::uint8_t* data, std::size_t size) {
  static ScratchFile file("libsvm-data");
  svm::LibsvmData first;
  try {
    std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
    first = svm::parse_libsvm(in, "fuzz", 0, kFuzzMaxBytes);
  } catch (const Error&) {
    return 0;
  }
  if (first.x.rank() != 2 || first.y.rank() != 1 || first.x.size(0) != first.y.size(0) ||
      first.x.size(0) == 0 || first.x.size(1) == 0)
    violated("parse_libsvm returned inconsistent shapes");
  // Values are written with 9 significant digits: float32 round-trips exactly.
  svm::write_libsvm(file.path(), first.x, first.y);
  const svm::LibsvmData second = svm::read_libsvm(file.path(), first.x.size(1), kFuzzMaxBytes);
  if (second.x.to_vector<float>() != first.x.to_vector<float>() ||
      second.y.to_vector<std::int32_t>() != first.y.to_vector<std::int32_t>())
    violated("LIBSVM data changed in a write/read round trip");
  return 0;
}

}  // namespace minidl::fuzz
