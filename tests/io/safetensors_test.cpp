// Tests of io/safetensors: round trips, the exact bytes written (pinned against the
// reference implementation's own test vectors), every validation error on
// hand-crafted files, atomic replacement under real write failures, a Python
// reader/writer (tests/io/safetensors_interop.py), and a CUDA round trip.
#include "io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "io_test_util.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

namespace fs = std::filesystem;

using test::read_bytes;
using test::TempDir;
using test::write_bytes;

std::string u64_le(std::uint64_t v) {
  std::string out(8, '\0');
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
  return out;
}

std::string f32(const std::vector<float>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)};
}
std::string i32(const std::vector<std::int32_t>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(std::int32_t)};
}

std::string bytes_of(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

// A safetensors file from a header text and a data section, no padding added.
std::string file_bytes(const std::string& header, const std::string& data = "") {
  return u64_le(header.size()) + header + data;
}

// Writes a hand-crafted file and returns its path.
std::string craft(const TempDir& dir, const std::string& name, const std::string& bytes) {
  std::string path = dir.file(name);
  write_bytes(path, bytes);
  return path;
}

std::vector<std::uint32_t> bits(const Tensor& t) {
  const std::vector<float> v = t.to_vector<float>();
  std::vector<std::uint32_t> out(v.size());
  if (!v.empty()) std::memcpy(out.data(), v.data(), v.size() * sizeof(float));
  return out;
}

void expect_same(const Tensor& got, const Tensor& want, const std::string& name) {
  SCOPED_TRACE(name);
  ASSERT_TRUE(got.defined());
  EXPECT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.dtype(), want.dtype());
  if (want.dtype() == DType::Float32) {
    EXPECT_EQ(bits(got), bits(want));  // bitwise: NaN payloads and -0 included
  } else {
    EXPECT_EQ(got.to_vector<std::int32_t>(), want.to_vector<std::int32_t>());
  }
}

// ---- round trips --------------------------------------------------------------------

TEST(Safetensors, RoundTripOfSeveralTensorsAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  Generator gen(3);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<NamedTensor> tensors = {
      {"layer1.weight", normal({4, 3}, 0.0f, 1.0f, gen)},
      {"layer1.bias", from_vector({0.5f, -0.0f, nan, INFINITY}, {4})},
      {"step", from_vector({123}, {})},  // int32 scalar, shape []
      {"loss", full({}, 0.25)},          // float32 scalar
      {"labels", from_vector({-2147483647 - 1, -1, 0, 2147483647}, {2, 2})},
      {"nothing", empty({0, 5})},  // a zero extent: no bytes
      {"nothing.i", empty({3, 0}, Device::cpu(), DType::Int32)},
      {"rank8", arange(0, 16, 1, Device::cpu(), DType::Int32).view({1, 2, 1, 2, 1, 2, 1, 2})},
      {"unicode \xc3\xbc \"quoted\"", ones({2})},
  };
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"epoch", "17"}, {"note", "\xc3\xa4 \"x\"\n"}};
  save_safetensors(path, tensors, metadata);

  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.metadata, metadata);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (const NamedTensor& t : tensors) {
    ASSERT_TRUE(f.contains(t.name)) << t.name;
    expect_same(f.at(t.name), t.tensor, t.name);
    EXPECT_EQ(f.find(t.name)->device(), Device::cpu());
  }
  // File order is the reference writer's: float32 by name, then int32 by name.
  std::vector<std::string> order;
  for (const NamedTensor& t : f.tensors) order.push_back(t.name);
  EXPECT_EQ(order, (std::vector<std::string>{"layer1.bias", "layer1.weight", "loss", "nothing",
                                             "unicode \xc3\xbc \"quoted\"", "labels", "nothing.i",
                                             "rank8", "step"}));
  EXPECT_EQ(f.find("absent"), nullptr);
  MINIDL_EXPECT_THROW_WITH(f.at("absent"), ValueError, "no tensor named \"absent\"", "9 tensors");
  // Loaded tensors own their memory: the file can go away.
  fs::remove(path);
  expect_same(f.at("layer1.weight"), tensors[0].tensor, "after removal");
}

