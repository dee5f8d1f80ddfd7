// read_idx against IDX files written byte by byte here: every element type, plain
// and gzip (one or several members), the tensor conversions, and every error path,
// plus truncation and corruption at every position (IoError, never a crash).
#include "data/idx.hpp"

#include <cmath>
#include <cstring>
#include <utility>

#include "core/random.hpp"
#include "data_test_files.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

using test::Bytes;
using test::concat;
using test::idx_header;

template <class T>
std::vector<T> values_of(const IdxArray& a) {
  EXPECT_EQ(a.data.size() % sizeof(T), 0u);
  std::vector<T> out(a.data.size() / sizeof(T));
  std::memcpy(out.data(), a.data.data(), a.data.size());
  return out;
}

// A small valid file: uint8 [2, 3] holding 0, 1, 2, 250, 254, 255.
Bytes small_u8() { return concat(idx_header(0x08, {2, 3}), {0, 1, 2, 250, 254, 255}); }

TEST(Idx, TypeNamesAndSizes) {
  EXPECT_EQ(idx_type_size(IdxType::UInt8), 1u);
  EXPECT_EQ(idx_type_size(IdxType::Int8), 1u);
  EXPECT_EQ(idx_type_size(IdxType::Int16), 2u);
  EXPECT_EQ(idx_type_size(IdxType::Int32), 4u);
  EXPECT_EQ(idx_type_size(IdxType::Float32), 4u);
  EXPECT_EQ(idx_type_size(IdxType::Float64), 8u);
  EXPECT_STREQ(idx_type_name(IdxType::Int16), "int16");
  EXPECT_STREQ(idx_type_name(IdxType::Float64), "float64");
}

TEST(Idx, ReadsPlainUint8) {
  test::TempDir dir;
  const std::string path = dir.file("a.idx");
  test::write_file(path, small_u8());
  const IdxArray a = read_idx(path);
  EXPECT_EQ(a.type, IdxType::UInt8);
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.numel(), 6);
  EXPECT_EQ(a.data, (Bytes{0, 1, 2, 250, 254, 255}));
}

TEST(Idx, ReadsEveryTypeFromBigEndian) {
  test::TempDir dir;
  {
    Bytes b = idx_header(0x09, {3});
    for (const std::int8_t v : {std::int8_t{-128}, std::int8_t{-1}, std::int8_t{127}})
      test::append_be(b, v);
    test::write_file(dir.file("i8"), b);
    const IdxArray a = read_idx(dir.file("i8"));
    EXPECT_EQ(a.type, IdxType::Int8);
    EXPECT_EQ(values_of<std::int8_t>(a), (std::vector<std::int8_t>{-128, -1, 127}));
  }
  {
    // 0x0102 = 258: the byte order matters.
    Bytes b = idx_header(0x0B, {3});
    b.insert(b.end(), {0x01, 0x02, 0xFF, 0xFE, 0x80, 0x00});
    test::write_file(dir.file("i16"), b);
    const IdxArray a = read_idx(dir.file("i16"));
    EXPECT_EQ(a.type, IdxType::Int16);
    EXPECT_EQ(values_of<std::int16_t>(a), (std::vector<std::int16_t>{258, -2, -32768}));
  }
  {
    Bytes b = idx_header(0x0C, {2, 2});
    b.insert(b.end(), {0x01, 0x02, 0x03, 0x04, 0xFF, 0xFF, 0xFF, 0xFF,  //
                       0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF});
    test::write_file(dir.file("i32"), b);
    const IdxArray a = read_idx(dir.file("i32"));
    EXPECT_EQ(values_of<std::int32_t>(a),
              (std::vector<std::int32_t>{0x01020304, -1, INT32_MIN, INT32_MAX}));
    const Tensor t = idx_to_int32(a);
    EXPECT_EQ(t.shape(), (Shape{2, 2}));
    EXPECT_EQ(t.to_vector<std::int32_t>(),
              (std::vector<std::int32_t>{0x01020304, -1, INT32_MIN, INT32_MAX}));
  }
  {
    // 1.5f is 0x3FC00000 big-endian.
    Bytes b = idx_header(0x0D, {3});
    b.insert(b.end(), {0x3F, 0xC0, 0x00, 0x00});
    test::append_be(b, -2.25f);
    test::append_be(b, 1e-30f);
    test::write_file(dir.file("f32"), b);
    const IdxArray a = read_idx(dir.file("f32"));
    EXPECT_EQ(values_of<float>(a), (std::vector<float>{1.5f, -2.25f, 1e-30f}));
    EXPECT_EQ(idx_to_float32(a, 2.0).to_vector<float>(), (std::vector<float>{3.0f, -4.5f, 2e-30f}));
  }
  {
    Bytes b = idx_header(0x0E, {1, 2});
    test::append_be(b, 0.1);
    test::append_be(b, -1e300);
    test::write_file(dir.file("f64"), b);
    const IdxArray a = read_idx(dir.file("f64"));
    EXPECT_EQ(values_of<double>(a), (std::vector<double>{0.1, -1e300}));
    const std::vector<float> f = idx_to_float32(a).to_vector<float>();
    EXPECT_EQ(f[0], 0.1f);
    EXPECT_TRUE(std::isinf(f[1]) && f[1] < 0);  // out of float range: rounds to -inf
    MINIDL_EXPECT_THROW_WITH(idx_to_int32(a), DTypeError, "float64", "integer");
  }
}

