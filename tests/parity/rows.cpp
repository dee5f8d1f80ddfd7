// The rows of the CPU-vs-CUDA parity table (parity_table.hpp). One row per op or
// layer and shape; the shapes are the ones that break kernels: tails that are not a
// multiple of a block (255, 257, 2^20 + 3), a single element, empty tensors, softmax
// rows of K = 1 .. 5000 (the tile / warp / block kernels switch at 32 and 1024), more
// than 65,535 rows (a grid's y / z limit), -inf, +-1e4 and NaN inputs, and one
// tensor of more than 2^31 elements (int32 index overflow).
#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>
#include <limits>
#include <random>
#include <sstream>

#include "kernels/activation.hpp"
#include "kernels/arith.hpp"
#include "kernels/batchnorm.hpp"
#include "kernels/broadcast.hpp"
#include "kernels/columns.hpp"
#include "data/loader.hpp"
#include "kernels/conv2d.hpp"
#include "kernels/dropout.hpp"
#include "kernels/fill.hpp"
#include "kernels/gemm.hpp"
#include "kernels/loss.hpp"
#include "kernels/pool2d.hpp"
#include "kernels/reduce.hpp"
#include "kernels/softmax.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/graph.hpp"
#include "layers/loss.hpp"
#include "layers/pool.hpp"
#include "layers/sequential.hpp"
#include "layers/structural.hpp"
#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/sgd.hpp"
#include "parity_table.hpp"
#include "svm/kernel_function.hpp"
#include "svm/sparse_kernel.hpp"
#include "svm/sparse_rows_cuda.hpp"
#include "training/trainer.hpp"