TEST(Safetensors, EmptyFileRoundTrips) {
  TempDir dir;
  const std::string path = dir.file("empty.safetensors");
  save_safetensors(path, {});
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.metadata.empty());
}

// ---- the bytes written ----------------------------------------------------------------

// The reference implementation's test_serialization (safetensors/src/tensor.rs):
// "attn.0", F32, shape [1, 2, 3], values 0..5. A 64-byte header needs no padding.
TEST(SafetensorsFormat, BytesMatchTheReferenceTestVector) {
  TempDir dir;
  const std::string path = dir.file("attn.safetensors");
  save_safetensors(path, {{"attn.0", from_vector({0.f, 1.f, 2.f, 3.f, 4.f, 5.f}, {1, 2, 3})}});
  const std::string expected =
      bytes_of({64, 0,  0,   0,   0,   0,   0,   0,   123, 34,  97,  116, 116, 110, 46,  48,
                34, 58, 123, 34,  100, 116, 121, 112, 101, 34,  58,  34,  70,  51,  50,  34,
                44, 34, 115, 104, 97,  112, 101, 34,  58,  91,  49,  44,  50,  44,  51,  93,
                44, 34, 100, 97,  116, 97,  95,  111, 102, 102, 115, 101, 116, 115, 34,  58,
                91, 48, 44,  50,  52,  93,  125, 125, 0,   0,   0,   0,   0,   0,   128, 63,
                0,  0,  0,   64,  0,   0,   64,  64,  0,   0,   128, 64,  0,   0,   160, 64});
  EXPECT_EQ(read_bytes(path), expected);
}

// The reference's test_empty: no tensors, with and without metadata; the header
// is padded with spaces to a multiple of 8.
TEST(SafetensorsFormat, BytesMatchTheReferenceEmptyVectors) {
  TempDir dir;
  save_safetensors(dir.file("a"), {});
  EXPECT_EQ(read_bytes(dir.file("a")),
            bytes_of({8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32}));
  save_safetensors(dir.file("b"), {}, {{"framework", "pt"}});
  EXPECT_EQ(read_bytes(dir.file("b")),
            bytes_of({40,  0,   0,   0,  0,  0,  0,   0,   123, 34,  95,  95,  109, 101, 116, 97,
                      100, 97,  116, 97, 95, 95, 34,  58,  123, 34,  102, 114, 97,  109, 101, 119,
                      111, 114, 107, 34, 58, 34, 112, 116, 34,  125, 125, 32,  32,  32,  32,  32}));
}

// Order (float32 first, then int32, each by name, whatever the given order), the
// metadata first with sorted keys, a scalar, an empty tensor, padding, a 2-byte
// length, all written out by hand.
TEST(SafetensorsFormat, LayoutOfMixedTensorsIsPinned) {
  TempDir dir;
  const std::string path = dir.file("mixed.safetensors");
  save_safetensors(path,
                   {{"b", from_vector({7}, {1})},
                    {"e", empty({0, 3})},
                    {"c", from_vector({-1.f}, {})},
                    {"a", from_vector({1.f, 2.f}, {2})}},
                   {{"z", "1"}, {"a", "x"}});
  const std::string header = R"({"__metadata__":{"a":"x","z":"1"},)"
                             R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("c":{"dtype":"F32","shape":[],"data_offsets":[8,12]},)"
                             R"("e":{"dtype":"F32","shape":[0,3],"data_offsets":[12,12]},)"
                             R"("b":{"dtype":"I32","shape":[1],"data_offsets":[12,16]}})"
                             "    ";  // 252 bytes of JSON + 4 spaces: the data starts at 8 + 256
  ASSERT_EQ(header.size(), 256u);
  const std::string expected = bytes_of({0, 1, 0, 0, 0, 0, 0, 0}) + header +
                               bytes_of({0, 0, 0x80, 0x3f, 0, 0, 0, 0x40,  // a: 1, 2
                                         0, 0, 0x80, 0xbf,                 // c: -1
                                         7, 0, 0, 0});                     // b: 7
  EXPECT_EQ(read_bytes(path), expected);
}

