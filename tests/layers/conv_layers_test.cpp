// Conv2d, MaxPool2d, AvgPool2d and Reshape layers: gradient checks through
// tests/layers/layer_check.hpp, build errors, and a small CNN graph.
#include <cmath>

#include "kernels/activation.hpp"
#include "kernels/conv2d.hpp"
#include "layer_check.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/dense.hpp"
#include "layers/graph.hpp"
#include "layers/loss.hpp"
#include "layers/pool.hpp"
#include "layers/sequential.hpp"
#include "layers/structural.hpp"

namespace minidl {
namespace {

TEST(Conv2dLayer, Gradients) {
  Generator gen(1);
  Conv2d same(3, 3, Conv2dOptions::same());
  test::check_layer_gradients(same, {normal({2, 2, 5, 4}, 0.0f, 1.0f, gen)});
  Conv2d strided(2, 2, 3, Conv2dOptions::valid(2));
  test::check_layer_gradients(strided, {normal({1, 3, 6, 7}, 0.0f, 1.0f, gen)});
  Conv2dOptions no_bias = Conv2dOptions::same();
  no_bias.bias = false;
  Conv2d nb(2, 4, no_bias);  // even kernel: asymmetric same padding
  test::check_layer_gradients(nb, {normal({2, 1, 5, 5}, 0.0f, 1.0f, gen)});
  EXPECT_EQ(nb.parameters().size(), 1u);
}

// Conv2d with a fused ReLU against Conv2d followed by a ReLU layer, in two graphs built from
// one seed (the same weights): the same outputs, input gradients and parameter gradients, bit
// for bit, on every CPU backend; and the fused layer's own gradient check.
TEST(Conv2dLayer, FusedReluIsConvThenRelu) {
  std::vector<ConvBackend> backends{ConvBackend::Cpu, ConvBackend::Auto};
  if (cpu::onednn_available()) backends.push_back(ConvBackend::OneDnn);
  for (ConvBackend backend : backends) {
    SCOPED_TRACE(conv_backend_name(backend));
    Conv2dOptions o = Conv2dOptions::same();
    o.backend = backend;
    Sequential two({3, 9, 9}, Device::cpu(), 4);
    two.add(Conv2d(6, 3, o), "conv").add(relu_layer()).add<Flatten>().add(Dense(5), "logits");
    two.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
    two.build(4);
    o.activation = Activation::ReLU;
    Sequential one({3, 9, 9}, Device::cpu(), 4);
    one.add(Conv2d(6, 3, o), "conv").add<Flatten>().add(Dense(5), "logits");
    one.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
    one.build(4);
    Generator gen(12);
    const Tensor x = normal({4, 3, 9, 9}, 0.0f, 1.0f, gen);
    const Tensor y = from_vector(std::vector<std::int32_t>{0, 3, 4, 1}, Shape{4});
    EXPECT_EQ(one.train_step(x, y), two.train_step(x, y));
    EXPECT_EQ(one.predict(x).to_vector<float>(), two.predict(x).to_vector<float>());
    const std::vector<Parameter*> p1 = one.graph().parameters(), p2 = two.graph().parameters();
    ASSERT_EQ(p1.size(), p2.size());
    for (std::size_t i = 0; i < p1.size(); ++i) {
      EXPECT_EQ(p1[i]->name, p2[i]->name);
      EXPECT_EQ(p1[i]->grad.to_vector<float>(), p2[i]->grad.to_vector<float>()) << p1[i]->name;
    }
  }
  Conv2dOptions fused = Conv2dOptions::same();
  fused.activation = Activation::ReLU;
  Conv2d c(3, 3, fused);
  Generator gen(8);
  // Small steps (h = 1e-3): an output within h |dz/dx| of ReLU's kink would make the central
  // difference straddle it; with this seed none is.
  test::check_layer_gradients(c, {normal({2, 2, 5, 4}, 0.0f, 1.0f, gen)}, 5e-3, 1e-3f);
  EXPECT_EQ(c.activation(), Activation::ReLU);
  Conv2dOptions bad;
  bad.activation = Activation::Tanh;
  MINIDL_EXPECT_THROW_WITH(Conv2d(2, 3, bad), ValueError, "identity or relu", "tanh");
}

TEST(Conv2dLayer, ForwardIsTheOp) {
  Generator gen(2);
  Conv2d c(4, 3, Conv2dOptions::same());
  const Tensor x = normal({2, 3, 6, 6}, 0.0f, 1.0f, gen);
  const Tensor y = layer_output(c, {x});
  EXPECT_EQ(y.shape(), (Shape{2, 4, 6, 6}));
  c.bias().value.copy_from(normal({4}, 0.0f, 1.0f, gen));
  Conv2dParams p;
  p.padding = ConvPadding::Same;
  EXPECT_TRUE(test::all_close(layer_output(c, {x}).to_vector<float>(),
                              conv2d(x, c.weight().value, c.bias().value, p).to_vector<float>(),
                              0.0f, 0.0f));
  EXPECT_EQ(c.weight().value.shape(), (Shape{4, 3, 3, 3}));
}

TEST(Conv2dLayer, BuildErrorsNameTheLayerAndShapes) {
  Generator gen(0);
  const BuildContext ctx{Device::cpu(), &gen};
  Conv2d c(8, 5);
  c.set_name("conv1");
  MINIDL_EXPECT_THROW_WITH(c.build({Shape{2, 784}}, {DType::Float32}, ctx), ShapeError,
                           "Conv2d 'conv1'", "[B, 784]", "Reshape");
  MINIDL_EXPECT_THROW_WITH(c.build({Shape{2, 1, 4, 4}}, {DType::Float32}, ctx), ShapeError,
                           "Conv2d 'conv1'", "larger", "[B, 1, 4, 4]");
  c.build({Shape{2, 3, 8, 8}}, {DType::Float32}, ctx);
  MINIDL_EXPECT_THROW_WITH(c.build({Shape{2, 4, 8, 8}}, {DType::Float32}, ctx), ShapeError,
                           "'conv1'", "3 input channels", "[B, 4, 8, 8]");
  MINIDL_EXPECT_THROW_WITH(Conv2d(0, 3), ValueError, "out_channels");
  // In a graph: the errors surface at build().
  Sequential net({1, 3, 3}, Device::cpu(), 1);
  net.add(std::make_shared<Conv2d>(4, 5), "too_big");
  MINIDL_EXPECT_THROW_WITH(net.build(2), ShapeError, "Conv2d 'too_big'", "[B, 1, 3, 3]");
  Conv2dOptions rgb = Conv2dOptions::same();
  rgb.in_channels = 3;
  Sequential grey({1, 8, 8}, Device::cpu(), 1);
  grey.add(std::make_shared<Conv2d>(4, 3, rgb), "rgb_conv");
  MINIDL_EXPECT_THROW_WITH(grey.build(2), ShapeError, "Conv2d 'rgb_conv'", "expects 3 input",
                           "[B, 1, 8, 8]");
  Sequential flat({64}, Device::cpu(), 1);
  flat.add(std::make_shared<Conv2d>(4, 3), "needs_image");
  MINIDL_EXPECT_THROW_WITH(flat.build(2), ShapeError, "Conv2d 'needs_image'", "[B, 64]");
}

TEST(PoolLayers, GradientsAndShapes) {
  std::vector<float> vals(2 * 3 * 6 * 5);
  for (std::size_t i = 0; i < vals.size(); ++i) vals[i] = static_cast<float>((i * 53) % 97) * 0.1f;
  const Tensor x = from_vector(vals, {2, 3, 6, 5});
  MaxPool2d mp(2);
  EXPECT_EQ(layer_output(mp, {x}).shape(), (Shape{2, 3, 3, 2}));
  test::check_layer_gradients(mp, {x});
  MaxPool2d mp3(3, 2, 1);
  test::check_layer_gradients(mp3, {x});
  AvgPool2d ap(3, 1, 1);
  EXPECT_EQ(layer_output(ap, {x}).shape(), (Shape{2, 3, 6, 5}));
  test::check_layer_gradients(ap, {x});
  EXPECT_EQ(mp.type(), "MaxPool2d");
  EXPECT_EQ(ap.type(), "AvgPool2d");
  Generator gen(0);
  const BuildContext ctx{Device::cpu(), &gen};
  mp.set_name("pool");
  MINIDL_EXPECT_THROW_WITH(mp.build({Shape{2, 8}}, {DType::Float32}, ctx), ShapeError,
                           "MaxPool2d 'pool'", "[B, 8]");
  MaxPool2d big(4);
  big.set_name("big");
  MINIDL_EXPECT_THROW_WITH(big.build({Shape{2, 1, 3, 3}}, {DType::Float32}, ctx), ShapeError,
                           "MaxPool2d 'big'", "[B, 1, 3, 3]");
}

TEST(ReshapeLayer, ShapesGradientsAndErrors) {
  Generator gen(4);
  Reshape r(Shape{1, 2, 3});
  const Tensor x = normal({2, 6}, 0.0f, 1.0f, gen);
  const Tensor y = layer_output(r, {x});
  EXPECT_EQ(y.shape(), (Shape{2, 1, 2, 3}));
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
  test::check_layer_gradients(r, {x});
  const BuildContext ctx{Device::cpu(), &gen};
  r.set_name("to_image");
  MINIDL_EXPECT_THROW_WITH(r.build({Shape{2, 7}}, {DType::Float32}, ctx), ShapeError,
                           "Reshape 'to_image'", "[B, 7]", "[1, 2, 3]");
}

// A tiny CNN: Reshape, conv, ReLU, pool, Dense, loss; one gradient check of the
// whole graph's first convolution weight through the loss.
TEST(ConvLayers, TinyCnnTrainsOnCpu) {
  Sequential net({16}, Device::cpu(), 3);
  net.add(std::make_shared<Reshape>(Shape{1, 4, 4}))
      .add(std::make_shared<Conv2d>(4, 3, Conv2dOptions::same()))
      .add(relu_layer())
      .add(std::make_shared<MaxPool2d>(2))
      .add(std::make_shared<Flatten>())
      .add(std::make_shared<Dense>(3));
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(6);
  Generator gen(5);
  const Tensor x = normal({6, 16}, 0.0f, 1.0f, gen);
  const Tensor y = from_vector({0, 1, 2, 0, 1, 2}, {6});
  float first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    const float loss = net.train_step(x, y);
    if (step == 0) first = loss;
    last = loss;
    for (Parameter* p : net.graph().parameters()) {
      const auto g = p->grad.to_vector<float>();
      auto v = p->value.to_vector<float>();
      for (std::size_t i = 0; i < v.size(); ++i) v[i] -= 0.1f * g[i];
      p->value.copy_from(from_vector(v, p->value.shape()));
    }
  }
  EXPECT_LT(last, 0.5f * first);
  // A smaller batch runs on views of the same buffers.
  const Tensor first4(x.storage(), Shape{4, 16}, DType::Float32);
  const Tensor p4 = net.predict(first4);
  ASSERT_EQ(p4.shape(), (Shape{4, 3}));
  const auto p6 = net.predict(x).to_vector<float>();
  EXPECT_TRUE(test::all_close(p4.to_vector<float>(),
                              std::vector<float>(p6.begin(), p6.begin() + 12), 1e-6f, 1e-6f));
}

}  // namespace
}  // namespace minidl

