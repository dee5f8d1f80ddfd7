// IDX reading: a byte source over a plain or gzip file (zlib's inflate, driven
// directly so that truncation, corruption and trailing bytes are told apart), the
// header checks, and the conversions to tensors.
#include "idx.hpp"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "../core/error.hpp"
#include "../core/parallel.hpp"

namespace minidl {

std::size_t idx_type_size(IdxType type) {
  switch (type) {
    case IdxType::UInt8:
    case IdxType::Int8:
      return 1;
    case IdxType::Int16:
      return 2;
    case IdxType::Int32:
    case IdxType::Float32:
      return 4;
    case IdxType::Float64:
      return 8;
  }
  return 0;
}

const char* idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::UInt8:
      return "uint8";
    case IdxType::Int8:
      return "int8";
    case IdxType::Int16:
      return "int16";
    case IdxType::Int32:
      return "int32";
    case IdxType::Float32:
      return "float32";
    case IdxType::Float64:
      return "float64";
  }
  return "unknown";
}

std::int64_t IdxArray::numel() const {
  std::int64_t n = 1;
  for (const std::int64_t d : dims) n *= d;
  return n;
}

namespace {

std::string hex_byte(unsigned value) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", value & 0xFFu);
  return text;
}

std::string dims_text(const std::vector<std::int64_t>& dims) {
  std::string text = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

// The bytes of one file: the file itself, or the output of its gzip stream. Every
// error throws IoError prefixed with the file's name.
class Input {
 public:
  explicit Input(std::string path) : path_(std::move(path)) {
    file_.reset(std::fopen(path_.c_str(), "rb"));
    if (file_ == nullptr) fail("cannot open: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fileno(file_.get()), &st) == 0 && S_ISREG(st.st_mode)) file_size_ = st.st_size;
    // Two bytes decide the format; they are kept and handed on, so the input need
    // not be seekable.
    head_size_ = read_file(head_, 2);
    gzip_ = head_size_ == 2 && head_[0] == 0x1F && head_[1] == 0x8B;
    if (gzip_) {
      in_.resize(kInputChunk);
      std::memcpy(in_.data(), head_, 2);
      head_size_ = 0;
      // 16 + 15: a gzip wrapper (not zlib or raw deflate) and the full 32 KiB window.
      const int status = inflateInit2(&inflater_.z, 16 + MAX_WBITS);
      if (status != Z_OK) fail("cannot start the gzip decoder: ", zError(status));
      inflater_.open = true;
      z_.next_in = in_.data();
      z_.avail_in = 2;
    }
  }

  bool gzip() const { return gzip_; }
  /// The file's size when it is a plain regular file, else -1 (unknown until read).
  std::int64_t plain_size() const { return gzip_ ? -1 : file_size_; }

  /// Reads n bytes into dst; returns fewer only at the end of the data.
  std::size_t read(std::uint8_t* dst, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const std::size_t step = std::min<std::size_t>(n - done, std::size_t{1} << 30);
      const std::size_t got = gzip_ ? inflate_some(dst + done, step) : read_plain(dst + done, step);
      done += got;
      if (got < step) break;
    }
    return done;
  }

  template <class... Args>
  [[noreturn]] void fail(Args&&... args) const {
    throw IoError(detail::concat("read_idx: '", path_, "': ", std::forward<Args>(args)...));
  }

 private:
  static constexpr std::size_t kInputChunk = std::size_t{1} << 18;

  std::size_t read_file(std::uint8_t* dst, std::size_t n) {
    const std::size_t got = std::fread(dst, 1, n, file_.get());
    if (got < n && std::ferror(file_.get())) fail("read error: ", std::strerror(errno));
    return got;
  }

  std::size_t read_plain(std::uint8_t* dst, std::size_t n) {
    std::size_t done = 0;
    for (; head_used_ < head_size_ && done < n; ++head_used_) dst[done++] = head_[head_used_];
    return done + read_file(dst + done, n - done);
  }

  // Ensures at least `want` compressed bytes are buffered unless the file ends
  // first; returns whether it succeeded.
  bool fill_input(std::size_t want) {
    if (z_.avail_in >= want) return true;
    std::memmove(in_.data(), z_.next_in, z_.avail_in);
    z_.next_in = in_.data();
    while (z_.avail_in < want) {
      const std::size_t got = read_file(in_.data() + z_.avail_in, in_.size() - z_.avail_in);
      if (got == 0) return false;
      z_.avail_in += static_cast<uInt>(got);
    }
    return true;
  }

  std::size_t inflate_some(std::uint8_t* dst, std::size_t n) {
    z_.next_out = dst;
    z_.avail_out = static_cast<uInt>(n);
    while (z_.avail_out > 0) {
      if (member_done_) {
        // Between gzip members: the end of the data, another member (gzip -d
        // concatenates them), or bytes that belong to no gzip stream.
        if (!fill_input(2)) {
          if (z_.avail_in == 0) break;
          fail("1 byte of trailing garbage after the gzip stream");
        }
        if (z_.next_in[0] != 0x1F || z_.next_in[1] != 0x8B) {
          fail("trailing garbage after the gzip stream (bytes ", hex_byte(z_.next_in[0]), " ",
               hex_byte(z_.next_in[1]), "... are not another gzip member)");
        }
        inflateReset(&z_);
        member_done_ = false;
        continue;
      }
      if (z_.avail_in == 0 && !fill_input(1)) {
        fail("truncated gzip stream: the file ends inside the compressed data");
      }
      const int status = inflate(&z_, Z_NO_FLUSH);
      if (status == Z_STREAM_END) {
        member_done_ = true;  // the member's CRC-32 and length have been checked
      } else if (status == Z_BUF_ERROR && z_.avail_in > 0) {
        fail("corrupt gzip stream: the decoder made no progress");
      } else if (status != Z_OK && status != Z_BUF_ERROR) {
        fail("corrupt gzip stream: ", z_.msg != nullptr ? z_.msg : zError(status));
      }
    }
    return n - z_.avail_out;
  }

  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  // Owns zlib's state; a member, so that a constructor that throws still frees it.
  struct Inflater {
    z_stream z{};
    bool open = false;
    Inflater() = default;
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;
    ~Inflater() {
      if (open) inflateEnd(&z);
    }
  };

  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::int64_t file_size_ = -1;
  bool gzip_ = false;
  std::uint8_t head_[2] = {0, 0};
  std::size_t head_size_ = 0;
  std::size_t head_used_ = 0;
  Inflater inflater_;
  z_stream& z_ = inflater_.z;
  bool member_done_ = false;
  std::vector<std::uint8_t> in_;
};

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

bool valid_type(std::uint8_t byte) {
  switch (static_cast<IdxType>(byte)) {
    case IdxType::UInt8:
    case IdxType::Int8:
    case IdxType::Int16:
    case IdxType::Int32:
    case IdxType::Float32:
    case IdxType::Float64:
      return true;
  }
  return false;
}

// Big-endian elements to the host's order, in place.
void to_host_order(std::vector<std::uint8_t>& data, std::size_t size) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  (void)data;
  (void)size;
#else
  if (size == 1) return;
  const auto n = static_cast<std::int64_t>(data.size() / size);
  std::uint8_t* p = data.data();
  parallel_for(n, std::int64_t{1} << 16, [&](std::int64_t i_begin, std::int64_t i_end) {
    for (std::int64_t i = i_begin; i < i_end; ++i) std::reverse(p + i * size, p + (i + 1) * size);
  });
#endif
}

}  // namespace

