// Reductions: checks, dispatch and the CPU loops (double accumulators).
#include "reduce.hpp"

#include <cmath>
#include <limits>

#include "../core/dispatch.hpp"
#include "../core/parallel.hpp"
#include "checks.hpp"

namespace minidl {

namespace {

struct Split {
  std::int64_t outer = 1, extent = 1, inner = 1;
  Shape reduced;
};

Split split_at(const char* op, const Shape& s, int axis) {
  const int a = axis < 0 ? axis + s.rank() : axis;
  MINIDL_CHECK(a >= 0 && a < s.rank(), ShapeError, op, ": axis ", axis,
               " is out of range for shape ", s);
  Split r;
  std::vector<std::int64_t> dims;
  for (int i = 0; i < s.rank(); ++i) {
    if (i < a) r.outer *= s[i];
    if (i > a) r.inner *= s[i];
    if (i != a) dims.push_back(s[i]);
  }
  r.extent = s[a];
  r.reduced = Shape(dims);
  return r;
}

void reduce(const char* op, const Tensor& x, int axis, Tensor& out, bool average) {
  detail::check_float(op, "x", x);
  const Split p = split_at(op, x.shape(), axis);
  detail::prepare_output(op, out, p.reduced, x.device());
  const float scale = average ? (p.extent == 0 ? std::numeric_limits<float>::quiet_NaN()
                                               : 1.0f / static_cast<float>(p.extent))
                              : 1.0f;
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(cuda::reduce_sum(x.data<float>(), out.data<float>(), p.outer, p.extent,
                                      p.inner, scale, x.device().index()));
    return;
  }
  const float* in = x.data<float>();
  float* o = out.data<float>();
  const std::int64_t outputs = p.outer * p.inner;
  parallel_for(outputs, grain_for(p.extent, 1 << 15),
               [&](std::int64_t j_begin, std::int64_t j_end) {
                 for (std::int64_t j = j_begin; j < j_end; ++j) {
                   const std::int64_t oi = j / p.inner, ii = j % p.inner;
                   const float* base = in + oi * p.extent * p.inner + ii;
                   double acc = 0.0;
                   for (std::int64_t k = 0; k < p.extent; ++k) acc += base[k * p.inner];
                   o[j] = static_cast<float>(acc * scale);
                 }
               });
}

}  // namespace

void sum(const Tensor& x, int axis, Tensor& out) { reduce("sum", x, axis, out, false); }
void mean(const Tensor& x, int axis, Tensor& out) { reduce("mean", x, axis, out, true); }

Tensor sum(const Tensor& x, int axis) {
  Tensor out;
  sum(x, axis, out);
  return out;
}
Tensor mean(const Tensor& x, int axis) {
  Tensor out;
  mean(x, axis, out);
  return out;
}
Tensor sum_all(const Tensor& x) {
  detail::check_float("sum_all", "x", x);
  return sum(x.reshape({x.numel()}), 0);
}

void argmax(const Tensor& x, Tensor& out) {
  detail::check_float("argmax", "x", x);
  MINIDL_CHECK(x.rank() >= 1, ShapeError, "argmax: needs at least one axis, got a scalar");
  const Split p = split_at("argmax", x.shape(), -1);
  MINIDL_CHECK(p.extent > 0, ShapeError, "argmax: the last axis of ", x.shape(), " is empty");
  detail::prepare_output("argmax", out, p.reduced, x.device(), DType::Int32);
  const std::int64_t rows = p.outer, cols = p.extent;
  if (x.device().is_cuda()) {
    MINIDL_CUDA_CALL(
        cuda::argmax(x.data<float>(), out.data<std::int32_t>(), rows, cols, x.device().index()));
    return;
  }
  const float* in = x.data<float>();
  std::int32_t* o = out.data<std::int32_t>();
  parallel_for(rows, grain_for(cols, 1 << 15),
               [&](std::int64_t r_begin, std::int64_t r_end) {
                 for (std::int64_t r = r_begin; r < r_end; ++r) {
                   const float* row = in + r * cols;
                   std::int64_t best = 0;
                   for (std::int64_t c = 1; c < cols && !std::isnan(row[best]); ++c) {
                     if (row[c] > row[best] || std::isnan(row[c])) best = c;
                   }
                   o[r] = static_cast<std::int32_t>(best);
                 }
               });
}

Tensor argmax(const Tensor& x) {
  Tensor out;
  argmax(x, out);
  return out;
}

}  // namespace minidl
