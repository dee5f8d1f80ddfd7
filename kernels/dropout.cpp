// Dropout: checks, dispatch, CPU loop (one Philox block of 4 elements per step,
// the same mapping as the CUDA kernel).
#include "dropout.hpp"

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "checks.hpp"

namespace minidl {

namespace {

void apply(const char* op, const Tensor& in, Tensor& out, float p, Generator::Draw draw) {
  detail::check_float(op, "input", in);
  MINIDL_CHECK(p >= 0.0f && p < 1.0f, ValueError, op,
               ": the drop probability must be in [0, 1), got ", p);
  detail::prepare_output(op, out, in.shape(), in.device());
  const std::int64_t n = in.numel();
  if (in.device().is_cuda()) {
    MINIDL_CUDA_CALL(
        cuda::dropout(in.data<float>(), out.data<float>(), n, p, draw, in.device().index()));
    return;
  }
  const DropoutMask mask{p, 1.0f / (1.0f - p)};
  const float* x = in.data<float>();
  float* y = out.data<float>();
  const std::int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, (1 << 15) / 4, [&](std::int64_t b_begin, std::int64_t b_end) {
    for (std::int64_t b = b_begin; b < b_end; ++b) {
      const Philox4x32 r = philox_block(draw.seed, draw.offset, static_cast<std::uint64_t>(b));
      for (int j = 0; j < 4 && 4 * b + j < n; ++j) y[4 * b + j] = mask(r.v[j], x[4 * b + j]);
    }
  });
}

}  // namespace

void dropout_forward(const Tensor& x, Tensor& y, float p, Generator::Draw draw) {
  apply("dropout_forward", x, y, p, draw);
}

void dropout_backward(const Tensor& dy, Tensor& dx, float p, Generator::Draw draw) {
  apply("dropout_backward", dy, dx, p, draw);
}

}  // namespace minidl
