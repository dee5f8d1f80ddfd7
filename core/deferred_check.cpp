#include "deferred_check.hpp"

#include <utility>

#include "error.hpp"

namespace minidl::detail {

std::size_t DeferredChecks::add(Describe describe) {
  MINIDL_CHECK(!full(), Error, "DeferredChecks::add: all ", kCapacity,
               " words are pending; resolve them first");
  pending_.push_back(std::move(describe));
  return pending_.size() - 1;
}

void DeferredChecks::resolve(const std::uint64_t* values) {
  std::vector<Describe> pending = std::move(pending_);
  pending_.clear();
  for (std::size_t i = 0; i < pending.size(); ++i) {
    if (values[i] == kNothingFound) continue;
    const auto index = static_cast<std::uint32_t>(values[i] >> 32);
    const auto payload = static_cast<std::uint32_t>(values[i] & 0xffffffffu);
    throw ValueError(pending[i](index, payload));
  }
}

}  // namespace minidl::detail
