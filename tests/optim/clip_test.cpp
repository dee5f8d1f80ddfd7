#include "optim/clip.hpp"

#include <cmath>

#include "optim_test_util.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

TEST(ClipGradNorm, ScalesWhenAboveMax) {
  // Grads (3, 4) and (12): global norm sqrt(9 + 16 + 144) = 13.
  Parameter a = test::make_parameter("a", {0.0f, 0.0f}, {3.0f, 4.0f});
  Parameter b = test::make_parameter("b", {0.0f}, {12.0f});
  const Tensor norm = clip_grad_norm({&a, &b}, 6.5f);
  EXPECT_EQ(norm.rank(), 0);
  EXPECT_EQ(norm.dtype(), DType::Float32);
  EXPECT_FLOAT_EQ(norm.item<float>(), 13.0f);
  const double factor = 6.5 / (13.0 + 1e-6);
  EXPECT_TRUE(test::all_close(a.grad.to_vector<float>(),
                              {static_cast<float>(3 * factor), static_cast<float>(4 * factor)},
                              0.0f, 1e-7f));
  EXPECT_TRUE(
      test::all_close(b.grad.to_vector<float>(), {static_cast<float>(12 * factor)}, 0.0f, 1e-7f));
  // The clipped grads now have (almost exactly) the max norm.
  EXPECT_NEAR(clip_grad_norm({&a, &b}, 100.0f).item<float>(), 6.5f, 1e-5f);
  EXPECT_EQ(a.value.to_vector<float>(), (std::vector<float>{0.0f, 0.0f}));  // values untouched
}

TEST(ClipGradNorm, NoScalingUnderMax) {
  Parameter a = test::make_parameter("a", {0.0f, 0.0f}, {0.3f, -0.4f});
  const Tensor norm = clip_grad_norm({&a}, 1.0f);
  EXPECT_FLOAT_EQ(norm.item<float>(), 0.5f);
  EXPECT_EQ(a.grad.to_vector<float>(), (std::vector<float>{0.3f, -0.4f}));  // bit for bit
  // At exactly the max PyTorch's rule still scales, by max / (max + 1e-6).
  Parameter c = test::make_parameter("c", {0.0f}, {2.0f});
  clip_grad_norm({&c}, 2.0f);
  EXPECT_EQ(c.grad.item<float>(),
            static_cast<float>(2.0f * static_cast<float>(2.0 / (2.0 + 1e-6))));
  EXPECT_LT(c.grad.item<float>(), 2.0f);
}

TEST(ClipGradNorm, ManyElementsMatchDouble) {
  Generator gen(11);
  test::TinyModel model(Device::cpu());
  Parameter big{"big", zeros({100003}), normal({100003}, 0.0f, 1.0f, gen)};
  model.quadratic_grads();
  std::vector<Parameter*> ps = model.pointers();
  ps.push_back(&big);
  double sum = 0.0;
  for (const Parameter* p : ps) {
    for (float g : p->grad.to_vector<float>()) sum += static_cast<double>(g) * g;
  }
  const Tensor norm = clip_grad_norm(ps, 1.0f);
  EXPECT_FLOAT_EQ(norm.item<float>(), static_cast<float>(std::sqrt(sum)));
  double after = 0.0;
  for (const Parameter* p : ps) {
    for (float g : p->grad.to_vector<float>()) after += static_cast<double>(g) * g;
  }
  EXPECT_NEAR(std::sqrt(after), 1.0, 1e-5);
}

TEST(ClipGradNorm, NonFiniteNormPropagates) {
  Parameter a = test::make_parameter("a", {0.0f, 0.0f}, {NAN, 1.0f});
  EXPECT_TRUE(std::isnan(clip_grad_norm({&a}, 1.0f).item<float>()));
  EXPECT_TRUE(std::isnan(a.grad.to_vector<float>()[1]));  // not silently left unclipped
}

TEST(ClipGradNorm, EmptyListAndBadInput) {
  EXPECT_EQ(clip_grad_norm({}, 1.0f).item<float>(), 0.0f);
  Parameter a = test::make_parameter("a", {0.0f}, {1.0f});
  MINIDL_EXPECT_THROW_WITH(clip_grad_norm({&a}, 0.0f), ValueError, "max_norm", "> 0");
  MINIDL_EXPECT_THROW_WITH(clip_grad_norm({&a}, NAN), ValueError, "max_norm");
  MINIDL_EXPECT_THROW_WITH(clip_grad_norm({&a, nullptr}, 1.0f), ValueError, "parameter 1");
  Parameter none{"none", zeros({1}), Tensor()};
  MINIDL_EXPECT_THROW_WITH(clip_grad_norm({&none}, 1.0f), ValueError, "'none'", "undefined grad");
  Parameter ints{"ints", zeros({1}), zeros({1}, Device::cpu(), DType::Int32)};
  MINIDL_EXPECT_THROW_WITH(clip_grad_norm({&ints}, 1.0f), DTypeError, "'ints'", "int32");
  Parameter shared{"shared", zeros({1}), a.grad};
  MINIDL_EXPECT_THROW_WITH(clip_grad_norm({&a, &shared}, 1.0f), ValueError, "'shared'", "twice");
}

// The values against the CPU are in the parity table (tests/parity, ClipGradNorm_*).
TEST(ClipGradNormCuda, NormStaysOnTheDeviceAndIsDeterministic) {
  MINIDL_REQUIRE_CUDA();
  Generator gen(12);
  std::vector<Parameter> gpu;
  for (const std::int64_t n :
       {std::int64_t{1}, std::int64_t{7}, std::int64_t{4096}, std::int64_t{(1 << 20) + 5}}) {
    gpu.push_back({"p" + std::to_string(n), zeros({n}, Device::cuda()),
                   normal({n}, 0.0f, 0.01f, gen, Device::cuda())});
  }
  std::vector<Parameter*> pg;
  for (Parameter& p : gpu) pg.push_back(&p);
  const Tensor norm = clip_grad_norm(pg, 1e9f);
  EXPECT_TRUE(norm.device().is_cuda());
  // The same grads give the same norm bit for bit.
  const float first = norm.item<float>();
  EXPECT_EQ(clip_grad_norm(pg, 1e9f).item<float>(), first);
}

}  // namespace
}  // namespace minidl
