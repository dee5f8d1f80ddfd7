// Tensor: a shape, a dtype and a device over shared storage; always contiguous
// and row-major. Copying a Tensor copies the handle (both see the same memory);
// clone() copies the data.
//
// Work on CUDA tensors is queued on the device's stream; nothing copies between
// devices behind the user's back (to() and copy_from() are the only transfers),
// and only reading values on the host (item(), to_vector(), operator<<, copies
// into CPU tensors) synchronises.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "device.hpp"
#include "dtype.hpp"
#include "error.hpp"
#include "random.hpp"
#include "shape.hpp"
#include "storage.hpp"

namespace minidl {

class Tensor {
 public:
  /// An undefined tensor (no storage); defined() is false.
  Tensor() = default;
  /// Wraps existing storage. Requires storage->nbytes() >= shape.numel() * dtype_size(dtype).
  Tensor(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  std::int64_t numel() const { return shape_.numel(); }
  /// Extent of axis i (negative counts from the end).
  std::int64_t size(int i) const { return shape_.dim(i); }
  DType dtype() const { return dtype_; }
  Device device() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
  bool is_pinned() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  /// Raw pointer to the first element: host memory for CPU tensors, device memory
  /// for CUDA tensors. Throws DTypeError when T does not match dtype().
  template <class T>
  T* data() const {
    check_dtype(dtype_v<T>, "Tensor::data");
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  /// A tensor on `device` with the same values. Same device: returns *this (a
  /// shared handle, no copy; use clone() for a copy). To a CPU tensor: synchronous.
  /// To a CUDA tensor: asynchronous on the destination's stream. From a pageable
  /// CPU tensor the data is staged before this returns (the source may be reused
  /// at once). From a pinned one the DMA reads the source later: its next host
  /// access through data() / raw_data() / fill_() / copy_from() waits until every
  /// such copy has read it, and its memory is freed only after all of them (on
  /// every device). A pointer taken from data() BEFORE the copy is not covered:
  /// take it again after.
  Tensor to(Device device) const;
  /// A page-locked CPU copy of this tensor (requires a GPU): copies from it to a
  /// GPU skip the staging buffer and are asynchronous.
  Tensor pin_memory() const;
  /// A new tensor on the same device with a copy of the data.
  Tensor clone() const;
  /// Overwrites this tensor's data with src's (any devices). Requires equal shapes
  /// and dtypes; throws ShapeError / DTypeError naming both.
  Tensor& copy_from(const Tensor& src);

  /// The same storage seen with another shape (no copy). One extent may be -1 and
  /// is inferred: t.view({-1, 784}). Requires the same number of elements; throws
  /// ShapeError naming both shapes.
  Tensor view(std::initializer_list<std::int64_t> dims) const {
    return view(std::vector<std::int64_t>(dims));
  }
  Tensor view(const std::vector<std::int64_t>& dims) const;
  Tensor view(const Shape& shape) const { return view(shape.dims()); }
  /// Same as view(): minidl tensors are always contiguous, so reshape never copies.
  Tensor reshape(std::initializer_list<std::int64_t> dims) const { return view(dims); }
  Tensor reshape(const std::vector<std::int64_t>& dims) const { return view(dims); }
  Tensor reshape(const Shape& shape) const { return view(shape); }

  /// Sets every element to `value` (converted to dtype(); for int32 the value
  /// must be an integer in range, else ValueError). In place; returns *this.
  Tensor& fill_(double value);

  /// The values, copied to the host (synchronises). Throws DTypeError when T does not match.
  template <class T>
  std::vector<T> to_vector() const {
    check_dtype(dtype_v<T>, "Tensor::to_vector");
    std::vector<T> out(static_cast<std::size_t>(numel()));
    copy_to_host(out.data());
    return out;
  }
  /// The single value of a one-element tensor (synchronises). Throws ShapeError otherwise.
  template <class T>
  T item() const {
    check_item("Tensor::item");
    return to_vector<T>()[0];
  }

  /// "Tensor(shape=[2, 3], dtype=float32, device=cpu)".
  std::string description() const;

 private:
  void check_dtype(DType expected, const char* where) const;
  void check_defined(const char* where) const;
  void check_item(const char* where) const;
  void copy_to_host(void* dst) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::Float32;
};

/// Prints the description and the values (numpy style, summarised with "..." past
/// 1000 elements). Reads CUDA tensors back to the host (synchronises).
std::ostream& operator<<(std::ostream& out, const Tensor& t);

// ---- factories -----------------------------------------------------------------
// Each requires a usable device (else DeviceError) and may throw OutOfMemoryError.

/// Uninitialised memory.
Tensor empty(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::Float32);
Tensor zeros(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::Float32);
Tensor ones(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::Float32);
Tensor full(const Shape& shape, double value, Device device = Device::cpu(),
            DType dtype = DType::Float32);
/// start, start + step, ... while < end (> end for a negative step), as numpy.arange.
/// Element i is computed as start + i * step in double, then converted.
/// Throws ValueError for step == 0 or non-finite arguments.
Tensor arange(double start, double end, double step = 1.0, Device device = Device::cpu(),
              DType dtype = DType::Float32);
/// A tensor holding `values` (row-major) with `shape`; throws ShapeError when the
/// counts differ. The 1-D overloads take the shape [values.size()].
Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                   Device device = Device::cpu());
Tensor from_vector(const std::vector<std::int32_t>& values, const Shape& shape,
                   Device device = Device::cpu());
Tensor from_vector(const std::vector<float>& values, Device device = Device::cpu());
Tensor from_vector(const std::vector<std::int32_t>& values, Device device = Device::cpu());
/// Brace lists pick the dtype from their elements: from_vector({1.f, 2.f}, {2}) and
/// from_vector({a, b}) with float a, b are float32, from_vector({1, 2}) is int32.
/// Without a shape the tensor is 1-D on the CPU (a second argument {} would be
/// ambiguous between a shape and a device: write the shape, {} for a scalar).
Tensor from_vector(std::initializer_list<float> values, const Shape& shape,
                   Device device = Device::cpu());
Tensor from_vector(std::initializer_list<std::int32_t> values, const Shape& shape,
                   Device device = Device::cpu());
Tensor from_vector(std::initializer_list<float> values);
Tensor from_vector(std::initializer_list<std::int32_t> values);
/// float32 values uniform in [low, high), from gen's next draw (see random.hpp):
/// the same seed gives bit-identical values on CPU and CUDA.
Tensor uniform(const Shape& shape, float low, float high, Generator& gen,
               Device device = Device::cpu());
/// float32 normal values with mean and standard deviation stddev >= 0, from gen's next draw.
Tensor normal(const Shape& shape, float mean, float stddev, Generator& gen,
              Device device = Device::cpu());

}  // namespace minidl
