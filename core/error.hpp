// minidl's exceptions. Library code never aborts: every failure is one of these,
// with enough context (the op, the shapes, the call, the file) to act on.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace minidl {

/// Base of every error minidl throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An argument out of its domain (a negative size, a label outside [0, K), ...).
class ValueError : public Error {
 public:
  using Error::Error;
};

/// Shapes that do not fit together; the message names both.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A dtype an op does not accept, or two operands of different dtypes.
class DTypeError : public Error {
 public:
  using Error::Error;
};

/// A device that does not exist, is unavailable, or does not match.
class DeviceError : public Error {
 public:
  using Error::Error;
};

/// A file that cannot be read or written, or whose contents are malformed.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A failed call into the CUDA runtime, cuBLAS or cuDNN, or a failed kernel launch.
class CudaError : public Error {
 public:
  using Error::Error;
};

/// A device allocation that did not fit. Says how much was asked and how much was free.
class OutOfMemoryError : public CudaError {
 public:
  OutOfMemoryError(const std::string& message, std::size_t requested, std::size_t free_bytes,
                   std::size_t total_bytes)
      : CudaError(message), requested_(requested), free_(free_bytes), total_(total_bytes) {}
  std::size_t requested_bytes() const noexcept { return requested_; }
  std::size_t free_bytes() const noexcept { return free_; }
  std::size_t total_bytes() const noexcept { return total_; }

 private:
  std::size_t requested_;
  std::size_t free_;
  std::size_t total_;
};

namespace detail {
/// Streams every argument into one string: concat("shape ", s, " vs ", t).
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

/// `text` quoted for an error message; a long one (a 5 MB token) is cut to its
/// first `max` bytes and marked with its length: "\"1234...\" (5000000 bytes)".
inline std::string excerpt(const std::string& text, std::size_t max = 48) {
  if (text.size() <= max) return "\"" + text + "\"";
  return "\"" + text.substr(0, max) + "...\" (" + std::to_string(text.size()) + " bytes)";
}

/// A byte count for messages about how much was asked for: "4 GiB".
inline std::string gib_text(double bytes) {
  std::ostringstream out;
  out.precision(3);
  out << bytes / 1073741824.0 << " GiB";
  return out.str();
}
}  // namespace detail

/// The system's text for an errno value and the number: "No space left on
/// device (errno 28)".
inline std::string errno_text(int err) {
  return detail::concat(std::error_code(err, std::generic_category()).message(), " (errno ", err,
                        ")");
}

}  // namespace minidl

/// Throws minidl::Type with the streamed message when cond is false:
///   MINIDL_CHECK(a.shape() == b.shape(), ShapeError, "add: ", a.shape(), " vs ", b.shape());
#define MINIDL_CHECK(cond, Type, ...)                                         \
  do {                                                                        \
    if (!(cond)) throw ::minidl::Type(::minidl::detail::concat(__VA_ARGS__)); \
  } while (0)
