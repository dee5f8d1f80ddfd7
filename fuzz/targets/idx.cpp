// Fuzz target "idx": data/idx's reader (plain and gzip) and its conversions.
#include "../../data/idx.hpp"

#include "../../core/error.hpp"
#include "../targets.hpp"

namespace minidl::fuzz {

int idx_reader(const std::uint8_t* data, std::size_t size) {
  static ScratchFile file("idx");
  try {
    const IdxArray a = read_idx(file.write(data, size), kFuzzMaxBytes);
    if (a.dims.empty() || a.dims.size() > static_cast<std::size_t>(kIdxMaxRank))
      violated("read_idx returned rank " + std::to_string(a.dims.size()));
    if (a.data.size() != static_cast<std::size_t>(a.numel()) * idx_type_size(a.type))
      violated("read_idx: data size disagrees with the header");
    const Tensor f = idx_to_float32(a, 1.0 / 255);
    if (f.numel() != a.numel()) violated("idx_to_float32 changed the element count");
    try {
      const Tensor i = idx_to_int32(a);
      if (i.numel() != a.numel()) violated("idx_to_int32 changed the element count");
    } catch (const DTypeError&) {
      // float and double arrays have no int32 form
    }
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace minidl::fuzz
