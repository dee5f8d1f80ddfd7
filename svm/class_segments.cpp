#include "class_segments.hpp"

#include <algorithm>

#include "kernel_map_cpu.hpp"

namespace minidl::svm {

namespace {

// out[r] = K(x_{q[r]}, G_c) for r < count (q: sample indices into x, q_norms their
// squared norms): SamplePanels' products straight into the rows, then the map.
void kernel_rows_between(const float* x, std::int64_t d, const std::int64_t* q,
                         const float* q_norms, std::int64_t count, const ClassSegments::Group& c,
                         const KernelMap& map, std::vector<const float*>& q_rows,
                         std::vector<float>& scratch, float* const* out) {
  q_rows.resize(static_cast<std::size_t>(count));
  for (std::int64_t r = 0; r < count; ++r) q_rows[static_cast<std::size_t>(r)] = x + q[r] * d;
  c.panels->dots(q_rows.data(), count, out, scratch);
  for (std::int64_t r = 0; r < count; ++r)
    map_kernel_block(out[r], 1, c.size, c.size, q_norms + r, c.norms.data(), map);
}

// Rows per prefetch batch, from the floats of a group's samples. Each product
// streams the other group's samples once: from memory at 60,000 Fashion-MNIST
// images (6,000 x 784 floats, 18.8 MB), which costs about the flops of ten rows,
// so larger batches pay (fit 22.5 s with 40 rows, 25.9 s with 24, busy machine;
// rows computed over the 45 problems: 77,659 with 24, 92,942 with 40, 111,941
// with 64, for about 48,500 the solver asks for; 24 and 40 within noise at load 8,
// 64 slower); from cache at 10,000 (3 MB), where speculative rows cost more than
// they save (0.96 s with 16 rows, 1.14 s with 40; then, after the vector scans
// of svm/smo_scan.hpp, median fit 0.808 s with 12 against 0.845 s with 16 over 8
// interleaved runs, 0.818 / 0.822 over 6 and 0.787 / 0.895 over 5, load 7-8; rows
// computed: 17,934 with 12, 19,575 with 16, 16,503 with 8, which was no faster).
std::int64_t prefetch_rows(std::int64_t group_floats) {
  constexpr std::int64_t kInCacheFloats = std::int64_t{2} << 20;  // 8 MiB
  return group_floats <= kInCacheFloats ? 12 : 40;
}

// A problem's rows with prefetches kept to one side: a batch computes rows of the
// missed row's group only (the solver's list: the missed row first), so it costs one
// product against the other group and one for the own-group misses, instead of
// twice that for half as many rows of each side.
class SideRows final : public KernelRows {
 public:
  SideRows(std::unique_ptr<CachedKernelRows> rows, std::int64_t na)
      : rows_(std::move(rows)), na_(na) {}
  std::int64_t size() const override { return rows_->size(); }
  const float* row(std::int64_t i) override { return rows_->row(i); }
  float diag(std::int64_t i) const override { return rows_->diag(i); }
  void rows(const std::vector<std::int64_t>& idx, float* out) override { rows_->rows(idx, out); }
  bool cached(std::int64_t i) const override { return rows_->cached(i); }
  std::int64_t prefetch_limit() const override { return rows_->prefetch_limit(); }
  void prefetch(const std::vector<std::int64_t>& idx) override {
    if (idx.empty()) return;
    const bool first = idx[0] < na_;
    side_.clear();
    for (std::int64_t i : idx)
      if ((i < na_) == first) side_.push_back(i);
    rows_->prefetch(side_);
  }

