#include "layers/graph.hpp"

#include "gradcheck.hpp"
#include "kernels/arith.hpp"
#include "layers/activation.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/jacobian.hpp"
#include "layers/loss.hpp"
#include "layers/sequential.hpp"
#include "layers/structural.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

// x -> a = dense(x), b = tanh(dense(x)) ; s = a + b ; c = concat(s, a) ; out = dense(c)
// x fans out to two layers, a fans out to Add and Concat, Add and Concat fan in.
struct DiamondNet {
  Graph g;
  Graph::Value x, y, out, loss;
  explicit DiamondNet(Device device = Device::cpu()) : g(device, 123) {
    x = g.input("x", {3});
    y = g.input("y", {2});
    const auto a = g.add(std::make_shared<Dense>(4), {x}, "a");
    const auto b0 = g.add(std::make_shared<Dense>(4), {x}, "b0");
    const auto b = g.add(tanh_layer(), {b0}, "b");
    const auto s = g.add(std::make_shared<Add>(), {a, b}, "s");
    const auto c = g.add(std::make_shared<Concat>(), {s, a}, "c");
    out = g.add(std::make_shared<Dense>(2), {c}, "out");
    loss = g.add(squared_error_loss(LossOptions{Reduction::Sum, true}), {out, y}, "loss");
  }
};

// d loss / d parameter from backward against central differences, for every
// parameter of a graph where values fan out and layers fan in.
TEST(Graph, FanOutAndFanInGradientsMatchCentralDifferences) {
  DiamondNet net;
  net.g.build(5);
  Generator gen(1);
  const Tensor x = normal({5, 3}, 0.0f, 1.0f, gen), y = normal({5, 2}, 0.0f, 1.0f, gen);
  net.g.zero_grad();
  net.g.forward({x, y});
  net.g.backward(net.loss);
  for (Parameter* p : net.g.parameters()) {
    const auto analytic = p->grad.to_vector<float>();
    const Tensor original = p->value.clone();
    Tensor probe = p->value.clone();
    auto f = [&](const Tensor& v) {
      p->value.copy_from(v);
      net.g.forward({x, y});
      return static_cast<double>(net.g.value(net.loss).item<float>());
    };
    const auto numeric = test::numerical_gradient(f, probe, 1e-2f);
    p->value.copy_from(original);
    EXPECT_TRUE(test::gradients_agree(analytic, numeric, 5e-3)) << p->name;
  }
}

// The generalised Jacobian of the graph output with respect to its input, by
// backward (seeding through a squared error with targets chosen so that
// d loss / d out = dy) and by central differences.
TEST(Graph, InputJacobianMatchesNumericalJacobian) {
  DiamondNet net;
  net.g.build(2);
  Generator gen(2);
  const Tensor x = normal({2, 3}, 0.0f, 1.0f, gen);
  auto f = [&](const Tensor& xi) {
    net.g.forward({xi, zeros({2, 2})});
    return net.g.value(net.out).clone();
  };
  const Tensor numeric = numerical_jacobian(f, x, 1e-2f);
  EXPECT_EQ(numeric.shape(), (Shape{2, 2, 2, 3}));
  // Sum-reduced squared error has d loss / d out = 2 (out - y): choose y = out - dy / 2.
  // The same net, with an input that asks for its gradient.
  Graph g2(Device::cpu(), 123);
  const auto x2 = g2.input("x", {3}, DType::Float32, /*requires_grad=*/true);
  const auto y2 = g2.input("y", {2});
  const auto a = g2.add(std::make_shared<Dense>(4), {x2}, "a");
  const auto b0 = g2.add(std::make_shared<Dense>(4), {x2}, "b0");
  const auto b = g2.add(tanh_layer(), {b0}, "b");
  const auto s = g2.add(std::make_shared<Add>(), {a, b}, "s");
  const auto c = g2.add(std::make_shared<Concat>(), {s, a}, "c");
  const auto out2 = g2.add(std::make_shared<Dense>(2), {c}, "out");
  const auto loss2 =
      g2.add(squared_error_loss(LossOptions{Reduction::Sum, true}), {out2, y2}, "loss");
  g2.build(2);
  // Same seed and same creation order: same parameters as net.
  for (std::size_t i = 0; i < g2.parameters().size(); ++i) {
    ASSERT_EQ(g2.parameters()[i]->value.to_vector<float>(),
              net.g.parameters()[i]->value.to_vector<float>());
  }
  auto vjp = [&](const Tensor& dy) {
    g2.forward({x, zeros({2, 2})}, out2);
    const Tensor target = sub(g2.value(out2), scale(dy, 0.5f));
    g2.forward({x, target});
    g2.backward(loss2);
    return g2.grad(x2).clone();
  };
  const Tensor analytic = backward_jacobian(vjp, Shape{2, 2}, x.shape());
  EXPECT_TRUE(
      test::all_close(analytic.to_vector<float>(), numeric.to_vector<float>(), 2e-3f, 5e-3f));
}

