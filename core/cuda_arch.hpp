// Which GPUs this build can run on. The CUDA code is compiled for the
// architectures in CMAKE_CUDA_ARCHITECTURES (default
// "75-real;80-real;86-real;89-real;90;100-real;120-real": machine code for T4 / RTX 20xx,
// A100, RTX 30xx / A10, L4 / RTX 40xx, H100, B200 and RTX 50xx, plus PTX for compute_90
// that the driver compiles for later GPUs). A device the build has no
// code for fails at its first kernel launch with "no kernel image"; minidl
// instead checks when it starts using a device (CudaContext) and throws a
// DeviceError naming the device, its compute capability and the architectures
// built in. The rules (plain host code, tested on the CPU):
//   - machine code (SASS) for sm_XY runs on devices X.Z with Z >= Y (same major);
//   - PTX for compute_XY is compiled by the driver for any device >= X.Y;
//   - "a" code (sm_90a, compute_90a) runs on X.Y alone, "f" code (sm_100f) on X.Z with
//     Z >= Y, machine code and PTX alike (CUDA's architecture- and family-specific
//     targets).
#pragma once

#include <string>
#include <vector>

namespace minidl {

struct CudaArch {
  int major = 0;
  int minor = 0;
  bool sass = false;  ///< machine code ("-real", or a plain "XY")
  bool ptx = false;   ///< PTX ("-virtual", or a plain "XY")
  /// 'a': architecture-specific ("90a": Hopper's wgmma and TMA), for exactly X.Y; 'f':
  /// family-specific ("100f"), for X.Z with Z >= Y; 0: neither.
  char variant = 0;
};

/// The architectures this library was built with (CMAKE_CUDA_ARCHITECTURES's
/// text, e.g. "80-real;86-real;89-real;90", with CMake's "all", "all-major" and "native"
/// replaced by the lists they stood for); empty in a CPU-only build. "native" when CMake
/// saw no GPU to resolve it, "OFF" for nvcc's default: see cuda_architectures_listed.
std::string built_cuda_architectures();

namespace detail {
/// Whether `list` is a list of architectures rather than one of CMake's words for what only
/// the compiler resolves ("native", "all", "all-major"; "OFF": nvcc's default; case as
/// CMake writes them). The build passes the lists those words stood for where CMake knew
/// them (CMakeLists.txt), so a word here means this library cannot know its code: the
/// start-up check then leaves it to the driver ("no kernel image" at the first launch).
bool cuda_architectures_listed(const std::string& list);
/// Parses a CMAKE_CUDA_ARCHITECTURES list: "XY" (SASS + PTX), "XY-real" (SASS),
/// "XY-virtual" (PTX); XY is two or more digits (86, 90, 100, 120), optionally followed by
/// "a" or "f" (90a, 100f-real). Throws
/// ValueError on anything else (CMake's words above too: check cuda_architectures_listed
/// first).
std::vector<CudaArch> parse_cuda_architectures(const std::string& list);
/// Whether code from `built` runs on a device of compute capability major.minor.
bool arch_can_run(const std::vector<CudaArch>& built, int major, int minor);
/// Throws DeviceError ("<device> (compute capability X.Y) cannot run this build
/// of minidl: it has code for sm_80, ..., compute_90 ...") when arch_can_run is false;
/// does nothing for a list that is one of CMake's words (cuda_architectures_listed).
void check_cuda_arch(const std::string& device, int major, int minor, const std::string& list);
}  // namespace detail

}  // namespace minidl