TEST(Idx, GzipReadsTheSameAsPlain) {
  test::TempDir dir;
  const Bytes bytes = concat(idx_header(0x08, {4, 5, 6}), Bytes(120, 7));
  test::write_file(dir.file("plain"), bytes);
  // The name says nothing: a gzip file without .gz, and a plain file named .gz.
  test::write_gzip(dir.file("packed"), bytes);
  test::write_file(dir.file("plain.gz"), bytes);
  const IdxArray plain = read_idx(dir.file("plain"));
  const IdxArray packed = read_idx(dir.file("packed"));
  const IdxArray misnamed = read_idx(dir.file("plain.gz"));
  EXPECT_EQ(packed.dims, (std::vector<std::int64_t>{4, 5, 6}));
  EXPECT_EQ(packed.data, plain.data);
  EXPECT_EQ(misnamed.data, plain.data);
}

TEST(Idx, GzipMembersConcatenate) {
  // Header in one member, data split over two more: gzip -d would print it all.
  test::TempDir dir;
  Bytes data(1000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7);
  const std::string path = dir.file("members.gz");
  test::write_gzip(path, idx_header(0x08, {10, 100}));
  test::write_gzip(path, Bytes(data.begin(), data.begin() + 300), "ab");
  test::write_gzip(path, {}, "ab");  // an empty member is still a member
  test::write_gzip(path, Bytes(data.begin() + 300, data.end()), "ab");
  EXPECT_EQ(read_idx(path).data, data);
}

TEST(Idx, LargeGzipFileInChunks) {
  // Bigger than the reader's 256 KiB input buffer and 64 KiB first output chunk.
  test::TempDir dir;
  Bytes data(std::size_t{3} << 20);
  std::uint32_t state = 12345;
  for (auto& v : data) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<std::uint8_t>(state >> 24);  // poorly compressible
  }
  const std::string path = dir.file("big.gz");
  test::write_gzip(path, concat(idx_header(0x08, {3, 1024, 1024}), data));
  const IdxArray a = read_idx(path);
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{3, 1024, 1024}));
  EXPECT_TRUE(a.data == data);
}

TEST(Idx, ZeroExtentIsAnEmptyArray) {
  test::TempDir dir;
  test::write_file(dir.file("empty"), idx_header(0x0D, {0, 784}));
  const IdxArray a = read_idx(dir.file("empty"));
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{0, 784}));
  EXPECT_TRUE(a.data.empty());
  EXPECT_EQ(idx_to_float32(a).shape(), (Shape{0, 784}));
}

TEST(Idx, Uint8ToUnitFloats) {
  test::TempDir dir;
  Bytes bytes = idx_header(0x08, {256});
  for (int v = 0; v < 256; ++v) bytes.push_back(static_cast<std::uint8_t>(v));
  test::write_file(dir.file("ramp"), bytes);
  const IdxArray a = read_idx(dir.file("ramp"));
  const std::vector<float> f = idx_to_float32(a, 1.0 / 255.0).to_vector<float>();
  EXPECT_EQ(f.front(), 0.0f);
  EXPECT_EQ(f.back(), 1.0f);
  for (int v = 0; v < 256; ++v) EXPECT_EQ(f[v], static_cast<float>(v / 255.0)) << v;
  const Tensor labels = idx_to_int32(a);
  EXPECT_EQ(labels.dtype(), DType::Int32);
  EXPECT_EQ(labels.to_vector<std::int32_t>()[200], 200);
}

TEST(Idx, ConversionsCheckTheArray) {
  IdxArray bad;
  bad.dims = {2, 3};
  bad.data = Bytes(5);
  MINIDL_EXPECT_THROW_WITH(idx_to_float32(bad), ValueError, "[2, 3]", "6 bytes", "has 5");
  bad.dims = {-1};
  MINIDL_EXPECT_THROW_WITH(idx_to_int32(bad), ShapeError, "");
}

// ---- errors ---------------------------------------------------------------------

TEST(IdxErrors, MissingFile) {
  test::TempDir dir;
  const std::string path = dir.file("nope.idx");
  MINIDL_EXPECT_THROW_WITH(read_idx(path), IoError, path, "cannot open", "No such file");
}