IdxArray read_idx(const std::string& path, std::uint64_t max_data_bytes) {
  Input in(path);
  const char* const container = in.gzip() ? " (after gzip decompression)" : "";

  std::uint8_t magic[4] = {};
  const std::size_t got_magic = in.read(magic, 4);
  if (got_magic == 0) in.fail("empty file", container, ": no IDX header");
  if (got_magic < 4) {
    in.fail("truncated: the file ends inside the 4-byte IDX header", container, " (", got_magic,
            " bytes)");
  }
  if (magic[0] != 0 || magic[1] != 0) {
    in.fail("bad magic ", hex_byte(magic[0]), " ", hex_byte(magic[1]),
            ": an IDX file starts with two zero bytes (this is neither IDX nor gzip data)");
  }
  if (!valid_type(magic[2])) {
    in.fail("unknown IDX element type ", hex_byte(magic[2]),
            " (known: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E "
            "float64)");
  }
  IdxArray out;
  out.type = static_cast<IdxType>(magic[2]);
  const int rank = magic[3];
  if (rank == 0) in.fail("rank 0: an IDX array needs at least one dimension");
  if (rank > kIdxMaxRank) in.fail("rank ", rank, " is above the maximum of ", kIdxMaxRank);

  std::uint8_t extents[4 * kIdxMaxRank] = {};
  const std::size_t extent_bytes = std::size_t{4} * static_cast<std::size_t>(rank);
  const std::size_t got_extents = in.read(extents, extent_bytes);
  if (got_extents < extent_bytes) {
    in.fail("truncated: the file ends inside the list of ", rank, " extents", container, " (",
            got_extents, " of ", extent_bytes, " bytes)");
  }
  const std::size_t element_size = idx_type_size(out.type);
  // numel * element_size must fit int64 (Shape's element count, and every size
  // below); the uint32 extents multiply past that easily.
  const auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t data_bytes = element_size;
  bool overflow = false;
  for (int i = 0; i < rank; ++i) {
    const std::uint32_t extent = load_be32(extents + std::size_t{4} * static_cast<std::size_t>(i));
    out.dims.push_back(extent);
    if (extent != 0 && data_bytes > limit / extent) overflow = true;
    if (!overflow) data_bytes *= extent;
  }
  if (overflow) {
    in.fail("the extents ", dims_text(out.dims), " of ", idx_type_name(out.type),
            " overflow: the data size does not fit in 63 bits");
  }
  if (data_bytes > max_data_bytes) {
    in.fail("the header claims ", data_bytes, " bytes of data (", dims_text(out.dims), " ",
            idx_type_name(out.type), "), above the limit of ", max_data_bytes, " bytes");
  }
  const std::uint64_t header_bytes = 4 + extent_bytes;
  const auto describe_claim = [&] {
    return detail::concat(data_bytes, " bytes of data (", dims_text(out.dims), " ",
                          idx_type_name(out.type), ")");
  };

  // A plain file's size is known: check it before allocating what the header asks.
  const std::int64_t file_size = in.plain_size();
  if (file_size >= 0) {
    const std::uint64_t available =
        static_cast<std::uint64_t>(file_size) > header_bytes ? file_size - header_bytes : 0;
    if (available < data_bytes) {
      in.fail("truncated: the header declares ", describe_claim(), " but the file holds only ",
              available, " bytes after the ", header_bytes, "-byte header");
    }
    if (available > data_bytes) {
      in.fail(available - data_bytes, " bytes of trailing data after the ", describe_claim());
    }
  }

  // Read in growing chunks: memory follows the bytes that actually arrive, so a
  // short (or hostile) gzip stream never makes us allocate the full claim.
  const auto total = static_cast<std::size_t>(data_bytes);
  std::size_t filled = 0;
  if (file_size >= 0) out.data.reserve(total);
  while (filled < total) {
    // 64 KiB first, then doubling: a few reallocations for a real file, and a
    // 10-byte stream that claims 4 GiB costs 64 KiB.
    const std::size_t step =
        std::min(total - filled, std::max<std::size_t>(std::size_t{1} << 16, filled));
    out.data.resize(filled + step);
    const std::size_t got = in.read(out.data.data() + filled, step);
    filled += got;
    if (got < step) {
      in.fail("truncated: the data ends after ", filled, container, " of the ", describe_claim(),
              " the header declares");
    }
  }
  std::uint8_t extra = 0;
  if (in.read(&extra, 1) != 0) {
    in.fail("trailing data", container, " after the ", describe_claim(), " the header declares");
  }
  to_host_order(out.data, element_size);
  return out;
}

