// One-vs-one kernel rows computed when the solver asks for them, the own-class
// half shared by the sub-problems.
//
// Problem (a, b)'s samples are group a then group b (ProblemGroups), so its row
// for a sample t of group a is [K(t, G_a) | K(t, G_b)], and for t in group b
// [K(t, G_a) | K(t, G_b)] too, with the own-group part on the right. Measured at
// 60,000 Fashion-MNIST images (RBF, C = 10, shrinking): a sub-problem asks for the
// rows of 3-16% of its ~12,000 samples (48,515 rows over the 45 problems, 96% of
// them support vectors), so ClassKernel's precomputed blocks (3.1 TFLOP of sgemm)
// are mostly values no one reads. Here a row is computed on a miss of the
// problem's row cache, in the solver's prefetch batches (one product per side and
// kind, svm/sample_panels.hpp); its own-group segment K(t, G_a), which each of the k - 1 problems with
// group a needs alike (21,446 distinct samples behind those 48,515 rows), comes
// from a cache shared by every problem and the workers solving them concurrently;
// only the other-group segment K(t, G_b) is specific to problem (a, b).
//
// Values: every segment is computed the same way (SamplePanels' chain of fused
// multiply-adds over the features, then the kernel map), so a row does not
// depend on which batch computed it, nor on whether its own-group segment was
// cached or recomputed after an eviction: fits are deterministic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "class_kernel.hpp"
#include "kernel_rows.hpp"
#include "sample_panels.hpp"

namespace minidl::svm {

class ClassSegments {
 public:
  /// Rows of one product at most: a longer batch is computed in pieces of this many.
  static constexpr std::int64_t kBatchRows = 64;

  /// Bytes of every sample's own-group segment (|G_a|^2 floats per group): the
  /// most the shared cache can use.
  static std::size_t all_segments_bytes(const ProblemGroups& groups);

  /// When the own-group segments are computed: WhenAsked, into the shared LRU cache
  /// (what is asked, in batches of a few dozen rows); UpFront, all of them at
  /// construction as ClassKernel's diagonal blocks (mirrored upper triangles by
  /// sgemm on 512-row panels: half the flops, in products ten times larger). At
  /// 60,000 images the solver asks for the segments of ~36% of the samples, plus
  /// speculative ones: computing them all up front is the cheaper of the two.
  enum class Fill { WhenAsked, UpFront };

  /// x: dense CPU float32 [n, d] (every index of `groups` in [0, n); kept, not
  /// copied); each group's samples are packed (SamplePanels: a copy, not kernel
  /// memory) with their squared norms and kernel diagonal. WhenAsked: the shared
  /// cache holds at most segment_budget bytes of segments (0: none kept; each
  /// computed when asked); UpFront: all_segments_bytes() (segment_budget unused).
  /// Counted in KernelMemory.
  ClassSegments(const Tensor& x, ProblemGroups groups, const KernelParams& params,
                std::size_t segment_budget, Fill fill = Fill::WhenAsked);

  const ProblemGroups& groups() const { return groups_; }

  /// Rows of problem p's l x l kernel matrix (l = |G_a| + |G_b|, first group first):
  /// a CachedKernelRows of cache_bytes whose batch fill takes the own-group segments
  /// from own_segments() and computes the other-group ones into the rows (one
  /// SamplePanels product per side and kBatchRows rows). Sources of different
  /// problems may be used from different threads at once (each from one thread at a
  /// time). *this must outlive the result.
  std::unique_ptr<KernelRows> problem_rows(std::size_t p, std::size_t cache_bytes);

  /// out[r] (|G_a| floats each) = K(x_s, G_a) for s = groups().groups[a][local[r]],
  /// r < count (overwritten): cached segments copied, the others computed together
  /// (scratch: SamplePanels::dots') and cached, evicting the least recently used
  /// ones beyond the budget. Thread-safe.
  void own_segments(std::int32_t a, const std::int64_t* local, std::int64_t count,
                    float* const* out, std::vector<float>& scratch);

  std::size_t bytes() const;    ///< segment bytes held now (UpFront: all of them)
  std::int64_t computed() const { return computed_.load(); }  ///< segments computed so far

  /// One group's samples, packed, their squared norms and K(x_t, x_t).
  struct Group {
    std::shared_ptr<const SamplePanels> panels;
    std::vector<float> norms;
    std::vector<float> diag;
    std::int64_t size = 0;
  };

 private:
  struct Slot {
    std::unique_ptr<float[]> data;  // null: not cached
    std::list<std::pair<std::int32_t, std::int64_t>>::iterator lru;
  };
  ProblemGroups groups_;
  KernelParams params_;
  Tensor x_;
  std::int64_t d_ = 0;
  std::vector<Group> group_;
  std::unique_ptr<const ClassKernel> up_front_;  // Fill::UpFront: the diagonal blocks
  std::size_t budget_;
  std::size_t held_ = 0;  // under mutex_
  mutable std::mutex mutex_;
  std::vector<std::vector<Slot>> slot_;                  // [group][local]
  std::list<std::pair<std::int32_t, std::int64_t>> lru_;  // (group, local), most recent first
  KernelMemoryLease lease_;
  std::atomic<std::int64_t> computed_{0};
};

}  // namespace minidl::svm
