// Checkpoints in the safetensors format (Hugging Face), read and written without
// any dependency beyond the C++ library and POSIX.
//
// The format (https://github.com/huggingface/safetensors, README "Format", and the
// reference implementation safetensors/src/tensor.rs, whose rules are followed
// here):
//   - 8 bytes: N, a little-endian uint64, the length of the header;
//   - N bytes: a UTF-8 JSON object mapping each tensor name to
//       {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
//     with byte offsets relative to the start of the data section, plus an optional
//     "__metadata__" object of string -> string;
//   - the data section: every tensor's elements, raw little-endian, row-major.
// The reference loader (SafeTensors::read_metadata / Metadata::validate) rejects a
// header longer than 100,000,000 bytes or running past the end of the file, and,
// with the entries sorted by offsets, requires them to tile the data section
// exactly: the first starts at 0, each starts where the previous ends (no hole, no
// overlap), each holds shape-product * dtype-size bytes, and the last ends at the
// end of the file. The reference writer (tensor.rs prepare()) orders the tensors by
// descending dtype, then by name, writes the JSON compactly with "__metadata__"
// first and each entry's keys in the order dtype, shape, data_offsets, and pads the
// header with spaces so that the data section starts 8-byte aligned.
//
// minidl stores float32 ("F32") and int32 ("I32"). The file is little-endian, as
// is every host minidl supports; a big-endian build fails at compile time (or, on
// a compiler that cannot tell, at run time with IoError).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../core/device.hpp"
#include "../core/tensor.hpp"

namespace minidl {

/// The reference implementation's limit on the JSON header (safetensors
/// MAX_HEADER_SIZE): longer headers are rejected unread.
inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

/// A tensor and the name it is stored under.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

/// The contents of a safetensors file.
struct SafetensorsFile {
  /// In the order of their data in the file (ascending data_offsets).
  std::vector<NamedTensor> tensors;
  /// The "__metadata__" object (empty when the file has none).
  std::map<std::string, std::string> metadata;

  /// The tensor stored under `name`, or nullptr when there is none. Linear in the
  /// number of tensors. The pointer is valid while `tensors` is not modified.
  const Tensor* find(const std::string& name) const;
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  /// The tensor stored under `name`; throws ValueError naming it when there is none.
  const Tensor& at(const std::string& name) const;
};

/// Writes `tensors` and `metadata` to the safetensors file `path`, atomically.
///
/// Requires: every tensor defined, float32 or int32, on any device (CUDA tensors
/// are copied to the host one at a time while writing); names non-empty, unique,
/// not "__metadata__", and valid UTF-8, as are metadata keys and values. Violations
/// throw ValueError (DTypeError for a dtype the format mapping lacks) before
/// anything is written.
///
/// Ensures: the file holds exactly what the reference writer (safetensors
/// serialize()) would write for the same tensors and metadata: tensors ordered
/// float32 first, then int32, each group by name (byte order), which is the
/// reference's "descending dtype, then name" order, not the order given; the
/// header's compact JSON with "__metadata__" first (omitted when `metadata` is
/// empty, its keys sorted); padding with spaces to an 8-byte-aligned data section.
/// The output is therefore deterministic, and byte-identical to the reference's
/// whenever `metadata` has at most one key (the reference orders a larger metadata
/// map by hash).
///
/// Atomic (io/atomic_file.hpp's AtomicFile): a `path` that exists and is not a
/// regular file or a symlink (a folder, a device node such as /dev/null, a FIFO)
/// is refused with IoError before anything is written. The bytes go to a new
/// temporary file "<path>.tmp.<unique>" in the same directory, which is flushed, fsync'ed and closed, then renamed over `path`, and
/// the directory is fsync'ed. Readers see the old file or the complete new one,
/// never a part, even after a crash (which can leave a "<path>.tmp.*" file
/// behind; nothing reads it, and later saves pick other names). The new file
/// gets the permissions of a newly created file (0666 minus the umask), whatever
/// the old one had; a symlink at `path` is replaced, not followed.
///
/// Errors: IoError naming `path` (and the temporary file) and the system's reason
/// (strerror text) for every failure to create, write, sync, close or rename;
/// the temporary file is removed and the previous file at `path` is untouched.
/// If only the final fsync of the directory fails, the new file is already in
/// place (its durability across a crash is not guaranteed) and IoError says so.
/// Errors from copying a CUDA tensor to the host propagate unchanged, again with
/// the temporary file removed.
void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Reads the safetensors file `path`; tensors are placed on `device`.
///
/// Validates the whole header against the file's size before reading any data:
/// the header length (at least 8 bytes of file; length <= file size - 8 and
/// <= kSafetensorsMaxHeaderBytes); the JSON (parse errors carry the parser's
/// message; duplicate keys anywhere are rejected, where JSON parsers usually keep
/// the last); a top-level object; "__metadata__" an object of strings; each
/// entry an object with "dtype" (F32 or I32), "shape" (rank <= 8, non-negative
/// integer extents) and "data_offsets" ([begin, end], integers, begin <= end,
/// end - begin == elements * 4, inside the data section); and the entries tiling
/// the data section exactly (no overlap, no hole, no trailing bytes). Other keys
/// in an entry are ignored, as the reference does.
///
/// Ensures: every tensor of the file, in data order, with its name, shape and
/// values, on `device`; the metadata. Accepts every file the reference loader
/// accepts whose tensors are F32 or I32 with rank <= 8 (empty names, unaligned
/// data, entries in any order included), save for the stricter duplicate-key and
/// nesting (64 levels) checks.
///
/// Errors: IoError naming `path`, and the tensor or field at fault, for a file
/// that cannot be opened or read or is malformed. Other dtypes (F16, BF16, F64,
/// I64, ...) are "unsupported dtype X for tensor Y": they are not converted, since
/// narrowing F64/I64 silently would change values; convert to float32/int32 before
/// saving. DeviceError when `device` is unusable (checked before reading).
SafetensorsFile load_safetensors(const std::string& path, Device device = Device::cpu());

}  // namespace minidl
