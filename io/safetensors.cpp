// safetensors reader and atomic writer. The rules and their sources are in the
// header; this file adds why each step is done the way it is.
#include "safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "../core/error.hpp"
#include "atomic_file.hpp"

// The data section is copied between files and tensors byte for byte, which is
// only right on a little-endian host (every target minidl builds for: x86-64,
// aarch64 in its usual mode).
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "minidl's safetensors I/O copies raw little-endian data: it needs a "
              "little-endian host");
#endif

namespace minidl {
namespace {

using json = nlohmann::json;

// Every dtype the reference knows (safetensors Dtype), so that one minidl does
// not read is reported as unsupported rather than as an unknown word.
bool known_safetensors_dtype(const std::string& name) {
  static const std::set<std::string> known = {
      "BOOL", "U8",  "I8",   "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2", "I16",
      "U16",  "F16", "BF16", "I32",     "U32",     "F32",     "F64", "I64",     "U64",     "C64"};
  return known.count(name) != 0;
}

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::Float32:
      return "F32";
    case DType::Int32:
      return "I32";
  }
  return nullptr;
}

// The reference writer sorts by descending dtype in its enum order, where F32
// comes after I32; this is the rank that reproduces it.
int dtype_write_rank(DType t) { return t == DType::Float32 ? 0 : 1; }

void check_little_endian(const char* where) {
  const std::uint32_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  MINIDL_CHECK(first == 1, IoError, where,
               ": this host is big-endian; safetensors data is little-endian and minidl "
               "does not byte-swap");
}

std::string quoted(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

// ---- save ---------------------------------------------------------------------------

// The header length prefix, little-endian whatever the host.
std::string encode_u64_le(std::uint64_t v) {
  std::string out(8, '\0');
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
  return out;
}

// ---- load ---------------------------------------------------------------------------

// Builds "load_safetensors("path"): ..." messages.
class LoadError {
 public:
  explicit LoadError(const std::string& path)
      : prefix_("load_safetensors(" + quoted(path) + "): ") {}
  template <class... Args>
  [[noreturn]] void fail(Args&&... args) const {
    throw IoError(detail::concat(prefix_, std::forward<Args>(args)...));
  }
  template <class... Args>
  [[noreturn]] void tensor(const std::string& name, Args&&... args) const {
    fail("tensor ", quoted(name), ": ", std::forward<Args>(args)...);
  }

 private:
  std::string prefix_;
};

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads exactly `bytes` at `offset`; pread loops over short reads and EINTR.
void read_exact(int fd, void* dst, std::size_t bytes, std::uint64_t offset, const LoadError& err,
                const char* what) {
  auto* out = static_cast<unsigned char*>(dst);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::pread(fd, out + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err.fail("cannot read ", what, " at byte ", offset + done, ": ", errno_text(errno));
    if (n == 0) {
      err.fail("unexpected end of file reading ", what, " at byte ", offset + done,
               " (the file shrank while being read?)");
    }
    done += static_cast<std::size_t>(n);
  }
}

// JSON's type name for messages: "a number", "an array", ...
std::string json_kind(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::binary:
      return "binary";
    case json::value_t::discarded:
      return "discarded";
    default:
      return "a number";
  }
}

// A non-negative JSON integer. JSON has no integer type: 3.0 parses as a float and
// is rejected, as the reference (serde, usize fields) does.
bool as_unsigned(const json& v, std::uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<std::uint64_t>();
    return true;
  }
  return false;
}

// Rejects, while parsing, duplicate keys (nlohmann keeps the last, which would let
// one entry silently shadow another) and runaway nesting: a valid header nests 3
// levels deep, and a 100 MB header of '[' should fail at once rather than build a
// 100-million-level value.
class HeaderParseGuard {
 public:
  explicit HeaderParseGuard(const LoadError& err) : err_(err) {}

  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    constexpr int kMaxDepth = 64;
    switch (event) {
      case json::parse_event_t::object_start:
        if (depth >= kMaxDepth) err_.fail("the header nests deeper than ", kMaxDepth, " levels");
        objects_.push_back(Object{{}, objects_.empty() ? "" : objects_.back().last_key, ""});
        break;
      case json::parse_event_t::array_start:
        if (depth >= kMaxDepth) err_.fail("the header nests deeper than ", kMaxDepth, " levels");
        break;
      case json::parse_event_t::key: {
        Object& obj = objects_.back();
        obj.last_key = parsed.get<std::string>();
        if (!obj.keys.insert(obj.last_key).second) {
          if (objects_.size() == 1) {
            err_.fail(obj.last_key == "__metadata__" ? "duplicate key " : "duplicate tensor name ",
                      quoted(obj.last_key), " in the header");
          }
          err_.fail("duplicate key ", quoted(obj.last_key), " in the header's entry ",
                    quoted(obj.owner));
        }
        break;
      }
      case json::parse_event_t::object_end:
        objects_.pop_back();
        break;
      default:
        break;
    }
    return true;
  }

 private:
  struct Object {
    std::set<std::string> keys;
    std::string owner;  // the key this object is the value of
    std::string last_key;
  };
  const LoadError& err_;
  std::vector<Object> objects_;
};

