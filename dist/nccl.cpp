// The NCCL engine for collectives on CUDA tensors (see nccl_detail.hpp). No
// kernels: NCCL's own. UNVERIFIED: built and linked, never run (no GPU where it
// was written).
//
// One communicator per process, for the CUDA device of the process's first
// collective on a CUDA tensor: rank 0 makes NCCL's unique id and broadcasts it
// over MPI, then every process joins with ncclCommInitRank (every process makes
// that first call together, as every collective is called by all). A later
// collective on another device is refused (DeviceError): NCCL binds a
// communicator to one device. The collectives run on a communication stream of
// their own, after an event recorded on the compute stream (so they read what
// the kernels queued before them wrote); Work::wait() makes the compute stream
// wait for their completion event. Nothing here blocks the host.
#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>

#include "../core/context.hpp"
#include "../core/cuda_check.hpp"
#include "../core/device_scope.hpp"
#include "mpi_detail.hpp"
#include "nccl_detail.hpp"

namespace minidl::dist::detail {

namespace {

void check_nccl(ncclResult_t status, const char* call, const char* file, int line) {
  if (status == ncclSuccess) return;
  throw Error(minidl::detail::concat(call, " failed on rank ", process_state().rank, ": ",
                     ncclGetErrorString(status), " (", static_cast<int>(status), ") at ", file,
                     ":", line));
}
#define MINIDL_NCCL_CHECK(call) check_nccl((call), #call, __FILE__, __LINE__)

// The process's communicator; lives until the process exits (destroying it
// after MPI_Finalize or CUDA's teardown would be unsafe).
struct Communicator {
  int device = -1;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
};

Communicator& communicator(int device) {
  static Communicator c;
  if (c.comm != nullptr) {
    MINIDL_CHECK(c.device == device, DeviceError, "dist: the NCCL communicator of this process is ",
                 "bound to cuda:", c.device, "; a collective on cuda:", device,
                 " is not supported (use one GPU per process)");
    return c;
  }
  const ProcessState& s = process_state();
  // Rank 0's id goes out with whether it got one: a rank 0 that threw before the broadcast
  // left every other rank waiting in it for ever.
  struct {
    ncclUniqueId id;
    int status;
  } root{};
  if (s.rank == 0) root.status = static_cast<int>(ncclGetUniqueId(&root.id));
  MINIDL_MPI_CHECK(MPI_Bcast(&root, sizeof root, MPI_BYTE, 0, MPI_COMM_WORLD));
  if (s.rank == 0) MINIDL_NCCL_CHECK(static_cast<ncclResult_t>(root.status));
  MINIDL_CHECK(root.status == ncclSuccess, Error, "dist: rank 0 could not create the NCCL ",
               "communicator's id (", ncclGetErrorString(static_cast<ncclResult_t>(root.status)),
               "), so rank ", s.rank, " cannot join it");
  minidl::detail::DeviceScope scope(device);
  MINIDL_CUDA_CHECK(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking));
  const ncclResult_t init = ncclCommInitRank(&c.comm, s.world, root.id, s.rank);
  if (init != ncclSuccess) {  // no communicator: the next call starts over, with a new stream
    (void)cudaStreamDestroy(c.stream);
    c.stream = nullptr;
    c.comm = nullptr;
    MINIDL_NCCL_CHECK(init);
  }
  c.device = device;
  return c;
}

ncclDataType_t nccl_type(DType t) { return t == DType::Int32 ? ncclInt32 : ncclFloat32; }

class NcclWork final : public PendingWork {
 public:
  NcclWork(int device, std::vector<Tensor> keep) : device_(device), keep_(std::move(keep)) {}
  ~NcclWork() override {
    if (done_event_ != nullptr) (void)cudaEventDestroy(done_event_);
  }

  cudaEvent_t* event() { return &done_event_; }

  void wait() override {
    if (waited_) return;
    waited_ = true;
    minidl::detail::DeviceScope scope(device_);
    MINIDL_CUDA_CHECK(cudaStreamWaitEvent(CudaContext::get(device_).stream(), done_event_, 0));
    keep_.clear();  // later frees are ordered after the compute stream's wait
  }
  bool test() override {
    if (waited_) return true;
    const cudaError_t status = cudaEventQuery(done_event_);
    if (status == cudaErrorNotReady) return false;
    MINIDL_CUDA_CHECK(status);
    return true;
  }

 private:
  int device_;
  std::vector<Tensor> keep_;
  cudaEvent_t done_event_ = nullptr;
  bool waited_ = false;
};

// Runs `launch(comm, stream)` on the communication stream after the compute
// stream's queued work, and returns the Work that orders the compute stream after it.
template <class Launch>
std::unique_ptr<PendingWork> enqueue(int device, std::vector<Tensor> keep, Launch launch) {
  Communicator& c = communicator(device);
  minidl::detail::DeviceScope scope(device);
  cudaStream_t compute = CudaContext::get(device).stream();
  cudaEvent_t inputs_ready = nullptr;
  MINIDL_CUDA_CHECK(cudaEventCreateWithFlags(&inputs_ready, cudaEventDisableTiming));
  const cudaError_t recorded = cudaEventRecord(inputs_ready, compute);
  const cudaError_t waited =
      recorded == cudaSuccess ? cudaStreamWaitEvent(c.stream, inputs_ready, 0) : recorded;
  (void)cudaEventDestroy(inputs_ready);  // released once the wait is satisfied
  MINIDL_CUDA_CHECK(waited);
  auto work = std::make_unique<NcclWork>(device, std::move(keep));
  launch(c.comm, c.stream);
  MINIDL_CUDA_CHECK(cudaEventCreateWithFlags(work->event(), cudaEventDisableTiming));
  MINIDL_CUDA_CHECK(cudaEventRecord(*work->event(), c.stream));
  return work;
}

}  // namespace

std::unique_ptr<PendingWork> nccl_all_reduce(Tensor& tensor, ReduceOp op) {
  void* data = tensor.raw_data();
  const auto count = static_cast<std::size_t>(tensor.numel());
  const ncclDataType_t type = nccl_type(tensor.dtype());
  const ncclRedOp_t red = op == ReduceOp::Mean ? ncclAvg : ncclSum;
  return enqueue(tensor.device().index(), {tensor}, [&](ncclComm_t comm, cudaStream_t stream) {
    MINIDL_NCCL_CHECK(ncclAllReduce(data, data, count, type, red, comm, stream));
  });
}

std::unique_ptr<PendingWork> nccl_broadcast(Tensor& tensor, int root) {
  void* data = tensor.raw_data();
  const auto count = static_cast<std::size_t>(tensor.numel());
  const ncclDataType_t type = nccl_type(tensor.dtype());
  return enqueue(tensor.device().index(), {tensor}, [&](ncclComm_t comm, cudaStream_t stream) {
    MINIDL_NCCL_CHECK(ncclBroadcast(data, data, count, type, root, comm, stream));
  });
}

std::unique_ptr<PendingWork> nccl_all_gather(const Tensor& tensor, Tensor& out) {
  const void* in = tensor.raw_data();
  void* dst = out.raw_data();
  const auto count = static_cast<std::size_t>(tensor.numel());
  const ncclDataType_t type = nccl_type(tensor.dtype());
  return enqueue(tensor.device().index(), {tensor, out}, [&](ncclComm_t comm, cudaStream_t stream) {
    MINIDL_NCCL_CHECK(ncclAllGather(in, dst, count, type, comm, stream));
  });
}

}  // namespace minidl::dist::detail
