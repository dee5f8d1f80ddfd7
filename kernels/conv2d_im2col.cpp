// conv2d's CPU backend `cpu` (the oracle the other CPU backend is tested against): per sample,
// im2col builds col [C*K1*K2, P*Q] (zeros where the window hangs over the padding), then one
// OpenBLAS SGEMM:
//   forward          y_b [M, P*Q]     = w [M, C*K1*K2] col_b           (+ b broadcast)
//   backward data    dcol [CKK, P*Q]  = w^T dy_b,  then col2im adds it into dx_b
//   backward filter  dw [M, CKK]     += dy_b col_b^T
// With at least as many samples as threads, samples run in parallel on core/parallel.hpp's
// pool, each thread with its own col buffer (OpenBLAS runs single-threaded inside a pool
// loop); the filter gradient then sums one partial per fixed group of samples, in group
// order (deterministic whatever the thread count). With fewer samples, samples run in
// turn and OpenBLAS uses the threads.
// col_b is built a chunk of output rows at a time (at most ~768 KB, so SGEMM reads
// it from L2 rather than DRAM; one chunk for the CNN's shapes, ten of 6 rows for the
// ResNet 3x3 shape).
//
// One input channel at stride 1 (the CNN's first layer) takes kernels/conv2d_direct.cpp's
// AVX2 path instead where it applies (conv_detail::direct_applies).
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "../core/error.hpp"
#include "conv2d.hpp"
#include "conv2d_cpu.hpp"