// ---- what save rejects ----------------------------------------------------------------

TEST(Safetensors, SaveRejectsBadArgumentsBeforeWriting) {
  TempDir dir;
  const std::string p = dir.file("x.safetensors");
  MINIDL_EXPECT_THROW_WITH(save_safetensors(p, {{"", ones({1})}}), ValueError, p, "empty name");
  MINIDL_EXPECT_THROW_WITH(save_safetensors(p, {{"w", ones({1})}, {"w", zeros({2})}}), ValueError,
                           p, "duplicate tensor name \"w\"");
  MINIDL_EXPECT_THROW_WITH(save_safetensors(p, {{"__metadata__", ones({1})}}), ValueError,
                           "reserved");
  MINIDL_EXPECT_THROW_WITH(save_safetensors(p, {{"w", Tensor()}}), ValueError, "\"w\"",
                           "undefined");
  MINIDL_EXPECT_THROW_WITH(save_safetensors(p, {{"bad\xff", ones({1})}}), ValueError, "UTF-8");
  MINIDL_EXPECT_THROW_WITH(save_safetensors(p, {}, {{"k", "bad\xfe"}}), ValueError, "UTF-8");
  MINIDL_EXPECT_THROW_WITH(save_safetensors("", {}), ValueError, "empty");
  MINIDL_EXPECT_THROW_WITH(save_safetensors(dir.path() + "/", {}), ValueError, "directory");
  EXPECT_TRUE(dir.entries().empty()) << "nothing may be created for rejected arguments";
}

// ---- what load rejects ----------------------------------------------------------------

constexpr const char* kGood = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

TEST(SafetensorsValidation, FileAndHeaderLength) {
  TempDir dir;
  const std::string missing = dir.file("missing.safetensors");
  MINIDL_EXPECT_THROW_WITH(load_safetensors(missing), IoError, missing, "cannot open",
                           "No such file");
  MINIDL_EXPECT_THROW_WITH(load_safetensors(dir.path()), IoError, dir.path(), "not a regular file");

  std::string p = craft(dir, "short", std::string("\x05\0\0", 3));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "3 bytes", "too short");
  p = craft(dir, "empty", "");
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "0 bytes", "too short");

  // Over the reference's 100,000,000-byte limit: rejected before any size check.
  p = craft(dir, "huge", u64_le(100'000'001) + "{}");
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "header length 100000001",
                           "limit of 100000000");
  p = craft(dir, "max", u64_le(std::numeric_limits<std::uint64_t>::max()) + "{}");
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "limit");
  // Within the limit but longer than the file.
  p = craft(dir, "past", u64_le(100) + "{}      ");
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "header length 100",
                           "past the end of the file (16 bytes, so at most 8)");
}

