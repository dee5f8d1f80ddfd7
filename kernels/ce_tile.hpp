// The shared-memory layout of the cross-entropy tile kernel (loss_cuda.cu,
// ce_tile_kernel; K <= 32), as host + device code so the CPU tests can check it.
// Internal; not installed.
//
// A block stages kCeTileRows whole rows; thread r then walks row r, so at step k
// the 32 threads of a warp read elements (r, k) for 32 consecutive r. With the
// row stride equal to K, a K that shares a factor with 32 puts those reads in the
// same banks (K = 32: a 32-way conflict on every access; K = 10: 2-way). The rows
// are stored with an odd stride (K | 1) instead: 32 consecutive multiples of an
// odd number are distinct modulo 32, so each warp-wide access is conflict-free.
#pragma once

#include <cstdint>

#include "../core/macros.hpp"

namespace minidl::cuda_detail {

constexpr int kCeTileRows = 128;

/// The padded row stride (in floats) for K columns: K itself when odd, else K + 1.
MINIDL_HD MINIDL_INLINE int ce_tile_stride(int cols) { return cols | 1; }

/// Where element i of the tile's contiguous rows (row i / K, column i % K) lives.
MINIDL_HD MINIDL_INLINE int ce_tile_index(int i, int cols) {
  return (i / cols) * ce_tile_stride(cols) + i % cols;
}

/// Shared-memory floats of one tile.
MINIDL_HD MINIDL_INLINE int ce_tile_floats(int cols) { return kCeTileRows * ce_tile_stride(cols); }

}  // namespace minidl::cuda_detail
