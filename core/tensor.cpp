#include "tensor.hpp"

#include <cmath>
#include <cstring>
#include <sstream>

#include "../kernels/fill.hpp"
#include "context.hpp"

namespace minidl {

Tensor::Tensor(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype)
    : storage_(std::move(storage)), shape_(shape), dtype_(dtype) {
  MINIDL_CHECK(storage_ != nullptr, ValueError, "Tensor: null storage for shape ", shape);
  MINIDL_CHECK(storage_->nbytes() >= nbytes(), ShapeError, "Tensor: storage of ",
               storage_->nbytes(), " bytes is too small for ", shape, " ", dtype, " (", nbytes(),
               " bytes)");
}

Device Tensor::device() const { return storage_ ? storage_->device() : Device::cpu(); }
bool Tensor::is_pinned() const { return storage_ && storage_->pinned(); }

void* Tensor::raw_data() const {
  check_defined("Tensor::raw_data");
  // A pinned tensor may still be read by an asynchronous copy to a GPU: the host
  // gets its memory once every such copy has run (the caller may write to it).
  storage_->wait_for_uses();
  return storage_->data();
}

void Tensor::check_defined(const char* where) const {
  MINIDL_CHECK(defined(), ValueError, where, ": the tensor is undefined (default-constructed)");
}

void Tensor::check_dtype(DType expected, const char* where) const {
  check_defined(where);
  MINIDL_CHECK(dtype_ == expected, DTypeError, where, ": tensor ", shape_, " has dtype ", dtype_,
               ", accessed as ", expected);
}

void Tensor::check_item(const char* where) const {
  check_defined(where);
  MINIDL_CHECK(numel() == 1, ShapeError, where,
               ": needs exactly one element, the tensor has shape ", shape_, " (", numel(),
               " elements)");
}

std::string Tensor::description() const {
  if (!defined()) return "Tensor(undefined)";
  return detail::concat("Tensor(shape=", shape_, ", dtype=", dtype_, ", device=", device(),
                        is_pinned() ? ", pinned" : "", ")");
}

namespace {

// Copies `bytes` between two storages on any pair of devices.
void copy_bytes(void* dst, Device dst_device, bool dst_pinned, const void* src, Device src_device,
                bool src_pinned, std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
  } else if (dst_device.is_cuda() && src_device.is_cpu()) {
    CudaContext& ctx = CudaContext::get(dst_device.index());
    if (src_pinned) {
      ctx.copy_pinned_to_device(dst, src, bytes);
    } else {
      ctx.copy_host_to_device(dst, src, bytes);
    }
  } else if (dst_device.is_cpu() && src_device.is_cuda()) {
    // The host will read dst as soon as this returns, so this always waits.
    CudaContext& ctx = CudaContext::get(src_device.index());
    if (dst_pinned) {
      ctx.copy_device_to_pinned(dst, src, bytes);
    } else {
      ctx.copy_device_to_host(dst, src, bytes);
    }
  } else {
    copy_between_devices(dst, dst_device.index(), src, src_device.index(), bytes);
  }
}

}  // namespace

void Tensor::copy_to_host(void* dst) const {
  check_defined("Tensor::copy_to_host");
  // Reading needs no wait for copies that read the same pinned memory.
  copy_bytes(dst, Device::cpu(), false, storage_->data(), device(), is_pinned(), nbytes());
}