TEST(SafetensorsValidation, HeaderJson) {
  TempDir dir;
  std::string p = craft(dir, "syntax", file_bytes(R"({"w": {"dtype": "F32",})"));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "not valid JSON", "parse error");
  p = craft(dir, "trailing", file_bytes(std::string(kGood) + "x", f32({1.f, 2.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "not valid JSON");
  p = craft(dir, "nul_padding",
            file_bytes(std::string(kGood) + std::string(3, '\0'), f32({1.f, 2.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "not valid JSON",
                           "NUL byte at header offset 54");
  // A NUL would end nlohmann's input early and hide the garbage after it.
  p = craft(dir, "nul_then_garbage",
            file_bytes(std::string(kGood) + std::string(1, '\0') + "]]", f32({1.f, 2.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "NUL byte");
  p = craft(dir, "utf8", file_bytes("{\"w\xff\":{}}"));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "not valid JSON", "UTF-8");
  p = craft(dir, "array", file_bytes("[1, 2]"));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "an array, not a JSON object");
  p = craft(dir, "deep", file_bytes(std::string(200, '[') + std::string(200, ']')));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "nests deeper than 64");
}

TEST(SafetensorsValidation, DuplicateKeys) {
  TempDir dir;
  std::string p = craft(dir, "dup",
                        file_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                   R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                   f32({1.f, 2.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "duplicate tensor name \"w\"");
  p = craft(dir, "dup_field",
            file_bytes(R"({"w":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}})",
                       f32({1.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "duplicate key \"dtype\"",
                           "entry \"w\"");
  p = craft(dir, "dup_meta", file_bytes(R"({"__metadata__":{"k":"a","k":"b"}})"));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "duplicate key \"k\"",
                           "\"__metadata__\"");
  p = craft(dir, "dup_meta_object", file_bytes(R"({"__metadata__":{},"__metadata__":{}})"));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "duplicate key \"__metadata__\"");
}

TEST(SafetensorsValidation, Metadata) {
  TempDir dir;
  std::string p = craft(dir, "number", file_bytes(R"({"__metadata__":{"epoch":3}})"));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "value for key \"epoch\"",
                           "a number, not a string");
  p = craft(dir, "list", file_bytes(R"({"__metadata__":["a"]})"));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "\"__metadata__\" is an array");
}

TEST(SafetensorsValidation, EntryFields) {
  TempDir dir;
  const std::string data = f32({1.f, 2.f});
  struct Case {
    const char* header;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {R"({"w":[1]})", {"tensor \"w\"", "an array, not an object"}},
      {R"({"w":{"shape":[2],"data_offsets":[0,8]}})", {"tensor \"w\"", "no \"dtype\""}},
      {R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", {"tensor \"w\"", "no \"shape\""}},
      {R"({"w":{"dtype":"F32","shape":[2]}})", {"tensor \"w\"", "no \"data_offsets\""}},
      {R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", {"\"dtype\" is a number"}},
      {R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", {"\"shape\" is a number"}},
      {R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}})",
       {"tensor \"w\"", "extent -1 is not a non-negative integer"}},
      {R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})",
       {"extent 2.0 is not a non-negative integer"}},
      {R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}})",
       {"tensor \"w\"", "rank 9", "at most 8"}},
      {R"({"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904,0],"data_offsets":[0,8]}})",
       {"tensor \"w\"", "more elements than int64"}},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})",
       {"tensor \"w\"", "\"data_offsets\" [0] is not a pair"}},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-4,8]}})", {"is not a pair"}},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":"0,8"}})", {"is not a pair"}},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})",
       {"tensor \"w\"", "[8, 0] end before they begin"}},
  };
  int i = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header);
    const std::string p = craft(dir, "case" + std::to_string(i++), file_bytes(c.header, data));
    try {
      load_safetensors(p);
      ADD_FAILURE() << "expected IoError";
    } catch (const IoError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(p), std::string::npos) << what;
      for (const std::string& f : c.fragments) {
        EXPECT_NE(what.find(f), std::string::npos) << "\"" << what << "\" lacks \"" << f << "\"";
      }
    }
  }
}

TEST(SafetensorsValidation, Dtypes) {
  TempDir dir;
  for (const char* dt : {"F16", "BF16", "F64", "I64", "U8", "BOOL"}) {
    const std::string p = craft(dir, dt,
                                file_bytes(std::string(R"({"half":{"dtype":")") + dt +
                                               R"(","shape":[2],"data_offsets":[0,8]}})",
                                           f32({1.f, 2.f})));
    MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p,
                             std::string("unsupported dtype ") + dt + " for tensor \"half\"");
  }
  const std::string p = craft(
      dir, "unknown",
      file_bytes(R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", f32({1.f, 2.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "unknown dtype \"F33\"",
                           "tensor \"w\"");
}

