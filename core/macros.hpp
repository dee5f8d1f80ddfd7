// Portability macros shared by the C++ compiler and nvcc.
#pragma once

// MINIDL_HD marks small math functions and functors that the CPU loop and the
// CUDA kernel both call (DESIGN.md, "write the math once"). Outside nvcc it is
// empty, so the same header compiles as plain C++.
#if defined(__CUDACC__)
#define MINIDL_HD __host__ __device__
#define MINIDL_INLINE __forceinline__
#else
#define MINIDL_HD
#define MINIDL_INLINE inline
#endif
