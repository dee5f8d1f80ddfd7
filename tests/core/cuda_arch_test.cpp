// Which GPUs a build runs on (core/cuda_arch.hpp): the list parsing and the
// compatibility rules, on the CPU; the start-up error's text.
#include "core/cuda_arch.hpp"

#include "core/error.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

using detail::arch_can_run;
using detail::check_cuda_arch;
using detail::parse_cuda_architectures;

TEST(CudaArch, ParsesCMakeLists) {
  const auto a = parse_cuda_architectures("80-real;86-real;89-real;90");
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].major, 8);
  EXPECT_EQ(a[0].minor, 0);
  EXPECT_TRUE(a[0].sass);
  EXPECT_FALSE(a[0].ptx);
  EXPECT_EQ(a[3].major, 9);
  EXPECT_TRUE(a[3].sass);
  EXPECT_TRUE(a[3].ptx);
  const auto b = parse_cuda_architectures("120-virtual");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].major, 12);
  EXPECT_FALSE(b[0].sass);
  EXPECT_TRUE(b[0].ptx);
  EXPECT_TRUE(parse_cuda_architectures("").empty());
  for (const char* bad : {"native", "9", "sm_90", "90-fake", "80;x"})
    MINIDL_EXPECT_THROW_WITH(parse_cuda_architectures(bad), ValueError, "cannot read");
}

TEST(CudaArch, ArchitectureAndFamilySpecificTargets) {
  // "90a" (Hopper's wgmma / TMA code) was a ValueError at every context creation.
  const auto a = parse_cuda_architectures("90a-real;100f;120a-virtual");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].variant, 'a');
  EXPECT_EQ(a[0].major, 9);
  EXPECT_TRUE(a[0].sass);
  EXPECT_FALSE(a[0].ptx);
  EXPECT_EQ(a[1].variant, 'f');
  EXPECT_EQ(a[1].major, 10);
  EXPECT_TRUE(a[1].sass && a[1].ptx);
  EXPECT_EQ(a[2].major, 12);
  EXPECT_FALSE(a[2].sass);
  // sm_90a runs on 9.0 alone; its PTX does not carry to later GPUs either.
  EXPECT_TRUE(arch_can_run(parse_cuda_architectures("90a"), 9, 0));
  EXPECT_FALSE(arch_can_run(parse_cuda_architectures("90a"), 10, 0));
  EXPECT_FALSE(arch_can_run(parse_cuda_architectures("100a"), 10, 3));
  // The family: 10.0 code on 10.3, not on 12.0.
  EXPECT_TRUE(arch_can_run(parse_cuda_architectures("100f-real"), 10, 3));
  EXPECT_FALSE(arch_can_run(parse_cuda_architectures("100f"), 12, 0));
  EXPECT_FALSE(arch_can_run(parse_cuda_architectures("100f"), 9, 0));
  MINIDL_EXPECT_THROW_WITH(check_cuda_arch("NVIDIA B200", 10, 0, "90a"), DeviceError, "sm_90a",
                           "compute_90a (PTX)");
  for (const char* bad : {"90b", "90aa", "90a-fake", "a90"})
    MINIDL_EXPECT_THROW_WITH(parse_cuda_architectures(bad), ValueError, "cannot read");
}

TEST(CudaArch, TheDefaultRunsOnTheGpusUsersHave) {
  const auto d = parse_cuda_architectures("75-real;80-real;86-real;89-real;90;100-real;120-real");
  EXPECT_TRUE(arch_can_run(d, 7, 5));   // T4, RTX 20xx
  EXPECT_TRUE(arch_can_run(d, 8, 0));   // A100
  EXPECT_TRUE(arch_can_run(d, 8, 6));   // RTX 3090, A10
  EXPECT_TRUE(arch_can_run(d, 8, 7));   // Jetson Orin: sm_80 code runs on 8.7
  EXPECT_TRUE(arch_can_run(d, 8, 9));   // L4, RTX 4090
  EXPECT_TRUE(arch_can_run(d, 9, 0));   // H100, H200
  EXPECT_TRUE(arch_can_run(d, 10, 0));  // B200
  EXPECT_TRUE(arch_can_run(d, 10, 3));  // B300: sm_100 code
  EXPECT_TRUE(arch_can_run(d, 11, 0));  // Jetson Thor: the compute_90 PTX, JIT-compiled
  EXPECT_TRUE(arch_can_run(d, 12, 0));  // RTX 5090
  EXPECT_TRUE(arch_can_run(d, 13, 0));  // later: the PTX
  EXPECT_FALSE(arch_can_run(d, 7, 0));  // V100: CUDA 13 builds nothing for it
}