TEST(IdxErrors, ReadErrorOnADirectory) {
  test::TempDir dir;
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.path()), IoError, dir.path(), "read error");
}

TEST(IdxErrors, EmptyAndTruncatedHeader) {
  test::TempDir dir;
  test::write_file(dir.file("empty"), {});
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("empty")), IoError, dir.file("empty"), "empty file");
  test::write_file(dir.file("short"), {0, 0, 8});
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("short")), IoError, dir.file("short"), "truncated",
                           "4-byte IDX header", "3 bytes");
  test::write_file(dir.file("dims"), {0, 0, 8, 3, 0, 0, 0, 2, 0, 0});
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("dims")), IoError, "truncated", "list of 3 extents",
                           "6 of 12 bytes");
}

TEST(IdxErrors, BadMagic) {
  test::TempDir dir;
  test::write_file(dir.file("magic"), concat({0x01, 0x00, 0x08, 0x01}, {0, 0, 0, 1, 42}));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("magic")), IoError, dir.file("magic"), "bad magic",
                           "0x01 0x00", "two zero bytes");
  // A text file is neither IDX nor gzip.
  test::write_file(dir.file("text"), {'h', 'e', 'l', 'l', 'o'});
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("text")), IoError, "bad magic",
                           "neither IDX nor gzip");
}

TEST(IdxErrors, UnknownType) {
  test::TempDir dir;
  for (const int type : {0x00, 0x07, 0x0A, 0x0F, 0xFF}) {
    test::write_file(dir.file("type"),
                     concat(idx_header(static_cast<std::uint8_t>(type), {1}), {0}));
    MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("type")), IoError, dir.file("type"),
                             "unknown IDX element type");
  }
  test::write_file(dir.file("type"), concat(idx_header(0x0A, {1}), {0}));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("type")), IoError, "0x0A", "0x08 uint8");
}

TEST(IdxErrors, RankZeroOrTooLarge) {
  test::TempDir dir;
  test::write_file(dir.file("r0"), {0, 0, 8, 0, 42});
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("r0")), IoError, dir.file("r0"), "rank 0");
  test::write_file(dir.file("r9"), idx_header(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("r9")), IoError, dir.file("r9"), "rank 9",
                           "maximum of 8");
  test::write_file(dir.file("r255"), {0, 0, 8, 255});
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("r255")), IoError, "rank 255");
}

TEST(IdxErrors, ExtentsThatOverflow) {
  test::TempDir dir;
  test::write_file(dir.file("overflow"), idx_header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("overflow")), IoError, dir.file("overflow"),
                           "overflow", "[4294967295, 4294967295, 4294967295]");
  // 2^31 * 2^31 * 8 bytes = 2^65: overflows only once the element size counts.
  test::write_file(dir.file("bytes"), idx_header(0x0E, {0x80000000u, 0x80000000u}));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("bytes")), IoError, "overflow");
}

TEST(IdxErrors, ClaimsAboveTheCap) {
  test::TempDir dir;
  test::write_file(dir.file("cap"), concat(idx_header(0x0C, {10, 10}), Bytes(400)));
  EXPECT_NO_THROW(read_idx(dir.file("cap"), 400));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("cap"), 399), IoError, dir.file("cap"),
                           "claims 400 bytes", "above the limit of 399");
  // Just under the default 4 GiB cap, in a 12-byte file: refused from the file's
  // size before anything is allocated (ASan would report a 4 GiB allocation).
  test::write_file(dir.file("huge"), idx_header(0x08, {0xFFFFu, 0xFFFFu}));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("huge")), IoError, "truncated", "holds only 0");
}

TEST(IdxErrors, TruncatedData) {
  test::TempDir dir;
  const Bytes full = small_u8();
  const Bytes cut(full.begin(), full.end() - 2);
  test::write_file(dir.file("cut"), cut);
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("cut")), IoError, dir.file("cut"), "truncated",
                           "declares 6 bytes", "holds only 4");
  test::write_gzip(dir.file("cut.gz"), cut);
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("cut.gz")), IoError, dir.file("cut.gz"), "truncated",
                           "after gzip decompression");
  // A gzip bomb in miniature: a claim of ~4 GiB backed by a few bytes of data is
  // found out without allocating the claim.
  test::write_gzip(dir.file("claim.gz"), concat(idx_header(0x08, {0xFFFFu, 0xFFFFu}), Bytes(9)));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("claim.gz")), IoError, "truncated", "ends after 9");
}