namespace minidl::parity {
namespace {

/// A copy of `t` times `s` (scale() that keeps the tensor's identity simple).
Tensor scale_(const Tensor& t, float s) { return scale(t, s); }

const float kInf = std::numeric_limits<float>::infinity();
const float kNan = std::numeric_limits<float>::quiet_NaN();

// Tolerances: exact for data movement, a few ulp for elementwise math (CUDA's
// expf / tanhf against the C library's), looser where the summation order differs
// (a sum near 0 of many terms keeps their rounding error: the atol). None is looser
// than a 1% change of a value of magnitude 1, which CpuVsCpu checks is caught.
constexpr Tolerance kExact{0.0f, 0.0f};
constexpr Tolerance kUlp{1e-6f, 1e-5f};
constexpr Tolerance kSoftmax{1e-6f, 1e-4f};  // backward: y (dy - <dy, y>) cancels
constexpr Tolerance kLoss{1e-5f, 1e-4f};
constexpr Tolerance kReduce{1e-5f, 1e-4f};
constexpr Tolerance kSum{1e-3f, 1e-4f};
constexpr Tolerance kGemm{5e-4f, 1e-4f};
constexpr Tolerance kDense{1e-3f, 1e-4f};
constexpr Tolerance kConv{2e-3f, 1e-3f};

template <class... Parts>
std::string name(const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  return s.str();
}

std::string shape_name(const Shape& s) {
  std::string out;
  for (std::int64_t d : s) out += (out.empty() ? "" : "x") + std::to_string(d);
  return out.empty() ? "scalar" : out;
}

// Sizes around the block boundaries, a single element, empty, and over 2^20.
const std::vector<std::int64_t> kSizes = {0, 1, 5, 255, 256, 257, 4099, (1 << 18) + 3};

// ---- activations -------------------------------------------------------------------

void activation_rows(std::vector<Row>& rows) {
  const Activation all[] = {Activation::Identity, Activation::ReLU,    Activation::LeakyReLU,
                            Activation::Sigmoid,  Activation::Tanh,    Activation::Step};
  const auto op = [](Activation a) {
    return [a](const std::vector<Tensor>& in, Device) {
      Tensor y, dz;
      activation_forward(a, in[0], y, 0.1f);
      activation_backward(a, in[1], in[0], y, dz, 0.1f);
      return Results{{"y", y}, {"dz", dz}};
    };
  };
  for (Activation a : all) {
    for (std::int64_t n : kSizes)
      rows.push_back(op_row(name(activation_name(a), "_n", n),
                            {uniform_in({n}, 30 + n, -10.0f, 10.0f), normal_in({n}, 31 + n)},
                            op(a), kUlp));
    rows.push_back(op_row(
        name(activation_name(a), "_extremes"),
        {values_in({kNan, -kInf, -1e4f, -88.0f, -1.0f, -0.0f, 0.0f, 1e-30f, 1.0f, 88.0f, 1e4f, kInf},
                   {12}),
         normal_in({12}, 32)},
        op(a), kUlp));
    rows.push_back(op_row(name(activation_name(a), "_70000x3"),
                          {normal_in({70000, 3}, 33, 0.0f, 3.0f), normal_in({70000, 3}, 34)},
                          op(a), kUlp));
    rows.push_back(layer_row(
        name("Layer", activation_name(a), "_5x33"),
        [a](Device) { return std::static_pointer_cast<Layer>(std::make_shared<ActivationLayer>(a, 0.2f)); },
        {normal_in({5, 33}, 35, 0.0f, 2.0f)}, kUlp));
  }
}

// ---- softmax -----------------------------------------------------------------------

// (rows, K): the tile kernel (K <= 32), the warp kernel (K <= 1024), the block
// kernel (K > 1024), > 65,535 rows, one row, empty.
const std::vector<std::pair<std::int64_t, std::int64_t>> kSoftmaxShapes = {
    {1, 1},   {3, 10},   {128, 10},   {1000, 10}, {7, 31},  {300, 32}, {129, 33}, {37, 100}, {37, 257},
    {64, 1000}, {4, 1024}, {7, 1025}, {3, 5000},  {2, 16411}, {70000, 10}, {66000, 33},
    {1, 4097},  {0, 10}};

void softmax_rows(std::vector<Row>& rows) {
  const auto op = [](const std::vector<Tensor>& in, Device) {
    const Tensor y = softmax(in[0]);
    return Results{{"y", y}, {"dz", softmax_backward(in[1], y)}};
  };
  for (const auto& [n, k] : kSoftmaxShapes)
    rows.push_back(op_row(name("Softmax_", n, "x", k),
                          {normal_in({n, k}, 40 + k, 0.0f, 4.0f), normal_in({n, k}, 41 + k)}, op,
                          kSoftmax));
  for (std::int64_t k : {10, 33, 1000, 1024, 1025, 5000}) {
    // Masked logits: -inf in every third column (never a whole row).
    rows.push_back(op_row(name("Softmax_neginf_3x", k),
                          {with_value_in({3, k}, 42, 4.0f, -kInf, 3, 1), normal_in({3, k}, 43)},
                          op, kSoftmax));
    // +-1e4: exp overflows without the max shift.
    rows.push_back(op_row(name("Softmax_pm1e4_3x", k),
                          {with_value_in({3, k}, 44, 1e4f, 1e4f, 7, 2), normal_in({3, k}, 45)},
                          op, kSoftmax));
  }
  // A row that is -inf but for one entry (softmax 1 there, 0 elsewhere).
  for (std::int64_t k : {10, 2000}) {
    std::vector<float> v(std::size_t(2 * k), -kInf);
    v[3] = 0.5f;
    v[std::size_t(k + k - 1)] = -3.0f;
    rows.push_back(op_row(name("Softmax_one_finite_2x", k), {values_in(v, {2, k}), normal_in({2, k}, 46)},
                          op, kSoftmax));
  }
  rows.push_back(op_row("Softmax_special_3x3",
                        {values_in({1e4f, -1e4f, 0.0f, kNan, 1.0f, 2.0f, 5.0f, 5.0f, 5.0f}, {3, 3}),
                         normal_in({3, 3}, 49)},
                        op, kSoftmax));
  rows.push_back(layer_row("LayerSoftmax_9x1025", make<Softmax>(), {normal_in({9, 1025}, 47)}, kSoftmax));
  rows.push_back(layer_row("LayerSoftmax_2x3x10", make<Softmax>(), {normal_in({2, 3, 10}, 48)}, kSoftmax));
}

// ---- losses --------------------------------------------------------------------------

Results loss_results(const LossResult& r) { return {{"loss", r.loss}, {"grad", r.grad}}; }

void cross_entropy_rows(std::vector<Row>& rows) {
  const LossOptions sum{Reduction::Sum, true}, mean{Reduction::Mean, false};
  for (const auto& [n, k] : kSoftmaxShapes) {
    const Tolerance tol = kLoss;
    for (const auto& [tag, o] : {std::pair{"sum", sum}, std::pair{"mean", mean}}) {
      const auto op = [o = o](const std::vector<Tensor>& in, Device) {
        return loss_results(softmax_cross_entropy(in[0], in[1], o));
      };
      if (n * k > 100000 && o.reduction == Reduction::Sum) continue;  // the big ones once
      rows.push_back(op_row(name("CrossEntropy_labels_", tag, "_", n, "x", k),
                            {normal_in({n, k}, 50 + k, 0.0f, 4.0f), labels_in(n, k, 51 + k)}, op, tol));
      rows.push_back(op_row(name("CrossEntropy_soft_", tag, "_", n, "x", k),
                            {normal_in({n, k}, 52 + k, 0.0f, 4.0f), soft_targets_in({n, k}, 53 + k)},
                            op, tol));
    }
  }
  const auto op = [](const std::vector<Tensor>& in, Device) {
    return loss_results(softmax_cross_entropy(in[0], in[1]));
  };
  for (std::int64_t k : {3, 10, 40, 1000, 1024, 1025, 2000, 5000}) {
    // Labels at column 0; -inf elsewhere in every third column.
    const Maker zeros_labels = [] { return from_vector(std::vector<std::int32_t>(4, 0), {4}); };
    rows.push_back(op_row(name("CrossEntropy_neginf_4x", k),
                          {with_value_in({4, k}, 54, 4.0f, -kInf, 3, 1), zeros_labels}, op, kLoss));
    rows.push_back(op_row(name("CrossEntropy_pm1e4_4x", k),
                          {with_value_in({4, k}, 55, 1e4f, -1e4f, 5, 0), labels_in(4, k, 56)}, op,
                          kLoss));
    // The old hand-written case: 1e4 and -1e4 in one row, -88 in the next.
    std::vector<float> v(std::size_t(2 * k), 0.0f);
    v[0] = 1e4f;
    v[1] = -1e4f;
    v[std::size_t(k)] = -88.0f;
    rows.push_back(op_row(name("CrossEntropy_mixed_extremes_2x", k),
                          {values_in(v, {2, k}), [] { return from_vector(std::vector<std::int32_t>{1, 0}, {2}); }},
                          op, kLoss));
  }
  for (const auto& [tag, o] : {std::pair{"sum", sum}, std::pair{"mean", mean}}) {
    rows.push_back(layer_row(name("LayerCrossEntropy_labels_", tag, "_33x12"),
                             [o = o](Device) { return std::static_pointer_cast<Layer>(softmax_cross_entropy_loss(o)); },
                             {normal_in({33, 12}, 57), labels_in(33, 12, 58)}, kReduce));
    rows.push_back(layer_row(name("LayerCrossEntropy_soft_", tag, "_33x12"),
                             [o = o](Device) { return std::static_pointer_cast<Layer>(softmax_cross_entropy_loss(o)); },
                             {normal_in({33, 12}, 59), soft_targets_in({33, 12}, 60)}, kReduce));
  }
}

void elementwise_loss_rows(std::vector<Row>& rows) {
  const LossOptions sum{Reduction::Sum, true}, mean{Reduction::Mean, true};
  for (std::int64_t n : {std::int64_t(1), std::int64_t(3), std::int64_t(257), std::int64_t(4096),
                         std::int64_t((1 << 18) + 5)}) {
    const Tolerance tol = kLoss;
    for (const auto& [tag, o] : {std::pair{"sum", sum}, std::pair{"mean", mean}}) {
      rows.push_back(op_row(name("Bce_", tag, "_n", n),
                            {normal_in({n}, 61, 0.0f, 3.0f), uniform_in({n}, 62, 0.0f, 1.0f)},
                            [o = o](const std::vector<Tensor>& in, Device) {
                              return loss_results(bce_with_logits(in[0], in[1], o));
                            },
                            tol));
      rows.push_back(op_row(name("SquaredError_", tag, "_n", n),
                            {normal_in({n}, 63, 0.0f, 3.0f), normal_in({n}, 64)},
                            [o = o](const std::vector<Tensor>& in, Device) {
                              return loss_results(squared_error(in[0], in[1], o));
                            },
                            tol));
      rows.push_back(op_row(name("Hinge_", tag, "_n", n),
                            {normal_in({n}, 65, 0.0f, 3.0f), signs_in({n}, 66)},
                            [o = o](const std::vector<Tensor>& in, Device) {
                              return loss_results(hinge(in[0], in[1], o));
                            },
                            tol));
    }
  }
  rows.push_back(op_row("Bce_extremes",
                        {values_in({-1e4f, -88.0f, -20.0f, 0.0f, 20.0f, 88.0f, 1e4f, 1e4f}, {2, 4}),
                         values_in({1.0f, 0.0f, 0.5f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f}, {2, 4})},
                        [](const std::vector<Tensor>& in, Device) {
                          return loss_results(bce_with_logits(in[0], in[1]));
                        },
                        kLoss));
  rows.push_back(op_row("Bce_7x5x3",
                        {normal_in({7, 5, 3}, 67, 0.0f, 3.0f), uniform_in({7, 5, 3}, 68, 0.0f, 1.0f)},
                        [](const std::vector<Tensor>& in, Device) {
                          return loss_results(bce_with_logits(in[0], in[1]));
                        },
                        kReduce));
  rows.push_back(layer_row("LayerBce_9x4",
                           [](Device) { return std::static_pointer_cast<Layer>(bce_with_logits_loss()); },
                           {normal_in({9, 4}, 69), uniform_in({9, 4}, 70, 0.0f, 1.0f)}, kReduce));
  rows.push_back(layer_row("LayerSquaredError_9x4",
                           [](Device) { return std::static_pointer_cast<Layer>(squared_error_loss()); },
                           {normal_in({9, 4}, 71), normal_in({9, 4}, 72)}, kReduce));
  rows.push_back(layer_row("LayerHinge_9x4",
                           [](Device) { return std::static_pointer_cast<Layer>(hinge_loss()); },
                           {normal_in({9, 4}, 73), signs_in({9, 4}, 74)}, kReduce));
}

// ---- arithmetic, broadcast, columns, reductions --------------------------------------

void arith_rows(std::vector<Row>& rows) {
  for (std::int64_t n : kSizes) {
    const std::vector<Maker> ab = {normal_in({n}, 80), normal_in({n}, 81)};
    rows.push_back(op_row(name("Add_n", n), ab,
                          [](const std::vector<Tensor>& in, Device) { return Results{{"y", add(in[0], in[1])}}; },
                          kExact));
    rows.push_back(op_row(name("Sub_n", n), ab,
                          [](const std::vector<Tensor>& in, Device) { return Results{{"y", sub(in[0], in[1])}}; },
                          kExact));
    rows.push_back(op_row(name("Mul_n", n), ab,
                          [](const std::vector<Tensor>& in, Device) { return Results{{"y", mul(in[0], in[1])}}; },
                          kExact));
    rows.push_back(op_row(name("Scale_n", n), ab,
                          [](const std::vector<Tensor>& in, Device) { return Results{{"y", scale(in[0], -1.7f)}}; },
                          kExact));
    rows.push_back(op_row(name("Axpy_n", n), ab,
                          [](const std::vector<Tensor>& in, Device) {
                            Tensor y = in[1].clone();
                            axpy(-1.7f, in[0], y);
                            return Results{{"y", y}};
                          },
                          kExact));  // fmaf on both devices
  }
  // In place: out aliases an operand.
  rows.push_back(op_row("Add_in_place_4099", {normal_in({4099}, 82), normal_in({4099}, 83)},
                        [](const std::vector<Tensor>& in, Device) {
                          Tensor a = in[0].clone();
                          add(a, in[1], a);
                          return Results{{"y", a}};
                        },
                        kExact));
}

void broadcast_rows(std::vector<Row>& rows) {
  for (const auto& [r, c] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {1, 1}, {3, 7}, {0, 4}, {5, 1025}, {70000, 3}, {2, 70001},
           {65535 * 32 + 77, 1}}) {  // row blocks beyond grid.y's limit
    rows.push_back(op_row(name("AddRowVector_", r, "x", c), {normal_in({r, c}, 84), normal_in({c}, 85)},
                          [](const std::vector<Tensor>& in, Device) {
                            Tensor z = in[0].clone();
                            add_row_vector(z, in[1]);
                            return Results{{"z", z}};
                          },
                          kExact));
  }
  for (const auto& [r, cs, cd, off] : std::vector<std::array<std::int64_t, 4>>{
           {1, 1, 1, 0}, {3, 5, 12, 7}, {70000, 3, 8, 2}, {4, 1025, 1030, 5}, {0, 3, 5, 1}}) {
    rows.push_back(op_row(name("CopyColumns_", r, "x", cs, "_into_", cd, "_at", off),
                          {normal_in({r, cs}, 86), normal_in({r, cd}, 87)},
                          [off = off](const std::vector<Tensor>& in, Device) {
                            Tensor dst = in[1].clone();
                            copy_into_columns(in[0], dst, off);
                            Tensor back = empty(in[0].shape(), in[0].device());
                            copy_from_columns(dst, off, back);
                            return Results{{"into", dst}, {"from", back}};
                          },
                          kExact));
  }
}

void reduce_rows(std::vector<Row>& rows) {
  for (const Shape& s : std::vector<Shape>{{1, 1}, {3, 7}, {257, 1025}, {70000, 3}, {3, 70000},
                                           {0, 5}, {5, 0}, {4, 6, 9}, {2, 70000, 2}, {(1 << 18) + 3},
                                           {128, 1000}, {4096, 10}, {1, 100000}, {70000, 2, 3}}) {
    for (int axis = 0; axis < s.rank(); ++axis) {
      rows.push_back(op_row(name("Sum_", shape_name(s), "_axis", axis), {normal_in(s, 90)},
                            [axis](const std::vector<Tensor>& in, Device) {
                              return Results{{"sum", sum(in[0], axis)}};
                            },
                            kSum));
      if (s.dim(axis) > 0)  // an empty axis means NaN on both devices; one row below
        rows.push_back(op_row(name("Mean_", shape_name(s), "_axis", axis), {normal_in(s, 91)},
                              [axis](const std::vector<Tensor>& in, Device) {
                                return Results{{"mean", mean(in[0], axis)}};
                              },
                              kReduce));
    }
    rows.push_back(op_row(name("SumAll_", shape_name(s)), {normal_in(s, 92)},
                          [](const std::vector<Tensor>& in, Device) {
                            return Results{{"sum", sum_all(in[0])}};
                          },
                          kSum));
    if (s.dim(s.rank() - 1) > 0)
      rows.push_back(op_row(name("Argmax_", shape_name(s)), {normal_in(s, 93)},
                            [](const std::vector<Tensor>& in, Device) {
                              return Results{{"argmax", argmax(in[0])}};
                            },
                            kExact));
  }
  rows.push_back(op_row("Mean_0x5_axis0_nan", {normal_in({0, 5}, 94)},
                        [](const std::vector<Tensor>& in, Device) {
                          return Results{{"mean", mean(in[0], 0)}};
                        },
                        kExact));
  // Ties go to the first index; NaN counts as the largest.
  rows.push_back(op_row("Argmax_ties_and_nan",
                        {values_in({1, 3, 3, 0, kNan, 5, -kInf, -kInf, -kInf, 2, kNan, kNan}, {4, 3})},
                        [](const std::vector<Tensor>& in, Device) {
                          return Results{{"argmax", argmax(in[0])}};
                        },
                        kExact));
}

// ---- GEMM / GEMV -----------------------------------------------------------------------

void gemm_rows(std::vector<Row>& rows) {
  for (const auto& [m, n, k] : std::vector<std::array<std::int64_t, 3>>{
           {1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {128, 256, 784}, {70000, 2, 3}, {0, 4, 5}, {4, 5, 0}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const Shape as = ta ? Shape{k, m} : Shape{m, k}, bs = tb ? Shape{n, k} : Shape{k, n};
        rows.push_back(op_row(name("Gemm_", m, "x", n, "x", k, ta ? "_ta" : "", tb ? "_tb" : ""),
                              {normal_in(as, 100), normal_in(bs, 101), normal_in({m, n}, 102)},
                              [ta, tb](const std::vector<Tensor>& in, Device) {
                                Tensor c = in[2].clone();
                                gemm(in[0], in[1], c, GemmOptions{ta, tb, 0.5f, 0.0f, false});
                                Tensor acc = in[2].clone();
                                gemm(in[0], in[1], acc, GemmOptions{ta, tb, 1.0f, 1.0f, false});
                                return Results{{"c", c}, {"c_accumulated", acc}};
                              },
                              kGemm));
      }
  }
  rows.push_back(op_row("Gemm_tf32_64x48x300",
                        {normal_in({64, 300}, 103, 0.0f, 0.1f), normal_in({300, 48}, 104, 0.0f, 0.1f)},
                        [](const std::vector<Tensor>& in, Device d) {
                          Tensor c = empty({64, 48}, d);
                          gemm(in[0], in[1], c, GemmOptions{false, false, 1.0f, 0.0f, true});
                          return Results{{"c", c}};
                        },
                        {2e-3f, 5e-3f}));  // TF32: 10-bit mantissa inputs on the GPU
  for (const auto& [m, n] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {1, 1}, {7, 3}, {257, 1025}, {70000, 3}, {0, 3}}) {
    for (bool ta : {false, true}) {
      rows.push_back(op_row(name("Gemv_", m, "x", n, ta ? "_ta" : ""),
                            {normal_in({m, n}, 105), normal_in({ta ? m : n}, 106),
                             normal_in({ta ? n : m}, 107)},
                            [ta](const std::vector<Tensor>& in, Device) {
                              Tensor y = in[2].clone();
                              gemv(in[0], in[1], y, ta, 0.7f, 0.5f);
                              return Results{{"y", y}};
                            },
                            kGemm));
    }
  }
}

// ---- fills and random numbers (the same Philox stream on both devices) -----------------

void fill_rows(std::vector<Row>& rows) {
  // Odd sizes: the tail of the last Philox block (4 numbers) and the unaligned path.
  for (std::int64_t n : {std::int64_t(0), std::int64_t(1), std::int64_t(2), std::int64_t(7),
                         std::int64_t(257), std::int64_t(100003), std::int64_t((1 << 20) + 3)}) {
    rows.push_back(op_row(name("Fill_n", n), {},
                          [n](const std::vector<Tensor>&, Device d) {
                            Tensor f = empty({n}, d), i = empty({n}, d, DType::Int32);
                            fill(f, -2.5);
                            fill(i, 7);
                            return Results{{"f32", f}, {"i32", i}};
                          },
                          kExact));
    rows.push_back(op_row(name("Arange_n", n), {},
                          [n](const std::vector<Tensor>&, Device d) {
                            Tensor f = empty({n}, d), i = empty({n}, d, DType::Int32);
                            fill_arange(f, -100.0, 0.37);
                            fill_arange(i, 5.0, 3.0);
                            return Results{{"f32", f}, {"i32", i}};
                          },
                          kExact));
    rows.push_back(op_row(name("Uniform_n", n), {},
                          [n](const std::vector<Tensor>&, Device d) {
                            Generator gen(77);
                            return Results{{"u", uniform({n}, -2.0f, 3.0f, gen, d)},
                                           {"u_next_draw", uniform({n}, 0.0f, 1.0f, gen, d)}};
                          },
                          kExact));
    rows.push_back(op_row(name("Normal_n", n), {},
                          [n](const std::vector<Tensor>&, Device d) {
                            Generator gen(78);
                            return Results{{"z", normal({n}, 1.0f, 2.0f, gen, d)}};
                          },
                          {1e-6f, 2e-7f}));  // CUDA's double log / sin / cos against glibc's
  }
}

// ---- dropout -----------------------------------------------------------------------------

void dropout_rows(std::vector<Row>& rows) {
  for (float p : {0.0f, 0.3f, 0.9f})
    for (std::int64_t n : {std::int64_t(1), std::int64_t(257), std::int64_t((1 << 18) + 3)}) {
      rows.push_back(op_row(name("Dropout_p", int(p * 10), "_n", n), {normal_in({n}, 110), normal_in({n}, 111)},
                            [p](const std::vector<Tensor>& in, Device) {
                              const Generator::Draw draw{42, 7};
                              Tensor y, dx;
                              dropout_forward(in[0], y, p, draw);
                              dropout_backward(in[1], dx, p, draw);
                              return Results{{"y", y}, {"dx", dx}};
                            },
                            kExact));
    }
  rows.push_back(layer_row("LayerDropout_train_16x33", make<Dropout>(0.3f), {normal_in({16, 33}, 112)}, kExact));
  rows.push_back(layer_row("LayerDropout_eval_16x33", make<Dropout>(0.3f), {normal_in({16, 33}, 113)}, kExact,
                           LayerRowOptions{false, {}}));
}

// ---- dense and the structural layers ----------------------------------------------------

void dense_rows(std::vector<Row>& rows) {
  for (const auto& [b, in, out] : std::vector<std::array<std::int64_t, 3>>{
           {1, 1, 1}, {7, 3, 5}, {128, 784, 256}, {70000, 3, 2}, {33, 1025, 10}}) {
    rows.push_back(layer_row(name("LayerDense_", b, "x", in, "_to_", out), make<Dense>(out),
                             {normal_in({b, in}, 120)}, kDense));
  }
  rows.push_back(layer_row("LayerDense_nobias_9x6_to_4", make<Dense>(4, DenseOptions{false}),
                           {normal_in({9, 6}, 121)}, kDense));
  DenseOptions tf32;
  tf32.allow_tf32 = true;
  rows.push_back(layer_row("LayerDense_tf32_32x300_to_20", make<Dense>(20, tf32), {normal_in({32, 300}, 122, 0.0f, 0.1f)},
                           {5e-3f, 5e-3f}));
}

void structural_rows(std::vector<Row>& rows) {
  rows.push_back(layer_row("LayerFlatten_3x2x5x7", make<Flatten>(), {normal_in({3, 2, 5, 7}, 130)}, kExact));
  rows.push_back(layer_row("LayerReshape_4x12_to_3x2x2", make<Reshape>(Shape{3, 2, 2}),
                           {normal_in({4, 12}, 131)}, kExact));
  rows.push_back(layer_row("LayerAdd_2_inputs_5x7", make<Add>(), {normal_in({5, 7}, 132), normal_in({5, 7}, 133)},
                           kExact));
  rows.push_back(layer_row("LayerAdd_3_inputs_70000x2", make<Add>(),
                           {normal_in({70000, 2}, 134), normal_in({70000, 2}, 135), normal_in({70000, 2}, 136)},
                           kUlp));
  rows.push_back(layer_row("LayerConcat_2_inputs_5x3_5x4", make<Concat>(),
                           {normal_in({5, 3}, 137), normal_in({5, 4}, 138)}, kExact));
  rows.push_back(layer_row("LayerConcat_3_inputs_1x1_1x1025_1x2", make<Concat>(),
                           {normal_in({1, 1}, 139), normal_in({1, 1025}, 140), normal_in({1, 2}, 141)},
                           kExact));
}

// ---- convolution: every geometry through cuDNN, minidl's own kernel and auto --------------

struct ConvCase {
  std::int64_t b, c, h, w, m, kh, kw, stride;
  ConvPadding padding;
  std::int64_t pad_h, pad_w;
  /// cuDNN takes symmetric padding only ("same" with an even kernel is not).
  bool symmetric() const {
    return padding != ConvPadding::Same || (kh % 2 == 1 && kw % 2 == 1);
  }
};

LayerMaker conv_on(ConvBackend backend, const ConvCase& g,
                   Activation activation = Activation::Identity) {
  return [backend, g, activation](Device d) {
    Conv2dOptions o;
    o.activation = activation;
    o.stride_h = o.stride_w = g.stride;
    o.padding = g.padding;
    o.pad_h = g.pad_h;
    o.pad_w = g.pad_w;
    o.backend = d.is_cuda() ? backend : ConvBackend::Cpu;
    return std::static_pointer_cast<Layer>(std::make_shared<Conv2d>(g.m, g.kh, g.kw, o));
  };
}

void conv_rows(std::vector<Row>& rows) {
  const std::vector<std::pair<const char*, ConvCase>> cases = {
      {"1x1x1x1_k1", {1, 1, 1, 1, 1, 1, 1, 1, ConvPadding::Valid, 0, 0}},
      {"4x1x8x8_k3_same", {4, 1, 8, 8, 5, 3, 3, 1, ConvPadding::Same, 0, 0}},
      {"2x3x7x9_k3_valid", {2, 3, 7, 9, 4, 3, 3, 1, ConvPadding::Valid, 0, 0}},
      {"2x3x11x10_k5_same", {2, 3, 11, 10, 6, 5, 5, 1, ConvPadding::Same, 0, 0}},
      {"3x2x9x9_k3_stride2_valid", {3, 2, 9, 9, 3, 3, 3, 2, ConvPadding::Valid, 0, 0}},
      {"2x2x10x7_k4_same", {2, 2, 10, 7, 3, 4, 4, 1, ConvPadding::Same, 0, 0}},  // uneven padding
      {"2x3x8x8_k2x3_explicit1x2", {2, 3, 8, 8, 2, 2, 3, 1, ConvPadding::Explicit, 1, 2}},
      {"1x4x5x5_k5_valid", {1, 4, 5, 5, 7, 5, 5, 1, ConvPadding::Valid, 0, 0}},  // a 1x1 output
      {"8x32x14x14_k5_same", {8, 32, 14, 14, 64, 5, 5, 1, ConvPadding::Same, 0, 0}},  // the CNN's second
      {"16x1x28x28_k5_same", {16, 1, 28, 28, 32, 5, 5, 1, ConvPadding::Same, 0, 0}},   // and first
      {"0x3x6x6_k3_valid", {0, 3, 6, 6, 2, 3, 3, 1, ConvPadding::Valid, 0, 0}},        // empty batch
      {"1x130x3x3_k1_stride1", {1, 130, 3, 3, 33, 1, 1, 1, ConvPadding::Valid, 0, 0}},
  };
  for (const auto& [label, g] : cases) {
    // The kernels themselves: backward-filter and -bias overwriting and accumulating.
    for (const auto& [bname, backend] :
         {std::pair{"cudnn", ConvBackend::Cudnn}, std::pair{"own", ConvBackend::Own}}) {
      if (backend == ConvBackend::Cudnn && !g.symmetric()) continue;
      const Shape xs{g.b, g.c, g.h, g.w}, ws{g.m, g.c, g.kh, g.kw};
      const std::int64_t backend_id = static_cast<std::int64_t>(backend);
      rows.push_back(op_row(
          name("Conv2dKernels_", bname, "_", label),
          {normal_in(xs, 151), normal_in(ws, 152, 0.0f, 0.3f), normal_in({g.m}, 153), normal_in(ws, 154)},
          [g = g, backend_id](const std::vector<Tensor>& in, Device d) {
            Conv2dParams p;
            p.stride_h = p.stride_w = g.stride;
            p.padding = g.padding;
            p.pad_h = g.pad_h;
            p.pad_w = g.pad_w;
            p.backend = d.is_cuda() ? static_cast<ConvBackend>(backend_id) : ConvBackend::Cpu;
            Tensor y;
            conv2d_forward(in[0], in[1], in[2], y, p);
            const Tensor dy = normal_in(y.shape(), 155)().to(d);
            Tensor dx, dw = in[3].clone(), dw_acc = in[3].clone(), db = in[2].clone(),
                       db_acc = in[2].clone();
            conv2d_backward_data(dy, in[1], in[0].shape(), dx, p);
            conv2d_backward_filter(in[0], dy, dw, p, false);
            conv2d_backward_filter(in[0], dy, dw_acc, p, true);
            conv2d_backward_bias(dy, db, false);
            conv2d_backward_bias(dy, db_acc, true);
            // A second forward with the same geometry reuses the cached plan.
            Tensor y2;
            conv2d_forward(in[0], in[1], in[2], y2, p);
            return Results{{"y", y},   {"dx", dx},         {"dw", dw}, {"dw_accumulated", dw_acc},
                           {"db", db}, {"db_accumulated", db_acc}, {"y_again", y2}};
          },
          kConv));
    }
    for (const auto& [bname, backend] :
         {std::pair{"cudnn", ConvBackend::Cudnn}, std::pair{"own", ConvBackend::Own},
          std::pair{"auto", ConvBackend::Auto}}) {
      if (backend == ConvBackend::Cudnn && !g.symmetric()) continue;
      rows.push_back(layer_row(name("LayerConv2d_", bname, "_", label), conv_on(backend, g),
                               {normal_in({g.b, g.c, g.h, g.w}, 150)}, kConv));
    }
  }
  // Conv2d with a fused ReLU (CPU: the ReLU in oneDNN's post-op or after the `cpu` backend;
  // CUDA: after cuDNN's or the own kernel's convolution), the CNN's shapes and an uneven
  // padding.
  for (const auto& [label, g] : cases) {
    const std::string l = label;
    if (l != "8x32x14x14_k5_same" && l != "16x1x28x28_k5_same" && l != "2x2x10x7_k4_same") continue;
    for (const auto& [bname, backend] :
         {std::pair{"cudnn", ConvBackend::Cudnn}, std::pair{"own", ConvBackend::Own},
          std::pair{"auto", ConvBackend::Auto}}) {
      if (backend == ConvBackend::Cudnn && !g.symmetric()) continue;
      rows.push_back(layer_row(name("LayerConv2dRelu_", bname, "_", label),
                               conv_on(backend, g, Activation::ReLU),
                               {normal_in({g.b, g.c, g.h, g.w}, 156)}, kConv));
    }
  }
}

// ---- pooling and batch normalisation -----------------------------------------------------

void pool_rows(std::vector<Row>& rows) {
  struct PoolCase {
    const char* label;
    Shape x;
    Pool2dParams p;
  };
  const std::vector<PoolCase> cases = {
      {"1x1x1x1_k1", {1, 1, 1, 1}, {1, 1, 0, 0, 0, 0, true}},
      {"2x3x8x8_k2", {2, 3, 8, 8}, {2, 2, 0, 0, 0, 0, true}},
      {"2x3x9x7_k2", {2, 3, 9, 7}, {2, 2, 0, 0, 0, 0, true}},  // odd sizes: a dropped tail
      {"2x2x9x9_k3_s2_p1", {2, 2, 9, 9}, {3, 3, 2, 2, 1, 1, true}},
      {"2x2x9x9_k3_s2_p1_exclude_pad", {2, 2, 9, 9}, {3, 3, 2, 2, 1, 1, false}},
      {"3x4x10x6_k3x2_s1", {3, 4, 10, 6}, {3, 2, 1, 1, 0, 0, true}},  // overlapping windows
      {"70000x1x2x2_k2", {70000, 1, 2, 2}, {2, 2, 0, 0, 0, 0, true}},  // > 65,535 planes
      {"0x3x4x4_k2", {0, 3, 4, 4}, {2, 2, 0, 0, 0, 0, true}},
  };
  for (const PoolCase& c : cases) {
    rows.push_back(layer_row(name("LayerMaxPool2d_", c.label), make<MaxPool2d>(c.p), {normal_in(c.x, 160)}, kExact));
    rows.push_back(layer_row(name("LayerAvgPool2d_", c.label), make<AvgPool2d>(c.p), {normal_in(c.x, 161)}, kUlp));
  }
  // Max pooling with ties: the gradient goes to one element (the first) on both devices.
  rows.push_back(layer_row("LayerMaxPool2d_ties_2x2x6x6_k2", make<MaxPool2d>(Pool2dParams{}),
                           {[] { return full({2, 2, 6, 6}, 1.5); }}, kExact));
}

void batchnorm_rows(std::vector<Row>& rows) {
  for (const Shape& s : std::vector<Shape>{{2, 3, 3, 3}, {1, 1, 1, 2}, {8, 16, 5, 7}, {128, 4, 1, 1},
                                           {2, 5, 129, 257}, {70000, 2, 1, 1}}) {
    const Tolerance tol = s.numel() > 10000 ? Tolerance{5e-4f, 5e-4f} : Tolerance{1e-4f, 1e-4f};
    rows.push_back(layer_row(name("LayerBatchNorm2d_train_", shape_name(s)), make<BatchNorm2d>(),
                             {normal_in(s, 170, 1.0f, 2.0f)}, tol));
    rows.push_back(layer_row(name("LayerBatchNorm2d_eval_", shape_name(s)), make<BatchNorm2d>(),
                             {normal_in(s, 171, 1.0f, 2.0f)}, tol, LayerRowOptions{false, {}}));
  }
}

// ---- optimizers and clipping ------------------------------------------------------------

/// Three steps of an optimizer over two parameters (n and 7 elements) from the same
/// weights and gradients: the weights and the state after each.
template <class MakeOpt>
Row optimizer_row(std::string row_name, std::int64_t n, MakeOpt make_opt) {
  return op_row(std::move(row_name), {normal_in({n}, 180), normal_in({7}, 181)},
                [n, make_opt](const std::vector<Tensor>& in, Device d) {
                  Parameter a{"a", in[0].clone(), zeros({n}, d)};
                  Parameter b{"b", in[1].clone(), zeros({7}, d)};
                  auto opt = make_opt(std::vector<Parameter*>{&a, &b});
                  Results r;
                  for (int step = 0; step < 3; ++step) {
                    a.grad.copy_from(normal_in({n}, 190 + step)());
                    b.grad.copy_from(normal_in({7}, 195 + step)());
                    opt->step();
                    r.emplace_back(name("a.step", step), a.value.clone());
                    r.emplace_back(name("b.step", step), b.value.clone());
                  }
                  for (auto& [sname, t] : opt->state_tensors()) r.emplace_back(sname, t.clone());
                  return r;
                },
                {1e-6f, 1e-5f});
}

void optimizer_rows(std::vector<Row>& rows) {
  for (std::int64_t n : {std::int64_t(1), std::int64_t(257), std::int64_t((1 << 18) + 3)}) {
    const auto sgd = [](SgdOptions o) {
      return [o](std::vector<Parameter*> p) { return std::make_unique<Sgd>(p, o); };
    };
    rows.push_back(optimizer_row(name("Sgd_n", n), n, sgd({0.1f, 0.0f, false, 0.0f})));
    rows.push_back(optimizer_row(name("Sgd_momentum_n", n), n, sgd({0.1f, 0.9f, false, 0.0f})));
    rows.push_back(optimizer_row(name("Sgd_nesterov_decay_n", n), n, sgd({0.05f, 0.8f, true, 1e-2f})));
    const auto adam = [](AdamOptions o) {
      return [o](std::vector<Parameter*> p) { return std::make_unique<Adam>(p, o); };
    };
    rows.push_back(optimizer_row(name("Adam_n", n), n, adam({1e-2f, 0.9f, 0.999f, 1e-8f, 0.0f, false})));
    rows.push_back(optimizer_row(name("Adam_l2_n", n), n, adam({1e-2f, 0.8f, 0.99f, 1e-6f, 1e-2f, false})));
    rows.push_back(optimizer_row(name("AdamW_n", n), n, [](std::vector<Parameter*> p) {
      return std::make_unique<AdamW>(p, AdamWOptions{1e-2f, 0.9f, 0.999f, 1e-8f, 5e-2f});
    }));
  }
  for (const auto& [label, max_norm, scale] :
       std::vector<std::tuple<const char*, float, float>>{{"clips", 1.0f, 1.0f}, {"under_max", 1e6f, 1.0f},
                                                          {"tiny_grads", 1.0f, 1e-20f}}) {
    for (std::int64_t n : {std::int64_t(1), std::int64_t((1 << 18) + 3)}) {
      rows.push_back(op_row(name("ClipGradNorm_", label, "_n", n), {normal_in({n}, 200), normal_in({5, 3}, 201)},
                            [n, max_norm = max_norm, scale = scale](const std::vector<Tensor>& in, Device d) {
                              Parameter a{"a", zeros({n}, d), scale_(in[0], scale)};
                              Parameter b{"b", zeros({5, 3}, d), scale_(in[1], scale)};
                              const Tensor norm = clip_grad_norm({&a, &b}, max_norm);
                              return Results{{"norm", norm}, {"a.grad", a.grad}, {"b.grad", b.grad}};
                            },
                            {1e-30f, 1e-5f}));
    }
  }
}

// ---- SVM kernel rows --------------------------------------------------------------------

void svm_rows(std::vector<Row>& rows) {
  using svm::KernelParams;
  using svm::KernelType;
  const std::vector<KernelParams> kernels = {{KernelType::Linear, 1.0, 0.0, 3},
                                             {KernelType::Polynomial, 0.1, 1.0, 3},
                                             {KernelType::Rbf, 0.05, 0.0, 3},
                                             {KernelType::Sigmoid, 0.01, -0.5, 3}};
  for (const auto& [m, n, d] : std::vector<std::array<std::int64_t, 3>>{
           {1, 1, 1}, {300, 257, 70}, {33, 1025, 5}, {70000, 2, 3}, {5, 3, 784}}) {
    for (const KernelParams& p : kernels) {
      rows.push_back(op_row(name("SvmKernelMatrix_", svm::kernel_name(p.type), "_", m, "x", n, "_d", d),
                            {normal_in({m, d}, 210), normal_in({n, d}, 211)},
                            [p, m = m, n = n](const std::vector<Tensor>& in, Device dev) {
                              Tensor k = empty({m, n}, dev);
                              svm::kernel_matrix(in[0], in[1], k, p);
                              return Results{{"k", k}};
                            },
                            {1e-4f, 1e-4f}));
    }
    rows.push_back(op_row(name("SvmGammaScale_", m, "x", d), {normal_in({m, d}, 213, 0.5f, 2.0f)},
                          [](const std::vector<Tensor>& in, Device) {
                            return Results{{"gamma_scale", full({}, svm::gamma_scale(in[0]))},
                                           {"gamma_auto", full({}, svm::gamma_auto(in[0]))}};
                          },
                          {1e-6f, 1e-5f}));
    rows.push_back(op_row(name("SvmRowSqNorms_", m, "_d", d), {normal_in({m, d}, 212)},
                          [](const std::vector<Tensor>& in, Device) {
                            return Results{{"norms", svm::row_sq_norms(in[0])}};
                          },
                          {1e-5f, 1e-5f}));
  }
  // The GPU solver's sparse working-set rows (cuSPARSE SpMM + the kernel map,
  // svm/sparse_rows_cuda.hpp) against the CPU's sparse dot products: K(x_s[ws[w]],
  // x_s[u]) for a sub-problem s of the samples. Shapes: a 32%-dense set; 2*10^6
  // features with every fourth row empty (the dense block of working-set rows then
  // takes 8 at a time: 3 SpMMs); a sub-problem with no non-zeros at all.
  struct SparseCase {
    const char* label;
    std::int64_t n, d, per_row;  // per_row < 0: every entry with |normal| > 1
    int q;
  };
  for (const SparseCase& c : {SparseCase{"l150_d70", 300, 70, -1, 64},
                              SparseCase{"l25_d2000000", 50, 2000000, 300, 24},
                              SparseCase{"empty_rows", 30, 9, 0, 6}}) {
    for (const KernelParams& p : kernels) {
      Row row;
      row.name = name("SvmSparseWorkingSetRows_", svm::kernel_name(p.type), "_", c.label);
      row.tol = {1e-4f, 1e-4f};
      row.run = [c, p](Device dev) {
        svm::CsrMatrix x;
        x.cols = c.d;
        std::mt19937_64 gen(77);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::uniform_int_distribution<std::int32_t> col(0, static_cast<std::int32_t>(c.d - 1));
        std::vector<std::int32_t> cols;
        std::vector<float> vals;
        for (std::int64_t i = 0; i < c.n; ++i) {
          cols.clear();
          vals.clear();
          if (c.per_row < 0) {
            for (std::int32_t j = 0; j < c.d; ++j) {
              const float v = normal(gen);
              if (std::fabs(v) > 1.0f) {
                cols.push_back(j);
                vals.push_back(v * 0.3f);
              }
            }
          } else if (i % 4 != 1) {  // every fourth row empty
            for (std::int64_t t = 0; t < c.per_row; ++t) cols.push_back(col(gen));
            std::sort(cols.begin(), cols.end());
            cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
            for (std::size_t t = 0; t < cols.size(); ++t) vals.push_back(normal(gen) * 0.1f);
          }
          x.append_row(cols.data(), vals.data(), static_cast<std::int64_t>(cols.size()));
        }
        // The sub-problem: every other sample from the end, or for "empty_rows"
        // every sample (all empty).
        std::vector<std::int64_t> samples;
        for (std::int64_t i = c.n - 1; i >= 0; i -= (c.per_row == 0 ? 1 : 2)) samples.push_back(i);
        std::vector<int> ws;
        for (int w = 0; w < c.q; ++w)
          ws.push_back(static_cast<int>((w * 7) % static_cast<int>(samples.size())));
        const auto l = static_cast<std::int64_t>(samples.size());
        std::vector<float> k;
        if (dev.is_cuda()) {
          k = svm::cuda::sparse_working_set_rows(x, samples, ws, p, dev.index());
        } else {
          const svm::CsrMatrix sub = svm::csr_gather_rows(x, samples);
          const svm::SparseKernel kernel(sub, p);
          const std::vector<std::int64_t> ws_rows(ws.begin(), ws.end());
          k.resize(static_cast<std::size_t>(c.q * l));
          kernel.rows(sub, kernel.norms().data(), ws_rows.data(), c.q, k.data());
        }
        return Results{{"k", from_vector(k, {c.q, l}, dev)}};
      };
      rows.push_back(std::move(row));
    }
  }
}

// ---- whole models: a few training steps ----------------------------------------------------

Results train_steps(Sequential& net, const Tensor& x, const Tensor& y, int steps, float lr) {
  Results r;
  for (int s = 0; s < steps; ++s) {
    r.emplace_back(name("loss.step", s), full({}, net.train_step(x, y)));
    for (Parameter* p : net.graph().parameters()) axpy(-lr, p->grad, p->value);
  }
  for (Parameter* p : net.graph().parameters()) r.emplace_back(p->name, p->value);
  return r;
}

void model_rows(std::vector<Row>& rows) {
  rows.push_back(op_row("ModelMlp_sgd_5_steps", {normal_in({32, 8}, 220), labels_in(32, 3, 221)},
                        [](const std::vector<Tensor>& in, Device d) {
                          Sequential net({8}, d, 7);
                          net.add(std::make_shared<Dense>(16)).add(relu_layer()).add(std::make_shared<Dense>(3));
                          net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
                          net.build(32);
                          return train_steps(net, in[0], in[1], 5, 0.1f);
                        },
                        {1e-5f, 1e-4f}));
  // The DataLoader, batch for batch over two epochs (shuffled, normalised, a partial
  // last batch). Each batch is cloned on the compute stream as soon as it comes and
  // read back only at the end: a copy that overwrote a pinned slot or a device
  // buffer before the clone ran (a missing or misplaced event) shows as a mismatch.
  for (const auto& [pname, prefetch] :
       {std::pair{"on", LoaderPrefetch::On}, std::pair{"off", LoaderPrefetch::Off}}) {
    rows.push_back(op_row(name("DataLoader_prefetch_", pname, "_1000x784"), {},
                          [prefetch = prefetch](const std::vector<Tensor>&, Device d) {
                            const Tensor images = uniform_in({1000, 784}, 228, 0.0f, 1.0f)();
                            const Tensor labels = labels_in(1000, 10, 229)();
                            LoaderOptions o;
                            o.batch_size = 96;  // 10 full batches and one of 40
                            o.seed = 17;
                            o.mean = 0.3f;
                            o.stddev = 0.35f;
                            o.prefetch = prefetch;
                            o.device = d;
                            DataLoader loader(images, labels, o);
                            Results r;
                            std::vector<std::int32_t> sizes;
                            for (std::int64_t epoch : {0, 1}) {
                              loader.start_epoch(epoch);
                              Batch batch;
                              while (loader.next(batch)) {
                                const std::string tag = name("epoch", epoch, ".batch", batch.index);
                                r.emplace_back(tag + ".x", batch.x.clone());
                                r.emplace_back(tag + ".y", batch.y.clone());
                                sizes.push_back(std::int32_t(batch.size));
                              }
                            }
                            r.emplace_back("sizes", from_vector(sizes));
                            return r;
                          },
                          kExact));
  }
  // A graph with fan-out (x feeds two Dense layers and a Concat): summed gradients.
  rows.push_back(op_row("ModelGraph_diamond_9x6", {normal_in({9, 6}, 224), normal_in({9, 3}, 225)},
                        [](const std::vector<Tensor>& in, Device d) {
                          Graph g(d, 5);
                          const Graph::Value x = g.input("x", {6}, DType::Float32, true);
                          const Graph::Value y = g.input("y", {3});
                          const Graph::Value a = g.add(std::make_shared<Dense>(4), {x});
                          const Graph::Value b = g.add(std::make_shared<Dense>(4), {x});
                          const Graph::Value s = g.add(std::make_shared<Add>(), {a, b});
                          const Graph::Value r = g.add(tanh_layer(), {s});
                          const Graph::Value c = g.add(std::make_shared<Concat>(), {x, r});
                          const Graph::Value o = g.add(std::make_shared<Dense>(3), {c});
                          const Graph::Value l = g.add(squared_error_loss(), {o, y});
                          g.build(9);
                          g.zero_grad();
                          g.forward(in);
                          g.backward(l);
                          Results res{{"loss", g.value(l)}, {"out", g.value(o)}, {"dx", g.grad(x)}};
                          for (Parameter* p : g.parameters()) res.emplace_back(p->name, p->grad);
                          return res;
                        },
                        {1e-5f, 1e-4f}));
  // The library's training loop over a DataLoader (pinned buffers and copy overlap
  // on CUDA): two epochs of Adam, shuffled, with a partial last batch.
  rows.push_back(op_row("ModelTrainer_mlp_adam_2_epochs", {},
                        [](const std::vector<Tensor>&, Device d) {
                          const Tensor images = normal_in({100, 12}, 226)();
                          const Tensor labels = labels_in(100, 4, 227)();
                          Sequential net({12}, d, 9);
                          net.add(std::make_shared<Dense>(16)).add(relu_layer()).add(std::make_shared<Dense>(4));
                          net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
                          net.build(32);
                          Adam adam(net.graph().parameters(), AdamOptions{1e-2f});
                          LoaderOptions lo;
                          lo.batch_size = 32;
                          lo.seed = 3;
                          lo.device = d;
                          DataLoader loader(images, labels, lo);
                          TrainerOptions o;
                          o.epochs = 2;
                          const std::vector<EpochMetrics> history = Trainer(net, adam, o).fit(loader);
                          Results r;
                          for (const EpochMetrics& m : history)
                            r.emplace_back(name("train_loss.epoch", m.epoch), full({}, m.train_loss));
                          for (Parameter* p : net.graph().parameters()) r.emplace_back(p->name, p->value);
                          return r;
                        },
                        {1e-5f, 1e-4f}));
  for (const auto& [bname, backend] : {std::pair{"cudnn", ConvBackend::Cudnn}, std::pair{"own", ConvBackend::Own}}) {
    rows.push_back(op_row(name("ModelCnn_", bname, "_3_steps"), {normal_in({6, 1, 12, 12}, 222), labels_in(6, 4, 223)},
                          [backend = backend](const std::vector<Tensor>& in, Device d) {
                            Sequential net({1, 12, 12}, d, 8);
                            Conv2dOptions o = Conv2dOptions::same();
                            o.backend = d.is_cuda() ? backend : ConvBackend::Cpu;
                            net.add(std::make_shared<Conv2d>(5, 3, o))
                                .add(std::make_shared<BatchNorm2d>())
                                .add(relu_layer())
                                .add(std::make_shared<MaxPool2d>(2))
                                .add(std::make_shared<Flatten>())
                                .add(std::make_shared<Dropout>(0.25f))
                                .add(std::make_shared<Dense>(4));
                            net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
                            net.build(6);
                            return train_steps(net, in[0], in[1], 3, 0.05f);
                          },
                          {1e-4f, 1e-3f}));
  }
}

// ---- more than 2^31 elements -----------------------------------------------------------------

void big_rows(std::vector<Row>& rows) {
  const std::int64_t n = (std::int64_t(1) << 31) + 1027;
  Row row = op_row("ReLU_big_2p31_plus_1027",
                   {[n] {
                     Tensor t = empty({n});
                     float* v = t.data<float>();
                     for (std::int64_t i = 0; i < n; ++i) v[i] = float(int(i % 2003) - 1001);
                     return t;
                   }},
                   [](const std::vector<Tensor>& in, Device) {
                     Tensor y = relu(in[0]);
                     return Results{{"y", y}};
                   },
                   kExact);
  row.big_bytes = std::size_t(n) * 4 * 2 + (std::size_t(1) << 30);  // x, y and a margin
  // x on the host (made twice: once per device), the CPU's y, the GPU's y read back.
  row.big_host_bytes = std::size_t(n) * 4 * 4 + (std::size_t(2) << 30);
  rows.push_back(std::move(row));
}

}  // namespace

const std::vector<Row>& all_rows() {
  static const std::vector<Row> rows = [] {
    std::vector<Row> r;
    activation_rows(r);
    softmax_rows(r);
    cross_entropy_rows(r);
    elementwise_loss_rows(r);
    arith_rows(r);
    broadcast_rows(r);
    reduce_rows(r);
    gemm_rows(r);
    fill_rows(r);
    dropout_rows(r);
    dense_rows(r);
    structural_rows(r);
    conv_rows(r);
    pool_rows(r);
    batchnorm_rows(r);
    optimizer_rows(r);
    svm_rows(r);
    model_rows(r);
    big_rows(r);
    return r;
  }();
  return rows;
}

}  // namespace minidl::parity
