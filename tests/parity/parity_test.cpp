// The parity table's test cases (rows in rows.cpp, machinery in parity_table.cpp):
//   Parity/CpuVsCuda.Matches/<row>   each row on the CPU and on CUDA, compared;
//                                    skipped without a GPU
//   Parity/CpuVsCpu.Matches/<row>    each row twice on the CPU: the two runs agree,
//                                    and a perturbation of any result is caught
//   ParityMachinery.*                the comparison and its report
// MINIDL_PARITY_SKIP_BIG=1 skips the rows with more than 2^31 elements.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include <unistd.h>

#include "core/context.hpp"
#include "parity_table.hpp"
#include "test_util.hpp"

namespace minidl::parity {

void PrintTo(const Row& row, std::ostream* out) { *out << row.name; }

namespace {

std::string row_name(const ::testing::TestParamInfo<Row>& info) { return info.param.name; }

bool skip_big_requested() {
  const char* v = std::getenv("MINIDL_PARITY_SKIP_BIG");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

class CpuVsCuda : public ::testing::TestWithParam<Row> {};
class CpuVsCpu : public ::testing::TestWithParam<Row> {};

TEST_P(CpuVsCuda, Matches) {
  const Row& row = GetParam();
  MINIDL_REQUIRE_CUDA();
  if (row.big_bytes > 0) {
    if (skip_big_requested()) GTEST_SKIP() << "MINIDL_PARITY_SKIP_BIG is set";
    const std::size_t free = CudaContext::get(0).memory_info().device_free;
    if (free < row.big_bytes)
      GTEST_SKIP() << "needs " << (row.big_bytes >> 20) << " MiB of device memory, "
                   << (free >> 20) << " MiB free";
    const std::size_t host = std::size_t(sysconf(_SC_AVPHYS_PAGES)) * std::size_t(sysconf(_SC_PAGESIZE));
    if (host < row.big_host_bytes)
      GTEST_SKIP() << "needs " << (row.big_host_bytes >> 20) << " MiB of host memory, "
                   << (host >> 20) << " MiB available";
  }
  const Results ref = row.run(Device::cpu());
  const Results got = row.run(Device::cuda());
  EXPECT_TRUE(results_match(got, ref, row.tol));
}

TEST_P(CpuVsCpu, Matches) {
  const Row& row = GetParam();
  if (row.big_bytes > 0) GTEST_SKIP() << "a row with more than 2^31 elements: GPU runs only";
  const Results ref = row.run(Device::cpu());
  const Results again = row.run(Device::cpu());
  ASSERT_TRUE(results_match(again, ref, row.tol));
  // Every non-empty result is compared: changing one element of it is caught.
  ASSERT_FALSE(again.empty()) << "a row without results";
  for (std::size_t i = 0; i < again.size(); ++i) {
    const auto [changed, moved] = perturbed(again, i);
    if (moved) {
      EXPECT_FALSE(results_match(changed, ref, row.tol))
          << "a perturbed '" << again[i].first << "' went unnoticed";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Parity, CpuVsCuda, ::testing::ValuesIn(all_rows()), row_name);
INSTANTIATE_TEST_SUITE_P(Parity, CpuVsCpu, ::testing::ValuesIn(all_rows()), row_name);

// ---- the machinery ------------------------------------------------------------------

const float kInf = std::numeric_limits<float>::infinity();
const float kNan = std::numeric_limits<float>::quiet_NaN();

TEST(ParityMachinery, ToleranceIsAtolPlusRtolTimesRef) {
  const Tolerance tol{1e-3f, 1e-2f};
  const Tensor ref = from_vector({0.0f, 100.0f, -100.0f}, {3});
  // Allowed: 1e-3, 1.001, 1.001.
  EXPECT_TRUE(compare("x", from_vector({9e-4f, 101.0f, -99.0f}, {3}), ref, tol).ok());
  const Comparison c = compare("x", from_vector({2e-3f, 101.01f, -98.9f}, {3}), ref, tol);
  EXPECT_EQ(c.count, 3);
  EXPECT_EQ(c.mismatches, 3);
}

TEST(ParityMachinery, InfinitiesAndNans) {
  const Tolerance tol{1e-5f, 1e-5f};
  const Tensor ref = from_vector({kInf, -kInf, kNan, 1.0f}, {4});
  EXPECT_TRUE(compare("x", from_vector({kInf, -kInf, kNan, 1.0f}, {4}), ref, tol).ok());
  const Comparison c = compare("x", from_vector({-kInf, kInf, 0.0f, kNan}, {4}), ref, tol);
  EXPECT_EQ(c.mismatches, 4);
  EXPECT_FALSE(compare("x", from_vector({1e30f}, {1}), from_vector({kInf}, {1}), tol).ok());
}

TEST(ParityMachinery, ReportsFirstMismatchesWithIndexAndBothValues) {
  std::vector<float> ref(1000, 1.0f), got(ref);
  for (int i : {17, 40, 41, 500, 600, 700, 999}) got[std::size_t(i)] = 1.5f;
  const Tolerance tol{1e-5f, 1e-5f};
  const Comparison c = compare("dx", from_vector(got, {10, 100}), from_vector(ref, {10, 100}), tol);
  EXPECT_EQ(c.mismatches, 7);
  ASSERT_EQ(c.first.size(), 5u);
  EXPECT_EQ(c.first[0].index, 17);
  EXPECT_EQ(c.first[4].index, 600);
  const std::string text = describe(c, tol);
  EXPECT_NE(text.find("dx: 7 of 1000 elements differ"), std::string::npos) << text;
  EXPECT_NE(text.find("[17] got 1.5, expected 1"), std::string::npos) << text;
  EXPECT_EQ(text.find("[700]"), std::string::npos) << text;
}

TEST(ParityMachinery, ShapeDtypeAndNameMismatchesAreErrors) {
  const Tolerance tol;
  EXPECT_NE(compare("y", zeros({2, 3}), zeros({3, 2}), tol).error.find("[2, 3] vs [3, 2]"),
            std::string::npos);
  EXPECT_NE(compare("y", zeros({2}, Device::cpu(), DType::Int32), zeros({2}), tol).error,
            "");
  const Results a{{"y", zeros({2})}}, b{{"z", zeros({2})}}, c{{"y", zeros({2})}, {"z", zeros({1})}};
  EXPECT_FALSE(results_match(a, b, tol));
  EXPECT_FALSE(results_match(a, c, tol));
  EXPECT_TRUE(results_match(c, c, tol));
}

TEST(ParityMachinery, Int32ResultsMatchExactly) {
  const Tolerance loose{10.0f, 10.0f};
  const Tensor ref = from_vector(std::vector<std::int32_t>{1, 2, 3}, {3});
  EXPECT_TRUE(compare("i", from_vector(std::vector<std::int32_t>{1, 2, 3}, {3}), ref, loose).ok());
  EXPECT_EQ(compare("i", from_vector(std::vector<std::int32_t>{1, 2, 4}, {3}), ref, loose).mismatches,
            1);
}

TEST(ParityMachinery, PerturbationMovesOneFiniteElement) {
  const Results r{{"a", from_vector({kInf, 2.0f, kNan}, {3})}, {"b", zeros({0})}};
  const auto [p, moved] = perturbed(r, 0);
  ASSERT_TRUE(moved);
  const auto v = p[0].second.to_vector<float>();
  EXPECT_EQ(v[0], kInf);
  EXPECT_FLOAT_EQ(v[1], 2.02f);
  EXPECT_FALSE(perturbed(r, 1).second);
  const auto [nan_moved, ok] = perturbed(Results{{"n", from_vector({kNan}, {1})}}, 0);
  ASSERT_TRUE(ok);
  EXPECT_EQ(nan_moved[0].second.item<float>(), 0.0f);
  // The original is untouched.
  EXPECT_EQ(r[0].second.to_vector<float>()[1], 2.0f);
}

TEST(ParityMachinery, TableNamesAreUniqueAndValid) {
  const std::vector<Row>& rows = all_rows();
  std::set<std::string> names;
  std::size_t big = 0;
  for (const Row& row : rows) {
    EXPECT_TRUE(names.insert(row.name).second) << "duplicate row " << row.name;
    EXPECT_FALSE(row.name.empty());
    for (char ch : row.name)
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') << row.name;
    EXPECT_TRUE(row.run) << row.name;
    big += row.big_bytes > 0;
  }
  EXPECT_GE(big, 1u) << "no row with more than 2^31 elements";
}

}  // namespace
}  // namespace minidl::parity
