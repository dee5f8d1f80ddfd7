// Operand checks shared by the public ops (internal; not installed). Each throws
// the matching minidl::Error naming the op, the operand and the shapes/devices.
#pragma once

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace minidl::detail {

inline void check_defined(const char* op, const char* name, const Tensor& t) {
  MINIDL_CHECK(t.defined(), ValueError, op, ": ", name, " is undefined");
}

inline void check_dtype(const char* op, const char* name, const Tensor& t, DType dtype) {
  check_defined(op, name, t);
  MINIDL_CHECK(t.dtype() == dtype, DTypeError, op, ": ", name, " must be ", dtype, ", got ",
               t.dtype(), " (shape ", t.shape(), ")");
}

inline void check_float(const char* op, const char* name, const Tensor& t) {
  check_dtype(op, name, t, DType::Float32);
}

inline void check_same_shape(const char* op, const char* a_name, const Tensor& a,
                             const char* b_name, const Tensor& b) {
  MINIDL_CHECK(a.shape() == b.shape(), ShapeError, op, ": ", a_name, " ", a.shape(), " and ",
               b_name, " ", b.shape(), " must have the same shape");
}

inline void check_same_device(const char* op, const char* a_name, const Tensor& a,
                              const char* b_name, const Tensor& b) {
  MINIDL_CHECK(a.device() == b.device(), DeviceError, op, ": ", a_name, " is on ", a.device(),
               " but ", b_name, " is on ", b.device(), " (move one with .to())");
}

/// `out` must be defined, float32, of `shape`, on `device`; an undefined `out` is
/// allocated instead (the functional forms pass an undefined tensor).
inline void prepare_output(const char* op, Tensor& out, const Shape& shape, Device device,
                           DType dtype = DType::Float32) {
  if (!out.defined()) {
    out = empty(shape, device, dtype);
    return;
  }
  MINIDL_CHECK(out.dtype() == dtype, DTypeError, op, ": output must be ", dtype, ", got ",
               out.dtype());
  MINIDL_CHECK(out.shape() == shape, ShapeError, op, ": output has shape ", out.shape(),
               ", expected ", shape);
  MINIDL_CHECK(out.device() == device, DeviceError, op, ": output is on ", out.device(),
               ", expected ", device);
}

}  // namespace minidl::detail
