#include "class_kernel.hpp"

#include <cblas.h>
#include <sys/mman.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "../core/parallel.hpp"
#include "kernel_map_cpu.hpp"
#include "sparse_kernel.hpp"

namespace minidl::svm {

std::optional<ProblemGroups> find_problem_groups(std::int64_t n,
                                                 const std::vector<BinaryProblem>& problems) {
  if (problems.empty()) return std::nullopt;
  ProblemGroups g;
  std::map<std::vector<std::int64_t>, std::int32_t> id_of;
  std::vector<std::int32_t> group_of(static_cast<std::size_t>(n), -1);
  const auto side_group = [&](std::vector<std::int64_t> members) -> std::int32_t {
    if (members.empty()) return -1;
    for (std::size_t t = 1; t < members.size(); ++t)
      if (members[t] <= members[t - 1]) return -1;  // not ascending
    const auto it = id_of.find(members);
    if (it != id_of.end()) return it->second;
    const auto id = static_cast<std::int32_t>(g.groups.size());
    for (std::int64_t s : members) {
      std::int32_t& owner = group_of[static_cast<std::size_t>(s)];
      if (owner >= 0) return -1;  // overlaps another group
      owner = id;
    }
    id_of.emplace(members, id);
    g.groups.push_back(std::move(members));
    return id;
  };
  for (const BinaryProblem& p : problems) {
    // +1 samples first, then -1 samples.
    std::size_t pos = 0;
    while (pos < p.y.size() && p.y[pos] > 0) ++pos;
    for (std::size_t t = pos; t < p.y.size(); ++t)
      if (p.y[t] > 0) return std::nullopt;
    const std::vector<std::int64_t> plus(p.samples.begin(),
                                         p.samples.begin() + static_cast<std::ptrdiff_t>(pos));
    const std::vector<std::int64_t> minus(p.samples.begin() + static_cast<std::ptrdiff_t>(pos),
                                          p.samples.end());
    const std::int32_t a = side_group(plus);
    const std::int32_t b = side_group(minus);
    if (a < 0 || b < 0 || a == b) return std::nullopt;
    g.sides.emplace_back(a, b);
  }
  return g;
}

namespace {

std::size_t group_size(const ProblemGroups& g, std::int32_t a) {
  return g.groups[static_cast<std::size_t>(a)].size();
}

// The blocks stored: (a, a) for every group, (min, max) for every problem's pair.
std::vector<std::pair<std::int32_t, std::int32_t>> stored_blocks(const ProblemGroups& g,
                                                                  ClassKernel::Which which) {
  std::vector<std::pair<std::int32_t, std::int32_t>> out;
  for (std::int32_t a = 0; a < static_cast<std::int32_t>(g.groups.size()); ++a)
    out.emplace_back(a, a);
  if (which == ClassKernel::Which::Diagonal) return out;
  for (const auto& [a, b] : g.sides) out.emplace_back(std::min(a, b), std::max(a, b));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Rows per sgemm panel: the kernel map then runs on a panel still in cache (128
// rows of 6,000 floats are 3 MB).
constexpr std::int64_t kPanelRows = 512;

// Huge pages for the blocks (when the kernel allows them on request): a 7.9 GB
// kernel in 4 KB pages costs two million page faults.
float* allocate_floats(std::size_t count) {
  constexpr std::size_t kAlign = std::size_t{2} << 20;
  const std::size_t bytes = std::max<std::size_t>(
      kAlign, (count * sizeof(float) + kAlign - 1) / kAlign * kAlign);
  void* p = std::aligned_alloc(kAlign, bytes);
  MINIDL_CHECK(p != nullptr, ValueError, "ClassKernel: cannot allocate ",
               detail::gib_text(double(bytes)), " for a kernel block");
  madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure changes nothing
  return static_cast<float*>(p);
}

// One panel of a dense block: out rows [r0, r1) of K(A, B) with A [ma, d], B [mb, d]
// (row-major), columns [c0, mb), the kernel map applied. ldo = mb.
void dense_panel(const float* a, const float* a_norms, const float* b, const float* b_norms,
                 std::int64_t d, std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t mb,
                 const KernelParams& params, float* out) {
  const std::int64_t m = r1 - r0;
  const std::int64_t cols = mb - c0;
  float* dst = out + r0 * mb + c0;
  if (m >= 2 && cols >= 2) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m),
                static_cast<int>(cols), static_cast<int>(d), 1.0f, a + r0 * d,
                static_cast<int>(d), b + c0 * d, static_cast<int>(d), 0.0f, dst,
                static_cast<int>(mb));
  } else {
    // A single row or column: plain dot products (sgemm would take a GEMV path).
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < cols; ++j) {
        float acc = 0.0f;
        const float* ai = a + (r0 + i) * d;
        const float* bj = b + (c0 + j) * d;
        for (std::int64_t f = 0; f < d; ++f) acc += ai[f] * bj[f];
        dst[i * mb + j] = acc;
      }
  }
  map_kernel_block(dst, m, cols, mb, a_norms + r0, b_norms + c0, make_kernel_map(params));
}

