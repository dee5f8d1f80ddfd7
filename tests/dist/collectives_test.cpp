// dist/process.hpp and dist/collectives.hpp: run by ctest as a world of one
// (dist.world1) and under `mpirun -np 2` (dist.np2). Expected values are computed
// from rank() and world_size(), so the same assertions hold for any world.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "dist/collectives.hpp"
#include "dist/process.hpp"
#include "test_util.hpp"

namespace minidl::dist {
namespace {

#define REQUIRE_TWO_PROCESSES()                                                       \
  do {                                                                                \
    if (world_size() < 2) GTEST_SKIP() << "needs >= 2 processes (run under mpirun)"; \
  } while (0)

// rank r contributes (r + 1) * (i + 1) at element i.
Tensor ramp(std::int64_t n, DType dtype = DType::Float32) {
  Tensor t = arange(1, static_cast<double>(n) + 1, 1, Device::cpu(), dtype);
  if (dtype == DType::Float32) {
    float* p = t.data<float>();
    for (std::int64_t i = 0; i < n; ++i) p[i] *= static_cast<float>(rank() + 1);
  } else {
    std::int32_t* p = t.data<std::int32_t>();
    for (std::int64_t i = 0; i < n; ++i) p[i] *= rank() + 1;
  }
  return t;
}

// sum over ranks of (r + 1) = W (W + 1) / 2
double rank_sum() { return world_size() * (world_size() + 1) / 2.0; }

TEST(Process, RankWorldAndNode) {
  EXPECT_TRUE(initialized());
  EXPECT_GE(rank(), 0);
  EXPECT_LT(rank(), world_size());
  EXPECT_GE(local_rank(), 0);
  EXPECT_LT(local_rank(), local_size());
  EXPECT_LE(local_size(), world_size());
  if (const char* w = std::getenv("OMPI_COMM_WORLD_SIZE")) {
    EXPECT_TRUE(built_with_mpi());
    EXPECT_EQ(world_size(), std::atoi(w));
    EXPECT_EQ(rank(), std::atoi(std::getenv("OMPI_COMM_WORLD_RANK")));
    // One machine: the node-local rank is the rank.
    EXPECT_EQ(local_rank(), std::atoi(std::getenv("OMPI_COMM_WORLD_LOCAL_RANK")));
  } else {
    EXPECT_EQ(world_size(), 1) << "started without a launcher: a world of one";
    EXPECT_EQ(rank(), 0);
  }
  barrier();
  init();  // again: nothing happens
  EXPECT_EQ(rank() < world_size(), true);
}

TEST(Collectives, AllReduceSumAndMeanFloat) {
  Tensor t = ramp(1000);
  all_reduce(t);
  const std::vector<float> got = t.to_vector<float>();
  for (std::int64_t i = 0; i < 1000; ++i)
    ASSERT_EQ(got[static_cast<std::size_t>(i)], static_cast<float>(rank_sum() * static_cast<double>(i + 1))) << i;

  Tensor m = ramp(7).view({7, 1});
  all_reduce(m, ReduceOp::Mean);
  const std::vector<float> mean = m.to_vector<float>();
  for (std::int64_t i = 0; i < 7; ++i)
    EXPECT_FLOAT_EQ(mean[static_cast<std::size_t>(i)],
                    static_cast<float>(rank_sum() / world_size() * static_cast<double>(i + 1)));
}

TEST(Collectives, AllReduceInt32IsExact) {
  Tensor t = ramp(33, DType::Int32);
  all_reduce(t, ReduceOp::Sum);
  const std::vector<std::int32_t> got = t.to_vector<std::int32_t>();
  for (std::int64_t i = 0; i < 33; ++i)
    EXPECT_EQ(got[static_cast<std::size_t>(i)], static_cast<std::int32_t>(rank_sum() * static_cast<double>(i + 1)));
}

TEST(Collectives, EmptyAndScalarTensors) {
  Tensor empty_t = zeros({0, 3});
  all_reduce(empty_t);
  EXPECT_EQ(empty_t.numel(), 0);
  Tensor s = full({}, rank() + 1.0);
  all_reduce(s);
  EXPECT_EQ(s.item<float>(), static_cast<float>(rank_sum()));
}

TEST(Collectives, BroadcastFromEveryRoot) {
  for (int root = 0; root < world_size(); ++root) {
    Tensor t = full({4, 5}, 10.0 * rank() + 1);
    broadcast(t, root);
    for (float v : t.to_vector<float>()) ASSERT_EQ(v, 10.0f * static_cast<float>(root) + 1) << "root " << root;
    Tensor i = full({3}, rank() * 7, Device::cpu(), DType::Int32);
    broadcast(i, root);
    for (std::int32_t v : i.to_vector<std::int32_t>()) ASSERT_EQ(v, root * 7);
  }
}

TEST(Collectives, AllGatherStacksInRankOrder) {
  Tensor t = full({2, 3}, rank() + 0.5);
  Tensor all = all_gather(t);
  ASSERT_EQ(all.shape(), Shape({world_size(), 2, 3}));
  const std::vector<float> v = all.to_vector<float>();
  for (int r = 0; r < world_size(); ++r)
    for (int k = 0; k < 6; ++k) EXPECT_EQ(v[static_cast<std::size_t>(r * 6 + k)], static_cast<float>(r) + 0.5f);

  Tensor out = empty({world_size(), 2}, Device::cpu(), DType::Int32);
  Tensor mine = from_vector({rank(), -rank()});
  all_gather_async(mine, out).wait();
  const std::vector<std::int32_t> g = out.to_vector<std::int32_t>();
  for (int r = 0; r < world_size(); ++r) {
    EXPECT_EQ(g[static_cast<std::size_t>(2 * r)], r);
    EXPECT_EQ(g[static_cast<std::size_t>(2 * r + 1)], -r);
  }
}

TEST(Collectives, AsyncFormsCompleteInAnyWaitOrder) {
  Tensor a = ramp(50000);
  Tensor b = full({64}, rank() + 1.0);
  Tensor c = full({8}, rank() == 0 ? 3.0 : -1.0);
  Work wa = all_reduce_async(a);
  Work wb = all_reduce_async(b, ReduceOp::Mean);
  Work wc = broadcast_async(c, 0);
  wc.wait();
  wa.wait();
  while (!wb.completed()) {
  }
  wb.wait();
  wb.wait();  // again: nothing
  EXPECT_TRUE(wa.completed());
  EXPECT_EQ(a.to_vector<float>()[49999], static_cast<float>(rank_sum() * 50000));
  EXPECT_FLOAT_EQ(b.to_vector<float>()[0], static_cast<float>(rank_sum() / world_size()));
  EXPECT_EQ(c.to_vector<float>()[7], 3.0f);
  Work moved = all_reduce_async(b);
  Work target;
  target = std::move(moved);
  target.wait();
  EXPECT_FLOAT_EQ(b.to_vector<float>()[0], static_cast<float>(rank_sum()));
  Work never_waited = all_reduce_async(c);  // the destructor waits
}

TEST(Collectives, HostValues) {
  std::vector<double> d{rank() + 0.25, 1e-300, -2.0};
  all_reduce(d);
  EXPECT_DOUBLE_EQ(d[0], rank_sum() - world_size() + 0.25 * world_size());
  EXPECT_DOUBLE_EQ(d[2], -2.0 * world_size());
  std::vector<double> m{2.0 * (rank() + 1)};
  all_reduce(m, ReduceOp::Mean);
  EXPECT_DOUBLE_EQ(m[0], 2.0 * rank_sum() / world_size());
  std::vector<std::int64_t> n{std::int64_t{1} << 40, rank()};
  all_reduce(n);
  EXPECT_EQ(n[0], (std::int64_t{1} << 40) * world_size());
  EXPECT_EQ(n[1], static_cast<std::int64_t>(rank_sum()) - world_size());

  // Strings of different lengths, with NUL bytes.
  std::string mine(static_cast<std::size_t>(rank() * 3 + 1), 'a' + static_cast<char>(rank()));
  mine.push_back('\0');
  const std::vector<std::string> all = all_gather(mine);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(world_size()));
  for (int r = 0; r < world_size(); ++r) {
    std::string expected(static_cast<std::size_t>(r * 3 + 1), 'a' + static_cast<char>(r));
    expected.push_back('\0');
    EXPECT_EQ(all[static_cast<std::size_t>(r)], expected);
  }
  const std::string root_text = world_size() - 1 == rank() ? "model from the last rank" : "";
  EXPECT_EQ(broadcast(root_text, world_size() - 1), "model from the last rank");
}

TEST(Collectives, LocalArgumentErrors) {
  Tensor undefined;
  MINIDL_EXPECT_THROW_WITH(all_reduce(undefined), ValueError, "dist::all_reduce", "undefined");
  Tensor ints = zeros({3}, Device::cpu(), DType::Int32);
  MINIDL_EXPECT_THROW_WITH(all_reduce(ints, ReduceOp::Mean), DTypeError, "Mean", "int32");
  Tensor t = zeros({3});
  MINIDL_EXPECT_THROW_WITH(broadcast(t, world_size()), ValueError, "root", "outside");
  MINIDL_EXPECT_THROW_WITH(broadcast(t, -1), ValueError, "root -1");
  Tensor bad_out = zeros({world_size(), 4});
  MINIDL_EXPECT_THROW_WITH(all_gather_async(t, bad_out), ShapeError, "dist::all_gather", "[",
                           "expected");
  Tensor int_out = zeros({world_size(), 3}, Device::cpu(), DType::Int32);
  MINIDL_EXPECT_THROW_WITH(all_gather_async(t, int_out), DTypeError, "int32", "float32");
  // Every process threw before communicating: a collective still lines up after.
  Tensor ok = full({1}, 1.0);
  all_reduce(ok);
  EXPECT_EQ(ok.item<float>(), static_cast<float>(world_size()));
}

TEST(Collectives, MismatchAcrossProcessesIsTheSameErrorEverywhere) {
  REQUIRE_TWO_PROCESSES();
  Tensor t = zeros({rank() == 1 ? 4 : 3, 2});
  MINIDL_EXPECT_THROW_WITH(all_reduce(t), ShapeError, "rank 1 passed shape [4, 2]",
                           "rank 0 shape [3, 2]");
  Tensor d = zeros({5}, Device::cpu(), rank() == 1 ? DType::Int32 : DType::Float32);
  MINIDL_EXPECT_THROW_WITH(broadcast(d, 0), DTypeError, "rank 1 passed a int32 tensor",
                           "rank 0 a float32");
  Tensor f = zeros({5});
  MINIDL_EXPECT_THROW_WITH(all_reduce(f, rank() == 1 ? ReduceOp::Mean : ReduceOp::Sum),
                           ValueError, "rank 1 passed op Mean", "rank 0 op Sum");
  MINIDL_EXPECT_THROW_WITH(broadcast(f, rank() == 1 ? 1 : 0), ValueError, "rank 1 passed root 1");
  // Different collectives at the same point.
  if (rank() == 1) {
    MINIDL_EXPECT_THROW_WITH(broadcast(f, 0), ValueError, "rank 1 called dist::broadcast",
                             "rank 0 called dist::all_reduce");
  } else {
    MINIDL_EXPECT_THROW_WITH(all_reduce(f), ValueError, "rank 1 called dist::broadcast");
  }
  std::vector<double> values(static_cast<std::size_t>(rank() + 1), 1.0);
  MINIDL_EXPECT_THROW_WITH(all_reduce(values), ValueError, "rank 1 passed 2 values, rank 0 1");
  // And the job goes on.
  Tensor ok = full({2}, 2.0);
  all_reduce(ok, ReduceOp::Mean);
  EXPECT_EQ(ok.to_vector<float>()[1], 2.0f);
}

TEST(Collectives, CudaTensors) {
  MINIDL_REQUIRE_CUDA();
  if (world_size() > 1 && !built_with_nccl()) {
    Tensor g = zeros({3}, Device::cuda());
    MINIDL_EXPECT_THROW_WITH(all_reduce(g), DeviceError, "NCCL");
    return;
  }
  // The NCCL path (unverified until this runs on a machine with a GPU per process).
  if (cuda_device_count() < local_size())
    GTEST_SKIP() << "NCCL needs one GPU per process: " << cuda_device_count() << " GPU(s) for "
                 << local_size() << " processes on this node";
  const Device dev = Device::cuda(local_rank() % cuda_device_count());
  Tensor t = ramp(1000).to(dev);
  all_reduce(t);
  const std::vector<float> got = t.to_vector<float>();
  for (std::int64_t i = 0; i < 1000; ++i)
    ASSERT_EQ(got[static_cast<std::size_t>(i)], static_cast<float>(rank_sum() * static_cast<double>(i + 1)));
  Tensor b = full({9}, rank() + 1.0, dev);
  broadcast(b, 0);
  EXPECT_EQ(b.to_vector<float>()[8], 1.0f);
  Tensor all = all_gather(full({2}, static_cast<double>(rank()), dev));
  EXPECT_EQ(all.to_vector<float>()[2 * world_size() - 1], static_cast<float>(world_size()) - 1.0f);
  Tensor m = full({4}, 2.0 * (rank() + 1), dev);
  all_reduce_async(m, ReduceOp::Mean).wait();
  EXPECT_FLOAT_EQ(m.to_vector<float>()[3], static_cast<float>(2 * rank_sum() / world_size()));
}

}  // namespace
}  // namespace minidl::dist
