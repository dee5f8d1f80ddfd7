// Which GPUs this build can run on. The CUDA code is compiled for the
// architectures in CMAKE_CUDA_ARCHITECTURES (default "80-real;86-real;89-real;90":
// machine code for A100, RTX 30xx / A10, L4 / RTX 40xx and H100, plus PTX for
// compute_90 that the driver compiles for newer GPUs). A device the build has no
// code for fails at its first kernel launch with "no kernel image"; minidl
// instead checks when it starts using a device (CudaContext) and throws a
// DeviceError naming the device, its compute capability and the architectures
// built in. The rules (plain host code, tested on the CPU):
//   - machine code (SASS) for sm_XY runs on devices X.Z with Z >= Y (same major);
//   - PTX for compute_XY is compiled by the driver for any device >= X.Y.
#pragma once

#include <string>
#include <vector>

namespace minidl {

struct CudaArch {
  int major = 0;
  int minor = 0;
  bool sass = false;  ///< machine code ("-real", or a plain "XY")
  bool ptx = false;   ///< PTX ("-virtual", or a plain "XY")
};

/// The architectures this library was built with (CMAKE_CUDA_ARCHITECTURES's
/// text, e.g. "80-real;86-real;89-real;90"); empty in a CPU-only build.
std::string built_cuda_architectures();

namespace detail {
/// Parses a CMAKE_CUDA_ARCHITECTURES list: "XY" (SASS + PTX), "XY-real" (SASS),
/// "XY-virtual" (PTX); XY is two or more digits (86, 90, 100, 120). Throws
/// ValueError on anything else ("native", "all" and "all-major" are resolved by
/// CMake before they reach here, so they are errors too).
std::vector<CudaArch> parse_cuda_architectures(const std::string& list);
/// Whether code from `built` runs on a device of compute capability major.minor.
bool arch_can_run(const std::vector<CudaArch>& built, int major, int minor);
/// Throws DeviceError ("<device> (compute capability X.Y) cannot run this build
/// of minidl: it has code for sm_80, ..., compute_90 ...") when arch_can_run is false.
void check_cuda_arch(const std::string& device, int major, int minor, const std::string& list);
}  // namespace detail

}  // namespace minidl
