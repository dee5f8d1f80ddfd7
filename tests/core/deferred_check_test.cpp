// Deferred device checks (core/deferred_check.hpp): the host bookkeeping on the
// CPU; on a GPU (names with "Parity"), a bad label queued by a training step is
// raised at the next read, not by the step, naming the sample and the label.
#include "core/deferred_check.hpp"

#include "core/context.hpp"
#include "kernels/arith.hpp"
#include "kernels/loss.hpp"
#include "layers/dense.hpp"
#include "layers/sequential.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

using detail::DeferredChecks;
using detail::kNothingFound;
using detail::pack_finding;

DeferredChecks::Describe describe(const std::string& name) {
  return [name](std::uint32_t index, std::uint32_t payload) {
    return detail::concat(name, ": index ", index, " payload ", static_cast<std::int32_t>(payload));
  };
}

TEST(DeferredCheck, PackedFindingsOrderByIndexFirst) {
  // Kernels keep the atomicMin: the lowest index wins whatever its payload.
  EXPECT_LT(pack_finding(3, 0xffffffffu), pack_finding(4, 0));
  EXPECT_LT(pack_finding(0, 7), kNothingFound);
  EXPECT_LT(pack_finding(0xfffffffeu, 0xffffffffu), kNothingFound);
  EXPECT_EQ(pack_finding(5, static_cast<std::uint32_t>(-3)) >> 32, 5u);
}

TEST(DeferredCheck, ResolveThrowsTheFirstFindingInQueueOrderAndClears) {
  DeferredChecks checks;
  EXPECT_EQ(checks.add(describe("a")), 0u);
  EXPECT_EQ(checks.add(describe("b")), 1u);
  EXPECT_EQ(checks.add(describe("c")), 2u);
  const std::uint64_t words[] = {kNothingFound, pack_finding(7, static_cast<std::uint32_t>(-2)),
                                 pack_finding(1, 9)};
  MINIDL_EXPECT_THROW_WITH(checks.resolve(words), ValueError, "b: index 7 payload -2");
  EXPECT_TRUE(checks.empty());  // resolved, even though it threw
  checks.add(describe("d"));
  const std::uint64_t clean[] = {kNothingFound};
  checks.resolve(clean);  // nothing found: returns
  EXPECT_TRUE(checks.empty());
}

TEST(DeferredCheck, CapacityIsBounded) {
  DeferredChecks checks;
  for (std::size_t i = 0; i < DeferredChecks::kCapacity; ++i) EXPECT_EQ(checks.add(describe("x")), i);
  EXPECT_TRUE(checks.full());
  MINIDL_EXPECT_THROW_WITH(checks.add(describe("y")), Error, "pending");
}

TEST(DeferredCheck, CpuLabelCheckStillThrowsAtTheCall) {
  Sequential net({3}, Device::cpu(), 1);
  net.add(std::make_shared<Dense>(4)).loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(2);
  MINIDL_EXPECT_THROW_WITH(net.step(zeros({2, 3}), from_vector({1, 4}, {2})), ValueError,
                           "label 4 of sample 1", "[0, 4)");
  // step() returns the loss buffer itself: the value train_step reads.
  const Tensor l = net.step(ones({2, 3}), from_vector({1, 3}, {2}));
  EXPECT_EQ(l.rank(), 0);
  EXPECT_EQ(l.item<float>(), net.graph().value(net.loss_value()).item<float>());
}

TEST(DeferredCheckParity, CudaBadLabelIsRaisedAtTheNextRead) {
  MINIDL_REQUIRE_CUDA();
  for (std::int64_t k : {4, 40, 2000}) {  // the tile, warp and block kernels
    SCOPED_TRACE(k);
    Sequential net({3}, Device::cuda(), 1);
    net.add(std::make_shared<Dense>(k)).loss(softmax_cross_entropy_loss(), {}, DType::Int32);
    net.build(3);
    const Tensor x = ones({3, 3}, Device::cuda());
    const Tensor good = from_vector({0, 1, 2}, {3}, Device::cuda());
    const Tensor bad = from_vector({0, static_cast<std::int32_t>(k) + 5, -1}, {3}, Device::cuda());
    Tensor total = zeros({}, Device::cuda());
    add(total, net.step(x, good), total);
    // The step with the bad labels queues its check and returns: no sync, no throw.
    add(total, net.step(x, bad), total);
    add(total, net.step(x, good), total);
    MINIDL_EXPECT_THROW_WITH(total.item<float>(), ValueError,
                             detail::concat("label ", k + 5, " of sample 1"),
                             detail::concat("[0, ", k, ")"), "found on the GPU");
    // Raised once: the next reads are clean.
    EXPECT_TRUE(std::isfinite(net.train_step(x, good)));
    // synchronize() is a checking point too.
    net.step(x, bad);
    MINIDL_EXPECT_THROW_WITH(CudaContext::get(0).synchronize(), ValueError, "of sample 1");
    // Off: nothing is recorded; the loss is NaN.
    const LossResult r = softmax_cross_entropy(zeros({3, k}, Device::cuda()), bad,
                                               LossOptions{Reduction::Mean, false});
    EXPECT_TRUE(std::isnan(r.loss.item<float>()));
  }
}

TEST(DeferredCheckParity, CudaHingeTargetsAndManyPendingChecks) {
  MINIDL_REQUIRE_CUDA();
  const Tensor z = zeros({3}, Device::cuda());
  const Tensor ok = from_vector({1.0f, -1.0f, 1.0f}, {3}, Device::cuda());
  const Tensor bad = from_vector({1.0f, 0.5f, -1.0f}, {3}, Device::cuda());
  // More checked calls than there are words: the extra ones resolve the old ones.
  for (std::size_t i = 0; i < 3 * DeferredChecks::kCapacity; ++i) hinge(z, ok);
  LossResult r = hinge(z, bad);
  MINIDL_EXPECT_THROW_WITH(r.loss.item<float>(), ValueError, "element 1", "0.5",
                           "found on the GPU");
  EXPECT_EQ(hinge(z, ok).loss.item<float>(), 1.0f);
}

}  // namespace
}  // namespace minidl
