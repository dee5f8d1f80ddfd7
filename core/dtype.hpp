// Element types. float32 and int32 today; the enum and the switch helpers leave
// room for float16 / bfloat16.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

namespace minidl {

enum class DType : std::uint8_t {
  Float32,
  Int32,
};

/// Size of one element in bytes.
constexpr std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32:  // 4-byte types; float16 / bfloat16 will add a 2-byte case
    case DType::Int32:
      return 4;
  }
  return 0;
}

/// "float32", "int32".
const char* dtype_name(DType t);

inline std::ostream& operator<<(std::ostream& out, DType t) { return out << dtype_name(t); }

/// The DType of a C++ element type: dtype_of<float>::value == DType::Float32.
template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct dtype_of<std::int32_t> {
  static constexpr DType value = DType::Int32;
};
template <class T>
inline constexpr DType dtype_v = dtype_of<T>::value;

}  // namespace minidl
