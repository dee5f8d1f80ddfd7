#include "kernel_rows.hpp"

#include <cblas.h>

#include "kernel_map_cpu.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <iterator>
#include <memory>
#include <utility>

namespace minidl::svm {

void KernelRows::rows(const std::vector<std::int64_t>& idx, float* out) {
  const std::int64_t l = size();
  for (std::size_t w = 0; w < idx.size(); ++w)
    std::copy_n(row(idx[w]), l, out + static_cast<std::int64_t>(w) * l);
}

namespace {
std::atomic<std::size_t> g_kernel_bytes{0};
std::atomic<std::size_t> g_kernel_peak{0};

void kernel_bytes_add(std::size_t bytes) {
  const std::size_t now = g_kernel_bytes.fetch_add(bytes) + bytes;
  std::size_t peak = g_kernel_peak.load();
  while (now > peak && !g_kernel_peak.compare_exchange_weak(peak, now)) {
  }
}

}  // namespace

std::size_t KernelMemory::current() { return g_kernel_bytes.load(); }
std::size_t KernelMemory::peak() { return g_kernel_peak.load(); }
void KernelMemory::reset_peak() { g_kernel_peak.store(g_kernel_bytes.load()); }

KernelMemoryLease::KernelMemoryLease(std::size_t bytes) { resize(bytes); }
KernelMemoryLease::~KernelMemoryLease() { g_kernel_bytes.fetch_sub(bytes_); }
void KernelMemoryLease::resize(std::size_t bytes) {
  if (bytes >= bytes_)
    kernel_bytes_add(bytes - bytes_);
  else
    g_kernel_bytes.fetch_sub(bytes_ - bytes);
  bytes_ = bytes;
}

CachedKernelRows::CachedKernelRows(std::int64_t l, std::vector<float> diag,
                                   std::size_t budget_bytes, Fill fill, FillBatch fill_batch,
                                   std::int64_t max_batch_rows)
    : l_(l), diag_(std::move(diag)), fill_(std::move(fill)), fill_batch_(std::move(fill_batch)) {
  MINIDL_CHECK(fill_ || fill_batch_, ValueError, "CachedKernelRows: needs fill or fill_batch");
  const std::size_t row_bytes = static_cast<std::size_t>(std::max<std::int64_t>(l, 1)) * 4;
  const auto budget_rows = static_cast<std::int64_t>(budget_bytes / row_bytes);
  if (fill_batch_) {
    // The batch buffer holds max(batch, 2) rows (a single row is computed as two);
    // the rest of the budget is cache, at least twice the batch.
    batch_rows_ = std::min<std::int64_t>(max_batch_rows, (budget_rows - 2) / 3);
    if (batch_rows_ < 2) batch_rows_ = 0;
  }
  const std::int64_t buffer_rows = batch_rows_ > 0 ? batch_rows_ : (fill_batch_ ? 2 : 0);
  capacity_ = std::min<std::int64_t>(l, std::max<std::int64_t>(2, budget_rows - buffer_rows));
  batch_rows_ = std::min(batch_rows_, capacity_ / 2);
  if (batch_rows_ < 2) batch_rows_ = 0;
  batch_.resize(static_cast<std::size_t>(buffer_rows * l));
  slot_of_.assign(static_cast<std::size_t>(l), -1);
  row_of_.assign(static_cast<std::size_t>(capacity_), -1);
  where_.resize(static_cast<std::size_t>(capacity_));
  lease_.resize(bytes());
}

std::size_t CachedKernelRows::bytes() const {
  return (static_cast<std::size_t>(allocated_rows_ * l_) + batch_.size()) * sizeof(float);
}

float* CachedKernelRows::acquire(std::int64_t i) {
  std::int64_t slot = 0;
  if (static_cast<std::int64_t>(lru_.size()) < capacity_) {
    slot = static_cast<std::int64_t>(lru_.size());
    if (slot >= allocated_rows_) {
      // Storage grows a chunk at a time, as the cache fills: a sub-problem that
      // touches few rows never allocates (nor page-faults in) its whole budget.
      const std::int64_t rows = std::min(kChunkRows, capacity_ - allocated_rows_);
      chunks_.emplace_back(new float[static_cast<std::size_t>(rows * l_)]);
      allocated_rows_ += rows;
      lease_.resize(bytes());
    }
    lru_.push_front(slot);
  } else {
    slot = lru_.back();
    slot_of_[static_cast<std::size_t>(row_of_[static_cast<std::size_t>(slot)])] = -1;
    lru_.splice(lru_.begin(), lru_, std::prev(lru_.end()));
  }
  where_[static_cast<std::size_t>(slot)] = lru_.begin();
  row_of_[static_cast<std::size_t>(slot)] = i;
  slot_of_[static_cast<std::size_t>(i)] = slot;
  return slot_ptr(slot);
}

float* CachedKernelRows::slot_ptr(std::int64_t slot) {
  return chunks_[static_cast<std::size_t>(slot / kChunkRows)].get() + (slot % kChunkRows) * l_;
}

const float* CachedKernelRows::row(std::int64_t i) {
  const std::int64_t slot = slot_of_[static_cast<std::size_t>(i)];
  if (slot >= 0) {
    lru_.splice(lru_.begin(), lru_, where_[static_cast<std::size_t>(slot)]);
    return slot_ptr(slot);
  }
  ++misses_;
  float* out = acquire(i);
  if (fill_batch_) {
    // Two rows (i twice) so that sgemm, not a GEMV, computes it: the same values
    // as in any batch.
    const std::int64_t pair[2] = {i, i};
    fill_batch_(pair, 2, batch_.data());
    std::copy_n(batch_.data(), l_, out);
  } else {
    fill_(i, out);
  }
  return out;
}

void CachedKernelRows::prefetch(const std::vector<std::int64_t>& idx) {
  if (batch_rows_ == 0) return;
  std::vector<std::int64_t> miss;
  for (std::int64_t i : idx) {
    if (static_cast<std::int64_t>(miss.size()) >= batch_rows_) break;
    if (slot_of_[static_cast<std::size_t>(i)] < 0 &&
        std::find(miss.begin(), miss.end(), i) == miss.end())
      miss.push_back(i);
  }
  if (miss.empty()) return;
  if (miss.size() == 1) miss.push_back(miss[0]);  // sgemm, not a GEMV
  misses_ += static_cast<std::int64_t>(miss.size());
  fill_batch_(miss.data(), static_cast<std::int64_t>(miss.size()), batch_.data());
  for (std::size_t m = 0; m < miss.size(); ++m) {
    if (slot_of_[static_cast<std::size_t>(miss[m])] >= 0) continue;  // the pad
    std::copy_n(batch_.data() + static_cast<std::int64_t>(m) * l_, l_, acquire(miss[m]));
  }
}

void CachedKernelRows::rows(const std::vector<std::int64_t>& idx, float* out) {
  std::vector<std::int64_t> miss;
  std::vector<std::size_t> miss_at;
  for (std::size_t w = 0; w < idx.size(); ++w) {
    const std::int64_t slot = slot_of_[static_cast<std::size_t>(idx[w])];
    if (slot >= 0) {
      lru_.splice(lru_.begin(), lru_, where_[static_cast<std::size_t>(slot)]);
      std::copy_n(slot_ptr(slot), l_, out + static_cast<std::int64_t>(w) * l_);
    } else {
      miss.push_back(idx[w]);
      miss_at.push_back(w);
    }
  }
  if (miss.empty()) return;
  misses_ += static_cast<std::int64_t>(miss.size());
  if (!fill_batch_) {
    for (std::size_t m = 0; m < miss.size(); ++m) {
      float* dst = out + static_cast<std::int64_t>(miss_at[m]) * l_;
      fill_(miss[m], dst);
      std::copy_n(dst, l_, acquire(miss[m]));
    }
    return;
  }
  if (miss.size() == 1) {
    miss.push_back(miss[0]);  // sgemm, not a GEMV
    miss_at.push_back(miss_at[0]);
  }
  const std::size_t computed_size = miss.size() * static_cast<std::size_t>(l_);
  const KernelMemoryLease lease(computed_size * sizeof(float));
  std::vector<float> computed(computed_size);
  fill_batch_(miss.data(), static_cast<std::int64_t>(miss.size()), computed.data());
  for (std::size_t m = 0; m < miss.size(); ++m) {
    const float* src = computed.data() + static_cast<std::int64_t>(m) * l_;
    std::copy_n(src, l_, out + static_cast<std::int64_t>(miss_at[m]) * l_);
    if (slot_of_[static_cast<std::size_t>(miss[m])] < 0) std::copy_n(src, l_, acquire(miss[m]));
  }
}

std::unique_ptr<KernelRows> subset_kernel_rows(const float* full, std::int64_t n_full,
                                               std::vector<std::int64_t> idx,
                                               std::size_t budget_bytes,
                                               const std::vector<float>* full_diag) {
  const auto l = static_cast<std::int64_t>(idx.size());
  std::vector<float> diag(idx.size());
  for (std::size_t t = 0; t < idx.size(); ++t)
    diag[t] = full_diag != nullptr ? (*full_diag)[static_cast<std::size_t>(idx[t])]
                                   : full[idx[t] * n_full + idx[t]];
  auto shared_idx = std::make_shared<std::vector<std::int64_t>>(std::move(idx));
  return std::make_unique<CachedKernelRows>(
      l, std::move(diag), budget_bytes, [full, n_full, shared_idx, l](std::int64_t i, float* out) {
        const std::vector<std::int64_t>& ix = *shared_idx;
        const float* src = full + ix[static_cast<std::size_t>(i)] * n_full;
        for (std::int64_t t = 0; t < l; ++t) out[t] = src[ix[static_cast<std::size_t>(t)]];
      });
}

std::vector<float> kernel_diag(const Tensor& x, const KernelParams& params) {
  MINIDL_CHECK(x.rank() == 2 && !x.device().is_cuda() && x.dtype() == DType::Float32, ShapeError,
               "kernel_diag: x must be a CPU float32 [l, d] matrix, got ", x.description());
  const std::int64_t l = x.size(0);
  const std::int64_t d = x.size(1);
  MINIDL_CHECK(l <= INT_MAX && d <= INT_MAX, ValueError, "kernel_diag: ", l, " x ", d,
               " exceeds BLAS's int");
  const float* xp = x.data<float>();
  const Tensor norms = row_sq_norms(x);
  const float* np = norms.data<float>();
  const KernelMap map = make_kernel_map(params);
  std::vector<float> diag(static_cast<std::size_t>(l));
  // Diagonal blocks by sgemm, as the full matrix's and the computed rows' values are.
  constexpr std::int64_t kBlock = 64;
  std::vector<float> block(static_cast<std::size_t>(kBlock * kBlock));
  for (std::int64_t r0 = 0; r0 < l; r0 += kBlock) {
    const std::int64_t m = std::min(kBlock, l - r0);
    const std::int64_t mm = std::max<std::int64_t>(m, 2);  // sgemm, not a GEMV
    const float* a = xp + std::min(r0, l - mm) * d;
    const std::int64_t shift = r0 - std::min(r0, l - mm);
    if (l < 2) {
      // A single sample: one dot product (nothing to agree with).
      double dot = 0.0;
      for (std::int64_t j = 0; j < d; ++j) dot += double(xp[j]) * xp[j];
      diag[0] = map(static_cast<float>(dot), np[0], np[0]);
      break;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(mm), static_cast<int>(mm),
                static_cast<int>(d), 1.0f, a, static_cast<int>(d), a, static_cast<int>(d), 0.0f,
                block.data(), static_cast<int>(mm));
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t bi = i + shift;
      diag[static_cast<std::size_t>(r0 + i)] =
          map(block[static_cast<std::size_t>(bi * mm + bi)], np[r0 + i], np[r0 + i]);
    }
  }
  return diag;
}