TEST(SafetensorsValidation, OffsetsAgainstShapeAndFile) {
  TempDir dir;
  // Truncated: the header promises 8 bytes, the file has 4.
  std::string p = craft(dir, "truncated", file_bytes(kGood, f32({1.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "tensor \"w\"",
                           "[0, 8] run past the end of the data section (4 bytes");
  p = craft(dir, "no_data", file_bytes(kGood));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "run past the end");
  // Shape x dtype disagree with the offsets.
  p = craft(
      dir, "mismatch",
      file_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32({1.f, 2.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "tensor \"w\"", "hold 8 bytes",
                           "shape [3] of F32 needs 12");
  p = craft(
      dir, "scalar_mismatch",
      file_bytes(R"({"w":{"dtype":"I32","shape":[],"data_offsets":[0,8]}})", f32({1.f, 2.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "shape [] of I32 needs 4");
}

TEST(SafetensorsValidation, TensorsMustTileTheDataSection) {
  TempDir dir;
  const std::string data = f32({1.f, 2.f, 3.f});
  std::string p = craft(dir, "overlap",
                        file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                   data));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "tensor \"b\"", "[4, 12] overlap",
                           "tensor \"a\" [0, 8]");
  p = craft(dir, "same",
            file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                       f32({1.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "overlap");
  // An empty tensor inside another one's bytes overlaps it too.
  p = craft(dir, "inside",
            file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                       f32({1.f, 2.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "tensor \"e\"", "overlap");
  p = craft(dir, "hole",
            file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                       data));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "tensor \"b\"", "hole of 4 bytes",
                           "after tensor \"a\"");
  p = craft(
      dir, "late_start",
      file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32({1.f, 2.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "hole of 4 bytes",
                           "start of the data section");
  p = craft(dir, "trailing", file_bytes(kGood, data));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "cover 8 bytes of the 12-byte",
                           "remaining 4 bytes");
  p = craft(dir, "data_without_tensors", file_bytes("{}", f32({1.f})));
  MINIDL_EXPECT_THROW_WITH(load_safetensors(p), IoError, p, "cover 0 bytes of the 4-byte");
}

// Files the reference accepts but minidl never writes: entries in any order,
// unknown fields, no padding, spaces, an empty name, an empty tensor between two.
TEST(SafetensorsValidation, AcceptsWhatTheReferenceAccepts) {
  TempDir dir;
  const std::string p = craft(
      dir, "loose",
      file_bytes(
          R"( { "z" : {"data_offsets": [0, 4], "shape": [], "dtype": "I32", "extra": {"x": [1]}},)"
          R"( "__metadata__": {"who": "hand"},)"
          R"( "": {"dtype": "F32", "shape": [1, 1], "data_offsets": [8, 12]},)"
          R"( "a": {"dtype": "F32", "shape": [0, 7], "data_offsets": [4, 4]},)"
          R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]} } )",
          i32({-5}) + f32({2.5f, 3.5f})));
  const SafetensorsFile f = load_safetensors(p);
  std::vector<std::string> order;
  for (const NamedTensor& t : f.tensors) order.push_back(t.name);
  EXPECT_EQ(order, (std::vector<std::string>{"z", "a", "b", ""}));
  EXPECT_EQ(f.at("z").item<std::int32_t>(), -5);
  EXPECT_EQ(f.at("z").shape(), Shape{});
  EXPECT_EQ(f.at("a").shape(), (Shape{0, 7}));
  EXPECT_EQ(f.at("b").to_vector<float>(), std::vector<float>{2.5f});
  EXPECT_EQ(f.at("").shape(), (Shape{1, 1}));
  EXPECT_EQ(f.at("").item<float>(), 3.5f);
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"who", "hand"}}));
  // A null "__metadata__" is no metadata (the reference reads an optional map; review).
  const std::string q = craft(dir, "null_meta",
                              file_bytes(R"({"__metadata__":null,"x":{"dtype":"F32","shape":[1],)"
                                         R"("data_offsets":[0,4]}})",
                                         f32({1.5f})));
  const SafetensorsFile g = load_safetensors(q);
  EXPECT_TRUE(g.metadata.empty());
  EXPECT_EQ(g.at("x").item<float>(), 1.5f);
}

