// minidl's one convention for the outputs of public ops (minidl.hpp): an output
// that the op overwrites and whose shape follows from the operands may be passed
// undefined, and is then allocated on the operands' device; a defined one must
// have the right shape, dtype and device. Every such op is a row here: called with
// an undefined output, it allocates the shape the preallocated call accepts, with
// the same values.
#include <functional>

#include "kernels/activation.hpp"
#include "kernels/arith.hpp"
#include "kernels/conv2d.hpp"
#include "kernels/gemm.hpp"
#include "kernels/loss.hpp"
#include "kernels/pool2d.hpp"
#include "kernels/reduce.hpp"
#include "kernels/softmax.hpp"
#include "svm/kernel_function.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

struct Row {
  const char* op;
  Shape shape;  // the output's expected shape
  DType dtype;
  std::function<void(Tensor&)> call;
};

TEST(OutputConvention, UndefinedOutputsAreAllocated) {
  Generator gen(3);
  const Tensor a = normal({4, 6}, 0.0f, 1.0f, gen);
  const Tensor b = normal({4, 6}, 0.0f, 1.0f, gen);
  const Tensor w = normal({5, 6}, 0.0f, 1.0f, gen);
  const Tensor v = normal({6}, 0.0f, 1.0f, gen);
  const Tensor img = normal({2, 3, 6, 6}, 0.0f, 1.0f, gen);
  const Tensor filt = normal({4, 3, 3, 3}, 0.0f, 1.0f, gen);
  const Tensor dy_conv = normal({2, 4, 6, 6}, 0.0f, 1.0f, gen);
  const Tensor dy_pool = normal({2, 3, 3, 3}, 0.0f, 1.0f, gen);
  const Tensor labels = from_vector({0, 3, 5, 1}, {4});
  Conv2dParams same;
  same.padding = ConvPadding::Same;
  Pool2dParams pool;  // 2 x 2, stride 2
  svm::KernelParams rbf;
  rbf.type = svm::KernelType::Rbf;
  rbf.gamma = 0.1;

  const std::vector<Row> rows{
      {"add", {4, 6}, DType::Float32, [&](Tensor& o) { add(a, b, o); }},
      {"sub", {4, 6}, DType::Float32, [&](Tensor& o) { sub(a, b, o); }},
      {"mul", {4, 6}, DType::Float32, [&](Tensor& o) { mul(a, b, o); }},
      {"scale", {4, 6}, DType::Float32, [&](Tensor& o) { scale(a, 2.0f, o); }},
      {"sum", {6}, DType::Float32, [&](Tensor& o) { sum(a, 0, o); }},
      {"mean", {4}, DType::Float32, [&](Tensor& o) { mean(a, 1, o); }},
      {"argmax", {4}, DType::Int32, [&](Tensor& o) { argmax(a, o); }},
      {"gemm", {4, 5}, DType::Float32,
       [&](Tensor& o) {
         GemmOptions g;
         g.transpose_b = true;
         gemm(a, w, o, g);
       }},
      {"gemv", {5}, DType::Float32, [&](Tensor& o) { gemv(w, v, o); }},
      {"softmax", {4, 6}, DType::Float32, [&](Tensor& o) { softmax(a, o); }},
      {"softmax_backward", {4, 6}, DType::Float32,
       [&](Tensor& o) { softmax_backward(b, softmax(a), o); }},
      {"activation_forward", {4, 6}, DType::Float32,
       [&](Tensor& o) { activation_forward(Activation::Tanh, a, o); }},
      {"activation_backward", {4, 6}, DType::Float32,
       [&](Tensor& o) { activation_backward(Activation::ReLU, b, a, Tensor(), o); }},
      {"conv2d_forward", {2, 4, 6, 6}, DType::Float32,
       [&](Tensor& o) { conv2d_forward(img, filt, Tensor(), o, same); }},
      {"conv2d_backward_data", {2, 3, 6, 6}, DType::Float32,
       [&](Tensor& o) { conv2d_backward_data(dy_conv, filt, img.shape(), o, same); }},
      {"pool2d_forward", {2, 3, 3, 3}, DType::Float32,
       [&](Tensor& o) { pool2d_forward(PoolMode::Max, img, o, pool); }},
      {"pool2d_backward", {2, 3, 6, 6}, DType::Float32,
       [&](Tensor& o) { pool2d_backward(PoolMode::Avg, img, dy_pool, o, pool); }},
      {"softmax_cross_entropy (grad)", {4, 6}, DType::Float32,
       [&](Tensor& o) {
         Tensor loss;
         softmax_cross_entropy(a, labels, loss, o);
       }},
      {"svm::kernel_matrix", {4, 4}, DType::Float32,
       [&](Tensor& o) { svm::kernel_matrix(a, b, o, rbf); }},
  };
  for (const Row& r : rows) {
    Tensor allocated;
    r.call(allocated);
    ASSERT_TRUE(allocated.defined()) << r.op;
    EXPECT_EQ(allocated.shape(), r.shape) << r.op;
    EXPECT_EQ(allocated.dtype(), r.dtype) << r.op;
    EXPECT_EQ(allocated.device(), a.device()) << r.op;
    Tensor preallocated = zeros(r.shape, Device::cpu(), r.dtype);
    r.call(preallocated);
    if (r.dtype == DType::Float32)
      EXPECT_EQ(allocated.to_vector<float>(), preallocated.to_vector<float>()) << r.op;
    else
      EXPECT_EQ(allocated.to_vector<std::int32_t>(), preallocated.to_vector<std::int32_t>())
          << r.op;
    Tensor wrong = zeros({7}, Device::cpu(), r.dtype);
    EXPECT_THROW(r.call(wrong), ShapeError) << r.op << ": a defined output of the wrong shape";
  }
}

// Outputs that are accumulated into cannot be invented: they must exist.
TEST(OutputConvention, AccumulatedOutputsMustExist) {
  const Tensor a = ones({2, 3}), b = ones({3, 4});
  Tensor c;
  GemmOptions acc;
  acc.beta = 1.0f;
  MINIDL_EXPECT_THROW_WITH(gemm(a, b, c, acc), ValueError, "c is undefined", "beta");
  Tensor y;
  MINIDL_EXPECT_THROW_WITH(gemv(a, ones({3}), y, false, 1.0f, 1.0f), ValueError, "y is undefined");
  EXPECT_THROW(axpy(1.0f, a, y), Error);
}

}  // namespace
}  // namespace minidl
