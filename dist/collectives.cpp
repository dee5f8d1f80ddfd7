// The collectives: argument checks, the cross-process descriptor check, the MPI
// engine for CPU tensors and host values, and the hand-off to NCCL (nccl.cpp)
// for CUDA tensors.
#include "collectives.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <functional>
#include <iostream>
#include <utility>

#include "../kernels/arith.hpp"
#include "collectives_detail.hpp"
#include "mpi_detail.hpp"
#include "process.hpp"
#if MINIDL_WITH_NCCL
#include "nccl_detail.hpp"
#endif

namespace minidl::dist {

// ---- Work ------------------------------------------------------------------------

Work::Work() = default;
Work::Work(std::unique_ptr<detail::PendingWork> pending) : pending_(std::move(pending)) {}
Work::Work(Work&&) noexcept = default;
Work& Work::operator=(Work&& other) noexcept {
  if (this != &other) {
    if (pending_) {
      try {
        pending_->wait();
      } catch (const std::exception& e) {
        std::cerr << "minidl::dist::Work: a collective replaced before wait() failed: " << e.what()
                  << std::endl;
      }
    }
    pending_ = std::move(other.pending_);
  }
  return *this;
}

Work::~Work() {
  if (!pending_) return;
  try {
    pending_->wait();
  } catch (const std::exception& e) {
    std::cerr << "minidl::dist::Work: a collective destroyed before wait() failed: " << e.what()
              << std::endl;
  }
}

void Work::wait() {
  if (!pending_) return;
  // Released before the finish can throw, so a failed Work is not waited on twice.
  std::unique_ptr<detail::PendingWork> pending = std::move(pending_);
  pending->wait();
}

bool Work::completed() {
  if (!pending_) return true;
  return pending_->test();
}

namespace {

using detail::require_init;

#if MINIDL_WITH_MPI
enum class Kind : std::int64_t { AllReduce = 1, Broadcast, AllGather, ReduceDoubles, ReduceInt64,
                                 GatherBytes, BroadcastBytes };

const char* kind_name(std::int64_t kind) {
  switch (static_cast<Kind>(kind)) {
    case Kind::AllReduce: return "dist::all_reduce";
    case Kind::Broadcast: return "dist::broadcast";
    case Kind::AllGather: return "dist::all_gather";
    case Kind::ReduceDoubles: return "dist::all_reduce (doubles)";
    case Kind::ReduceInt64: return "dist::all_reduce (int64)";
    case Kind::GatherBytes: return "dist::all_gather (string)";
    case Kind::BroadcastBytes: return "dist::broadcast (string)";
  }
  return "an unknown collective";
}

// What a process passed to a collective, compared across processes before any
// data moves. Fields: kind, dtype, device type, op or root, tensor rank, dims.
struct Descriptor {
  static constexpr std::size_t kFields = 5 + Shape::kMaxRank;
  std::array<std::int64_t, kFields> f{};
};

Descriptor describe(Kind kind, const Tensor* t, std::int64_t op_or_root, std::int64_t length = 0) {
  Descriptor d;
  d.f[0] = static_cast<std::int64_t>(kind);
  d.f[3] = op_or_root;
  if (t != nullptr) {
    d.f[1] = static_cast<std::int64_t>(t->dtype());
    d.f[2] = t->device().is_cuda() ? 1 : 0;
    d.f[4] = t->rank();
    for (int i = 0; i < t->rank(); ++i) d.f[5 + static_cast<std::size_t>(i)] = t->size(i);
  } else {
    d.f[4] = 1;
    d.f[5] = length;
  }
  return d;
}

Shape shape_of(const Descriptor& d) {
  std::vector<std::int64_t> dims(static_cast<std::size_t>(d.f[4]));
  for (std::size_t i = 0; i < dims.size(); ++i) dims[i] = d.f[5 + i];
  return Shape(dims);
}

std::string op_text(Kind kind, std::int64_t value) {
  if (kind == Kind::Broadcast || kind == Kind::BroadcastBytes)
    return minidl::detail::concat("root ", value);
  return value == static_cast<std::int64_t>(ReduceOp::Mean) ? "op Mean" : "op Sum";
}

// Every process learns what every other passed; all throw the same error when
// any differs from rank 0 (so none is left waiting for the data exchange).
void check_across(const Descriptor& mine, const char* where, bool compare_length = true) {
  const detail::ProcessState& s = require_init(where);
  std::vector<std::int64_t> all(Descriptor::kFields * static_cast<std::size_t>(s.world));
  MINIDL_MPI_CHECK(MPI_Allgather(mine.f.data(), static_cast<int>(Descriptor::kFields), MPI_INT64_T,
                                 all.data(), static_cast<int>(Descriptor::kFields), MPI_INT64_T,
                                 MPI_COMM_WORLD));
  auto at = [&](int r) {
    Descriptor d;
    std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(Descriptor::kFields) * r,
                Descriptor::kFields, d.f.begin());
    return d;
  };
  const Descriptor ref = at(0);
  for (int r = 1; r < s.world; ++r) {
    const Descriptor d = at(r);
    if (d.f[0] != ref.f[0])
      throw ValueError(minidl::detail::concat(where, ": rank ", r, " called ", kind_name(d.f[0]),
                                      " while rank 0 called ", kind_name(ref.f[0]),
                                      " (every process must call the same collectives in the "
                                      "same order)"));
    const Kind kind = static_cast<Kind>(ref.f[0]);
    const bool tensor_op =
        kind == Kind::AllReduce || kind == Kind::Broadcast || kind == Kind::AllGather;
    if (tensor_op && d.f[2] != ref.f[2])
      throw DeviceError(minidl::detail::concat(where, ": rank ", r, " passed a ",
                                       d.f[2] ? "CUDA" : "CPU", " tensor, rank 0 a ",
                                       ref.f[2] ? "CUDA" : "CPU", " tensor"));
    if (tensor_op && d.f[1] != ref.f[1])
      throw DTypeError(minidl::detail::concat(where, ": rank ", r, " passed a ",
                                      static_cast<DType>(d.f[1]), " tensor, rank 0 a ",
                                      static_cast<DType>(ref.f[1]), " tensor"));
    if (d.f[3] != ref.f[3])
      throw ValueError(minidl::detail::concat(where, ": rank ", r, " passed ", op_text(kind, d.f[3]),
                                      ", rank 0 ", op_text(kind, ref.f[3])));
    if (tensor_op && (d.f[4] != ref.f[4] ||
                      !std::equal(d.f.begin() + 5, d.f.end(), ref.f.begin() + 5)))
      throw ShapeError(minidl::detail::concat(where, ": rank ", r, " passed shape ", shape_of(d),
                                      ", rank 0 shape ", shape_of(ref)));
    if (!tensor_op && compare_length && d.f[5] != ref.f[5])
      throw ValueError(minidl::detail::concat(where, ": rank ", r, " passed ", d.f[5],
                                      " values, rank 0 ", ref.f[5]));
  }
}

MPI_Datatype mpi_type(DType t) { return t == DType::Int32 ? MPI_INT32_T : MPI_FLOAT; }

// MPI counts are int: longer buffers go as several collectives of at most this.
constexpr std::int64_t kChunk = std::int64_t{1} << 30;

class MpiWork final : public detail::PendingWork {
 public:
  std::vector<MPI_Request> requests;
  std::vector<Tensor> keep;     // the tensors' storage stays alive until done
  std::function<void()> finish;  // after completion (a mean's division)
  bool done = false;