 private:
  std::unique_ptr<CachedKernelRows> rows_;
  std::int64_t na_;
  std::vector<std::int64_t> side_;
};

}  // namespace

std::size_t ClassSegments::all_segments_bytes(const ProblemGroups& groups) {
  std::size_t floats = 0;
  for (const auto& g : groups.groups) floats += g.size() * g.size();
  return floats * sizeof(float);
}

ClassSegments::ClassSegments(const Tensor& x, ProblemGroups groups, const KernelParams& params,
                             std::size_t segment_budget, Fill fill)
    : groups_(std::move(groups)), params_(params), x_(x), budget_(segment_budget) {
  MINIDL_CHECK(x.defined() && x.rank() == 2 && !x.device().is_cuda() &&
                   x.dtype() == DType::Float32,
               ShapeError, "ClassSegments: x must be a CPU float32 [n, d] matrix, got ",
               x.defined() ? x.description() : std::string("an undefined tensor"));
  check_kernel_params(params_);
  d_ = x.size(1);
  MINIDL_CHECK(d_ >= 1, ValueError, "ClassSegments: samples without features: ", x.description());
  for (const auto& idx : groups_.groups) {
    for (std::int64_t s : idx)
      MINIDL_CHECK(s >= 0 && s < x.size(0), ValueError, "ClassSegments: sample ", s,
                   " outside x's ", x.size(0), " rows");
    Group g;
    g.size = static_cast<std::int64_t>(idx.size());
    std::vector<float> xg(idx.size() * static_cast<std::size_t>(d_));
    const KernelMap map = make_kernel_map(params_);
    for (std::int64_t r = 0; r < g.size; ++r) {
      const float* src = x_.data<float>() + idx[static_cast<std::size_t>(r)] * d_;
      std::copy_n(src, d_, xg.data() + r * d_);
      double sq = 0.0;  // as row_sq_norms: double accumulation
      for (std::int64_t f = 0; f < d_; ++f) sq += double(src[f]) * src[f];
      g.norms.push_back(static_cast<float>(sq));
      // K(x_t, x_t) from the same product the segments hold at t.
      g.diag.push_back(map(SamplePanels::dot(src, src, d_), g.norms.back(), g.norms.back()));
    }
    g.panels = std::make_shared<SamplePanels>(xg.data(), g.size, d_);
    group_.push_back(std::move(g));
    slot_.emplace_back(idx.size());
  }
  if (fill == Fill::UpFront) {
    up_front_ = std::make_unique<const ClassKernel>(Samples(x_), groups_, params_,
                                                    ClassKernel::Which::Diagonal);
    // K(x_t, x_t) as the rows hold it.
    for (std::size_t a = 0; a < group_.size(); ++a)
      for (std::int64_t s = 0; s < group_[a].size; ++s)
        group_[a].diag[static_cast<std::size_t>(s)] =
            up_front_->diagonal_row(static_cast<std::int32_t>(a), s)[s];
  }
}

std::size_t ClassSegments::bytes() const {
  if (up_front_) return all_segments_bytes(groups_);
  std::lock_guard<std::mutex> lock(mutex_);
  return held_;
}

void ClassSegments::own_segments(std::int32_t a, const std::int64_t* local, std::int64_t count,
                                 float* const* out, std::vector<float>& scratch) {
  std::vector<const float*> q_rows;
  const Group& g = group_[static_cast<std::size_t>(a)];
  if (up_front_) {
    for (std::int64_t r = 0; r < count; ++r)
      std::copy_n(up_front_->diagonal_row(a, local[r]), g.size, out[r]);
    return;
  }
  std::vector<Slot>& slots = slot_[static_cast<std::size_t>(a)];
  std::vector<std::int64_t> miss;  // positions r
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::int64_t r = 0; r < count; ++r) {
      Slot& s = slots[static_cast<std::size_t>(local[r])];
      if (s.data) {
        lru_.splice(lru_.begin(), lru_, s.lru);
        std::copy_n(s.data.get(), g.size, out[r]);
      } else {
        miss.push_back(r);
      }
    }
  }
  if (miss.empty()) return;
  // Computed outside the lock: two workers missing the same segment both compute it
  // (the same values), and the first to return caches it. A repeated index is
  // computed once (the first position) and copied.
  std::vector<std::int64_t> first;  // the first position of each distinct missing index
  for (std::int64_t r : miss) {
    bool seen = false;
    for (std::int64_t f : first) seen = seen || local[f] == local[r];
    if (!seen) first.push_back(r);
  }
  const KernelMap map = make_kernel_map(params_);
  const std::vector<std::int64_t>& members = groups_.groups[static_cast<std::size_t>(a)];
  std::vector<std::int64_t> miss_sample;
  std::vector<float> miss_norm;
  std::vector<float*> miss_out;
  for (std::size_t m0 = 0; m0 < first.size(); m0 += kBatchRows) {
    const std::size_t m1 = std::min(first.size(), m0 + static_cast<std::size_t>(kBatchRows));
    miss_sample.clear();
    miss_norm.clear();
    miss_out.clear();
    for (std::size_t m = m0; m < m1; ++m) {
      const auto s = static_cast<std::size_t>(local[first[m]]);
      miss_sample.push_back(members[s]);
      miss_norm.push_back(g.norms[s]);
      miss_out.push_back(out[first[m]]);
    }
    kernel_rows_between(x_.data<float>(), d_, miss_sample.data(), miss_norm.data(),
                        static_cast<std::int64_t>(miss_sample.size()), g, map, q_rows, scratch,
                        miss_out.data());
  }
  for (std::int64_t r : miss)
    for (std::int64_t f : first)
      if (local[f] == local[r] && f != r) std::copy_n(out[f], g.size, out[r]);
  miss = std::move(first);
  computed_.fetch_add(static_cast<std::int64_t>(miss.size()));
  const std::size_t seg_bytes = static_cast<std::size_t>(g.size) * sizeof(float);
  if (seg_bytes > budget_) return;  // nothing of this group fits
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::int64_t r : miss) {
    Slot& s = slots[static_cast<std::size_t>(local[r])];
    if (s.data) continue;  // cached meanwhile (another worker, or a repeated index)
    while (held_ + seg_bytes > budget_) {
      // Evict the least recently used segment (never needed: readers copy under the lock).
      const auto [eg, el] = lru_.back();
      lru_.pop_back();
      slot_[static_cast<std::size_t>(eg)][static_cast<std::size_t>(el)].data.reset();
      held_ -= static_cast<std::size_t>(group_[static_cast<std::size_t>(eg)].size) * sizeof(float);
    }
    s.data.reset(new float[static_cast<std::size_t>(g.size)]);
    std::copy_n(out[r], g.size, s.data.get());
    lru_.emplace_front(a, local[r]);
    s.lru = lru_.begin();
    held_ += seg_bytes;
  }
  lease_.resize(held_);
}

