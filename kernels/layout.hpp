// Memory layouts of 4-D activations [B, C, H, W] on the CPU.
//
//   NCHW     minidl's layout everywhere (PyTorch's and cuDNN's default): element
//            (n, c, h, w) at ((n C + c) H + h) W + w.
//   NCHW8c   channels in blocks of 8, the block innermost: element (n, c, h, w) at
//            (((n C/8 + c/8) H + h) W + w) 8 + c%8 (oneDNN's nChw8c, the layout its AVX2
//            convolution kernels compute in). Requires C % 8 == 0: the same numel as NCHW,
//            and the first b samples are still the first b C H W elements, so a view of a
//            smaller batch is a prefix of the buffer in either layout.
//   NCHW16c  the same with blocks of 16 (oneDNN's nChw16c, the layout of its AVX-512
//            kernels; given nChw8c on an AVX-512 CPU, oneDNN 2.6 falls back to its AVX2
//            kernels). Requires C % 16 == 0.
//
// Why blocked layouts: oneDNN's convolutions read and write them; given NCHW they reorder
// their input, output and incoming gradient every call (for the CNN's second convolution,
// six copies of 0.8 to 1.6 million floats per step). The layer graph (layers/graph.cpp) keeps
// a value in NCHW8c where the layer that writes it and every layer that reads it can
// (Conv2d on oneDNN, the pooling layers), so consecutive layers pass blocked tensors without
// a reorder; Graph::value() and Graph::grad() convert such values back to NCHW, so users
// never see a blocked tensor. A Tensor does not record its layout: the caller that owns the
// buffer knows it and passes it to the ops that take one (Conv2dParams, the pooling ops,
// conv2d_backward_bias). CUDA tensors are always NCHW.
#pragma once

#include <cstdint>

#include "../core/tensor.hpp"

namespace minidl {

enum class Layout { NCHW, NCHW8c, NCHW16c };

/// The channel block of a layout: 8 or 16 for the blocked ones, 1 for NCHW.
constexpr std::int64_t channel_block(Layout layout) {
  return layout == Layout::NCHW8c ? 8 : layout == Layout::NCHW16c ? 16 : 1;
}

const char* layout_name(Layout layout);  // "NCHW", "NCHW8c", "NCHW16c"

/// Whether a [B, C, H, W] tensor with `channels` channels can be held in `layout` (NCHW
/// always; a blocked layout when channels is a positive multiple of its block).
bool layout_fits(Layout layout, std::int64_t channels);

/// Throws ValueError naming `op` and `what` unless t can be held in `layout`: NCHW always;
/// a blocked layout only for a 4-D CPU float32 tensor whose channels are a multiple of its
/// block.
void check_layout(const char* op, const char* what, const Tensor& t, Layout layout);

/// dst = src with its elements moved from layout `from` to layout `to` (the same shape and
/// values; a plain copy when from == to). Overwrites dst (allocated when undefined or of
/// another shape); dst must not alias src. CPU float32 tensors only (blocked layouts exist
/// only there).
void convert_layout(const Tensor& src, Layout from, Tensor& dst, Layout to);

/// The NCHW tensor holding the values of `t`, which is in `layout` (t itself when NCHW).
Tensor to_nchw(const Tensor& t, Layout layout);

}  // namespace minidl
