// Replays every fuzz target's seed corpus (fuzz/corpus/<target>/) and every input
// that once found a bug (fuzz/regressions/<target>/) through the same functions
// libFuzzer runs (fuzz/targets.hpp), in the normal build: a parser that crashes,
// throws something other than minidl::Error, or breaks an invariant on one of
// them fails here, without clang. tools/fuzz.sh finds new inputs; a crash input
// it finds is copied to fuzz/regressions/<target>/ once fixed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../../fuzz/targets.hpp"

namespace minidl::fuzz {
namespace {

namespace fs = std::filesystem;

// The source tree's fuzz/ folder: $MINIDL_SOURCE_DIR/fuzz when set (a GPU
// check running a copied build), else the folder this build was configured from.
fs::path fuzz_dir() {
  if (const char* src = std::getenv("MINIDL_SOURCE_DIR")) return fs::path(src) / "fuzz";
  return MINIDL_FUZZ_DIR;
}

std::vector<fs::path> inputs_in(const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return files;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

void replay(const Target& target, const std::vector<fs::path>& files) {
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    std::ifstream in(f, std::ios::binary);
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                          std::istreambuf_iterator<char>());
    EXPECT_EQ(target.run(bytes.data(), bytes.size()), 0);
  }
}

class FuzzReplay : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzReplay, SeedCorpus) {
  const std::vector<fs::path> files = inputs_in(fuzz_dir() / "corpus" / GetParam().name);
  ASSERT_FALSE(files.empty()) << "no seed inputs in " << (fuzz_dir() / "corpus" / GetParam().name);
  replay(GetParam(), files);
}

TEST_P(FuzzReplay, Regressions) {
  replay(GetParam(), inputs_in(fuzz_dir() / "regressions" / GetParam().name));
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, ::testing::ValuesIn(targets()),
                         [](const ::testing::TestParamInfo<Target>& p) {
                           return std::string(p.param.name);
                         });

// The table is what tools/fuzz.sh runs: every target once, by a unique name.
TEST(FuzzTargets, TableNamesEachTargetOnce) {
  std::vector<std::string> names;
  for (const Target& t : targets()) names.emplace_back(t.name);
  std::vector<std::string> expected{"idx",        "safetensors", "libsvm_data",   "libsvm_model",
                                    "checkpoint", "proc_stat",   "trainer_resume"};
#if MINIDL_FUZZ_COMMAND_LINE
  expected.emplace_back("command_line");
#endif
  EXPECT_EQ(names, expected);
}

}  // namespace
}  // namespace minidl::fuzz
