// The kernel matrix of a one-vs-one fit, stored by class blocks.
//
// A one-vs-one sub-problem (i, j) needs K only on (class i + class j)^2. With the
// samples grouped by class, the whole matrix is the blocks K[G_a, G_b], and by
// symmetry K[G_b, G_a] = K[G_a, G_b]^T: ClassKernel stores the diagonal blocks
// (computed as upper triangles, the rest mirrored) and one block per pair a < b
// that some problem needs. For k equal classes that is (k + 1) / (2 k) of the n x n
// matrix (55% for Fashion-MNIST's 10): half the GEMM flops and kernel-map calls of
// the full matrix, and 7.9 GB instead of 14.4 GB at 60,000 images, which fits the
// default budget. A problem's row is two contiguous pieces, [K(a, a) row, K(a, b)
// row] for a sample of its first class; for the second class the off-diagonal
// piece is a row of K(b, a), which one block holds as columns, so each problem's
// row source reads it from a transposed copy in a buffer of its worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "kernel_rows.hpp"
#include "samples.hpp"
#include "smo.hpp"

namespace minidl::svm {

/// The groups of a list of sub-problems: every problem's samples are all of one
/// group labelled +1, then all of another labelled -1, each in increasing index
/// order, and the groups are pairwise disjoint (one-vs-one's shape).
struct ProblemGroups {
  std::vector<std::vector<std::int64_t>> groups;             ///< sample indices, ascending
  std::vector<std::pair<std::int32_t, std::int32_t>> sides;  ///< per problem: (+1 group, -1 group)
};

/// The groups of `problems` (samples in [0, n)) when they have the shape above;
/// std::nullopt otherwise (one-vs-rest, hand-made problems), and for no problems.
std::optional<ProblemGroups> find_problem_groups(std::int64_t n,
                                                 const std::vector<BinaryProblem>& problems);

/// The blocks of K that the problems of `groups` need, computed on the CPU.
class ClassKernel {
 public:
  /// All: the blocks every problem's rows need; Diagonal: the K[G_a, G_a] only
  /// (ClassSegments' own-group segments computed up front).
  enum class Which { All, Diagonal };

  /// Bytes of the stored blocks: |G_a|^2 per group, and with All |G_a| |G_b| per
  /// pair a < b that a problem uses (floats).
  static std::size_t block_bytes(const ProblemGroups& groups, Which which = Which::All);
  /// Bytes of the transposed block the largest problem's rows need: what each
  /// worker's buffer (problem_rows) must hold.
  static std::size_t transpose_bytes(const ProblemGroups& groups);

  /// Computes the blocks of K(x_s, x_t) for CPU samples x (dense float32 [n, d] or
  /// CSR): dense blocks by sgemm on row panels with the kernel map applied to each
  /// panel while it is in cache (diagonal blocks: the upper triangle, mirrored);
  /// sparse ones by sparse_kernel_matrix. Counted in KernelMemory while alive.
  ClassKernel(const Samples& x, ProblemGroups groups, const KernelParams& params,
              Which which = Which::All);

  const ProblemGroups& groups() const { return groups_; }

  /// Rows of problem p's l x l kernel matrix (l = |G_a| + |G_b|, first group first)
  /// from the blocks, with a row cache of `cache_bytes` (at least two rows).
  /// transposed: a buffer of at least transpose_bytes() / 4 floats, overwritten now
  /// with the problem's transposed block, read while the result lives (one per
  /// worker, reused problem after problem). *this must outlive the result.
  /// Requires Which::All.
  std::unique_ptr<KernelRows> problem_rows(std::size_t p, std::size_t cache_bytes,
                                           float* transposed) const;

  /// Row s of the diagonal block K[G_a, G_a]: |G_a| floats, K(x_{G_a[s]}, G_a).
  const float* diagonal_row(std::int32_t a, std::int64_t s) const;

 private:
  const float* block(std::int32_t a, std::int32_t b) const;  // a <= b: [|G_a|, |G_b|]

  struct Free {
    void operator()(float* p) const;
  };
  ProblemGroups groups_;
  Which which_;
  std::map<std::pair<std::int32_t, std::int32_t>, std::unique_ptr<float[], Free>> blocks_;
  KernelMemoryLease lease_;
};

}  // namespace minidl::svm