TEST(Graph, SmallerBatchesUseViewsOfTheBuffers) {
  DiamondNet net;
  net.g.build(8);
  Generator gen(3);
  const Tensor x = normal({8, 3}, 0.0f, 1.0f, gen), y = normal({8, 2}, 0.0f, 1.0f, gen);
  net.g.forward({x, y});
  const auto full = net.g.value(net.out).to_vector<float>();
  const Tensor x3(x.clone().storage(), Shape{3, 3}, DType::Float32);
  const Tensor y3(y.clone().storage(), Shape{3, 2}, DType::Float32);
  net.g.forward({x3, y3});
  EXPECT_EQ(net.g.value(net.out).shape(), (Shape{3, 2}));
  const auto part = net.g.value(net.out).to_vector<float>();
  for (std::size_t i = 0; i < part.size(); ++i) EXPECT_EQ(part[i], full[i]);
  MINIDL_EXPECT_THROW_WITH(net.g.forward({zeros({9, 3}), zeros({9, 2})}), ShapeError, "'x'",
                           "n <= 8", "[9, 3]");
  MINIDL_EXPECT_THROW_WITH(net.g.forward({zeros({2, 3}), zeros({3, 2})}), ShapeError, "'y'",
                           "batch 3");
  MINIDL_EXPECT_THROW_WITH(net.g.forward({zeros({2, 4}), zeros({2, 2})}), ShapeError, "'x'",
                           "[n, 3]");
}

TEST(Graph, BuildErrorsNameTheLayerAndShapes) {
  Graph g;
  const auto x = g.input("x", {3});
  const auto a = g.add(std::make_shared<Dense>(4), {x}, "a");
  const auto b = g.add(std::make_shared<Dense>(5), {x}, "b");
  g.add(std::make_shared<Add>(), {a, b}, "sum");
  MINIDL_EXPECT_THROW_WITH(g.build(2), ShapeError, "Add 'sum'", "[B, 5]", "[B, 4]");
  MINIDL_EXPECT_THROW_WITH(g.add(relu_layer(), {42}), ValueError, "value 42");
  MINIDL_EXPECT_THROW_WITH(g.add(relu_layer(), {x}, "a"), ValueError, "'a' is taken");
  auto shared = relu_layer();
  g.add(shared, {x});
  MINIDL_EXPECT_THROW_WITH(g.add(shared, {x}), ValueError, "already in the graph");
  const auto y = g.input("y", {4});
  const auto l = g.add(squared_error_loss(), {a, y}, "l");
  MINIDL_EXPECT_THROW_WITH(g.add(relu_layer(), {l}), ValueError, "'l' is a loss");
  Graph empty_graph;
  MINIDL_EXPECT_THROW_WITH(empty_graph.build(2), ValueError, "no layers");
  MINIDL_EXPECT_THROW_WITH(g.forward({zeros({1, 3}), zeros({1, 4})}), ValueError, "build");
}

