// Deferred input checks for CUDA ops: a kernel records what it found wrong in a
// device word, and the host raises the error at the next point that waits for
// the stream anyway (a loss read, item(), to_vector(), synchronize()), so a
// training step does not synchronise just to validate its labels.
//
// A finding is packed into 64 bits, (index << 32) | payload, and kernels keep the
// atomicMin of their findings: the lowest index wins whatever the thread order,
// and its payload (the bad label, or a float's bits) goes with it. UINT64_MAX
// means "nothing found". The bookkeeping of which check owns which word is plain
// host code (DeferredChecks), used by CudaContext and tested on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "macros.hpp"

namespace minidl::detail {

constexpr std::uint64_t kNothingFound = ~std::uint64_t{0};

MINIDL_HD MINIDL_INLINE std::uint64_t pack_finding(std::uint32_t index, std::uint32_t payload) {
  return (static_cast<std::uint64_t>(index) << 32) | payload;
}

/// The pending checks of one stream, in the order they were queued.
class DeferredChecks {
 public:
  /// Builds the error message of a finding: the index (a row, an element) and its payload.
  using Describe = std::function<std::string(std::uint32_t index, std::uint32_t payload)>;
  /// Device words per stream: when they are all pending, the next check first
  /// resolves them (one synchronisation per this many checked steps at worst).
  static constexpr std::size_t kCapacity = 64;

  /// Registers a check and returns its word's position. Requires !full().
  std::size_t add(Describe describe);
  bool full() const { return pending_.size() >= kCapacity; }
  bool empty() const { return pending_.empty(); }
  std::size_t size() const { return pending_.size(); }

  /// `values`: the size() words read back. Clears the pending list, then throws
  /// ValueError with the message of the first check (in queue order) that found
  /// something; returns when none did.
  void resolve(const std::uint64_t* values);

 private:
  std::vector<Describe> pending_;
};

}  // namespace minidl::detail