  ~MpiWork() override {
    if (done) return;
    // Never leave MPI writing into memory that is about to be freed.
    MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
  }
  void wait() override {
    if (done) return;
    done = true;
    MINIDL_MPI_CHECK(
        MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
    if (finish) finish();
  }
  bool test() override {
    if (done) return true;
    int flag = 0;
    MINIDL_MPI_CHECK(
        MPI_Testall(static_cast<int>(requests.size()), requests.data(), &flag, MPI_STATUSES_IGNORE));
    return flag != 0;
  }
};

// Starts one non-blocking collective per chunk of at most kChunk elements of `tensor`
// (`start(pointer, count, &request)`), keeping the tensor alive in the returned work.
template <class Start>
std::unique_ptr<MpiWork> start_chunked(Tensor& tensor, Start start) {
  auto work = std::make_unique<MpiWork>();
  work->keep.push_back(tensor);
  auto* base = static_cast<char*>(tensor.raw_data());
  const std::size_t elem = dtype_size(tensor.dtype());
  for (std::int64_t begin = 0; begin < tensor.numel(); begin += kChunk) {
    const std::int64_t count = std::min(kChunk, tensor.numel() - begin);
    MPI_Request request = MPI_REQUEST_NULL;
    start(base + static_cast<std::size_t>(begin) * elem, static_cast<int>(count), &request);
    work->requests.push_back(request);
  }
  return work;
}
#endif

void check_tensor(const Tensor& t, const char* where, const char* what = "the tensor") {
  MINIDL_CHECK(t.defined(), ValueError, where, ": ", what, " is undefined");
  MINIDL_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Int32, DTypeError, where, ": ",
               what, " must be float32 or int32, got ", t.dtype());
}

// Whether a tensor on this device can take part in a collective with > 1 process.
void check_engine(const Tensor& t, const char* where) {
  if (t.device().is_cuda()) {
    MINIDL_CHECK(built_with_nccl(), DeviceError, where, ": ", t.description(),
                 " is on a CUDA device, and this build has no NCCL (collectives on GPU tensors "
                 "need the CUDA backend built with NCCL); move it to the CPU first");
  }
}

}  // namespace