void compute_kernel_rows(const float* x, std::int64_t l, std::int64_t d, const float* norms,
                         const KernelParams& params, const std::int64_t* rows, std::int64_t count,
                         float* out) {
  MINIDL_CHECK(count >= 1 && l >= 1 && d >= 1 && l <= INT_MAX && d <= INT_MAX && count <= INT_MAX,
               ValueError, "compute_kernel_rows: ", count, " rows of a ", l, " x ", d,
               " problem");
  // Gather the rows (two when one is asked: sgemm, not a GEMV, whatever the count).
  const std::int64_t m = std::max<std::int64_t>(count, 2);
  std::vector<float> xb(static_cast<std::size_t>(m * d));
  for (std::int64_t r = 0; r < m; ++r)
    std::copy_n(x + rows[std::min(r, count - 1)] * d, d, xb.data() + r * d);
  std::vector<float> pad;
  float* dst = out;
  if (m != count) {
    pad.resize(static_cast<std::size_t>(m * l));
    dst = pad.data();
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(l),
              static_cast<int>(d), 1.0f, xb.data(), static_cast<int>(d), x, static_cast<int>(d),
              0.0f, dst, static_cast<int>(l));
  if (m != count) std::copy_n(pad.data(), count * l, out);
  const KernelMap map = make_kernel_map(params);
  for (std::int64_t r = 0; r < count; ++r)
    map_kernel_block(out + r * l, 1, l, l, norms != nullptr ? norms + rows[r] : nullptr, norms, map);
}

std::unique_ptr<KernelRows> computed_kernel_rows(const Tensor& x, const KernelParams& params,
                                                 std::size_t budget_bytes) {
  MINIDL_CHECK(x.rank() == 2 && !x.device().is_cuda() && x.dtype() == DType::Float32, ShapeError,
               "computed_kernel_rows: x must be a CPU float32 [l, d] matrix, got ",
               x.description());
  const std::int64_t l = x.size(0);
  const std::int64_t d = x.size(1);
  const Tensor norms = row_sq_norms(x);
  return std::make_unique<CachedKernelRows>(
      l, kernel_diag(x, params), budget_bytes, CachedKernelRows::Fill{},
      [x, norms, params, l, d](const std::int64_t* rows, std::int64_t count, float* out) {
        compute_kernel_rows(x.data<float>(), l, d, norms.data<float>(), params, rows, count, out);
      });
}

}  // namespace minidl::svm