Tensor Tensor::to(Device target) const {
  check_defined("Tensor::to");
  if (target == device()) return *this;
  Tensor out = empty(shape_, target, dtype_);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::pin_memory() const {
  check_defined("Tensor::pin_memory");
  MINIDL_CHECK(device().is_cpu(), DeviceError,
               "Tensor::pin_memory: only CPU tensors can be pinned; this one is on ", device());
  Tensor out(Storage::allocate(nbytes(), Device::cpu(), /*pinned=*/true), shape_, dtype_);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::clone() const {
  check_defined("Tensor::clone");
  Tensor out = empty(shape_, device(), dtype_);
  out.copy_from(*this);
  return out;
}

Tensor& Tensor::copy_from(const Tensor& src) {
  check_defined("Tensor::copy_from (destination)");
  src.check_defined("Tensor::copy_from (source)");
  MINIDL_CHECK(shape_ == src.shape_, ShapeError, "Tensor::copy_from: destination shape ", shape_,
               " differs from source shape ", src.shape_);
  MINIDL_CHECK(dtype_ == src.dtype_, DTypeError, "Tensor::copy_from: destination dtype ", dtype_,
               " differs from source dtype ", src.dtype_);
  if (storage_ == src.storage_) return *this;
  // raw_data() of the destination waits for the copies still reading it when it is
  // pinned; the source is only read, so it does not wait.
  copy_bytes(raw_data(), device(), is_pinned(), src.storage_->data(), src.device(),
             src.is_pinned(), nbytes());
  // A copy out of pinned memory is asynchronous: record it, so that the next host
  // write to src and src's deallocation wait for it (Storage::record_use).
  if (src.is_pinned() && device().is_cuda() && nbytes() > 0)
    src.storage_->record_use(device().index());
  return *this;
}

Tensor Tensor::view(const std::vector<std::int64_t>& requested) const {
  check_defined("Tensor::view");
  auto requested_str = [&requested] {
    std::string text = "[";
    for (std::size_t i = 0; i < requested.size(); ++i)
      text += (i ? ", " : "") + std::to_string(requested[i]);
    return text + "]";
  };
  std::vector<std::int64_t> dims = requested;
  int inferred = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      MINIDL_CHECK(inferred < 0, ShapeError, "Tensor::view: more than one -1 in ", requested_str());
      inferred = static_cast<int>(i);
    } else {
      MINIDL_CHECK(dims[i] >= 0, ShapeError, "Tensor::view: extent ", dims[i], " in ",
                   requested_str(), " is negative");
      known *= dims[i];
    }
  }
  if (inferred >= 0) {
    MINIDL_CHECK(known != 0 && numel() % known == 0, ShapeError,
                 "Tensor::view: cannot infer the -1 in ", requested_str(), " for ", shape_, " (",
                 numel(), " elements)");
    dims[static_cast<std::size_t>(inferred)] = numel() / known;
  }
  const Shape target(dims);
  MINIDL_CHECK(target.numel() == numel(), ShapeError, "Tensor::view: cannot view ", shape_, " (",
               numel(), " elements) as ", target, " (", target.numel(), " elements)");
  Tensor out = *this;
  out.shape_ = target;
  return out;
}

Tensor& Tensor::fill_(double value) {
  fill(*this, value);
  return *this;
}

// ---- printing ------------------------------------------------------------------