// ---- atomic replacement -----------------------------------------------------------------

TEST(SafetensorsAtomic, OverwriteReplacesTheFileAndLeavesNothingElse) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"w", full({100}, 1.0)}});
  save_safetensors(path, {{"w", full({3}, 2.0)}, {"v", ones({1})}});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.at("w").to_vector<float>(), std::vector<float>(3, 2.0f));
}

// A write that really fails halfway (as on a full disk) leaves the old file as it
// was and removes the partial temporary file.
TEST(SafetensorsAtomic, FailedWriteKeepsTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"old", from_vector({1.f, 2.f, 3.f}, {3})}}, {{"v", "1"}});
  const std::string before = read_bytes(path);

  std::string message;
  {
    const test::FileSizeLimit limit(4096);  // nothing is printed while it is in force
    try {
      save_safetensors(path, {{"new", zeros({std::int64_t{64} * 1024})}});  // 256 KiB
    } catch (const IoError& e) {
      message = e.what();
    }
  }
  ASSERT_FALSE(message.empty()) << "the write past the file-size limit did not fail";
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("cannot write the temporary file"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_NE(message.find(".tmp."), std::string::npos) << message;
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.at("old").to_vector<float>(), (std::vector<float>{1.f, 2.f, 3.f}));
}

// A directory (or any other non-regular file) at the path is never replaced.
TEST(SafetensorsAtomic, RefusesToReplaceADirectory) {
  TempDir dir;
  const std::string target = dir.file("taken");
  fs::create_directory(target);
  write_bytes(target + "/keep", "x");
  MINIDL_EXPECT_THROW_WITH(save_safetensors(target, {{"w", ones({4})}}), IoError, target,
                           "refusing to replace", "a directory");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"taken"});
  EXPECT_EQ(read_bytes(target + "/keep"), "x");
}

// A FIFO stands in for a device node (`--save /dev/null` as root): it stays one.
TEST(SafetensorsAtomic, RefusesToReplaceAFifo) {
  TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  MINIDL_EXPECT_THROW_WITH(save_safetensors(fifo, {{"w", ones({4})}}), IoError, fifo,
                           "refusing to replace", "a FIFO");
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"fifo"});
}

// Loading a FIFO is refused as not a regular file, at once: the blocking open waited for
// a writer for ever before the check could run (found in review). A writer is opened
// after 5 s if the load is still waiting, so that a regression fails instead of hanging.
TEST(SafetensorsValidation, LoadingAFifoIsRefusedWithoutWaiting) {
  TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto load = std::async(std::launch::async, [&] {
    try {
      load_safetensors(fifo);
      return std::string("loaded");
    } catch (const IoError& e) {
      return std::string(e.what());
    }
  });
  if (load.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ADD_FAILURE() << "load_safetensors is waiting on the FIFO";
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) ::close(writer);
  }
  const std::string message = load.get();
  EXPECT_NE(message.find("not a regular file"), std::string::npos) << message;
}

// A header over the format's 100,000,000-byte limit is refused before anything is
// written: the file would load nowhere, this reader included (found in review).
TEST(SafetensorsAtomic, OversizedHeaderIsRefusedAndTheOldFileKept) {
  TempDir dir;
  const std::string path = dir.file("ckpt");
  save_safetensors(path, {{"w", ones({4})}});
  const std::string before = read_bytes(path);
  MINIDL_EXPECT_THROW_WITH(
      save_safetensors(path, {{"w", ones({4})}}, {{"notes", std::string(100000000, 'a')}}),
      ValueError, "header", "100000000", "nothing was written");
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt"});
}

