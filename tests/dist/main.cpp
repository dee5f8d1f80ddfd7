// The main of minidl_test_dist: the tests run in every process of an mpirun job
// (or alone, as a world of one). Rank 0 prints GoogleTest's usual report; the
// other ranks print only their failures, prefixed with their rank. The exit
// status is the same on every rank: non-zero when any rank had a failure.
#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "dist/collectives.hpp"
#include "dist/process.hpp"

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  // The name is kept here: UnitTest::current_test_info() would lock the mutex
  // that GoogleTest holds while it reports a result.
  void OnTestStart(const ::testing::TestInfo& info) override {
    test_ = std::string(info.test_suite_name()) + "." + info.name();
  }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::cout << "[rank " << rank_ << "] FAILED " << test_ << " at "
              << (result.file_name() ? result.file_name() : "?") << ":" << result.line_number()
              << "\n"
              << result.message() << std::endl;
  }

 private:
  int rank_;
  std::string test_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  minidl::dist::Session session;
  const int rank = minidl::dist::rank();
  if (rank != 0) {
    ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  const int failed = RUN_ALL_TESTS();
  std::vector<std::int64_t> any{failed != 0 ? 1 : 0};
  minidl::dist::all_reduce(any);
  if (rank == 0 && any[0] != 0 && failed == 0)
    std::cout << "another rank had failures (see its [rank r] lines)" << std::endl;
  return any[0] != 0 ? 1 : 0;
}