// A block's rows gathered from x: [|G|, d], and their squared norms.
struct Gathered {
  std::vector<float> x;
  std::vector<float> norms;
};

Gathered gather_dense(const Tensor& x, const std::vector<std::int64_t>& idx) {
  const std::int64_t d = x.size(1);
  const float* xp = x.data<float>();
  Gathered g;
  g.x.resize(idx.size() * static_cast<std::size_t>(d));
  g.norms.resize(idx.size());
  for (std::size_t r = 0; r < idx.size(); ++r) {
    const float* src = xp + idx[r] * d;
    std::copy_n(src, d, g.x.data() + r * static_cast<std::size_t>(d));
    double s = 0.0;  // as row_sq_norms: double accumulation
    for (std::int64_t f = 0; f < d; ++f) s += double(src[f]) * src[f];
    g.norms[r] = static_cast<float>(s);
  }
  return g;
}

// dst [cols, rows] = src [rows, cols]^T, in tiles.
void transpose(const float* src, std::int64_t rows, std::int64_t cols, float* dst) {
  constexpr std::int64_t kTile = 32;
  for (std::int64_t i0 = 0; i0 < rows; i0 += kTile)
    for (std::int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const std::int64_t i1 = std::min(rows, i0 + kTile);
      const std::int64_t j1 = std::min(cols, j0 + kTile);
      for (std::int64_t j = j0; j < j1; ++j)
        for (std::int64_t i = i0; i < i1; ++i) dst[j * rows + i] = src[i * cols + j];
    }
}

}  // namespace

void ClassKernel::Free::operator()(float* p) const { std::free(p); }

std::size_t ClassKernel::block_bytes(const ProblemGroups& g, Which which) {
  std::size_t floats = 0;
  for (const auto& [a, b] : stored_blocks(g, which)) floats += group_size(g, a) * group_size(g, b);
  return floats * sizeof(float);
}

std::size_t ClassKernel::transpose_bytes(const ProblemGroups& g) {
  std::size_t floats = 0;
  for (const auto& [a, b] : g.sides)
    floats = std::max(floats, group_size(g, a) * group_size(g, b));
  return floats * sizeof(float);
}

ClassKernel::ClassKernel(const Samples& x, ProblemGroups groups, const KernelParams& params,
                         Which which)
    : groups_(std::move(groups)), which_(which) {
  MINIDL_CHECK(!x.device().is_cuda(), DeviceError, "ClassKernel: samples must be on the CPU, got ",
               x.description());
  check_kernel_params(params);
  lease_.resize(block_bytes(groups_, which_));
  for (const auto& ab : stored_blocks(groups_, which_))
    blocks_.emplace(ab, std::unique_ptr<float[], Free>(allocate_floats(
                            group_size(groups_, ab.first) * group_size(groups_, ab.second))));
  const std::size_t k = groups_.groups.size();
  if (x.sparse()) {
    std::vector<CsrMatrix> part(k);
    for (std::size_t a = 0; a < k; ++a) part[a] = csr_gather_rows(x.csr(), groups_.groups[a]);
    for (const auto& [ab, data] : blocks_)
      sparse_kernel_matrix(part[static_cast<std::size_t>(ab.first)],
                           part[static_cast<std::size_t>(ab.second)], params, data.get());
    return;
  }
  const Tensor& xd = x.dense();
  const std::int64_t d = xd.size(1);
  MINIDL_CHECK(d <= INT_MAX, ValueError, "ClassKernel: ", d, " features exceed BLAS's int");
  std::vector<Gathered> part(k);
  for (std::size_t a = 0; a < k; ++a) part[a] = gather_dense(xd, groups_.groups[a]);
  // Every panel of every block is one task; the threads take them largest first
  // (diagonal panels shrink along the triangle), each calling single-threaded
  // sgemm (OpenBLAS's OpenMP build runs one thread inside a parallel region) and
  // mapping its panel while it is in its cache.
  struct Task {
    std::int32_t a, b;
    std::int64_t r0, r1;
    double cost;
  };
  std::vector<Task> tasks;
  for (const auto& [ab, data] : blocks_) {
    const auto ma = static_cast<std::int64_t>(group_size(groups_, ab.first));
    const auto mb = static_cast<std::int64_t>(group_size(groups_, ab.second));
    for (std::int64_t r0 = 0; r0 < ma; r0 += kPanelRows) {
      const std::int64_t r1 = std::min(ma, r0 + kPanelRows);
      const double cols = ab.first == ab.second ? double(mb - r0) : double(mb);
      tasks.push_back({ab.first, ab.second, r0, r1, double(r1 - r0) * cols});
    }
  }
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const Task& u, const Task& v) { return u.cost > v.cost; });
  const auto n_tasks = static_cast<std::int64_t>(tasks.size());
  // cpu_threads(), not OpenMP's default: the adaptive backend (core/parallel.hpp)
  // sets that to one on a busy machine, for fine-grained teams; these panels are
  // independent and large.