namespace minidl::cpu {
namespace {

int bi(std::int64_t v) {
  MINIDL_CHECK(v <= INT_MAX, ShapeError, "conv2d: dimension ", v,
               " exceeds the BLAS 32-bit index range");
  return static_cast<int>(v);
}

bool is_pointwise(const Conv2dGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
         g.pad_top == 0 && g.pad_left == 0 && g.out_h == g.height && g.out_w == g.width;
}

// The output columns q whose input column q * stride + s - pad lies inside [0, W):
// [q_lo, q_hi). Outside it the window hangs over the zero padding.
void valid_columns(const Conv2dGeometry& g, std::int64_t s, std::int64_t& q_lo,
                   std::int64_t& q_hi) {
  const std::int64_t off = s - g.pad_left;  // w = q * stride + off
  q_lo = off >= 0 ? 0 : (-off + g.stride_w - 1) / g.stride_w;
  q_hi = off >= g.width ? 0 : std::min(g.out_w, (g.width - off + g.stride_w - 1) / g.stride_w);
  q_lo = std::min(q_lo, q_hi);
}

// col [C*K1*K2, (p1 - p0) * Q]: the columns of output rows [p0, p1) of one
// sample x [C, H, W]. Rows are copied in runs (a memcpy at stride 1) with the
// padding's zeros written around them.
void im2col(const Conv2dGeometry& g, const float* x, float* col, std::int64_t p0, std::int64_t p1) {
  const std::int64_t Q = g.out_w, sw = g.stride_w, ld = (p1 - p0) * Q;
  for (std::int64_t c = 0; c < g.in_channels; ++c) {
    const float* xc = x + c * g.height * g.width;
    for (std::int64_t r = 0; r < g.kernel_h; ++r) {
      for (std::int64_t s = 0; s < g.kernel_w; ++s) {
        float* row = col + ((c * g.kernel_h + r) * g.kernel_w + s) * ld;
        std::int64_t q_lo, q_hi;
        valid_columns(g, s, q_lo, q_hi);
        const std::int64_t off = s - g.pad_left;
        for (std::int64_t p = p0; p < p1; ++p) {
          const std::int64_t h = p * g.stride_h + r - g.pad_top;
          float* out = row + (p - p0) * Q;
          if (h < 0 || h >= g.height) {
            std::fill(out, out + Q, 0.0f);
            continue;
          }
          const float* xr = xc + h * g.width;  // xr[q * sw + off] is column q's input
          std::fill(out, out + q_lo, 0.0f);
          if (sw == 1) {
            std::copy(xr + q_lo + off, xr + q_hi + off, out + q_lo);
          } else {
            for (std::int64_t q = q_lo; q < q_hi; ++q) out[q] = xr[q * sw + off];
          }
          std::fill(out + q_hi, out + Q, 0.0f);
        }
      }
    }
  }
}

// dx [C, H, W] += col2im(col) for output rows [p0, p1): the transpose of im2col.
void col2im_add(const Conv2dGeometry& g, const float* col, float* dx, std::int64_t p0,
                std::int64_t p1) {
  const std::int64_t Q = g.out_w, sw = g.stride_w, ld = (p1 - p0) * Q;
  for (std::int64_t c = 0; c < g.in_channels; ++c) {
    float* dxc = dx + c * g.height * g.width;
    for (std::int64_t r = 0; r < g.kernel_h; ++r) {
      for (std::int64_t s = 0; s < g.kernel_w; ++s) {
        const float* row = col + ((c * g.kernel_h + r) * g.kernel_w + s) * ld;
        std::int64_t q_lo, q_hi;
        valid_columns(g, s, q_lo, q_hi);
        const std::int64_t off = s - g.pad_left;
        for (std::int64_t p = p0; p < p1; ++p) {
          const std::int64_t h = p * g.stride_h + r - g.pad_top;
          if (h < 0 || h >= g.height) continue;
          float* dxr = dxc + h * g.width;
          const float* in = row + (p - p0) * Q;
          if (sw == 1) {  // contiguous: a loop the compiler vectorizes
            float* dst = dxr + off;
            for (std::int64_t q = q_lo; q < q_hi; ++q) dst[q] += in[q];
          } else {
            for (std::int64_t q = q_lo; q < q_hi; ++q) dxr[q * sw + off] += in[q];
          }
        }
      }
    }
  }
}

// Output rows per im2col chunk: the chunk's columns (C K1 K2 x rows Q floats) stay
// within ~768 KB, so im2col's writes are still in L2 when SGEMM reads them (a
// whole ResNet-size sample's col, 7 MB, would go through DRAM twice).
std::int64_t chunk_rows(const Conv2dGeometry& g) {
  constexpr std::int64_t kChunkFloats = 196608;
  const std::int64_t ckk = g.in_channels * g.kernel_h * g.kernel_w;
  const std::int64_t cols = std::max(g.out_w, kChunkFloats / ckk);
  return is_pointwise(g) ? g.out_h : std::clamp<std::int64_t>(cols / g.out_w, 1, g.out_h);
}

// sample(n, col) for every sample n, each thread with its own column buffer of col_size
// floats: samples in parallel when batch_parallel(g), else in order on this thread,
// leaving the cores to OpenBLAS inside each GEMM.
template <class F>
void for_each_sample(const Conv2dGeometry& g, std::size_t col_size, F&& sample) {
  auto range = [&](std::int64_t n0, std::int64_t n1) {
    float* col = conv_detail::thread_scratch(col_size);
    for (std::int64_t n = n0; n < n1; ++n) sample(n, col);
  };
  if (conv_detail::batch_parallel(g)) {
    parallel_for(g.batch, conv_detail::sample_grain(g), range);
  } else {
    range(0, g.batch);
  }
}

}  // namespace

void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                    float* y, bool relu) {
  if (conv_detail::direct_applies(g)) return conv_detail::direct_forward(g, x, w, b, y, relu);
  const std::int64_t M = g.out_channels, PQ = g.out_h * g.out_w;
  const std::int64_t CKK = g.in_channels * g.kernel_h * g.kernel_w;
  const std::int64_t x_step = g.in_channels * g.height * g.width, y_step = M * PQ;
  const bool pointwise = is_pointwise(g);
  const std::int64_t rows = chunk_rows(g), Q = g.out_w;
  auto sample = [&](std::int64_t n, float* col) {
    float* yn = y + n * y_step;
    const float* xn = x + n * x_step;
    if (b != nullptr) {
      for (std::int64_t m = 0; m < M; ++m) std::fill(yn + m * PQ, yn + (m + 1) * PQ, b[m]);
    }
    for (std::int64_t p0 = 0; p0 < g.out_h; p0 += rows) {
      const std::int64_t p1 = std::min(g.out_h, p0 + rows), nc = (p1 - p0) * Q;
      const float* src = xn + p0 * Q;
      std::int64_t ld = PQ;
      if (!pointwise) {
        im2col(g, xn, col, p0, p1);
        src = col;
        ld = nc;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(M), bi(nc), bi(CKK), 1.0f, w,
                  bi(CKK), src, bi(ld), b != nullptr ? 1.0f : 0.0f, yn + p0 * Q, bi(PQ));
    }
    if (relu) conv_detail::relu_in_place(yn, y_step);
  };
  for_each_sample(g, pointwise ? 0 : static_cast<std::size_t>(CKK * rows * Q), sample);
}

