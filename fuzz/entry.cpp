// libFuzzer's entry point for one target, chosen at compile time by
// MINIDL_FUZZ_TARGET (a function of fuzz/targets.hpp); fuzz/CMakeLists.txt
// builds one executable per target from this file.
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return minidl::fuzz::MINIDL_FUZZ_TARGET(data, size);
}