#pragma omp parallel for schedule(dynamic, 1) num_threads(cpu_threads())
  for (std::int64_t t = 0; t < n_tasks; ++t) {
    const Task& task = tasks[static_cast<std::size_t>(t)];
    const Gathered& ga = part[static_cast<std::size_t>(task.a)];
    const Gathered& gb = part[static_cast<std::size_t>(task.b)];
    const auto mb = static_cast<std::int64_t>(gb.norms.size());
    float* out = blocks_.at({task.a, task.b}).get();
    if (task.a != task.b) {
      dense_panel(ga.x.data(), ga.norms.data(), gb.x.data(), gb.norms.data(), d, task.r0, task.r1,
                  0, mb, params, out);
      continue;
    }
    // Diagonal block: rows [r0, r1), columns [r0, mb) (the upper part), then the
    // mirror: K[t, c] = K[c, t] for c in [r0, r1), t > c. Other tasks write other
    // columns of those rows, never these.
    dense_panel(ga.x.data(), ga.norms.data(), ga.x.data(), ga.norms.data(), d, task.r0, task.r1,
                task.r0, mb, params, out);
    for (std::int64_t row = task.r0 + 1; row < mb; ++row) {
      const std::int64_t c1 = std::min(task.r1, row);
      float* dst = out + row * mb;
      for (std::int64_t c = task.r0; c < c1; ++c) dst[c] = out[c * mb + row];
    }
  }
}

const float* ClassKernel::block(std::int32_t a, std::int32_t b) const {
  return blocks_.at({a, b}).get();
}

const float* ClassKernel::diagonal_row(std::int32_t a, std::int64_t s) const {
  return block(a, a) + s * static_cast<std::int64_t>(group_size(groups_, a));
}

std::unique_ptr<KernelRows> ClassKernel::problem_rows(std::size_t p, std::size_t cache_bytes,
                                                      float* transposed) const {
  MINIDL_CHECK(p < groups_.sides.size(), ValueError, "ClassKernel::problem_rows: problem ", p,
               " of ", groups_.sides.size());
  MINIDL_CHECK(which_ == Which::All, ValueError,
               "ClassKernel::problem_rows: only the diagonal blocks were computed");
  const auto [a, b] = groups_.sides[p];
  const auto na = static_cast<std::int64_t>(group_size(groups_, a));
  const auto nb = static_cast<std::int64_t>(group_size(groups_, b));
  const std::int64_t l = na + nb;
  // K(a, b) [na, nb] and K(b, a) [nb, na]: one is stored, the other transposed here.
  const float* kab = nullptr;
  const float* kba = nullptr;
  if (a < b) {
    kab = block(a, b);
    transpose(kab, na, nb, transposed);
    kba = transposed;
  } else {
    kba = block(b, a);
    transpose(kba, nb, na, transposed);
    kab = transposed;
  }
  const float* kaa = block(a, a);
  const float* kbb = block(b, b);
  std::vector<float> diag(static_cast<std::size_t>(l));
  for (std::int64_t s = 0; s < na; ++s) diag[static_cast<std::size_t>(s)] = kaa[s * na + s];
  for (std::int64_t s = 0; s < nb; ++s) diag[static_cast<std::size_t>(na + s)] = kbb[s * nb + s];
  return std::make_unique<CachedKernelRows>(
      l, std::move(diag), cache_bytes,
      [kaa, kab, kba, kbb, na, nb](std::int64_t i, float* out) {
        if (i < na) {
          std::copy_n(kaa + i * na, na, out);
          std::copy_n(kab + i * nb, nb, out + na);
        } else {
          const std::int64_t s = i - na;
          std::copy_n(kba + s * na, na, out);
          std::copy_n(kbb + s * nb, nb, out + na);
        }
      });
}

}  // namespace minidl::svm
