#include "kernel_rows.hpp"

#include <algorithm>
#include <iterator>
#include <memory>
#include <utility>

namespace minidl::svm {

void KernelRows::rows(const std::vector<std::int64_t>& idx, float* out) {
  const std::int64_t l = size();
  for (std::size_t w = 0; w < idx.size(); ++w)
    std::copy_n(row(idx[w]), l, out + static_cast<std::int64_t>(w) * l);
}

CachedKernelRows::CachedKernelRows(std::int64_t l, std::vector<float> diag,
                                   std::size_t budget_bytes, Fill fill, FillBatch fill_batch)
    : l_(l), diag_(std::move(diag)), fill_(std::move(fill)), fill_batch_(std::move(fill_batch)) {
  const std::size_t row_bytes = static_cast<std::size_t>(std::max<std::int64_t>(l, 1)) * 4;
  capacity_ = std::min<std::int64_t>(
      l, std::max<std::int64_t>(2, static_cast<std::int64_t>(budget_bytes / row_bytes)));
  storage_.resize(static_cast<std::size_t>(capacity_ * l));
  slot_of_.assign(static_cast<std::size_t>(l), -1);
  row_of_.assign(static_cast<std::size_t>(capacity_), -1);
  where_.resize(static_cast<std::size_t>(capacity_));
}

float* CachedKernelRows::acquire(std::int64_t i) {
  std::int64_t slot = 0;
  if (static_cast<std::int64_t>(lru_.size()) < capacity_) {
    slot = static_cast<std::int64_t>(lru_.size());
    lru_.push_front(slot);
  } else {
    slot = lru_.back();
    slot_of_[static_cast<std::size_t>(row_of_[static_cast<std::size_t>(slot)])] = -1;
    lru_.splice(lru_.begin(), lru_, std::prev(lru_.end()));
  }
  where_[static_cast<std::size_t>(slot)] = lru_.begin();
  row_of_[static_cast<std::size_t>(slot)] = i;
  slot_of_[static_cast<std::size_t>(i)] = slot;
  return storage_.data() + slot * l_;
}

const float* CachedKernelRows::row(std::int64_t i) {
  const std::int64_t slot = slot_of_[static_cast<std::size_t>(i)];
  if (slot >= 0) {
    lru_.splice(lru_.begin(), lru_, where_[static_cast<std::size_t>(slot)]);
    return storage_.data() + slot * l_;
  }
  ++misses_;
  float* out = acquire(i);
  fill_(i, out);
  return out;
}

void CachedKernelRows::rows(const std::vector<std::int64_t>& idx, float* out) {
  std::vector<std::int64_t> miss;
  std::vector<std::size_t> miss_at;
  for (std::size_t w = 0; w < idx.size(); ++w) {
    const std::int64_t slot = slot_of_[static_cast<std::size_t>(idx[w])];
    if (slot >= 0) {
      lru_.splice(lru_.begin(), lru_, where_[static_cast<std::size_t>(slot)]);
      std::copy_n(storage_.data() + slot * l_, l_, out + static_cast<std::int64_t>(w) * l_);
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
  std::vector<float> computed(miss.size() * static_cast<std::size_t>(l_));
  fill_batch_(miss.data(), static_cast<std::int64_t>(miss.size()), computed.data());
  for (std::size_t m = 0; m < miss.size(); ++m) {
    const float* src = computed.data() + static_cast<std::int64_t>(m) * l_;
    std::copy_n(src, l_, out + static_cast<std::int64_t>(miss_at[m]) * l_);
    std::copy_n(src, l_, acquire(miss[m]));
  }
}

std::unique_ptr<KernelRows> subset_kernel_rows(const float* full, std::int64_t n_full,
                                               std::vector<std::int64_t> idx,
                                               std::size_t budget_bytes) {
  const auto l = static_cast<std::int64_t>(idx.size());
  std::vector<float> diag(idx.size());
  for (std::size_t t = 0; t < idx.size(); ++t) diag[t] = full[idx[t] * n_full + idx[t]];
  auto shared_idx = std::make_shared<std::vector<std::int64_t>>(std::move(idx));
  return std::make_unique<CachedKernelRows>(
      l, std::move(diag), budget_bytes, [full, n_full, shared_idx, l](std::int64_t i, float* out) {
        const std::vector<std::int64_t>& ix = *shared_idx;
        const float* src = full + ix[static_cast<std::size_t>(i)] * n_full;
        for (std::int64_t t = 0; t < l; ++t) out[t] = src[ix[static_cast<std::size_t>(t)]];
      });
}

std::unique_ptr<KernelRows> computed_kernel_rows(const Tensor& x, const KernelParams& params,
                                                 std::size_t budget_bytes) {
  MINIDL_CHECK(x.rank() == 2 && !x.device().is_cuda(), ShapeError,
               "computed_kernel_rows: x must be a CPU [l, d] matrix, got ", x.description());
  const std::int64_t l = x.size(0);
  const std::int64_t d = x.size(1);
  const Tensor norms = row_sq_norms(x);
  const KernelMap map = make_kernel_map(params);
  std::vector<float> diag(static_cast<std::size_t>(l));
  {
    const float* xp = x.data<float>();
    const float* np = norms.data<float>();
    for (std::int64_t i = 0; i < l; ++i) {
      double dot = 0.0;
      for (std::int64_t j = 0; j < d; ++j) dot += double(xp[i * d + j]) * xp[i * d + j];
      diag[static_cast<std::size_t>(i)] = map(static_cast<float>(dot), np[i], np[i]);
    }
  }
  return std::make_unique<CachedKernelRows>(
      l, std::move(diag), budget_bytes,
      [x, norms, params, l, d](std::int64_t i, float* out) {
        Tensor xi = empty({1, d});
        std::copy_n(x.data<float>() + i * d, d, xi.data<float>());
        Tensor ni = from_vector(std::vector<float>{norms.data<float>()[i]}, {1});
        Tensor k = empty({1, l});
        kernel_matrix(xi, x, k, params, ni, norms);
        std::copy_n(k.data<float>(), l, out);
      },
      [x, norms, params, l, d](const std::int64_t* rows, std::int64_t count, float* out) {
        Tensor xb = empty({count, d});
        Tensor nb = empty({count});
        for (std::int64_t r = 0; r < count; ++r) {
          std::copy_n(x.data<float>() + rows[r] * d, d, xb.data<float>() + r * d);
          nb.data<float>()[r] = norms.data<float>()[rows[r]];
        }
        Tensor k = empty({count, l});
        kernel_matrix(xb, x, k, params, nb, norms);
        std::copy_n(k.data<float>(), count * l, out);
      });
}

}  // namespace minidl::svm