struct Entry {
  std::string name;
  DType dtype = DType::Float32;
  std::vector<std::int64_t> dims;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

std::string dims_text(const std::vector<std::int64_t>& dims) {
  std::string out = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(dims[i]);
  }
  return out + "]";
}

Entry parse_entry(const std::string& name, const json& v, std::uint64_t data_bytes,
                  const LoadError& err) {
  Entry e;
  e.name = name;
  if (!v.is_object()) err.tensor(name, "the entry is ", json_kind(v), ", not an object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!v.contains(field)) err.tensor(name, "the entry has no \"", field, "\"");
  }

  const json& dtype = v.at("dtype");
  if (!dtype.is_string()) err.tensor(name, "\"dtype\" is ", json_kind(dtype), ", not a string");
  const std::string dt = dtype.get<std::string>();
  if (dt == "F32") {
    e.dtype = DType::Float32;
  } else if (dt == "I32") {
    e.dtype = DType::Int32;
  } else if (known_safetensors_dtype(dt)) {
    err.fail("unsupported dtype ", dt, " for tensor ", quoted(name),
             " (minidl reads F32 and I32; convert the tensor before saving)");
  } else {
    err.fail("unknown dtype ", quoted(dt), " for tensor ", quoted(name));
  }

  const json& shape = v.at("shape");
  if (!shape.is_array()) err.tensor(name, "\"shape\" is ", json_kind(shape), ", not an array");
  if (shape.size() > static_cast<std::size_t>(Shape::kMaxRank)) {
    err.tensor(name, "\"shape\" has rank ", shape.size(), "; minidl supports at most ",
               Shape::kMaxRank);
  }
  // The element count, with overflow checked as Shape does (and as the
  // reference's checked_mul): a header must not make the byte count wrap around
  // to match its offsets.
  constexpr auto kInt64Max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t numel = 1;
  bool overflow = false;
  for (const json& d : shape) {
    std::uint64_t extent = 0;
    if (!as_unsigned(d, extent)) {
      err.tensor(name, "\"shape\" extent ", d.dump(), " is not a non-negative integer");
    }
    if (extent > kInt64Max || (numel != 0 && extent != 0 && numel > kInt64Max / extent)) {
      overflow = true;
    }
    numel *= extent;
    e.dims.push_back(static_cast<std::int64_t>(extent));
  }
  if (overflow)
    err.tensor(name, "\"shape\" ", shape.dump(), " has more elements than int64 counts");

  const json& offsets = v.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !as_unsigned(offsets[0], e.begin) ||
      !as_unsigned(offsets[1], e.end)) {
    err.tensor(name, "\"data_offsets\" ", offsets.dump(),
               " is not a pair [begin, end] of non-negative integers");
  }
  if (e.begin > e.end) {
    err.tensor(name, "\"data_offsets\" [", e.begin, ", ", e.end, "] end before they begin");
  }
  if (e.end > data_bytes) {
    err.tensor(name, "\"data_offsets\" [", e.begin, ", ", e.end,
               "] run past the end of the data section (", data_bytes,
               " bytes; the file is truncated or the offsets are wrong)");
  }
  const std::uint64_t elem = dtype_size(e.dtype);
  if (numel > std::numeric_limits<std::uint64_t>::max() / elem || e.end - e.begin != numel * elem) {
    err.tensor(name, "\"data_offsets\" [", e.begin, ", ", e.end, "] hold ", e.end - e.begin,
               " bytes, but shape ", dims_text(e.dims), " of ", dt, " needs ", numel * elem);
  }
  return e;
}

}  // namespace

