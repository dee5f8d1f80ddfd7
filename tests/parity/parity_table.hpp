// The CPU-vs-CUDA parity table (the way ggml's test-backend-ops does it): every op
// and every layer is a row. A row's `run` does the work on one device (forward,
// backward, optimizer steps: whatever the op has) from inputs made on the CPU from a
// fixed seed, and returns named results. The harness runs it on the CPU and on CUDA
// and compares every result element-wise with |got - ref| <= atol + rtol * |ref|,
// printing the first mismatches (index, both values).
//
//   Parity/CpuVsCuda.Matches/<row>   the table (skips without a GPU)
//   Parity/CpuVsCpu.Matches/<row>    the machinery on this machine: every row run
//                                    twice on the CPU must agree, and each of its
//                                    results perturbed must be caught
//
// A new op costs one line in rows.cpp: op_row(...) or layer_row(...).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "layers/layer.hpp"

namespace minidl::parity {

/// |got - ref| <= atol + rtol * |ref|. Equal values (also +-inf) and two NaNs match;
/// int32 results must match exactly.
struct Tolerance {
  float atol = 1e-5f;
  float rtol = 1e-5f;
};

/// The named results of one run (forward output, input and parameter gradients, ...).
using Results = std::vector<std::pair<std::string, Tensor>>;

/// Makes one input on the CPU, the same every call (a fixed seed).
using Maker = std::function<Tensor()>;

struct Row {
  std::string name;  ///< unique; letters, digits and '_' (a gtest parameter name)
  Tolerance tol;
  /// The row's work on `device`; the results may stay on that device.
  std::function<Results(Device device)> run;
  /// Device bytes a run needs when that is a lot (> 2^31-element rows): skipped when
  /// the GPU has less free or MINIDL_PARITY_SKIP_BIG is set, and never run CPU-vs-CPU.
  std::size_t big_bytes = 0;
  /// Host bytes such a row needs (inputs, the CPU results and the GPU's read back):
  /// skipped when the machine has less available.
  std::size_t big_host_bytes = 0;
};

// ---- the comparison -------------------------------------------------------------

struct Mismatch {
  std::int64_t index;
  double got;
  double ref;
};

/// How one result compared.
struct Comparison {
  std::string name;
  std::int64_t count = 0;       ///< elements compared
  std::int64_t mismatches = 0;  ///< elements outside the tolerance
  std::vector<Mismatch> first;  ///< the first few of them, in index order
  std::string error;            ///< shape / dtype / name mismatch: nothing compared
  bool ok() const { return error.empty() && mismatches == 0; }
};

/// Compares `got` with `ref` (both read back to the host), keeping up to `keep`
/// mismatches.
Comparison compare(const std::string& name, const Tensor& got, const Tensor& ref,
                   const Tolerance& tol, std::size_t keep = 5);

/// "dx: 3 of 1000 elements differ (atol 1e-05, rtol 1e-05)\n  [17] got 1.5, expected 1.25 ..."
std::string describe(const Comparison& c, const Tolerance& tol);

/// Compares two runs' results: the same names in the same order, each within `tol`.
::testing::AssertionResult results_match(const Results& got, const Results& ref,
                                         const Tolerance& tol);

/// A copy of `results` on the host with one element of result `which` changed: the
/// middle one (else the next finite one) moved by 1e-2 * max(1, |value|), or, with
/// no finite element, the middle one set to 0. An int32 element gets 1 added. The
/// flag is false when the result is empty.
std::pair<Results, bool> perturbed(const Results& results, std::size_t which);

// ---- building rows --------------------------------------------------------------

/// Float32 inputs, made on the CPU from `seed`.
Maker normal_in(Shape shape, std::uint64_t seed, float mean = 0.0f, float stddev = 1.0f);
Maker uniform_in(Shape shape, std::uint64_t seed, float low, float high);
/// int32 labels in [0, classes) for `rows` samples.
Maker labels_in(std::int64_t rows, std::int64_t classes, std::uint64_t seed);
/// -1 / +1 at random.
Maker signs_in(Shape shape, std::uint64_t seed);
/// Soft targets: each row a probability distribution over the last axis.
Maker soft_targets_in(Shape shape, std::uint64_t seed);
/// Exactly these values.
Maker values_in(std::vector<float> values, Shape shape);
/// normal_in(shape, seed, 0, stddev) with `value` at every `every`-th element
/// (from `first`): -inf logits, +-1e4, NaN.
Maker with_value_in(Shape shape, std::uint64_t seed, float stddev, float value,
                    std::int64_t every, std::int64_t first = 0);

/// A row over an op: the inputs are made on the CPU, moved to the device, and handed
/// to `op`, which returns the results.
Row op_row(std::string name, std::vector<Maker> inputs,
           std::function<Results(const std::vector<Tensor>& inputs, Device device)> op,
           Tolerance tol = {});

struct LayerRowOptions {
  bool training = true;
  /// Inputs that get a gradient; empty: every float32 input (loss layers: input 0).
  std::vector<std::size_t> grad_inputs;
};

/// A row over a layer: built on each device from the same seed (the initial
/// parameters are compared: "init.<name>"), then its parameters and buffers are set
/// to the same random values on both devices, forward (result "y"), backward from
/// a random d_output (1 for a loss: results "dx<i>", "grad.<name>") and the buffers
/// after the step ("buffer.<name>").
/// Makes the layer for a device (most ignore it; a convolution picks its backend).
using LayerMaker = std::function<std::shared_ptr<Layer>(Device device)>;

Row layer_row(std::string name, LayerMaker make, std::vector<Maker> inputs, Tolerance tol = {},
              LayerRowOptions options = {});

/// A LayerMaker for `T(args...)` on every device.
template <class T, class... Args>
LayerMaker make(Args... args) {
  return [=](Device) { return std::static_pointer_cast<Layer>(std::make_shared<T>(args...)); };
}

/// The table (rows.cpp).
const std::vector<Row>& all_rows();

}  // namespace minidl::parity