namespace {

constexpr std::int64_t kSummariseAbove = 1000;
constexpr std::int64_t kEdgeItems = 3;

template <class T>
void print_values(std::ostream& out, const std::vector<T>& v, const Shape& shape, int axis,
                  std::int64_t offset, bool summarise, int indent) {
  if (shape.rank() == 0) {
    out << v[0];
    return;
  }
  std::int64_t stride = 1;
  for (int i = axis + 1; i < shape.rank(); ++i) stride *= shape[i];
  const std::int64_t n = shape[axis];
  const bool cut = summarise && n > 2 * kEdgeItems;
  out << '[';
  for (std::int64_t i = 0; i < n; ++i) {
    if (cut && i == kEdgeItems) {
      out << (axis + 1 == shape.rank()
                  ? "..., "
                  : "...,\n" + std::string(static_cast<std::size_t>(indent + 1), ' '));
      i = n - kEdgeItems;
    }
    if (axis + 1 == shape.rank()) {
      out << v[static_cast<std::size_t>(offset + i)];
    } else {
      print_values(out, v, shape, axis + 1, offset + i * stride, summarise, indent + 1);
    }
    if (i + 1 < n) {
      out << (axis + 1 == shape.rank()
                  ? ", "
                  : ",\n" + std::string(static_cast<std::size_t>(indent + 1), ' '));
    }
  }
  out << ']';
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const Tensor& t) {
  out << t.description();
  if (!t.defined()) return out;
  out << '\n';
  const bool summarise = t.numel() > kSummariseAbove;
  if (t.numel() == 0) return out << "[]";
  switch (t.dtype()) {
    case DType::Float32:
      print_values(out, t.to_vector<float>(), t.shape(), 0, 0, summarise, 0);
      break;
    case DType::Int32:
      print_values(out, t.to_vector<std::int32_t>(), t.shape(), 0, 0, summarise, 0);
      break;
  }
  return out;
}

// ---- factories -------------------------------------------------------------------

Tensor empty(const Shape& shape, Device device, DType dtype) {
  const std::size_t bytes = static_cast<std::size_t>(shape.numel()) * dtype_size(dtype);
  return Tensor(Storage::allocate(bytes, device), shape, dtype);
}

Tensor zeros(const Shape& shape, Device device, DType dtype) {
  return full(shape, 0.0, device, dtype);
}

Tensor ones(const Shape& shape, Device device, DType dtype) {
  return full(shape, 1.0, device, dtype);
}

Tensor full(const Shape& shape, double value, Device device, DType dtype) {
  Tensor t = empty(shape, device, dtype);
  fill(t, value);
  return t;
}

Tensor arange(double start, double end, double step, Device device, DType dtype) {
  MINIDL_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step), ValueError,
               "arange: start, end and step must be finite (got ", start, ", ", end, ", ", step,
               ")");
  MINIDL_CHECK(step != 0.0, ValueError, "arange: step must not be zero");
  MINIDL_CHECK(dtype != DType::Int32 || (start == std::trunc(start) && step == std::trunc(step)),
               ValueError, "arange: an int32 range needs integer start and step, got start ", start,
               ", step ", step);
  const double count = std::ceil((end - start) / step);
  MINIDL_CHECK(count < 9.0e15, ValueError, "arange: ", count, " elements is too many");
  const auto n = static_cast<std::int64_t>(count > 0 ? count : 0);
  Tensor t = empty({n}, device, dtype);
  fill_arange(t, start, step);
  return t;
}

namespace {
template <class T>
Tensor tensor_from(const std::vector<T>& values, const Shape& shape, Device device) {
  MINIDL_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(), ShapeError,
               "from_vector: ", values.size(), " values do not fill shape ", shape, " (",
               shape.numel(), " elements)");
  Tensor t = empty(shape, device, dtype_v<T>);
  if (values.empty()) return t;
  if (device.is_cpu()) {
    std::memcpy(t.raw_data(), values.data(), t.nbytes());
  } else {
    CudaContext::get(device.index()).copy_host_to_device(t.raw_data(), values.data(), t.nbytes());
  }
  return t;
}
}  // namespace

Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  return tensor_from(values, shape, device);
}
Tensor from_vector(const std::vector<std::int32_t>& values, const Shape& shape, Device device) {
  return tensor_from(values, shape, device);
}
Tensor from_vector(const std::vector<float>& values, Device device) {
  return tensor_from(values, Shape{static_cast<std::int64_t>(values.size())}, device);
}
Tensor from_vector(const std::vector<std::int32_t>& values, Device device) {
  return tensor_from(values, Shape{static_cast<std::int64_t>(values.size())}, device);
}

Tensor from_vector(std::initializer_list<float> values, const Shape& shape, Device device) {
  return tensor_from(std::vector<float>(values), shape, device);
}
Tensor from_vector(std::initializer_list<std::int32_t> values, const Shape& shape, Device device) {
  return tensor_from(std::vector<std::int32_t>(values), shape, device);
}
Tensor from_vector(std::initializer_list<float> values) {
  return from_vector(std::vector<float>(values));
}
Tensor from_vector(std::initializer_list<std::int32_t> values) {
  return from_vector(std::vector<std::int32_t>(values));
}

Tensor uniform(const Shape& shape, float low, float high, Generator& gen, Device device) {
  Tensor t = empty(shape, device, DType::Float32);
  fill_uniform(t, low, high, gen.next());
  return t;
}

Tensor normal(const Shape& shape, float mean, float stddev, Generator& gen, Device device) {
  Tensor t = empty(shape, device, DType::Float32);
  fill_normal(t, mean, stddev, gen.next());
  return t;
}

}  // namespace minidl
