// The processes of a distributed job: start-up, rank, world size, and the
// fault rule. The processes are started by MPI's launcher (`mpirun -np 4 prog`,
// or a cluster's `srun`), never by minidl; minidl reads who it is from MPI.
//
//   int main() {
//     minidl::dist::Session session;          // dist::init() ... dist::finalize()
//     if (dist::rank() == 0) std::cout << dist::world_size() << " processes\n";
//     ...
//   }
//
// A world of one. A program started without a launcher (no OMPI_COMM_WORLD_SIZE,
// PMIX_RANK, PMI_RANK / PMI_SIZE or SLURM_PROCID in its environment), or a
// build without MPI, is rank 0 of a world of one: MPI is not even initialised,
// and every collective (collectives.hpp) and DataParallel (data_parallel.hpp)
// is a no-op. So one program runs alone or under mpirun unchanged. (A build
// without MPI started by a launcher as one of several processes refuses to
// start: init() throws Error, rather than have each process train alone.)
//
// Faults. With more than one process, init() installs a std::terminate handler:
// an exception that escapes (from main, a destructor, a thread) prints
//   [rank 1] error: <the exception's what()>
// on stderr and calls MPI_Abort, which makes mpirun kill every other process and
// exit non-zero at once, instead of the others waiting forever in a collective.
// A rank killed by a signal is noticed by mpirun itself, which kills the rest and
// names the rank ("mpirun noticed that process rank 1 ... exited on signal 9").
// A rank that exits (returns from main) without finalize() makes mpirun end
// the job too. But MPI_Finalize waits for the other processes, so a program
// that CATCHES an error on one rank must not then finalize (nor wait in any
// collective): report it with dist::abort(message), or let it escape. A Session
// destroyed by an exception unwinding past it does not finalize, for that reason.
// Every MPI call's failure is a minidl::Error naming the call (MPI's error
// handler on MPI_COMM_WORLD is set to return errors), never an abort inside the
// library.
//
// Threads. MPI is initialised with MPI_THREAD_FUNNELED: call the dist functions
// from the thread that called init() (the OpenMP worker threads never call MPI).
#pragma once

#include <string>

namespace minidl::dist {

/// True when this build has MPI (found by CMake); without it every program is a
/// world of one.
bool built_with_mpi();
/// True when this build has NCCL (the CUDA backend with NCCL found), used for
/// collectives on CUDA tensors.
bool built_with_nccl();

/// Starts the distributed runtime: when the process was started by an MPI
/// launcher, initialises MPI (unless the program already did: then minidl uses
/// it and leaves finalising to the program), reads the rank, the world size and
/// the node-local rank, and (world > 1) installs the terminate handler described
/// above. Otherwise the process is rank 0 of a world of one. Calling init() again
/// does nothing; after finalize() it throws Error (MPI cannot be restarted).
/// Throws Error naming the MPI call when MPI fails to start.
void init();

/// Ends the runtime: finalises MPI if init() initialised it. MPI_Finalize is
/// collective in practice (it waits for the other processes): every process
/// calls it. Does nothing before init() or when already finalised.
void finalize();

/// Ends the whole job now: prints "[rank r] error: <message>" on stderr and calls
/// MPI_Abort(MPI_COMM_WORLD, code), which makes mpirun kill every process and
/// exit non-zero. Without MPI (a world of one) it prints the same line and exits
/// the process with `code` (std::_Exit). For a program's top-level error handler.
[[noreturn]] void abort(const std::string& message, int code = 1);

/// Whether init() has run (and finalize() has not).
bool initialized();

// The following require init() (Error "call dist::init() first" otherwise).

/// This process's rank in [0, world_size()).
int rank();
/// The number of processes in the job (1 without a launcher).
int world_size();
/// This process's rank among the processes on the same node
/// (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED): the GPU a process should
/// use is usually Device::cuda(local_rank() % cuda_device_count()).
int local_rank();
/// The number of processes on this node.
int local_size();
/// Returns once every process has called barrier(). A no-op in a world of one.
void barrier();

/// RAII for init() / finalize(): the constructor calls init(), the destructor
/// finalize() (never throws; an MPI failure there is printed on stderr) — except
/// while an exception unwinds past it (see Faults above).
class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  int uncaught_at_start_;
};

}  // namespace minidl::dist