// ---- tensors -----------------------------------------------------------------------

namespace {
// The data movement of all_reduce, after the checks.
Work start_all_reduce(Tensor& tensor, ReduceOp op, const detail::ProcessState& s) {
#if MINIDL_WITH_MPI
#if MINIDL_WITH_NCCL
  if (tensor.device().is_cuda()) return Work(detail::nccl_all_reduce(tensor, op));
#endif
  const MPI_Datatype type = mpi_type(tensor.dtype());
  auto work = start_chunked(tensor, [type](char* p, int count, MPI_Request* request) {
    MINIDL_MPI_CHECK(
        MPI_Iallreduce(MPI_IN_PLACE, p, count, type, MPI_SUM, MPI_COMM_WORLD, request));
  });
  if (op == ReduceOp::Mean) {
    Tensor t = tensor;
    const float inv = 1.0f / static_cast<float>(s.world);
    const int world = s.world;
    // A power-of-two world scales exactly; otherwise divide, as a mean does.
    work->finish = [t, inv, world]() mutable {
      if ((world & (world - 1)) == 0) {
        scale(t, inv, t);
      } else {
        float* p = t.data<float>();
        const float w = static_cast<float>(world);
        for (std::int64_t i = 0; i < t.numel(); ++i) p[i] /= w;
      }
    };
  }
  return Work(std::move(work));
#else
  (void)tensor;
  (void)op;
  (void)s;
  return Work();
#endif
}
}  // namespace

Work all_reduce_async(Tensor& tensor, ReduceOp op) {
  const char* where = "dist::all_reduce";
  const detail::ProcessState& s = require_init(where);
  check_tensor(tensor, where);
  MINIDL_CHECK(op == ReduceOp::Sum || tensor.dtype() == DType::Float32, DTypeError, where,
               ": ReduceOp::Mean needs a float32 tensor, got ", tensor.dtype());
  if (s.world == 1) return Work();
  check_engine(tensor, where);
#if MINIDL_WITH_MPI
  check_across(describe(Kind::AllReduce, &tensor, static_cast<std::int64_t>(op)), where);
#endif
  return start_all_reduce(tensor, op, s);
}

void all_reduce(Tensor& tensor, ReduceOp op) { all_reduce_async(tensor, op).wait(); }

Work detail::all_reduce_sum_unchecked(Tensor& tensor) {
  const detail::ProcessState& s = require_init("dist::all_reduce");
  if (s.world == 1) return Work();
  check_engine(tensor, "dist::all_reduce");
  return start_all_reduce(tensor, ReduceOp::Sum, s);
}

