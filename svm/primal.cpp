#include "primal.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "../layers/dense.hpp"
#include "../layers/loss.hpp"
#include "../layers/sequential.hpp"
#include "../optim/sgd.hpp"

namespace minidl::svm {

PrimalResult train_linear_svm_primal(const Tensor& x_in, const Tensor& y_in,
                                     const PrimalOptions& o) {
  MINIDL_CHECK(x_in.defined() && x_in.rank() == 2 && x_in.dtype() == DType::Float32, ShapeError,
               "train_linear_svm_primal: x must be float32 [n, d]");
  MINIDL_CHECK(y_in.defined() && y_in.rank() == 1 && y_in.dtype() == DType::Int32 &&
                   y_in.size(0) == x_in.size(0),
               ShapeError, "train_linear_svm_primal: y must be int32 [", x_in.size(0), "], got ",
               y_in.defined() ? y_in.description() : std::string("an undefined tensor"));
  MINIDL_CHECK(std::isfinite(o.C) && o.C > 0, ValueError,
               "train_linear_svm_primal: C must be finite and > 0, got ", o.C);
  MINIDL_CHECK(o.epochs >= 1, ValueError, "train_linear_svm_primal: epochs must be >= 1");
  const std::int64_t n = x_in.size(0);
  const std::int64_t d = x_in.size(1);
  const std::vector<float> xv = x_in.to_vector<float>();
  for (float v : xv)
    MINIDL_CHECK(std::isfinite(v), ValueError, "train_linear_svm_primal: x holds ", v);
  const std::vector<std::int32_t> yv = y_in.to_vector<std::int32_t>();
  std::vector<std::int32_t> classes;
  for (std::int32_t v : yv)
    if (std::find(classes.begin(), classes.end(), v) == classes.end()) classes.push_back(v);
  MINIDL_CHECK(classes.size() == 2, ValueError,
               "train_linear_svm_primal: needs exactly two classes, got ", classes.size());
  if (classes[0] == -1 && classes[1] == 1) std::swap(classes[0], classes[1]);
  std::vector<float> t(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = yv[i] == classes[0] ? 1.0f : -1.0f;

  const Device dev = x_in.device();
  const std::int64_t batch = o.batch_size > 0 ? std::min(o.batch_size, n) : n;
  Sequential model(Shape{d}, dev, o.seed);
  auto dense = std::make_shared<Dense>(1, DenseOptions{true, Init::Zeros, false});
  model.add(dense, "svm_linear");
  model.loss(hinge_loss(LossOptions{Reduction::Mean, false}), Shape{1});
  model.build(batch);
  // The mean over a batch of B weighs each sample 1/B; the L2 term per step must
  // then be 1 / (C n) to keep the full objective's balance.
  SgdOptions wo;
  wo.learning_rate = o.learning_rate;
  wo.weight_decay = static_cast<float>(1.0 / (o.C * static_cast<double>(n)));
  Sgd opt_w({&dense->weight()}, wo);
  SgdOptions bo;
  bo.learning_rate = o.learning_rate;
  Sgd opt_b({&dense->bias()}, bo);

  Generator gen(o.seed);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  std::vector<double> w_avg(static_cast<std::size_t>(d), 0.0);
  double b_avg = 0.0;
  std::int64_t averaged = 0;
  std::vector<float> xb(static_cast<std::size_t>(batch * d));
  std::vector<float> tb(static_cast<std::size_t>(batch));
  for (std::int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    if (batch < n) {  // a Philox shuffle per epoch
      const std::vector<float> keys = uniform({n}, 0.0f, 1.0f, gen).to_vector<float>();
      std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        return keys[static_cast<std::size_t>(a)] < keys[static_cast<std::size_t>(b)];
      });
    }
    // lr / (1 + lr lambda t): the 1 / (lambda t) step of strongly convex SGD
    // (Pegasos) once t is large, capped at lr early on.
    const float lr = static_cast<float>(
        o.learning_rate / (1.0 + o.learning_rate * double(wo.weight_decay) * double(epoch)));
    opt_w.set_learning_rate(lr);
    opt_b.set_learning_rate(lr);
    for (std::int64_t start = 0; start + batch <= n; start += batch) {
      for (std::int64_t r = 0; r < batch; ++r) {
        const std::int64_t i = order[static_cast<std::size_t>(start + r)];
        std::copy_n(xv.begin() + i * d, d, xb.begin() + r * d);
        tb[static_cast<std::size_t>(r)] = t[static_cast<std::size_t>(i)];
      }
      model.train_step(from_vector(xb, {batch, d}, dev), from_vector(tb, {batch, 1}, dev));
      opt_w.step();
      opt_b.step();
    }
    if (epoch >= o.epochs / 2) {
      const std::vector<float> w = dense->weight().value.to_vector<float>();
      for (std::int64_t j = 0; j < d; ++j)
        w_avg[static_cast<std::size_t>(j)] += w[static_cast<std::size_t>(j)];
      b_avg += dense->bias().value.to_vector<float>()[0];
      ++averaged;
    }
  }
  PrimalResult res;
  res.w.resize(static_cast<std::size_t>(d));
  double wn = 0.0;
  for (std::int64_t j = 0; j < d; ++j) {
    res.w[static_cast<std::size_t>(j)] =
        static_cast<float>(w_avg[static_cast<std::size_t>(j)] / double(averaged));
    wn += double(res.w[static_cast<std::size_t>(j)]) * res.w[static_cast<std::size_t>(j)];
  }
  res.b = static_cast<float>(b_avg / double(averaged));
  double hinge = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    double z = res.b;
    for (std::int64_t j = 0; j < d; ++j)
      z += double(res.w[static_cast<std::size_t>(j)]) * xv[static_cast<std::size_t>(i * d + j)];
    hinge += std::max(0.0, 1.0 - t[static_cast<std::size_t>(i)] * z);
  }
  res.objective = o.C * hinge + wn / 2;
  return res;
}

}  // namespace minidl::svm