namespace minidl {
namespace {

TEST(BatchNorm2dLayer, GradientsTrainAndEval) {
  Generator gen(8);
  const Tensor x = normal({2, 3, 3, 3}, 1.0f, 2.0f, gen);
  BatchNorm2d bn;
  test::check_layer_gradients(bn, {x});
  // Running statistics moved towards the batch's; eval uses them.
  const auto rm = bn.running_mean().to_vector<float>();
  EXPECT_NE(rm[0], 0.0f);
  bn.set_training(false);
  test::check_layer_gradients(bn, {x});
  const Tensor y = layer_output(bn, {x});
  EXPECT_EQ(y.shape(), x.shape());
  Generator g0(0);
  const BuildContext ctx{Device::cpu(), &g0};
  bn.set_name("bn1");
  MINIDL_EXPECT_THROW_WITH(bn.build({Shape{2, 4, 3, 3}}, {DType::Float32}, ctx), ShapeError,
                           "BatchNorm2d 'bn1'", "3 channels", "[B, 4, 3, 3]");
  MINIDL_EXPECT_THROW_WITH(bn.build({Shape{2, 3}}, {DType::Float32}, ctx), ShapeError,
                           "BatchNorm2d 'bn1'", "[B, 3]");
}

}  // namespace
}  // namespace minidl