Work broadcast_async(Tensor& tensor, int root) {
  const char* where = "dist::broadcast";
  const detail::ProcessState& s = require_init(where);
  check_tensor(tensor, where);
  MINIDL_CHECK(root >= 0 && root < s.world, ValueError, where, ": root ", root,
               " is outside [0, ", s.world, ")");
  if (s.world == 1) return Work();
  check_engine(tensor, where);
#if MINIDL_WITH_MPI
  check_across(describe(Kind::Broadcast, &tensor, root), where);
#if MINIDL_WITH_NCCL
  if (tensor.device().is_cuda()) return Work(detail::nccl_broadcast(tensor, root));
#endif
  const MPI_Datatype type = mpi_type(tensor.dtype());
  auto work = start_chunked(tensor, [type, root](char* p, int count, MPI_Request* request) {
    MINIDL_MPI_CHECK(MPI_Ibcast(p, count, type, root, MPI_COMM_WORLD, request));
  });
  return Work(std::move(work));
#else
  return Work();
#endif
}

void broadcast(Tensor& tensor, int root) { broadcast_async(tensor, root).wait(); }

Work all_gather_async(const Tensor& tensor, Tensor& out) {
  const char* where = "dist::all_gather";
  const detail::ProcessState& s = require_init(where);
  check_tensor(tensor, where);
  check_tensor(out, where, "the output");
  std::vector<std::int64_t> dims = tensor.shape().dims();
  MINIDL_CHECK(tensor.rank() < Shape::kMaxRank, ShapeError, where, ": ", tensor.shape(),
               " has rank ", tensor.rank(), "; the stacked output would exceed rank ",
               Shape::kMaxRank);
  dims.insert(dims.begin(), s.world);
  const Shape expected(dims);
  MINIDL_CHECK(out.shape() == expected, ShapeError, where, ": the output has shape ", out.shape(),
               ", expected ", expected, " (world_size() copies of ", tensor.shape(), ")");
  MINIDL_CHECK(out.dtype() == tensor.dtype(), DTypeError, where, ": the output is ", out.dtype(),
               ", the input ", tensor.dtype());
  MINIDL_CHECK(out.device() == tensor.device(), DeviceError, where, ": the output is on ",
               out.device(), ", the input on ", tensor.device());
  if (s.world == 1) {
    out.copy_from(tensor.view(expected));
    return Work();
  }
  check_engine(tensor, where);
#if MINIDL_WITH_MPI
  MINIDL_CHECK(tensor.numel() <= INT_MAX, ValueError, where, ": ", tensor.numel(),
               " elements per process; MPI_Allgather takes at most ", INT_MAX);
  check_across(describe(Kind::AllGather, &tensor, 0), where);
#if MINIDL_WITH_NCCL
  if (tensor.device().is_cuda()) return Work(detail::nccl_all_gather(tensor, out));
#endif
  auto work = std::make_unique<MpiWork>();
  work->keep = {tensor, out};
  MPI_Request request = MPI_REQUEST_NULL;
  const int count = static_cast<int>(tensor.numel());
  MINIDL_MPI_CHECK(MPI_Iallgather(tensor.raw_data(), count, mpi_type(tensor.dtype()),
                                  out.raw_data(), count, mpi_type(tensor.dtype()), MPI_COMM_WORLD,
                                  &request));
  work->requests.push_back(request);
  return Work(std::move(work));
#else
  return Work();
#endif
}

Tensor all_gather(const Tensor& tensor) {
  check_tensor(tensor, "dist::all_gather");
  const int world = require_init("dist::all_gather").world;
  std::vector<std::int64_t> dims = tensor.shape().dims();
  MINIDL_CHECK(tensor.rank() < Shape::kMaxRank, ShapeError, "dist::all_gather: ", tensor.shape(),
               " has rank ", tensor.rank(), "; the stacked output would exceed rank ",
               Shape::kMaxRank);
  dims.insert(dims.begin(), world);
  Tensor out = empty(Shape(dims), tensor.device(), tensor.dtype());
  all_gather_async(tensor, out).wait();
  return out;
}

// ---- host values ---------------------------------------------------------------------