// The first step failing: the "directory" is a regular file, or missing.
TEST(SafetensorsAtomic, UncreatableTemporaryFile) {
  TempDir dir;
  write_bytes(dir.file("plain"), "not a directory");
  const std::string under_file = dir.file("plain/ckpt.safetensors");
  MINIDL_EXPECT_THROW_WITH(save_safetensors(under_file, {{"w", ones({1})}}), IoError, under_file,
                           "cannot create the temporary file", "Not a directory");
  const std::string missing = dir.file("missing/ckpt.safetensors");
  MINIDL_EXPECT_THROW_WITH(save_safetensors(missing, {{"w", ones({1})}}), IoError, missing,
                           "No such file or directory");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"plain"});
  EXPECT_EQ(read_bytes(dir.file("plain")), "not a directory");
}

// Each save picks a fresh temporary name, so a stale one (left by a writer that
// crashed) neither blocks a save nor gets clobbered.
TEST(SafetensorsAtomic, StaleTemporaryFilesAreLeftAlone) {
  TempDir dir;
  const std::string path = dir.file("ckpt");
  write_bytes(path + ".tmp.stale", "left by a crash");
  save_safetensors(path, {{"w", ones({2})}});
  save_safetensors(path, {{"w", zeros({2})}});
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ckpt", "ckpt.tmp.stale"}));
  EXPECT_EQ(load_safetensors(path).at("w").to_vector<float>(), std::vector<float>(2, 0.0f));
}

// ---- Python ---------------------------------------------------------------------------

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// python3 from PATH first (it may be a pyenv shim), else the system one; "" if
// neither runs.
std::string find_python() {
  for (const char* candidate : {"python3", "/usr/bin/python3"}) {
    const std::string probe = std::string(candidate) + " -c 'import json, struct' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return candidate;
  }
  return "";
}

// tests/io/safetensors_interop.py, found from this source file's path (absolute
// in a normal build), $MINIDL_SOURCE_DIR (the GPU check sets it), or, for a
// build that made __FILE__ relative (ccache base_dir), the build tree's root.
std::string find_interop_script(std::vector<std::string>& tried) {
  const std::string name = "safetensors_interop.py";
  const fs::path here = fs::path(__FILE__).parent_path();
  tried.push_back((here / name).string());
  if (const char* src = std::getenv("MINIDL_SOURCE_DIR")) {
    tried.push_back((fs::path(src) / "tests" / "io" / name).string());
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && here.is_relative()) {
    tried.push_back((exe.parent_path().parent_path() / here / name).string());
  }
  for (const std::string& p : tried) {
    if (fs::is_regular_file(p, ec)) return p;
  }
  return "";
}

// Runs the script; returns its exit status and fills `output`.
int run_python(const std::string& python, const std::string& script, const std::string& mode,
               const std::string& arg, const std::string& log, std::string& output) {
  const std::string cmd = python + " " + shell_quote(script) + " " + mode + " " + shell_quote(arg) +
                          " >" + shell_quote(log) + " 2>&1";
  const int status = std::system(cmd.c_str());
  output = read_bytes(log);
  std::cout << "[ python " << mode << " ]\n" << output;
  return status == -1 ? -1 : WEXITSTATUS(status);
}

