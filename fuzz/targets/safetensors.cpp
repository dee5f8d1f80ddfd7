// Fuzz target "safetensors": load_safetensors, and save + load of what it read.
#include <cstring>

#include "../../core/error.hpp"
#include "../../io/safetensors.hpp"
#include "../targets.hpp"

namespace minidl::fuzz {

int safetensors_round_trip(const std::uint8_t* data, std::size_t size) {
  static ScratchFile in("safetensors-in");
  static ScratchFile out("safetensors-out");
  SafetensorsFile first;
  try {
    first = load_safetensors(in.write(data, size));
  } catch (const Error&) {
    return 0;
  }
  // A file that loads is one minidl can write back: names, shapes, dtypes,
  // bytes and metadata survive (in the writer's order).
  save_safetensors(out.path(), first.tensors, first.metadata);
  const SafetensorsFile second = load_safetensors(out.path());
  if (second.metadata != first.metadata) violated("safetensors metadata changed in a round trip");
  if (second.tensors.size() != first.tensors.size())
    violated("safetensors round trip changed the number of tensors");
  for (const NamedTensor& t : first.tensors) {
    const Tensor* back = second.find(t.name);
    if (back == nullptr) violated("safetensors round trip lost tensor " + t.name);
    if (back->shape() != t.tensor.shape() || back->dtype() != t.tensor.dtype())
      violated("safetensors round trip changed the shape or dtype of " + t.name);
    if (t.tensor.nbytes() > 0 &&
        std::memcmp(back->raw_data(), t.tensor.raw_data(), t.tensor.nbytes()) != 0)
      violated("safetensors round trip changed the bytes of " + t.name);
  }
  return 0;
}

}  // namespace minidl::fuzz
