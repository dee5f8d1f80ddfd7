// Internal to dist/ (not installed): what process.cpp shares with the
// collectives. Includes <mpi.h> only in a build with MPI (MINIDL_WITH_MPI=1).
#pragma once

#include <string>

#include "../core/error.hpp"

#if MINIDL_WITH_MPI
#include <mpi.h>
#endif

namespace minidl::dist::detail {

/// The process's place in the job, filled by init().
struct ProcessState {
  bool initialized = false;
  bool finalized = false;
  bool uses_mpi = false;          // launched by mpirun / srun: MPI is initialised
  bool owns_mpi = false;          // init() called MPI_Init (and finalize() ends it)
  int rank = 0;
  int world = 1;
  int local_rank = 0;
  int local_size = 1;
};

ProcessState& process_state();
/// Throws Error "<where>: call dist::init() first" unless initialized.
const ProcessState& require_init(const char* where);

#if MINIDL_WITH_MPI
/// Throws Error naming the call, the rank and MPI's message unless status == MPI_SUCCESS.
void check_mpi(int status, const char* call, const char* file, int line);
#define MINIDL_MPI_CHECK(call) ::minidl::dist::detail::check_mpi((call), #call, __FILE__, __LINE__)
#endif

}  // namespace minidl::dist::detail