void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx) {
  if (conv_detail::direct_applies(g)) return conv_detail::direct_backward_data(g, dy, w, dx);
  const std::int64_t M = g.out_channels, PQ = g.out_h * g.out_w;
  const std::int64_t CKK = g.in_channels * g.kernel_h * g.kernel_w;
  const std::int64_t x_step = g.in_channels * g.height * g.width, y_step = M * PQ;
  const bool pointwise = is_pointwise(g);
  const std::int64_t rows = chunk_rows(g), Q = g.out_w;
  auto sample = [&](std::int64_t n, float* col) {
    float* dxn = dx + n * x_step;
    const float* dyn = dy + n * y_step;
    if (pointwise) {  // dx_n = w^T dy_n directly
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi(CKK), bi(PQ), bi(M), 1.0f, w, bi(CKK),
                  dyn, bi(PQ), 0.0f, dxn, bi(PQ));
      return;
    }
    std::fill(dxn, dxn + x_step, 0.0f);
    for (std::int64_t p0 = 0; p0 < g.out_h; p0 += rows) {
      const std::int64_t p1 = std::min(g.out_h, p0 + rows), nc = (p1 - p0) * Q;
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi(CKK), bi(nc), bi(M), 1.0f, w, bi(CKK),
                  dyn + p0 * Q, bi(PQ), 0.0f, col, bi(nc));
      col2im_add(g, col, dxn, p0, p1);
    }
  };
  for_each_sample(g, pointwise ? 0 : static_cast<std::size_t>(CKK * rows * Q), sample);
}

void conv2d_backward_filter(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                            float beta) {
  if (conv_detail::direct_applies(g)) return conv_detail::direct_backward_filter(g, x, dy, dw, beta);
  const std::int64_t M = g.out_channels, PQ = g.out_h * g.out_w;
  const std::int64_t CKK = g.in_channels * g.kernel_h * g.kernel_w;
  const std::int64_t x_step = g.in_channels * g.height * g.width, y_step = M * PQ;
  const std::int64_t wsize = M * CKK;
  const bool pointwise = is_pointwise(g);
  const std::int64_t rows = chunk_rows(g), Q = g.out_w;
  // acc [M, CKK] += dy_n [M, PQ] col_n^T [PQ, CKK], a chunk of output rows at a time
  auto sample = [&](std::int64_t n, float* col, float* acc) {
    const float* xn = x + n * x_step;
    const float* dyn = dy + n * y_step;
    for (std::int64_t p0 = 0; p0 < g.out_h; p0 += rows) {
      const std::int64_t p1 = std::min(g.out_h, p0 + rows), nc = (p1 - p0) * Q;
      const float* src = xn + p0 * Q;
      std::int64_t ld = PQ;
      if (!pointwise) {
        im2col(g, xn, col, p0, p1);
        src = col;
        ld = nc;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(M), bi(CKK), bi(nc), 1.0f,
                  dyn + p0 * Q, bi(PQ), src, bi(ld), 1.0f, acc, bi(CKK));
    }
  };
  const std::size_t col_size = pointwise ? 0 : static_cast<std::size_t>(CKK * rows * Q);
  if (beta == 0.0f) std::fill(dw, dw + wsize, 0.0f);
  if (conv_detail::batch_parallel(g)) {
    // One partial per group of sample_grain(g) samples (fixed by the batch), each summed
    // in sample order by whichever thread claims the group.
    const std::int64_t grain = conv_detail::sample_grain(g);
    const std::int64_t groups = (g.batch + grain - 1) / grain;
    std::vector<float> partial(static_cast<std::size_t>(groups * wsize), 0.0f);
    parallel_chunks(groups, [&](std::int64_t group) {
      float* col = conv_detail::thread_scratch(col_size);
      float* acc = partial.data() + group * wsize;
      for (std::int64_t n = group * grain; n < std::min(g.batch, (group + 1) * grain); ++n)
        sample(n, col, acc);
    });
    // dw += sum of the partials, in group order.
    parallel_for(wsize, 4096, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) {
        float s = 0.0f;
        for (std::int64_t t = 0; t < groups; ++t)
          s += partial[static_cast<std::size_t>(t * wsize + i)];
        dw[i] = (beta == 0.0f ? 0.0f : beta * dw[i]) + s;
      }
    });
  } else {
    if (beta != 0.0f && beta != 1.0f) {
      for (std::int64_t i = 0; i < wsize; ++i) dw[i] *= beta;
    }
    float* col = conv_detail::thread_scratch(col_size);
    for (std::int64_t n = 0; n < g.batch; ++n) sample(n, col, dw);
  }
}
}  // namespace minidl::cpu
