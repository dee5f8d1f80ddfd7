// What the CPU this process runs on can execute, asked once. The one place minidl
// answers "may this fast path run here?": the library is built for baseline x86-64
// (SSE2), and the AVX2 code paths (kernels/elementwise_cpu.hpp's map_wide, conv2d's
// direct path) are compiled with target attributes and entered only when this says so.
#pragma once

#include <string>

namespace minidl {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
};

/// The features of this CPU (all false on a non-x86 build). Detected on the first call.
const CpuFeatures& cpu_features();

/// avx2 && fma: the AVX2 paths' requirement.
bool cpu_has_avx2_fma();

/// "avx2 fma avx512f" (the present ones, in that order), or "baseline".
std::string cpu_features_string();

}  // namespace minidl