void all_reduce(std::vector<double>& values, ReduceOp op) {
  const char* where = "dist::all_reduce";
  const detail::ProcessState& s = require_init(where);
  if (s.world == 1) return;
#if MINIDL_WITH_MPI
  check_across(describe(Kind::ReduceDoubles, nullptr, static_cast<std::int64_t>(op),
                        static_cast<std::int64_t>(values.size())),
               where);
  MINIDL_CHECK(values.size() <= static_cast<std::size_t>(INT_MAX), ValueError, where, ": ",
               values.size(), " values; at most ", INT_MAX);
  MINIDL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()),
                                 MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
  if (op == ReduceOp::Mean) {
    for (double& v : values) v /= s.world;
  }
#else
  (void)values;
  (void)op;
#endif
}

void all_reduce(std::vector<std::int64_t>& values) {
  const char* where = "dist::all_reduce";
  const detail::ProcessState& s = require_init(where);
  if (s.world == 1) return;
#if MINIDL_WITH_MPI
  check_across(describe(Kind::ReduceInt64, nullptr, 0, static_cast<std::int64_t>(values.size())),
               where);
  MINIDL_CHECK(values.size() <= static_cast<std::size_t>(INT_MAX), ValueError, where, ": ",
               values.size(), " values; at most ", INT_MAX);
  MINIDL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()),
                                 MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
#else
  (void)values;
#endif
}

std::vector<std::string> all_gather(const std::string& bytes) {
  const char* where = "dist::all_gather";
  const detail::ProcessState& s = require_init(where);
  if (s.world == 1) return {bytes};
#if MINIDL_WITH_MPI
  check_across(describe(Kind::GatherBytes, nullptr, 0), where, /*compare_length=*/false);
  std::vector<std::int64_t> lengths(static_cast<std::size_t>(s.world));
  const auto mine = static_cast<std::int64_t>(bytes.size());
  MINIDL_MPI_CHECK(
      MPI_Allgather(&mine, 1, MPI_INT64_T, lengths.data(), 1, MPI_INT64_T, MPI_COMM_WORLD));
  std::vector<int> counts(lengths.size());
  std::vector<int> offsets(lengths.size());
  std::int64_t total = 0;
  for (std::size_t r = 0; r < lengths.size(); ++r) {
    MINIDL_CHECK(total + lengths[r] <= INT_MAX, ValueError, where, ": ", total + lengths[r],
                 " bytes in all; MPI_Allgatherv takes at most ", INT_MAX);
    counts[r] = static_cast<int>(lengths[r]);
    offsets[r] = static_cast<int>(total);
    total += lengths[r];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  MINIDL_MPI_CHECK(MPI_Allgatherv(bytes.data(), static_cast<int>(mine), MPI_BYTE, all.data(),
                                  counts.data(), offsets.data(), MPI_BYTE, MPI_COMM_WORLD));
  std::vector<std::string> out;
  out.reserve(lengths.size());
  for (std::size_t r = 0; r < lengths.size(); ++r)
    out.push_back(all.substr(static_cast<std::size_t>(offsets[r]),
                             static_cast<std::size_t>(counts[r])));
  return out;
#else
  return {bytes};
#endif
}

std::string broadcast(const std::string& bytes, int root) {
  const char* where = "dist::broadcast";
  const detail::ProcessState& s = require_init(where);
  MINIDL_CHECK(root >= 0 && root < s.world, ValueError, where, ": root ", root,
               " is outside [0, ", s.world, ")");
  if (s.world == 1) return bytes;
#if MINIDL_WITH_MPI
  check_across(describe(Kind::BroadcastBytes, nullptr, root), where, /*compare_length=*/false);
  auto length = static_cast<std::int64_t>(bytes.size());
  MINIDL_MPI_CHECK(MPI_Bcast(&length, 1, MPI_INT64_T, root, MPI_COMM_WORLD));
  std::string out = s.rank == root ? bytes : std::string(static_cast<std::size_t>(length), '\0');
  for (std::int64_t begin = 0; begin < length; begin += kChunk) {
    const std::int64_t count = std::min(kChunk, length - begin);
    MINIDL_MPI_CHECK(MPI_Bcast(out.data() + begin, static_cast<int>(count), MPI_BYTE, root,
                               MPI_COMM_WORLD));
  }
  return out;
#else
  return bytes;
#endif
}

}  // namespace minidl::dist