std::unique_ptr<KernelRows> ClassSegments::problem_rows(std::size_t p, std::size_t cache_bytes) {
  MINIDL_CHECK(p < groups_.sides.size(), ValueError, "ClassSegments::problem_rows: problem ", p,
               " of ", groups_.sides.size());
  // Plain variables, not a structured binding: C++17 lambdas cannot capture those (clang).
  const std::int32_t a = groups_.sides[p].first;
  const std::int32_t b = groups_.sides[p].second;
  const Group& ga = group_[static_cast<std::size_t>(a)];
  const Group& gb = group_[static_cast<std::size_t>(b)];
  const std::int64_t na = ga.size;
  const std::int64_t l = na + gb.size;
  std::vector<float> diag(ga.diag);
  diag.insert(diag.end(), gb.diag.begin(), gb.diag.end());
  struct Scratch {  // packed query rows and pointers (samples, not kernel values)
    std::vector<float> packed;
    std::vector<const float*> q_rows;
  };
  auto scratch = std::make_shared<Scratch>();
  const KernelMap map = make_kernel_map(params_);
  const std::int64_t batch = prefetch_rows(std::max(ga.size, gb.size) * d_);
  auto cache = std::make_unique<CachedKernelRows>(
      l, std::move(diag), cache_bytes, CachedKernelRows::Fill{},
      [this, a, b, na, l, map, scratch](const std::int64_t* rows, std::int64_t count, float* out) {
        std::vector<std::int64_t> local;
        std::vector<std::int64_t> sample;
        std::vector<float> norm;
        std::vector<float*> own_out;
        std::vector<float*> other_out;
        for (const bool first : {true, false}) {
          const std::int32_t own = first ? a : b;
          const Group& g_own = group_[static_cast<std::size_t>(own)];
          const Group& g_other = group_[static_cast<std::size_t>(first ? b : a)];
          const std::vector<std::int64_t>& members = groups_.groups[static_cast<std::size_t>(own)];
          const std::int64_t offset = first ? 0 : na;        // the own part's first column
          const std::int64_t other_offset = first ? na : 0;  // the other part's
          for (std::int64_t r0 = 0; r0 < count;) {
            // The next kBatchRows rows of this side.
            local.clear();
            sample.clear();
            norm.clear();
            own_out.clear();
            other_out.clear();
            for (; r0 < count && static_cast<std::int64_t>(local.size()) < kBatchRows; ++r0) {
              const std::int64_t i = rows[r0];
              if ((i < na) != first) continue;
              const std::int64_t s = i - offset;
              local.push_back(s);
              sample.push_back(members[static_cast<std::size_t>(s)]);
              norm.push_back(g_own.norms[static_cast<std::size_t>(s)]);
              own_out.push_back(out + r0 * l + offset);
              other_out.push_back(out + r0 * l + other_offset);
            }
            if (local.empty()) continue;
            const auto m = static_cast<std::int64_t>(local.size());
            own_segments(own, local.data(), m, own_out.data(), scratch->packed);
            kernel_rows_between(x_.data<float>(), d_, sample.data(), norm.data(), m, g_other, map,
                                scratch->q_rows, scratch->packed, other_out.data());
          }
        }
      },
      batch);
  return std::make_unique<SideRows>(std::move(cache), na);
}

}  // namespace minidl::svm