// ---- SafetensorsFile ------------------------------------------------------------------

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const NamedTensor& t : tensors) {
    if (t.name == name) return &t.tensor;
  }
  return nullptr;
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  const Tensor* t = find(name);
  if (t == nullptr) {
    std::string names = tensors.empty() ? "none" : "";
    for (std::size_t i = 0; i < tensors.size() && i < 10; ++i) {
      names += (i ? ", " : "") + quoted(tensors[i].name);
    }
    if (tensors.size() > 10) names += ", ...";
    throw ValueError(detail::concat("SafetensorsFile::at: no tensor named ", quoted(name),
                                    " among the ", tensors.size(), " tensors (", names, ")"));
  }
  return *t;
}

// ---- save -----------------------------------------------------------------------------

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  check_little_endian("save_safetensors");
  MINIDL_CHECK(!path.empty(), ValueError, "save_safetensors: the path is empty");
  MINIDL_CHECK(path.back() != '/', ValueError, "save_safetensors(", quoted(path),
               "): the path names a directory");

  // Everything that can be wrong with the arguments is checked before the file
  // system is touched.
  std::set<std::string> seen;
  for (const NamedTensor& t : tensors) {
    MINIDL_CHECK(!t.name.empty(), ValueError, "save_safetensors(", quoted(path),
                 "): a tensor has an empty name");
    MINIDL_CHECK(t.name != "__metadata__", ValueError, "save_safetensors(", quoted(path),
                 "): \"__metadata__\" is reserved for the metadata and cannot name a tensor");
    MINIDL_CHECK(seen.insert(t.name).second, ValueError, "save_safetensors(", quoted(path),
                 "): duplicate tensor name ", quoted(t.name));
    MINIDL_CHECK(t.tensor.defined(), ValueError, "save_safetensors(", quoted(path), "): tensor ",
                 quoted(t.name), " is undefined (default-constructed)");
    MINIDL_CHECK(safetensors_dtype(t.tensor.dtype()) != nullptr, DTypeError, "save_safetensors(",
                 quoted(path), "): tensor ", quoted(t.name), " has dtype ", t.tensor.dtype(),
                 ", which has no safetensors mapping in minidl");
  }

  std::vector<const NamedTensor*> order;
  order.reserve(tensors.size());
  for (const NamedTensor& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const NamedTensor* a, const NamedTensor* b) {
    const int ra = dtype_write_rank(a->tensor.dtype());
    const int rb = dtype_write_rank(b->tensor.dtype());
    return ra != rb ? ra < rb : a->name < b->name;
  });

  // ordered_json keeps insertion order: "__metadata__" first, then the tensors in
  // data order, each with dtype, shape, data_offsets, as the reference writes.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  std::uint64_t offset = 0;
  for (const NamedTensor* t : order) {
    const std::uint64_t bytes = t->tensor.nbytes();
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = safetensors_dtype(t->tensor.dtype());
    entry["shape"] = t->tensor.shape().dims();
    entry["data_offsets"] = {offset, offset + bytes};
    header[t->name] = std::move(entry);
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::type_error& e) {
    throw ValueError(detail::concat("save_safetensors(", quoted(path),
                                    "): a tensor name or metadata string is not valid UTF-8 (",
                                    e.what(), ")"));
  }
  // Spaces are JSON whitespace, so the padding parses away; it puts the data
  // section at an 8-byte boundary (8 + length), which lets a reader map the file
  // and use the data in place.
  text.append((8 - text.size() % 8) % 8, ' ');
  // A header over the readers' limit (the reference's MAX_HEADER_SIZE, and this file's
  // loader) would make a file nobody can load, written over one that loads.
  MINIDL_CHECK(text.size() <= kSafetensorsMaxHeaderBytes, ValueError, "save_safetensors(",
               quoted(path), "): the header (names, shapes and metadata) would be ", text.size(),
               " bytes, over the format's limit of ", kSafetensorsMaxHeaderBytes,
               " that readers enforce; nothing was written");

  AtomicFile file(path, "save_safetensors");
  const std::string prefix = encode_u64_le(text.size());
  file.write(prefix.data(), prefix.size());
  file.write(text.data(), text.size());
  for (const NamedTensor* t : order) {
    // One tensor at a time on the host: a checkpoint of a large GPU model never
    // needs a second full copy in host memory.
    const Tensor host = t->tensor.to(Device::cpu());
    file.write(host.raw_data(), host.nbytes());
  }
  file.commit();
}

