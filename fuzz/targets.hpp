// minidl's fuzz targets: each takes arbitrary bytes, feeds them to one parser
// (and what a user would do next with what it returns), and checks what the
// parser promises:
//   - bad input ends in a minidl::Error (returned quietly: that is the parser
//     working); any other exception, a crash, a sanitizer report, a hang or an
//     allocation beyond libFuzzer's limits is a finding;
//   - input that parses satisfies the result's invariants (sizes agree, a round
//     trip through the writer gives the same values); a violation aborts.
//
// The same functions run in two places: under libFuzzer (fuzz/entry.cpp, built
// by tools/fuzz.sh with clang and -fsanitize=fuzzer,address,undefined) and in
// the normal test suite (tests/fuzz/replay_test.cpp), which replays the seed
// corpora (fuzz/corpus/<target>/) and every input that once found a bug
// (fuzz/regressions/<target>/), with gcc, in tools/test.sh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace minidl::fuzz {

/// One target: its name (the folder under fuzz/corpus and fuzz/regressions)
/// and its function. Every function returns 0 (libFuzzer's convention).
struct Target {
  const char* name;
  int (*run)(const std::uint8_t* data, std::size_t size);
};

/// read_idx (plain or gzip) on the bytes, then idx_to_float32 / idx_to_int32.
int idx_reader(const std::uint8_t* data, std::size_t size);
/// load_safetensors; what loads is saved again, reloaded and compared.
int safetensors_round_trip(const std::uint8_t* data, std::size_t size);
/// parse_libsvm and parse_libsvm_csr: errors name file, line and column, the two
/// readers agree; what parses is written with write_libsvm, read back, compared.
int libsvm_data(const std::uint8_t* data, std::size_t size);
/// load_libsvm_model; what loads predicts on a few fixed samples.
int libsvm_model(const std::uint8_t* data, std::size_t size);
/// load_checkpoint into a small MLP with Adam; what loads must hold finite
/// weights, takes one training step and is saved again (the loss may be anything: finite weights of
/// any size are a valid checkpoint).
int checkpoint_step(const std::uint8_t* data, std::size_t size);
/// parallel_detail::cpu_ticks (/proc/stat's per-CPU lines) and other_busy_cpus on two
/// readings cut from the bytes.
int proc_stat(const std::uint8_t* data, std::size_t size);

/// A Trainer resumed from the bytes (TrainerOptions::resume), then one more epoch with
/// reduce-on-plateau and early stopping on; its own checkpoint must resume again.
int trainer_resume(const std::uint8_t* data, std::size_t size);
/// The command lines of minidl-train, minidl-svm-train and minidl-svm-predict (the first
/// byte picks one, NUL bytes separate the arguments): errors quote at most 64 bytes of a
/// token, what parses is in its documented domain. Only where the apps are built
/// (MINIDL_FUZZ_COMMAND_LINE).
int command_line(const std::uint8_t* data, std::size_t size);

/// Every target, in a fixed order.
const std::vector<Target>& targets();

/// The host allocation limit the targets pass to readers that take one
/// (max_dense_bytes, max_data_bytes): 16 MiB, so that the fuzzer explores the
/// parsers rather than the allocator.
inline constexpr std::size_t kFuzzMaxBytes = std::size_t{16} << 20;

/// Aborts with `what` on stderr: an invariant of a parsed result does not hold.
[[noreturn]] void violated(const std::string& what);

/// A file of this process that holds the current input (the readers under test
/// take paths). Created in $TMPDIR (or /tmp), removed when the process exits.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& tag);
  ~ScratchFile();
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  /// Replaces the file's contents with the bytes; returns the path.
  const std::string& write(const std::uint8_t* data, std::size_t size);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace minidl::fuzz
