// minidl_dist_fault MODE: a job in which rank 1 fails while rank 0 waits for it
// in a collective that can never complete. tests/dist/fault.cmake runs it under
// mpirun and checks that the job ends quickly, non-zero, naming rank 1 and the
// error, instead of hanging.
//   throw  rank 1 throws a minidl::ValueError that nothing catches
//   kill   rank 1 is killed by SIGKILL
//   abort  rank 1 catches an error and reports it with dist::abort
#include <csignal>
#include <cstring>
#include <iostream>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "dist/collectives.hpp"
#include "dist/process.hpp"

using namespace minidl;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: minidl_dist_fault throw|kill|abort\n";
    return 2;
  }
  const std::string mode = argv[1];
  dist::Session session;
  if (dist::world_size() < 2) {
    std::cerr << "minidl_dist_fault: run it under mpirun -np 2 or more\n";
    return 2;
  }
  dist::barrier();
  if (dist::rank() == 1) {
    if (mode == "throw") throw ValueError("deliberate failure in rank 1 (throw)");
    if (mode == "kill") std::raise(SIGKILL);
    if (mode == "abort") {
      try {
        throw IoError("deliberate failure in rank 1 (caught, then dist::abort)");
      } catch (const Error& e) {
        dist::abort(e.what(), 3);
      }
    }
    std::cerr << "minidl_dist_fault: unknown mode " << mode << "\n";
    return 2;
  }
  // Rank 0 (and any other) waits for rank 1 forever.
  Tensor t = ones({4});
  for (;;) dist::all_reduce(t);
}