// ---- load -----------------------------------------------------------------------------

SafetensorsFile load_safetensors(const std::string& path, Device device) {
  check_little_endian("load_safetensors");
  const LoadError err(path);
  check_device(device);

  // O_NONBLOCK: opening a FIFO no process writes to would block for ever before the
  // regular-file check below could refuse it (found in review). It does not change
  // reads of a regular file.
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) err.fail("cannot open: ", errno_text(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) err.fail("cannot stat: ", errno_text(errno));
  if (!S_ISREG(st.st_mode)) err.fail("not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);

  if (file_size < 8) {
    err.fail("the file is ", file_size, " bytes, too short for the 8-byte header length");
  }
  unsigned char prefix[8];
  read_exact(fd.get(), prefix, 8, 0, err, "the header length");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | prefix[i];
  if (header_len > kSafetensorsMaxHeaderBytes) {
    err.fail("header length ", header_len, " exceeds the limit of ", kSafetensorsMaxHeaderBytes,
             " bytes (not a safetensors file, or a corrupt one)");
  }
  if (header_len > file_size - 8) {
    err.fail("header length ", header_len, " runs past the end of the file (", file_size,
             " bytes, so at most ", file_size - 8, ")");
  }

  std::string text(static_cast<std::size_t>(header_len), '\0');
  read_exact(fd.get(), text.data(), text.size(), 8, err, "the header");
  // nlohmann's lexer takes a NUL byte for the end of input and would ignore
  // whatever follows; JSON never contains a raw NUL (in a string it is \u0000),
  // and the reference rejects one, so it is rejected here first.
  const std::size_t nul = text.find('\0');
  if (nul != std::string::npos) {
    err.fail("the header is not valid JSON: a NUL byte at header offset ", nul);
  }
  json header;
  try {
    header = json::parse(text, HeaderParseGuard(err));
  } catch (const json::exception& e) {
    err.fail("the header is not valid JSON: ", e.what());
  }
  if (!header.is_object()) err.fail("the header is ", json_kind(header), ", not a JSON object");

  const std::uint64_t data_start = 8 + header_len;
  const std::uint64_t data_bytes = file_size - data_start;
  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;  // the reference reads it as an optional map
      if (!value.is_object()) err.fail("\"__metadata__\" is ", json_kind(value), ", not an object");
      for (const auto& [mkey, mvalue] : value.items()) {
        if (!mvalue.is_string()) {
          err.fail("\"__metadata__\" value for key ", quoted(mkey), " is ", json_kind(mvalue),
                   ", not a string");
        }
        out.metadata[mkey] = mvalue.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, value, data_bytes, err));
  }

  // The reference's tiling check: sorted by offsets, each entry starts where the
  // previous one ended, and the last ends at the end of the file. Reading through
  // overlapping entries would alias data; a hole or trailing bytes mean the header
  // and the data disagree.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < expected) {
      err.tensor(e.name, "\"data_offsets\" [", e.begin, ", ", e.end, "] overlap tensor ",
                 quoted(previous->name), " [", previous->begin, ", ", previous->end, "]");
    }
    if (e.begin > expected) {
      err.tensor(e.name, "\"data_offsets\" [", e.begin, ", ", e.end, "] leave a hole of ",
                 e.begin - expected, " bytes after ",
                 previous ? "tensor " + quoted(previous->name) : "the start of the data section",
                 " (bytes ", expected, " to ", e.begin, " belong to no tensor)");
    }
    expected = e.end;
    previous = &e;
  }
  if (expected != data_bytes) {
    err.fail("the tensors cover ", expected, " bytes of the ", data_bytes,
             "-byte data section; the remaining ", data_bytes - expected,
             " bytes belong to no tensor");
  }

  out.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    Shape shape;
    try {
      shape = Shape(e.dims);
    } catch (const ShapeError& ex) {
      err.tensor(e.name, ex.what());
    }
    Tensor t = empty(shape, Device::cpu(), e.dtype);
    if (t.nbytes() > 0) {
      read_exact(fd.get(), t.raw_data(), t.nbytes(), data_start + e.begin, err,
                 ("the data of tensor " + quoted(e.name)).c_str());
    }
    out.tensors.push_back({e.name, device.is_cpu() ? t : t.to(device)});
  }
  return out;
}

}  // namespace minidl
