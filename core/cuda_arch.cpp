#include "cuda_arch.hpp"

#include <cctype>
#include <sstream>

#include "error.hpp"

#ifndef MINIDL_CUDA_ARCHITECTURES
#define MINIDL_CUDA_ARCHITECTURES ""
#endif

namespace minidl {

std::string built_cuda_architectures() {
  std::string list = MINIDL_CUDA_ARCHITECTURES;  // CMake's list, ',' for ';'
  for (char& c : list)
    if (c == ',') c = ';';
  return list;
}

namespace detail {

std::vector<CudaArch> parse_cuda_architectures(const std::string& list) {
  std::vector<CudaArch> out;
  std::string text = list;
  for (char& c : text)
    if (c == ',') c = ';';
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ';')) {  // also split on ','
    if (item.empty()) continue;
    std::size_t digits = 0;
    while (digits < item.size() && std::isdigit(static_cast<unsigned char>(item[digits]))) ++digits;
    CudaArch a;
    std::size_t end = digits;
    if (end < item.size() && (item[end] == 'a' || item[end] == 'f')) a.variant = item[end++];
    const std::string suffix = item.substr(end);
    MINIDL_CHECK(digits >= 2 && digits <= 4 &&
                     (suffix.empty() || suffix == "-real" || suffix == "-virtual"),
                 ValueError, "CUDA architecture list '", list, "': cannot read '", item,
                 "' (expected XY, XY-real or XY-virtual, XY optionally followed by a or f, e.g. "
                 "86-real, 90a)");
    const int number = std::stoi(item.substr(0, digits));
    a.major = number / 10;
    a.minor = number % 10;
    a.sass = suffix != "-virtual";
    a.ptx = suffix != "-real";
    out.push_back(a);
  }
  return out;
}

bool arch_can_run(const std::vector<CudaArch>& built, int major, int minor) {
  for (const CudaArch& a : built) {
    if (a.variant == 'a') {
      if (a.major == major && a.minor == minor) return true;
    } else if (a.variant == 'f') {
      if (a.major == major && a.minor <= minor) return true;
    } else {
      if (a.sass && a.major == major && a.minor <= minor) return true;
      if (a.ptx && (a.major < major || (a.major == major && a.minor <= minor))) return true;
    }
  }
  return false;
}

bool cuda_architectures_listed(const std::string& list) {
  for (const char* word : {"native", "all", "all-major", "OFF"})
    if (list == word) return false;
  return true;
}

void check_cuda_arch(const std::string& device, int major, int minor, const std::string& list) {
  if (!cuda_architectures_listed(list)) return;
  const std::vector<CudaArch> built = parse_cuda_architectures(list);
  if (arch_can_run(built, major, minor)) return;
  std::string have;
  for (const CudaArch& a : built) {
    std::string n = std::to_string(a.major * 10 + a.minor);
    if (a.variant != 0) n += a.variant;
    if (a.sass) have += (have.empty() ? "" : ", ") + ("sm_" + n);
    if (a.ptx) have += (have.empty() ? "" : ", ") + ("compute_" + n + " (PTX)");
  }
  throw DeviceError(concat(
      device, " (compute capability ", major, ".", minor,
      ") cannot run this build of minidl: it has code for ", have.empty() ? "no GPU" : have,
      " (CMAKE_CUDA_ARCHITECTURES=\"", list, "\"). Rebuild with -DCMAKE_CUDA_ARCHITECTURES=",
      major * 10 + minor, " (or \"native\" on this machine)."));
}

}  // namespace detail

}  // namespace minidl