namespace {

template <class T>
T load(const std::uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

Shape checked_shape(const IdxArray& array, const char* where) {
  MINIDL_CHECK(idx_type_size(array.type) != 0, ValueError, where, ": invalid IDX type ",
               hex_byte(static_cast<unsigned>(array.type)));
  const Shape shape(array.dims);
  const std::uint64_t expected =
      static_cast<std::uint64_t>(shape.numel()) * idx_type_size(array.type);
  MINIDL_CHECK(array.data.size() == expected, ValueError, where, ": ", dims_text(array.dims), " ",
               idx_type_name(array.type), " needs ", expected, " bytes of data, the array has ",
               array.data.size());
  return shape;
}

template <class T, class Out, class Convert>
void convert(const std::uint8_t* src, Out* dst, std::int64_t n, Convert f) {
  parallel_for(n, std::int64_t{1} << 16, [&](std::int64_t i_begin, std::int64_t i_end) {
    for (std::int64_t i = i_begin; i < i_end; ++i) dst[i] = f(load<T>(src + i * sizeof(T)));
  });
}

}  // namespace

Tensor idx_to_float32(const IdxArray& array, double scale) {
  const Shape shape = checked_shape(array, "idx_to_float32");
  Tensor out = empty(shape, Device::cpu(), DType::Float32);
  float* dst = out.data<float>();
  const std::uint8_t* src = array.data.data();
  const std::int64_t n = shape.numel();
  auto scaled = [scale](auto v) { return static_cast<float>(static_cast<double>(v) * scale); };
  switch (array.type) {
    case IdxType::UInt8: {
      // 256 possible values: a table computed with the same formula is exact and fast.
      float table[256];
      for (int v = 0; v < 256; ++v) table[v] = scaled(v);
      convert<std::uint8_t>(src, dst, n, [&table](std::uint8_t v) { return table[v]; });
      break;
    }
    case IdxType::Int8:
      convert<std::int8_t>(src, dst, n, scaled);
      break;
    case IdxType::Int16:
      convert<std::int16_t>(src, dst, n, scaled);
      break;
    case IdxType::Int32:
      convert<std::int32_t>(src, dst, n, scaled);
      break;
    case IdxType::Float32:
      convert<float>(src, dst, n, scaled);
      break;
    case IdxType::Float64:
      convert<double>(src, dst, n, scaled);
      break;
  }
  return out;
}

Tensor idx_to_int32(const IdxArray& array) {
  const Shape shape = checked_shape(array, "idx_to_int32");
  Tensor out = empty(shape, Device::cpu(), DType::Int32);
  std::int32_t* dst = out.data<std::int32_t>();
  const std::uint8_t* src = array.data.data();
  const std::int64_t n = shape.numel();
  auto same = [](auto v) { return static_cast<std::int32_t>(v); };
  switch (array.type) {
    case IdxType::UInt8:
      convert<std::uint8_t>(src, dst, n, same);
      break;
    case IdxType::Int8:
      convert<std::int8_t>(src, dst, n, same);
      break;
    case IdxType::Int16:
      convert<std::int16_t>(src, dst, n, same);
      break;
    case IdxType::Int32:
      convert<std::int32_t>(src, dst, n, same);
      break;
    case IdxType::Float32:
    case IdxType::Float64:
      throw DTypeError(detail::concat("idx_to_int32: the IDX array holds ",
                                      idx_type_name(array.type),
                                      "; only integer element types convert to int32"));
  }
  return out;
}

}  // namespace minidl
