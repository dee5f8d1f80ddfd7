// Device: where a tensor's memory lives. Ops dispatch on their operands' device;
// there is no global CPU/GPU mode.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace minidl {

enum class DeviceType : std::uint8_t { CPU, CUDA };

class Device {
 public:
  /// The CPU.
  constexpr Device() = default;
  constexpr Device(DeviceType type, int index)
      : type_(type), index_(type == DeviceType::CPU ? 0 : index) {}

  static constexpr Device cpu() { return Device(); }
  static constexpr Device cuda(int index = 0) { return Device(DeviceType::CUDA, index); }
  /// Parses "cpu", "cuda" or "cuda:N". Throws DeviceError on anything else.
  static Device parse(const std::string& text);

  constexpr DeviceType type() const { return type_; }
  constexpr int index() const { return index_; }
  constexpr bool is_cpu() const { return type_ == DeviceType::CPU; }
  constexpr bool is_cuda() const { return type_ == DeviceType::CUDA; }

  constexpr bool operator==(const Device& o) const {
    return type_ == o.type_ && index_ == o.index_;
  }
  constexpr bool operator!=(const Device& o) const { return !(*this == o); }

  /// "cpu" or "cuda:0".
  std::string str() const;

 private:
  DeviceType type_ = DeviceType::CPU;
  int index_ = 0;
};

inline std::ostream& operator<<(std::ostream& out, const Device& d) { return out << d.str(); }

/// True when this build has the CUDA backend compiled in.
bool built_with_cuda();

/// Runtime answer: a CUDA build, a driver, at least one device, and CUDA not turned
/// off by the environment variable MINIDL_DISABLE_CUDA (any value but "" or "0").
/// A machine without a GPU or without a driver answers false; it never throws.
/// The device query runs once; the environment variable is read on every call.
bool cuda_available();

/// Number of usable CUDA devices (0 whenever cuda_available() is false).
int cuda_device_count();

/// Why cuda_available() is false ("" when it is true), e.g.
/// "no CUDA device (cudaGetDeviceCount: cudaErrorNoDevice ...)".
std::string cuda_unavailable_reason();

/// Ensures: returns when `device` can hold tensors; throws DeviceError naming the
/// device and the reason otherwise (CUDA unavailable, index out of range).
void check_device(const Device& device);

}  // namespace minidl