TEST(IdxErrors, TrailingData) {
  test::TempDir dir;
  const Bytes extra = concat(small_u8(), {1, 2});
  test::write_file(dir.file("extra"), extra);
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("extra")), IoError, dir.file("extra"),
                           "2 bytes of trailing data");
  test::write_gzip(dir.file("extra.gz"), extra);
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("extra.gz")), IoError, dir.file("extra.gz"),
                           "trailing data", "after gzip decompression");
  // Bytes after the gzip stream that are not another member.
  test::write_gzip(dir.file("garbage.gz"), small_u8());
  test::write_file(dir.file("garbage.gz"),
                   concat(test::read_file(dir.file("garbage.gz")), {'j', 'u', 'n', 'k'}));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("garbage.gz")), IoError, dir.file("garbage.gz"),
                           "trailing garbage after the gzip stream");
  test::write_gzip(dir.file("one.gz"), small_u8());
  test::write_file(dir.file("one.gz"), concat(test::read_file(dir.file("one.gz")), {0}));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("one.gz")), IoError, "trailing garbage");
}

TEST(IdxErrors, CorruptGzip) {
  test::TempDir dir;
  test::write_gzip(dir.file("ok.gz"), small_u8());
  const Bytes good = test::read_file(dir.file("ok.gz"));
  ASSERT_GT(good.size(), 18u);
  // The CRC-32 in the trailer no longer matches the data.
  Bytes crc = good;
  crc[crc.size() - 8] ^= 0xFF;
  test::write_file(dir.file("crc.gz"), crc);
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("crc.gz")), IoError, dir.file("crc.gz"),
                           "corrupt gzip stream", "incorrect data check");
  // The gzip magic followed by an unknown compression method: gzip, but not valid.
  Bytes method = good;
  method[2] = 7;
  test::write_file(dir.file("method.gz"), method);
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("method.gz")), IoError, "corrupt gzip stream",
                           "unknown compression method");
  // Cut inside the compressed data.
  test::write_file(
      dir.file("cut.gz"),
      Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2)));
  MINIDL_EXPECT_THROW_WITH(read_idx(dir.file("cut.gz")), IoError, dir.file("cut.gz"),
                           "truncated gzip stream");
}

// Hostile input: every prefix and every single-byte corruption of a small file,
// plain and gzip, is either read or rejected with an IoError that names the file.
TEST(IdxErrors, EveryTruncationAndCorruptionIsAnIoError) {
  test::TempDir dir;
  Bytes payload = idx_header(0x0B, {3, 4});
  for (int i = 0; i < 12; ++i) test::append_be(payload, static_cast<std::int16_t>(i * 1000 - 5000));
  test::write_gzip(dir.file("src.gz"), payload);
  const Bytes packed = test::read_file(dir.file("src.gz"));
  // A new file each time: rewriting one file in place is slow on ext4, whose
  // replace-by-truncate heuristic flushes it on every close.
  int files = 0;
  std::string path;
  int rejected = 0;
  for (const Bytes* source : {&std::as_const(payload), &packed}) {
    for (std::size_t len = 0; len < source->size(); ++len) {
      path = dir.file("cut" + std::to_string(files++));
      test::write_file(path,
                       Bytes(source->begin(), source->begin() + static_cast<std::ptrdiff_t>(len)));
      MINIDL_EXPECT_THROW_WITH(read_idx(path), IoError, path);
      ++rejected;
    }
    for (std::size_t pos = 0; pos < source->size(); ++pos) {
      for (const int flip : {0x01, 0x80, 0xFF}) {
        Bytes bad = *source;
        bad[pos] = static_cast<std::uint8_t>(bad[pos] ^ flip);
        path = dir.file("flip" + std::to_string(files++));
        test::write_file(path, bad);
        try {
          const IdxArray a = read_idx(path);
          EXPECT_EQ(a.data.size(), static_cast<std::size_t>(a.numel()) * idx_type_size(a.type));
        } catch (const IoError& e) {
          EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
          ++rejected;
        }
      }
    }
  }
  EXPECT_GT(rejected, 200);
}

// Random bytes after a valid-looking start: never a crash, a hang or an allocation
// beyond the file (run under ASan in the sanitizer build).
TEST(IdxErrors, RandomFilesAreRejectedCleanly) {
  test::TempDir dir;
  for (std::uint64_t trial = 0; trial < 300; ++trial) {
    const std::string path = dir.file("random" + std::to_string(trial));
    const Philox4x32 r = philox_block(7, trial, 0);
    Bytes bytes = {0, 0, static_cast<std::uint8_t>(0x08 + r.v[0] % 7),
                   static_cast<std::uint8_t>(1 + r.v[1] % 4)};
    const std::size_t len = r.v[2] % 64;
    for (std::size_t i = 0; i < len; ++i)
      bytes.push_back(static_cast<std::uint8_t>(philox_block(7, trial, 1 + i / 4).v[i % 4]));
    test::write_file(path, bytes);
    if (trial % 2 == 1) test::write_gzip(path, bytes);
    try {
      const IdxArray a = read_idx(path);
      EXPECT_EQ(a.data.size(), static_cast<std::size_t>(a.numel()) * idx_type_size(a.type));
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace minidl