TEST(CudaArch, ThePreviousDefaultHadNothingForTuring) {
  const auto old = parse_cuda_architectures("80-real;86-real;89-real;90");
  EXPECT_FALSE(arch_can_run(old, 7, 5));  // T4: the cloud's commonest GPU
  EXPECT_TRUE(arch_can_run(old, 12, 0));  // only through the PTX
}

TEST(CudaArch, CMakeWordsLeaveTheCheckToTheDriver) {
  // -DCMAKE_CUDA_ARCHITECTURES=native on a machine whose GPU CMake did not see, or OFF:
  // the build's code is unknown here, so no start-up error (it was a ValueError from the
  // parser before, at the first GPU use of a build the README told users to make).
  for (const char* word : {"native", "all", "all-major", "OFF"}) {
    EXPECT_FALSE(detail::cuda_architectures_listed(word)) << word;
    EXPECT_NO_THROW(check_cuda_arch("NVIDIA T4", 7, 5, word)) << word;
  }
  EXPECT_TRUE(detail::cuda_architectures_listed("90"));
  // A CPU-only build's empty list: no GPU is used.
  EXPECT_TRUE(detail::cuda_architectures_listed(""));
  EXPECT_TRUE(detail::cuda_architectures_listed("native;90"));  // not a word: parsed, fails
  MINIDL_EXPECT_THROW_WITH(check_cuda_arch("NVIDIA T4", 7, 5, "native;90"), ValueError,
                           "cannot read 'native'");
}

TEST(CudaArch, TheOldDefaultRanOnlyOnHopper) {
  const auto old = parse_cuda_architectures("90");
  EXPECT_FALSE(arch_can_run(old, 8, 0));
  EXPECT_FALSE(arch_can_run(old, 8, 6));
  EXPECT_FALSE(arch_can_run(old, 8, 9));
  EXPECT_TRUE(arch_can_run(old, 9, 0));
  // Machine code alone does not run on a later major, nor on a lower minor.
  EXPECT_FALSE(arch_can_run(parse_cuda_architectures("90-real"), 10, 0));
  EXPECT_FALSE(arch_can_run(parse_cuda_architectures("86-real"), 8, 0));
}

TEST(CudaArch, StartUpErrorNamesDeviceCapabilityAndBuild) {
  MINIDL_EXPECT_THROW_WITH(check_cuda_arch("NVIDIA A100-SXM4-80GB", 8, 0, "90"), DeviceError,
                           "NVIDIA A100-SXM4-80GB", "compute capability 8.0", "sm_90",
                           "compute_90 (PTX)", "CMAKE_CUDA_ARCHITECTURES=80");
  check_cuda_arch("NVIDIA H100", 9, 0, "90");  // fine: no throw
  check_cuda_arch("NVIDIA L4", 8, 9, "80-real;86-real;89-real;90");
}

TEST(CudaArch, BuiltListIsReadable) {
  // The list compiled into this library parses (empty in a CPU-only build), unless it is one
  // of CMake's words CMake could not resolve.
  const std::string built = built_cuda_architectures();
  if (detail::cuda_architectures_listed(built))
    EXPECT_NO_THROW(parse_cuda_architectures(built));
  else
    EXPECT_TRUE(built == "native" || built == "OFF") << built;
}

}  // namespace
}  // namespace minidl