TEST(Graph, SummaryCountsAndNames) {
  Sequential net({784}, Device::cpu(), 1);
  net.add(std::make_shared<Dense>(256))
      .add(relu_layer())
      .add(std::make_shared<Dense>(128))
      .add(relu_layer());
  net.add(std::make_shared<Dense>(10)).loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(128);
  EXPECT_EQ(net.graph().parameter_count(), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  const std::string s = net.graph().summary();
  for (const char* part :
       {"dense1 (Dense)", "[B, 256]", "200,960", "relu2 (ReLU)", "loss (SoftmaxCrossEntropy)",
        "Total parameters: 235,146", "x (Input)", "[B, 784]"}) {
    EXPECT_NE(s.find(part), std::string::npos) << part << "\n" << s;
  }
  std::vector<std::string> names;
  for (Parameter* p : net.graph().parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"dense1.weight", "dense1.bias", "dense2.weight",
                                             "dense2.bias", "dense3.weight", "dense3.bias"}));
}

TEST(Graph, EvalModeTurnsDropoutOff) {
  Sequential net({6}, Device::cpu(), 2);
  net.add(std::make_shared<Dropout>(0.5f));
  net.build(4);
  const Tensor x = ones({4, 6});
  net.graph().eval();
  EXPECT_EQ(net.predict(x).to_vector<float>(), x.to_vector<float>());
  net.graph().train();
  EXPECT_NE(net.predict(x).to_vector<float>(), x.to_vector<float>());
}

// A few SGD steps on a fixed problem lower the loss (a plain update: w -= lr grad).
float sgd_steps(Device device, int steps, std::vector<float>* losses) {
  Sequential net({8}, device, 7);
  net.add(std::make_shared<Dense>(16)).add(relu_layer()).add(std::make_shared<Dense>(3));
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(32);
  Generator gen(9);
  const Tensor x = normal({32, 8}, 0.0f, 1.0f, gen, device);
  std::vector<std::int32_t> labels;
  const auto xv = x.to_vector<float>();
  for (int i = 0; i < 32; ++i)
    labels.push_back(xv[static_cast<std::size_t>(i * 8)] > 0
                         ? 1
                         : (xv[static_cast<std::size_t>(i * 8 + 1)] > 0 ? 2 : 0));
  const Tensor y = from_vector(labels, {32}, device);
  float last = 0;
  for (int s = 0; s < steps; ++s) {
    last = net.train_step(x, y);
    if (losses) losses->push_back(last);
    for (Parameter* p : net.graph().parameters()) axpy(-0.1f, p->grad, p->value);
  }
  return last;
}

TEST(Graph, SgdStepsLowerTheLoss) {
  std::vector<float> losses;
  sgd_steps(Device::cpu(), 30, &losses);
  EXPECT_LT(losses.back(), 0.5f * losses.front());
}

TEST(GraphCuda, ToMovesParametersAndBuffers) {
  MINIDL_REQUIRE_CUDA();
  DiamondNet net;
  net.g.build(4);
  Generator gen(4);
  const Tensor x = normal({4, 3}, 0.0f, 1.0f, gen), y = normal({4, 2}, 0.0f, 1.0f, gen);
  net.g.forward({x, y});
  const float cpu_loss = net.g.value(net.loss).item<float>();
  net.g.to(Device::cuda());
  EXPECT_EQ(net.g.parameters()[0]->value.device(), Device::cuda(0));
  net.g.forward({x.to(Device::cuda()), y.to(Device::cuda())});
  EXPECT_NEAR(net.g.value(net.loss).item<float>(), cpu_loss, 1e-4f * std::fabs(cpu_loss) + 1e-5f);
  MINIDL_EXPECT_THROW_WITH(net.g.forward({x, y}), DeviceError, "'x'", "cpu", "cuda:0");
}

}  // namespace
}  // namespace minidl