namespace minidl {
namespace {

// A CNN whose convolutions run on oneDNN: conv (8 -> 16, ReLU) -> max-pool -> conv (16 -> 16,
// ReLU) -> avg-pool -> Flatten -> Dense -> loss, from one seed.
struct BlockedCnn {
  Graph g{Device::cpu(), 21};
  Graph::Value x, labels, conv1, pool1, conv2, pool2, logits, loss;

  explicit BlockedCnn(bool blocked, bool folds = true, ConvBackend backend = ConvBackend::OneDnn,
                      std::int64_t channels = 16) {
    g.set_blocked_layouts(blocked);
    g.set_backward_folds(folds);
    x = g.input("x", {8, 10, 10}, DType::Float32, /*requires_grad=*/true);
    labels = g.input("labels", {}, DType::Int32);
    Conv2dOptions o = Conv2dOptions::same();
    o.backend = backend;
    o.activation = Activation::ReLU;
    conv1 = g.add(std::make_shared<Conv2d>(channels, 3, o), {x}, "conv1");
    pool1 = g.add(std::make_shared<MaxPool2d>(2), {conv1}, "pool1");
    conv2 = g.add(std::make_shared<Conv2d>(channels, 3, o), {pool1}, "conv2");
    pool2 = g.add(std::make_shared<AvgPool2d>(2, 1), {conv2}, "pool2");
    const auto flat = g.add(std::make_shared<Flatten>(), {pool2});
    logits = g.add(std::make_shared<Dense>(3), {flat}, "logits");
    loss = g.add(softmax_cross_entropy_loss(), {logits, labels});
    g.build(4);
  }
  float run(const Tensor& images, const Tensor& y) {
    g.zero_grad();
    g.forward({images, y});
    g.backward(loss);
    return g.value(loss).item<float>();
  }
};

// Folding the convolutions' ReLU backward into the pooling layers after them
// (Graph::set_backward_folds) changes no bit: the loss, every value, every gradient grad()
// reports (conv1's and conv2's are re-run without the fold), every parameter gradient, at the
// built batch and a smaller one, for backend `cpu` and oneDNN, blocked layouts or not; and a
// pass seeded at a folded value (its reader does not run) gives what the unfolded graph gives.
TEST(ConvLayers, ReluBackwardFoldedIntoPoolingGivesTheUnfoldedBits) {
  std::vector<std::pair<ConvBackend, bool>> configs{{ConvBackend::Cpu, false}};
  if (cpu::onednn_available()) {
    configs.push_back({ConvBackend::OneDnn, false});
    configs.push_back({ConvBackend::OneDnn, true});
  }
  Generator gen(12);
  const Tensor images = relu(normal({4, 8, 10, 10}, 0.0f, 1.0f, gen));  // ties at 0 as well
  const Tensor y = from_vector(std::vector<std::int32_t>{1, 0, 2, 2}, {4});
  for (auto [backend, blocked] : configs) {
    SCOPED_TRACE(detail::concat(conv_backend_name(backend), blocked ? " blocked" : " NCHW"));
    BlockedCnn folded(blocked, true, backend), plain(blocked, false, backend);
    EXPECT_TRUE(folded.g.relu_folded(folded.conv1));  // read by max pooling only
    EXPECT_TRUE(folded.g.relu_folded(folded.conv2));  // by average pooling only
    EXPECT_FALSE(folded.g.relu_folded(folded.pool1));  // not a ReLU's output
    EXPECT_FALSE(plain.g.relu_folded(plain.conv1));
    EXPECT_FALSE(plain.g.relu_folded(plain.conv2));
    for (std::int64_t n : {4, 3}) {
      SCOPED_TRACE("batch " + std::to_string(n));
      const Tensor xs(images.storage(), Shape{n, 8, 10, 10}, DType::Float32);
      const Tensor ys(y.storage(), Shape{n}, DType::Int32);
      EXPECT_EQ(folded.run(xs, ys), plain.run(xs, ys));
      for (auto [vf, vp] : {std::pair{folded.conv1, plain.conv1},
                            {folded.pool1, plain.pool1},
                            {folded.conv2, plain.conv2},
                            {folded.pool2, plain.pool2},
                            {folded.x, plain.x}}) {
        SCOPED_TRACE(folded.g.value_name(vf));
        EXPECT_TRUE(test::same_bits(folded.g.value(vf).to_vector<float>(),
                                    plain.g.value(vp).to_vector<float>()));
        EXPECT_TRUE(test::same_bits(folded.g.grad(vf).to_vector<float>(),
                                    plain.g.grad(vp).to_vector<float>()));
      }
      const auto pf = folded.g.parameters(), pp = plain.g.parameters();
      ASSERT_EQ(pf.size(), pp.size());
      for (std::size_t i = 0; i < pf.size(); ++i) {
        SCOPED_TRACE(pf[i]->name);
        EXPECT_TRUE(
            test::same_bits(pf[i]->grad.to_vector<float>(), pp[i]->grad.to_vector<float>()));
      }
    }
    // A pass seeded at conv2's output, whose reader (pool2) then does not run.
    const Tensor up = normal(folded.g.value(folded.conv2).shape(), 0.0f, 1.0f, gen);
    for (BlockedCnn* c : {&folded, &plain}) {
      c->g.zero_grad();
      c->g.backward(c->conv2, up);
    }
    EXPECT_TRUE(test::same_bits(folded.g.grad(folded.conv2).to_vector<float>(),
                                up.to_vector<float>()));
    EXPECT_TRUE(test::same_bits(folded.g.grad(folded.x).to_vector<float>(),
                                plain.g.grad(plain.x).to_vector<float>()));
    const auto pf = folded.g.parameters(), pp = plain.g.parameters();
    for (std::size_t i = 0; i < pf.size(); ++i)
      EXPECT_TRUE(
          test::same_bits(pf[i]->grad.to_vector<float>(), pp[i]->grad.to_vector<float>()));
  }
}

// A ReLU output read by two layers keeps its own mask pass (each reader's gradient would be
// masked, then added: the graph folds only a single reader).
TEST(ConvLayers, ReluBackwardIsNotFoldedForTwoReaders) {
  Graph g(Device::cpu(), 3);
  const auto x = g.input("x", {1, 6, 6});
  Conv2dOptions o = Conv2dOptions::same();
  o.activation = Activation::ReLU;
  const auto c = g.add(std::make_shared<Conv2d>(2, 3, o), {x});
  const auto a = g.add(std::make_shared<MaxPool2d>(2), {c});
  const auto b = g.add(std::make_shared<AvgPool2d>(2), {c});
  g.add(std::make_shared<Add>(), {a, b});
  g.build(2);
  EXPECT_FALSE(g.relu_folded(c));
}

// The graph keeps the values between oneDNN convolutions and pooling layers in oneDNN's
// blocked layout on this CPU (NCHW16c on AVX-512, NCHW8c on AVX2: 16 channels fit both) and
// the others in NCHW, and gives what the all-NCHW graph gives (the oracle): the loss, every
// value and gradient (value() and grad() in NCHW), every parameter gradient, at the built
// batch and at a smaller one; and the blocked graph's input gradient agrees with central
// differences of its loss.
TEST(ConvLayers, BlockedLayoutsBetweenConvAndPoolGiveTheNchwGraphsResults) {
  if (!cpu::onednn_available()) GTEST_SKIP() << "minidl was built without oneDNN";
  BlockedCnn blocked(true), plain(false);
  const Layout want = cpu::onednn_blocked_layout();
  EXPECT_EQ(blocked.g.value_layout(blocked.x), Layout::NCHW);  // a graph input
  EXPECT_EQ(blocked.g.value_layout(blocked.conv1), want);
  EXPECT_EQ(blocked.g.value_layout(blocked.pool1), want);
  EXPECT_EQ(blocked.g.value_layout(blocked.conv2), want);
  EXPECT_EQ(blocked.g.value_layout(blocked.pool2), Layout::NCHW);  // Flatten reads it
  EXPECT_EQ(blocked.g.value_layout(blocked.logits), Layout::NCHW);
  for (Graph::Value v : {plain.conv1, plain.pool1, plain.conv2, plain.pool2})
    EXPECT_EQ(plain.g.value_layout(v), Layout::NCHW);
  Generator gen(8);
  const Tensor images = normal({4, 8, 10, 10}, 0.0f, 1.0f, gen);
  const Tensor y = from_vector(std::vector<std::int32_t>{0, 2, 1, 2}, {4});
  for (std::int64_t n : {4, 3}) {
    SCOPED_TRACE("batch " + std::to_string(n));
    const Tensor xs(images.storage(), Shape{n, 8, 10, 10}, DType::Float32);
    const Tensor ys(y.storage(), Shape{n}, DType::Int32);
    const float lb = blocked.run(xs, ys), lp = plain.run(xs, ys);
    EXPECT_NEAR(lb, lp, 1e-5f * std::max(1.0f, std::fabs(lp)));
    for (auto [vb, vp] : {std::pair{blocked.conv1, plain.conv1},
                          {blocked.pool1, plain.pool1},
                          {blocked.conv2, plain.conv2},
                          {blocked.pool2, plain.pool2},
                          {blocked.x, plain.x}}) {
      SCOPED_TRACE(blocked.g.value_name(vb));
      EXPECT_TRUE(test::all_close(blocked.g.value(vb).to_vector<float>(),
                                  plain.g.value(vp).to_vector<float>(), 1e-5f, 1e-4f));
      EXPECT_TRUE(test::all_close(blocked.g.grad(vb).to_vector<float>(),
                                  plain.g.grad(vp).to_vector<float>(), 1e-6f, 1e-3f));
    }
    const auto pb = blocked.g.parameters(), pp = plain.g.parameters();
    ASSERT_EQ(pb.size(), pp.size());
    for (std::size_t i = 0; i < pb.size(); ++i) {
      SCOPED_TRACE(pb[i]->name);
      EXPECT_EQ(pb[i]->value.to_vector<float>(), pp[i]->value.to_vector<float>());
      EXPECT_TRUE(test::all_close(pb[i]->grad.to_vector<float>(), pp[i]->grad.to_vector<float>(),
                                  1e-5f, 1e-3f));
    }
  }
  // Central differences of the blocked graph's loss (in double around float32 steps) for
  // every 7th input of one sample (115 of 800: two forwards each).
  const Tensor x2(images.storage(), Shape{1, 8, 10, 10}, DType::Float32);
  const Tensor y2(y.storage(), Shape{1}, DType::Int32);
  blocked.run(x2, y2);
  const auto all = blocked.g.grad(blocked.x).to_vector<float>();
  Tensor probe = x2.clone();
  auto loss_at = [&]() {
    blocked.g.forward({probe, y2});
    return static_cast<double>(blocked.g.value(blocked.loss).item<float>());
  };
  std::vector<float> analytic;
  std::vector<double> numeric;
  float* p = probe.data<float>();
  const float h = 1e-2f;
  for (std::int64_t i = 3; i < probe.numel(); i += 7) {
    const float saved = p[i];
    p[i] = saved + h;
    const double up = loss_at();
    p[i] = saved - h;
    const double down = loss_at();
    p[i] = saved;
    numeric.push_back((up - down) /
                      (static_cast<double>(saved + h) - static_cast<double>(saved - h)));
    analytic.push_back(all[static_cast<std::size_t>(i)]);
  }
  EXPECT_TRUE(test::gradients_agree(analytic, numeric, 2e-2));
}

// 24 channels fit NCHW8c but not NCHW16c: on every CPU the graph keeps them in NCHW8c
// (on an AVX-512 CPU, the second choice), with the all-NCHW graph's results.
TEST(ConvLayers, ChannelsThatFitOnlyEightAreKeptInNchw8c) {
  if (!cpu::onednn_available()) GTEST_SKIP() << "minidl was built without oneDNN";
  BlockedCnn blocked(true, true, ConvBackend::OneDnn, 24),
      plain(false, true, ConvBackend::OneDnn, 24);
  for (Graph::Value v : {blocked.conv1, blocked.pool1, blocked.conv2})
    EXPECT_EQ(blocked.g.value_layout(v), Layout::NCHW8c);
  Generator gen(10);
  const Tensor images = normal({4, 8, 10, 10}, 0.0f, 1.0f, gen);
  const Tensor y = from_vector(std::vector<std::int32_t>{1, 0, 2, 2}, {4});
  const float lb = blocked.run(images, y), lp = plain.run(images, y);
  EXPECT_NEAR(lb, lp, 1e-5f * std::max(1.0f, std::fabs(lp)));
  EXPECT_TRUE(test::all_close(blocked.g.grad(blocked.x).to_vector<float>(),
                              plain.g.grad(plain.x).to_vector<float>(), 1e-6f, 1e-3f));
  const auto pb = blocked.g.parameters(), pp = plain.g.parameters();
  ASSERT_EQ(pb.size(), pp.size());
  for (std::size_t i = 0; i < pb.size(); ++i) {
    SCOPED_TRACE(pb[i]->name);
    EXPECT_TRUE(test::all_close(pb[i]->grad.to_vector<float>(), pp[i]->grad.to_vector<float>(),
                                1e-5f, 1e-3f));
  }
}

// Graph::backward from a blocked value with an upstream gradient given in NCHW.
TEST(ConvLayers, UpstreamGradientIntoABlockedValueIsReadAsNchw) {
  if (!cpu::onednn_available()) GTEST_SKIP() << "minidl was built without oneDNN";
  BlockedCnn blocked(true), plain(false);
  ASSERT_EQ(blocked.g.value_layout(blocked.conv2), cpu::onednn_blocked_layout());
  Generator gen(9);
  const Tensor images = normal({4, 8, 10, 10}, 0.0f, 1.0f, gen);
  const Tensor y = from_vector(std::vector<std::int32_t>{0, 2, 1, 2}, {4});
  const Tensor up = normal({4, 16, 5, 5}, 0.0f, 1.0f, gen);
  for (BlockedCnn* net : {&blocked, &plain}) {
    net->g.zero_grad();
    net->g.forward({images, y});
    net->g.backward(net->conv2, up);
  }
  EXPECT_EQ(blocked.g.grad(blocked.conv2).to_vector<float>(), up.to_vector<float>());
  EXPECT_TRUE(test::all_close(blocked.g.grad(blocked.x).to_vector<float>(),
                              plain.g.grad(plain.x).to_vector<float>(), 1e-6f, 1e-3f));
}

}  // namespace
}  // namespace minidl
