// dist::init / finalize / rank / world_size / local_rank / barrier / abort, the
// terminate handler, and a world of one when the build has no MPI or the process
// was not started by an MPI launcher.
#include "process.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <thread>

#include "mpi_detail.hpp"

namespace minidl::dist {

namespace detail {

ProcessState& process_state() {
  static ProcessState state;
  return state;
}

const ProcessState& require_init(const char* where) {
  const ProcessState& s = process_state();
  MINIDL_CHECK(s.initialized, Error, where, ": call dist::init() first (or create a dist::Session)",
               s.finalized ? "; dist::finalize() has already run" : "");
  return s;
}

#if MINIDL_WITH_MPI
void check_mpi(int status, const char* call, const char* file, int line) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(status, text, &length) != MPI_SUCCESS) std::snprintf(text, sizeof text, "?");
  throw Error(minidl::detail::concat(call, " failed on rank ", process_state().rank, ": ", text, " (error ",
                     status, ") at ", file, ":", line));
}
#endif

}  // namespace detail

namespace {

using detail::process_state;

// Set by the usual launchers: Open MPI's mpirun (OMPI_*), PMIx (Open MPI 5,
// srun --mpi=pmix), MPICH / Intel MPI's hydra and srun --mpi=pmi2 (PMI_*), Slurm.
bool launched_by_mpi() {
  for (const char* name :
       {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "SLURM_PROCID"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

void print_rank_error(int rank, const std::string& message) {
  std::fflush(stdout);
  std::cerr << "[rank " << rank << "] error: " << message << std::endl;
}

[[noreturn]] void end_job(int code) {
#if MINIDL_WITH_MPI
  if (process_state().uses_mpi && !process_state().finalized) {
    // mpirun forwards a process's output asynchronously, and MPI_Abort has it
    // kill the job at once: give it a moment to pass the message on first.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    MPI_Abort(MPI_COMM_WORLD, code);
  }
#endif
  std::_Exit(code);
}

// An exception that escapes ends every process at once (see process.hpp).
[[noreturn]] void terminate_handler() {
  std::string message = "std::terminate called without an active exception";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      message = ex.what();
    } catch (...) {
      message = "an exception that is not a std::exception";
    }
  }
  print_rank_error(process_state().rank, message);
  end_job(1);
}

}  // namespace

bool built_with_mpi() { return MINIDL_WITH_MPI != 0; }
bool built_with_nccl() { return MINIDL_WITH_NCCL != 0; }

void init() {
  detail::ProcessState& s = process_state();
  if (s.initialized) return;
  MINIDL_CHECK(!s.finalized, Error,
               "dist::init: dist::finalize() has already run; MPI cannot be restarted in the same "
               "process");
#if MINIDL_WITH_MPI
  int already = 0;
  MINIDL_MPI_CHECK(MPI_Initialized(&already));
  if (already || launched_by_mpi()) {
    if (!already) {
      int provided = 0;
      MINIDL_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
      s.owns_mpi = true;
    }
    s.uses_mpi = true;
    // Errors come back as return codes (turned into minidl::Error), not aborts.
    MINIDL_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MINIDL_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &s.rank));
    MINIDL_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &s.world));
    MPI_Comm node = MPI_COMM_NULL;
    MINIDL_MPI_CHECK(
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, s.rank, MPI_INFO_NULL, &node));
    MINIDL_MPI_CHECK(MPI_Comm_rank(node, &s.local_rank));
    MINIDL_MPI_CHECK(MPI_Comm_size(node, &s.local_size));
    MINIDL_MPI_CHECK(MPI_Comm_free(&node));
    if (s.world > 1) std::set_terminate(terminate_handler);
  }
#else
  // Several copies of a world of one would each train alone and write the same
  // files: refuse instead.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"}) {
    const char* value = std::getenv(name);
    MINIDL_CHECK(!launched_by_mpi() || value == nullptr || std::atoi(value) <= 1, Error,
                 "dist::init: this process was started as one of ", value, " (", name,
                 "), but minidl was built without MPI, so it cannot join them; rebuild with "
                 "MPI (apt-get install libopenmpi-dev openmpi-bin, or tools/setup.sh) or run "
                 "one process");
  }
  (void)terminate_handler;
#endif
  s.initialized = true;
}

void finalize() {
  detail::ProcessState& s = process_state();
  if (!s.initialized) return;
  s.initialized = false;
  s.finalized = true;
#if MINIDL_WITH_MPI
  if (s.owns_mpi) {
    int done = 0;
    MINIDL_MPI_CHECK(MPI_Finalized(&done));
    if (!done) MINIDL_MPI_CHECK(MPI_Finalize());
  }
#endif
}

bool initialized() { return process_state().initialized; }

int rank() { return detail::require_init("dist::rank").rank; }
int world_size() { return detail::require_init("dist::world_size").world; }
int local_rank() { return detail::require_init("dist::local_rank").local_rank; }
int local_size() { return detail::require_init("dist::local_size").local_size; }

void barrier() {
  const detail::ProcessState& s = detail::require_init("dist::barrier");
  if (s.world == 1) return;
#if MINIDL_WITH_MPI
  MINIDL_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
#endif
}

void abort(const std::string& message, int code) {
  print_rank_error(process_state().rank, message);
  end_job(code);
}

Session::Session() : uncaught_at_start_(std::uncaught_exceptions()) { init(); }

Session::~Session() {
  // Unwinding: another process may be waiting for this one in a collective, and
  // MPI_Finalize would wait for it in turn. Exiting without finalising makes
  // mpirun end the job instead.
  if (std::uncaught_exceptions() > uncaught_at_start_) return;
  try {
    finalize();
  } catch (const std::exception& e) {
    print_rank_error(process_state().rank, e.what());
  }
}

}  // namespace minidl::dist