// The tensor sets are duplicated in safetensors_interop.py: keep them in sync.
TEST(SafetensorsInterop, PythonReadsWhatMinidlWritesAndBack) {
  const std::string python = find_python();
  if (python.empty()) GTEST_SKIP() << "no python3 (tried python3 on PATH and /usr/bin/python3)";
  std::vector<std::string> tried;
  const std::string script = find_interop_script(tried);
  ASSERT_FALSE(script.empty()) << "safetensors_interop.py not found; tried: "
                               << ::testing::PrintToString(tried);
  TempDir dir;

  // minidl -> Python. Given in a shuffled order: the file's order is minidl's.
  const std::string minidl_file = dir.file("minidl.safetensors");
  save_safetensors(
      minidl_file,
      {
          {"labels", from_vector({-2147483647 - 1, -1, 0, 2147483647}, {4})},
          {"weight", from_vector({0.5f, -1.25f, 0x1p-27f, std::numeric_limits<float>::min(), -0.0f,
                                  std::numeric_limits<float>::max()},
                                 {2, 3})},
          {"empty", empty({0, 4})},
          {"step", from_vector({42}, {})},
          {"bias", from_vector({1.f, 2.f, 3.f}, {3})},
          {"big.inf", from_vector({INFINITY, -INFINITY}, {1, 1, 2})},
      },
      {{"format", "minidl \"test\" \xc3\xbc\xe2\x9c\x93"}});
  std::string output;
  EXPECT_EQ(run_python(python, script, "check", minidl_file, dir.file("check.log"), output), 0)
      << output;

  // Python -> minidl.
  ASSERT_EQ(run_python(python, script, "write", dir.path(), dir.file("write.log"), output), 0)
      << output;
  std::vector<std::string> files = {dir.file("python_plain.safetensors")};
  if (fs::exists(dir.file("python_reference.safetensors"))) {
    files.push_back(dir.file("python_reference.safetensors"));
  }
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const SafetensorsFile f = load_safetensors(file);
    EXPECT_EQ(f.tensors.size(), 5u);
    expect_same(f.at("x"), from_vector({1.5f, -2.0f, 0.25f, 1.0e30f}, {2, 2}), "x");
    expect_same(f.at("idx"), from_vector({7, -8, 9}, {3}), "idx");
    expect_same(f.at("scalar"), from_vector({2.5f}, {}), "scalar");
    expect_same(f.at("nothing"), empty({0}, Device::cpu(), DType::Int32), "nothing");
    expect_same(f.at("z/last"), from_vector({-7.0f}, {1}), "z/last");
    EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{
                              {"source", "python"}, {"note", "\xc3\xa4\xc3\xb6 \"quoted\""}}));
  }
}

// ---- devices ----------------------------------------------------------------------------

TEST(SafetensorsCuda, RoundTripThroughTheGpu) {
  MINIDL_REQUIRE_CUDA();
  TempDir dir;
  const std::string path = dir.file("gpu.safetensors");
  Generator gen(11);
  const Tensor w = normal({257, 33}, 0.0f, 1.0f, gen, Device::cuda());
  const Tensor idx = arange(-50, 50, 1, Device::cuda(), DType::Int32);
  const Tensor none = empty({0, 3}, Device::cuda());
  const Tensor host = from_vector({1.f, 2.f}, {2});  // CPU and CUDA tensors in one file
  save_safetensors(path, {{"w", w}, {"idx", idx}, {"none", none}, {"host", host}});

  const SafetensorsFile on_gpu = load_safetensors(path, Device::cuda());
  for (const NamedTensor& t : on_gpu.tensors) EXPECT_EQ(t.tensor.device(), Device::cuda());
  expect_same(on_gpu.at("w"), w, "w");
  expect_same(on_gpu.at("idx"), idx, "idx");
  expect_same(on_gpu.at("none"), none, "none");
  expect_same(on_gpu.at("host"), host, "host");

  const SafetensorsFile on_cpu = load_safetensors(path);
  EXPECT_EQ(on_cpu.at("w").device(), Device::cpu());
  expect_same(on_cpu.at("w"), w, "w on cpu");
  // The same bytes as saving the host copies.
  save_safetensors(dir.file("cpu.safetensors"), {{"w", w.to(Device::cpu())},
                                                 {"idx", idx.to(Device::cpu())},
                                                 {"none", empty({0, 3})},
                                                 {"host", host}});
  EXPECT_EQ(read_bytes(path), read_bytes(dir.file("cpu.safetensors")));
}

TEST(SafetensorsCuda, LoadingToAnUnusableDeviceIsADeviceError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  save_safetensors(path, {{"w", ones({1})}});
  MINIDL_EXPECT_THROW_WITH(load_safetensors(path, Device::cuda()), DeviceError, "cuda");
}

}  // namespace
}  // namespace minidl
