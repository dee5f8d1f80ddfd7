// Layout conversions between NCHW and the blocked layouts on the CPU (kernels/layout.hpp):
// one (sample, channel block) per chunk, each a transpose of an [L, H W] slab into
// [H W, L] (L = 8 or 16); between two blocked layouts through NCHW.
#include "layout.hpp"

#include <algorithm>
#include <cstring>

#include "../core/parallel.hpp"
#include "checks.hpp"

namespace minidl {

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::NCHW:
      return "NCHW";
    case Layout::NCHW8c:
      return "NCHW8c";
    case Layout::NCHW16c:
      return "NCHW16c";
  }
  return "unknown";
}

bool layout_fits(Layout layout, std::int64_t channels) {
  return layout == Layout::NCHW || (channels > 0 && channels % channel_block(layout) == 0);
}

void check_layout(const char* op, const char* what, const Tensor& t, Layout layout) {
  if (layout == Layout::NCHW) return;
  MINIDL_CHECK(t.device().is_cpu(), ValueError, op, ": ", what, " in layout ", layout_name(layout),
               " must be a CPU tensor (blocked layouts are CPU-only), got ", t.device());
  MINIDL_CHECK(t.rank() == 4 && layout_fits(layout, t.size(1)), ValueError, op, ": ", what, " ",
               t.shape(), " cannot be held in layout ", layout_name(layout),
               " (needs [B, C, H, W] with C a multiple of ", channel_block(layout), ")");
}

void convert_layout(const Tensor& src, Layout from, Tensor& dst, Layout to) {
  const char* op = "convert_layout";
  detail::check_float(op, "src", src);
  check_layout(op, "src", src, from);
  check_layout(op, "dst", src, to);
  MINIDL_CHECK(src.device().is_cpu(), DeviceError, op, ": src must be a CPU tensor, got ",
               src.device());
  if (!dst.defined() || dst.shape() != src.shape()) dst = empty(src.shape(), src.device());
  detail::prepare_output(op, dst, src.shape(), src.device());
  MINIDL_CHECK(dst.storage() != src.storage(), ValueError, op, ": dst must not alias src");
  const float* s = src.data<float>();
  float* d = dst.data<float>();
  if (from == to || src.numel() == 0) {
    std::memcpy(d, s, src.nbytes());
    return;
  }
  if (from != Layout::NCHW && to != Layout::NCHW) {  // one blocked layout to another
    Tensor plain;
    convert_layout(src, from, plain, Layout::NCHW);
    convert_layout(plain, Layout::NCHW, dst, to);
    return;
  }
  const bool to_blocked = to != Layout::NCHW;
  const std::int64_t L = channel_block(to_blocked ? to : from);
  const std::int64_t B = src.size(0), C = src.size(1), HW = src.size(2) * src.size(3);
  const std::int64_t blocks = C / L, slab = L * HW;
  // The same slab of L HW floats in both layouts: [L, HW] in NCHW, [HW, L] blocked.
  parallel_for(B * blocks, grain_for(slab, 1 << 16), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t nb = begin; nb < end; ++nb) {
      const float* in = s + nb * slab;
      float* out = d + nb * slab;
      for (std::int64_t i = 0; i < HW; ++i)
        for (std::int64_t c = 0; c < L; ++c) {
          if (to_blocked) {
            out[i * L + c] = in[c * HW + i];
          } else {
            out[c * HW + i] = in[i * L + c];
          }
        }
    }
  });
}

Tensor to_nchw(const Tensor& t, Layout layout) {
  if (layout == Layout::NCHW) return t;
  Tensor out;
  convert_layout(t, layout, out, Layout::NCHW);
  return out;
}

}  // namespace minidl
