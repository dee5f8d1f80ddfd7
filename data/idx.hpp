// The IDX file format of the MNIST family (Yann LeCun, "THE MNIST DATABASE of
// handwritten digits", section "FILE FORMATS FOR THE MNIST DATABASE"):
//   - 4 bytes of magic: 0x00 0x00, a type byte, a rank byte;
//   - rank extents, each a big-endian uint32;
//   - the elements, row-major (the last index changes fastest), big-endian.
// Type bytes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
// 0x0E float64.
//
// read_idx() reads a plain or a gzip-compressed file (told apart by gzip's magic
// bytes 0x1f 0x8b, never by the file name; concatenated gzip members are one
// stream, as gzip -d sees them). It trusts nothing in the file: every failure is
// an IoError that names the file and says what is wrong, and no allocation is
// larger than what the header claims, the `max_data_bytes` cap, and (for plain
// files) the file's size all allow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/tensor.hpp"

namespace minidl {

/// The element types of IDX; the value is the type byte in the file.
enum class IdxType : std::uint8_t {
  UInt8 = 0x08,
  Int8 = 0x09,
  Int16 = 0x0B,
  Int32 = 0x0C,
  Float32 = 0x0D,
  Float64 = 0x0E,
};

/// Bytes per element (1, 1, 2, 4, 4, 8); 0 for a value outside the enum.
std::size_t idx_type_size(IdxType type);
/// "uint8", "int8", "int16", "int32", "float32", "float64"; "unknown" otherwise.
const char* idx_type_name(IdxType type);

/// The largest rank read_idx() accepts: minidl's Shape::kMaxRank, so every array
/// read converts to a Tensor.
inline constexpr int kIdxMaxRank = 8;
/// read_idx()'s default cap on the data section (after decompression): 4 GiB,
/// far above any MNIST-family file (EMNIST ByClass, the largest, is ~0.55 GB).
inline constexpr std::uint64_t kIdxDefaultMaxDataBytes = std::uint64_t{4} << 30;

/// An IDX array as read from a file.
struct IdxArray {
  IdxType type = IdxType::UInt8;
  /// The extents, outermost first (1 to kIdxMaxRank of them, each >= 0).
  std::vector<std::int64_t> dims;
  /// numel() * idx_type_size(type) bytes, row-major, in the host's byte order
  /// (big-endian values from the file are already swapped).
  std::vector<std::uint8_t> data;

  /// The product of the extents.
  std::int64_t numel() const;
};

/// Reads the IDX file at `path`, plain or gzip.
/// Ensures: the result's data holds exactly the elements the header declares.
/// Throws IoError (message: "read_idx: '<path>': <what is wrong>") when the file
/// is missing or unreadable; its gzip stream is corrupt, truncated or followed by
/// bytes that are not another gzip member; the magic is not 0x00 0x00; the type
/// byte is unknown; the rank is 0 or above kIdxMaxRank; the element count or byte
/// count overflows or exceeds `max_data_bytes`; the data is shorter than the
/// header says (truncated); or anything follows the data (trailing bytes are an
/// error, not ignored: an IDX file has no room for them, so they mean a corrupt or
/// mis-assembled file).
IdxArray read_idx(const std::string& path, std::uint64_t max_data_bytes = kIdxDefaultMaxDataBytes);

/// A float32 CPU tensor with `array`'s shape holding value * scale for every
/// element (any element type; computed in double and rounded once to float, so
/// uint8 with scale 1.0 / 255 maps 0 -> 0.0f and 255 -> 1.0f exactly).
/// Throws ShapeError when the dims do not form a valid Shape, ValueError when data
/// has the wrong size for dims and type.
Tensor idx_to_float32(const IdxArray& array, double scale = 1.0);

/// An int32 CPU tensor with `array`'s shape and values; for the integer element
/// types only (uint8, int8, int16, int32), else DTypeError. Same ShapeError /
/// ValueError as idx_to_float32.
Tensor idx_to_int32(const IdxArray& array);

}  // namespace minidl
