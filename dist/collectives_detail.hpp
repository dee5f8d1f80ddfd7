// Internal to dist/ (not installed): collectives without the cross-process
// descriptor check, for callers that checked once what every process will pass
// (dist::DataParallel checks its buckets' layout when it is made, then launches
// them during backward without a blocking exchange).
#pragma once

#include "collectives.hpp"

namespace minidl::dist::detail {

/// all_reduce_async(tensor, Sum) without the descriptor exchange. Requires (not
/// checked across processes): every process passes a float32 tensor of the same
/// shape on the same kind of device, in the same order of collectives.
Work all_reduce_sum_unchecked(Tensor& tensor);

}  // namespace minidl::dist::detail
