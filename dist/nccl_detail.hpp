// Internal to dist/ (not installed): the NCCL engine for CUDA tensors, in
// nccl.cpp, built only with the CUDA backend, MPI and NCCL. UNVERIFIED: it has
// never run (see collectives.hpp). The arguments were checked by the caller
// (collectives.cpp), across processes included.
#pragma once

#include <memory>

#include "collectives.hpp"

namespace minidl::dist::detail {

/// Each queues the NCCL call on the device's communication stream after the work
/// already queued on its compute stream, and returns a PendingWork whose wait()
/// makes the compute stream wait for it (the host does not block).
std::unique_ptr<PendingWork> nccl_all_reduce(Tensor& tensor, ReduceOp op);
std::unique_ptr<PendingWork> nccl_broadcast(Tensor& tensor, int root);
std::unique_ptr<PendingWork> nccl_all_gather(const Tensor& tensor, Tensor& out);

}  // namespace minidl::dist::detail
