// Graph::backward(value, upstream): back-propagation from any value with a given
// upstream gradient.
#include "layers/activation.hpp"
#include "layers/dense.hpp"
#include "layers/graph.hpp"
#include "layers/loss.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

std::vector<float> grad_of(Graph& g, const std::string& parameter) {
  for (Parameter* p : g.parameters())
    if (p->name == parameter) return p->grad.to_vector<float>();
  ADD_FAILURE() << "no parameter " << parameter;
  return {};
}

TEST(GraphBackward, FromAnyValueWithAnUpstreamGradient) {
  Graph g(Device::cpu(), 4);
  const auto x = g.input("x", {3}, DType::Float32, /*requires_grad=*/true);
  const auto y = g.input("y", {}, DType::Int32);
  const auto h = g.add(std::make_shared<Dense>(2), {x}, "hidden");
  const auto t = g.add(tanh_layer(), {h});
  const auto z = g.add(std::make_shared<Dense>(4), {t}, "out");
  const auto loss = g.add(softmax_cross_entropy_loss(), {z, y});
  g.build(5);
  Generator gen(1);
  const Tensor xs = normal({5, 3}, 0.0f, 1.0f, gen);
  const Tensor ys = from_vector({0, 1, 2, 3, 0}, {5});
  g.forward({xs, ys});

  // The oracle for a Dense value h = x W^T + b: with upstream U = d J / d h,
  // dW = U^T x, db = sum_rows U, dx = U W.
  const Tensor u = normal({5, 2}, 0.0f, 1.0f, gen);
  g.zero_grad();
  g.backward(h, u);
  const auto uv = u.to_vector<float>(), xv = xs.to_vector<float>();
  std::vector<float> dw(6, 0.0f), db(2, 0.0f);
  for (int n = 0; n < 5; ++n)
    for (int o = 0; o < 2; ++o) {
      db[static_cast<std::size_t>(o)] += uv[static_cast<std::size_t>(n * 2 + o)];
      for (int i = 0; i < 3; ++i)
        dw[static_cast<std::size_t>(o * 3 + i)] +=
            uv[static_cast<std::size_t>(n * 2 + o)] * xv[static_cast<std::size_t>(n * 3 + i)];
    }
  EXPECT_TRUE(test::all_close(grad_of(g, "hidden.weight"), dw, 1e-5f, 1e-5f));
  EXPECT_TRUE(test::all_close(grad_of(g, "hidden.bias"), db, 1e-5f, 1e-5f));
  // Layers after h did not run: their grads stay 0.
  for (float v : grad_of(g, "out.weight")) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(g.grad(x).shape(), Shape({5, 3}));

  // Chaining: backward from the loss equals backward from the logits with the
  // loss's gradient as upstream (what a second graph would hand back).
  g.zero_grad();
  g.backward(loss);
  const Tensor d_logits = g.grad(z).clone();
  const auto from_loss = grad_of(g, "hidden.weight");
  const auto from_loss_x = g.grad(x).to_vector<float>();
  g.zero_grad();
  g.backward(z, d_logits);
  EXPECT_EQ(grad_of(g, "hidden.weight"), from_loss);
  EXPECT_EQ(g.grad(x).to_vector<float>(), from_loss_x);

  // A loss value takes no upstream gradient: its layer ends every backward with d loss = 1,
  // so 2 here gave the grads of 1, silently (found in review).
  MINIDL_EXPECT_THROW_WITH(g.backward(loss, full(Shape{}, 2.0f)), ValueError,
                           "a loss layer's output", "without an upstream gradient");
}

TEST(GraphBackward, BadUpstreamGradientsAreClearErrors) {
  Graph g(Device::cpu(), 4);
  const auto x = g.input("x", {3});
  const auto a = g.add(relu_layer(), {x}, "plain");  // depends on no parameter
  const auto h = g.add(std::make_shared<Dense>(2), {a}, "hidden");
  g.build(4);
  MINIDL_EXPECT_THROW_WITH(g.backward(h, zeros({4, 2})), ValueError, "run forward first");
  g.forward({ones({4, 3})});
  MINIDL_EXPECT_THROW_WITH(g.backward(h, zeros({4, 3})), ShapeError, "'hidden'", "[4, 3]",
                           "[4, 2]");
  MINIDL_EXPECT_THROW_WITH(g.backward(h, zeros({4, 2}, Device::cpu(), DType::Int32)), DTypeError,
                           "float32");
  MINIDL_EXPECT_THROW_WITH(g.backward(h, Tensor()), ValueError, "undefined");
  MINIDL_EXPECT_THROW_WITH(g.backward(a, zeros({4, 3})), ValueError, "'plain'",
                           "nothing to differentiate");
  MINIDL_EXPECT_THROW_WITH(g.backward(h), ValueError, "not the output of a loss layer",
                           "upstream gradient");
}

}  // namespace
}  // namespace minidl
