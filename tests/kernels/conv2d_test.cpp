// conv2d against the course notes' formula in plain loops (double), on every
// backend; central-difference gradient checks; CPU vs cuDNN vs own kernel.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gradcheck.hpp"
#include "kernels/conv2d.hpp"
#include "kernels/conv2d_igemm.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

struct Case {
  std::int64_t B, C, H, W, M, K1, K2, sh, sw;
  ConvPadding padding;
  std::int64_t pad = 0;  // Explicit only
  bool bias = true;
};

Conv2dParams params_of(const Case& c, ConvBackend backend = ConvBackend::Auto) {
  Conv2dParams p;
  p.stride_h = c.sh;
  p.stride_w = c.sw;
  p.padding = c.padding;
  p.pad_h = p.pad_w = c.pad;
  p.backend = backend;
  return p;
}

// The oracle: Z[i1,i2,m] = sum_{k1,k2,n} W[k1,k2,n,m] X[i1*s + k1 - t, i2*s + k2 - l, n] + b[m]
// with the weights in the course notes' (K1, K2, N_in, N_out) order, X zero outside.
std::vector<float> oracle_forward(const Case& c, const Conv2dGeometry& g,
                                  const std::vector<float>& x, const std::vector<float>& w_course,
                                  const std::vector<float>& b) {
  std::vector<float> z(static_cast<std::size_t>(c.B * c.M * g.out_h * g.out_w));
  for (std::int64_t s = 0; s < c.B; ++s)
    for (std::int64_t m = 0; m < c.M; ++m)
      for (std::int64_t i1 = 0; i1 < g.out_h; ++i1)
        for (std::int64_t i2 = 0; i2 < g.out_w; ++i2) {
          double acc = c.bias ? b[static_cast<std::size_t>(m)] : 0.0;
          for (std::int64_t k1 = 0; k1 < c.K1; ++k1)
            for (std::int64_t k2 = 0; k2 < c.K2; ++k2)
              for (std::int64_t n = 0; n < c.C; ++n) {
                const std::int64_t h = i1 * c.sh + k1 - g.pad_top;
                const std::int64_t ww = i2 * c.sw + k2 - g.pad_left;
                if (h < 0 || h >= c.H || ww < 0 || ww >= c.W) continue;
                acc += double(w_course[static_cast<std::size_t>(((k1 * c.K2 + k2) * c.C + n) * c.M +
                                                                m)]) *
                       x[static_cast<std::size_t>(((s * c.C + n) * c.H + h) * c.W + ww)];
              }
          z[static_cast<std::size_t>(((s * c.M + m) * g.out_h + i1) * g.out_w + i2)] =
              static_cast<float>(acc);
        }
  return z;
}

// dJ/dW[k1,k2,n,m] = sum_{i1,i2} X[i1*s + k1 - t, i2*s + k2 - l, n] dJ/dZ[i1,i2,m] (summed over
// the batch), in the course order.
std::vector<float> oracle_filter(const Case& c, const Conv2dGeometry& g,
                                 const std::vector<float>& x, const std::vector<float>& dz) {
  std::vector<float> dw(static_cast<std::size_t>(c.K1 * c.K2 * c.C * c.M));
  for (std::int64_t k1 = 0; k1 < c.K1; ++k1)
    for (std::int64_t k2 = 0; k2 < c.K2; ++k2)
      for (std::int64_t n = 0; n < c.C; ++n)
        for (std::int64_t m = 0; m < c.M; ++m) {
          double acc = 0;
          for (std::int64_t s = 0; s < c.B; ++s)
            for (std::int64_t i1 = 0; i1 < g.out_h; ++i1)
              for (std::int64_t i2 = 0; i2 < g.out_w; ++i2) {
                const std::int64_t h = i1 * c.sh + k1 - g.pad_top;
                const std::int64_t ww = i2 * c.sw + k2 - g.pad_left;
                if (h < 0 || h >= c.H || ww < 0 || ww >= c.W) continue;
                acc += double(x[static_cast<std::size_t>(((s * c.C + n) * c.H + h) * c.W + ww)]) *
                       dz[static_cast<std::size_t>(((s * c.M + m) * g.out_h + i1) * g.out_w + i2)];
              }
          dw[static_cast<std::size_t>(((k1 * c.K2 + k2) * c.C + n) * c.M + m)] =
              static_cast<float>(acc);
        }
  return dw;
}

// dJ/dX: the transpose of the forward map (scatter of each output's gradient).
std::vector<float> oracle_data(const Case& c, const Conv2dGeometry& g,
                               const std::vector<float>& w_course, const std::vector<float>& dz) {
  std::vector<double> dx(static_cast<std::size_t>(c.B * c.C * c.H * c.W), 0.0);
  for (std::int64_t s = 0; s < c.B; ++s)
    for (std::int64_t m = 0; m < c.M; ++m)
      for (std::int64_t i1 = 0; i1 < g.out_h; ++i1)
        for (std::int64_t i2 = 0; i2 < g.out_w; ++i2) {
          const double d =
              dz[static_cast<std::size_t>(((s * c.M + m) * g.out_h + i1) * g.out_w + i2)];
          for (std::int64_t k1 = 0; k1 < c.K1; ++k1)
            for (std::int64_t k2 = 0; k2 < c.K2; ++k2)
              for (std::int64_t n = 0; n < c.C; ++n) {
                const std::int64_t h = i1 * c.sh + k1 - g.pad_top;
                const std::int64_t ww = i2 * c.sw + k2 - g.pad_left;
                if (h < 0 || h >= c.H || ww < 0 || ww >= c.W) continue;
                dx[static_cast<std::size_t>(((s * c.C + n) * c.H + h) * c.W + ww)] +=
                    d * w_course[static_cast<std::size_t>(((k1 * c.K2 + k2) * c.C + n) * c.M + m)];
              }
        }
  return std::vector<float>(dx.begin(), dx.end());
}

std::vector<Case> oracle_cases() {
  using P = ConvPadding;
  return {
      {2, 3, 7, 6, 5, 3, 3, 1, 1, P::Valid},           // valid, odd channels
      {2, 3, 7, 6, 5, 3, 3, 1, 1, P::Same},            // same, odd kernel
      {1, 2, 9, 8, 3, 3, 2, 2, 3, P::Valid},           // strides, non-square kernel, batch 1
      {2, 3, 9, 7, 4, 3, 3, 2, 2, P::Same},            // same with stride
      {2, 5, 6, 6, 3, 4, 4, 1, 1, P::Same},            // even kernel: asymmetric padding
      {3, 5, 5, 4, 6, 1, 1, 1, 1, P::Valid},           // 1x1 (pointwise path)
      {2, 3, 5, 5, 2, 1, 1, 2, 2, P::Valid},           // 1x1 with stride
      {2, 3, 5, 4, 7, 5, 4, 1, 1, P::Valid},           // kernel = input size (1x1 output)
      {1, 1, 5, 5, 1, 5, 5, 1, 1, P::Same},            // kernel = input, same
      {2, 3, 6, 5, 2, 3, 3, 2, 1, P::Explicit, 1},     // explicit padding
      {4, 6, 8, 8, 5, 3, 3, 1, 1, P::Same, 0, false},  // no bias
      {8, 16, 12, 12, 16, 3, 3, 1, 1, P::Same},        // big enough for samples in parallel
      {8, 16, 12, 12, 16, 1, 1, 1, 1, P::Valid},       // ... and pointwise
      {2, 64, 20, 20, 4, 3, 3, 1, 1, P::Same},         // im2col in chunks of output rows
      {1, 64, 41, 41, 3, 3, 3, 2, 2, P::Same},         // ... with stride
      // One input channel at stride 1: the direct path (on an AVX2+FMA CPU). Its
      // register blocks are 3 (forward) or 2 (filter) channels, 5 taps, 4 (forward)
      // or 2 (data) vectors of 8 columns; these cover partial blocks of each.
      {3, 1, 20, 20, 7, 5, 5, 1, 1, P::Same},                // Q = 20: a half vector
      {2, 1, 12, 19, 4, 3, 7, 1, 1, P::Valid},               // K2 = 7: 5 + 2 taps
      {2, 1, 9, 9, 5, 4, 2, 1, 1, P::Same},                  // even kernel: asymmetric
      {2, 1, 10, 35, 3, 6, 3, 1, 1, P::Explicit, 2, false},  // K1 = 6, Q = 37, no bias
      {2, 1, 16, 16, 5, 5, 5, 1, 1, P::Same},                // Q = 16: whole vectors
      {1, 1, 3, 3, 2, 3, 3, 1, 1, P::Valid},                 // 1x1 output
      {8, 1, 28, 28, 32, 5, 5, 1, 1, P::Same},               // the CNN's first layer
      {2, 1, 9, 9, 3, 3, 3, 2, 2, P::Same},                  // stride 2: the GEMM path
  };
}

struct Data {
  Tensor x, w_course, w, b, dz;
  Conv2dGeometry g;
};

Data make_data(const Case& c, std::uint64_t seed) {
  Generator gen(seed);
  Data d;
  d.x = normal({c.B, c.C, c.H, c.W}, 0.0f, 1.0f, gen);
  d.w_course = normal({c.K1, c.K2, c.C, c.M}, 0.0f, 0.5f, gen);
  d.w = conv_weight_from_course(d.w_course);
  d.b = normal({c.M}, 0.0f, 1.0f, gen);
  d.g = conv2d_geometry(d.x.shape(), d.w.shape(), params_of(c));
  d.dz = normal({c.B, c.M, d.g.out_h, d.g.out_w}, 0.0f, 1.0f, gen);
  return d;
}

std::string describe(const Case& c) {
  return detail::concat("x [", c.B, ",", c.C, ",", c.H, ",", c.W, "] w ", c.M, "x", c.K1, "x", c.K2,
                        " stride ", c.sh, "x", c.sw, " padding ", int(c.padding));
}

// The absolute tolerance of a filter gradient against a double-precision reference: each
// element sums B P Q products of N(0, 1) values, so float rounding grows with that count
// (about eps n: 6e-4 for the CNN's first layer at batch 8, whose elements sum 6,272
// products; the summation order decides where in that range a result lands).
float filter_atol(const Conv2dGeometry& g) {
  return std::max(1e-4f, 1e-7f * static_cast<float>(g.batch * g.out_h * g.out_w));
}

// Runs the three passes on `device` with `backend` and compares with the oracle.
void check_against_oracle(Device device, ConvBackend backend) {
  std::uint64_t seed = 10;
  for (const Case& c : oracle_cases()) {
    SCOPED_TRACE(describe(c));
    const Data d = make_data(c, seed++);
    const Conv2dParams p = params_of(c, backend);
    const Tensor b = c.bias ? d.b.to(device) : Tensor();
    const Tensor y = conv2d(d.x.to(device), d.w.to(device), b, p);
    ASSERT_EQ(y.shape(), (Shape{c.B, c.M, d.g.out_h, d.g.out_w}));
    const auto xv = d.x.to_vector<float>(), wc = d.w_course.to_vector<float>();
    const auto dz = d.dz.to_vector<float>();
    EXPECT_TRUE(test::all_close(y.to_vector<float>(),
                                oracle_forward(c, d.g, xv, wc, d.b.to_vector<float>()), 1e-4f,
                                1e-4f));
    Tensor dx;
    conv2d_backward_data(d.dz.to(device), d.w.to(device), d.x.shape(), dx, p);
    EXPECT_TRUE(test::all_close(dx.to_vector<float>(), oracle_data(c, d.g, wc, dz), 1e-4f, 1e-4f));
    // Accumulation: dw starts at 1 everywhere, so accumulate gives oracle + 1.
    Tensor dw = ones(d.w.shape(), device);
    conv2d_backward_filter(d.x.to(device), d.dz.to(device), dw, p, /*accumulate=*/true);
    auto ref = oracle_filter(c, d.g, xv, dz);
    for (float& v : ref) v += 1.0f;
    EXPECT_TRUE(test::all_close(conv_weight_to_course(dw).to_vector<float>(), ref, filter_atol(d.g),
                                1e-4f));
    Tensor dw0 = full(d.w.shape(), 7.0, device);
    conv2d_backward_filter(d.x.to(device), d.dz.to(device), dw0, p, /*accumulate=*/false);
    EXPECT_TRUE(test::all_close(conv_weight_to_course(dw0).to_vector<float>(),
                                oracle_filter(c, d.g, xv, dz), filter_atol(d.g), 1e-4f));
    Tensor db;
    conv2d_backward_bias(d.dz.to(device), db);
    std::vector<float> db_ref(static_cast<std::size_t>(c.M), 0.0f);
    for (std::int64_t s = 0; s < c.B; ++s)
      for (std::int64_t m = 0; m < c.M; ++m)
        for (std::int64_t i = 0; i < d.g.out_h * d.g.out_w; ++i)
          db_ref[static_cast<std::size_t>(m)] +=
              dz[static_cast<std::size_t>((s * c.M + m) * d.g.out_h * d.g.out_w + i)];
    EXPECT_TRUE(test::all_close(db.to_vector<float>(), db_ref, 1e-4f, 1e-4f));
  }
}

TEST(Conv2d, CpuMatchesCourseFormula) { check_against_oracle(Device::cpu(), ConvBackend::Cpu); }

#define MINIDL_REQUIRE_ONEDNN()                                                   \
  do {                                                                            \
    if (!cpu::onednn_available()) GTEST_SKIP() << "minidl was built without oneDNN"; \
  } while (0)

TEST(Conv2d, OneDnnMatchesCourseFormula) {
  MINIDL_REQUIRE_ONEDNN();
  check_against_oracle(Device::cpu(), ConvBackend::OneDnn);
}

// oneDNN against the `cpu` backend (im2col + OpenBLAS, the oracle of the CPU backends) on
// the shapes the CNN and ResNet-style nets run, large enough for oneDNN's blocked layouts,
// its parallel batch split and the reorders: forward (with and without bias), both
// gradients, overwrite and accumulate; twice, so the second call runs the cached plans.
TEST(Conv2d, OneDnnMatchesCpuBackend) {
  MINIDL_REQUIRE_ONEDNN();
  using P = ConvPadding;
  const std::vector<Case> cases = {
      {8, 1, 28, 28, 32, 5, 5, 1, 1, P::Same},          // the CNN's conv1
      {8, 32, 14, 14, 64, 5, 5, 1, 1, P::Same},         // the CNN's conv2
      {4, 16, 15, 15, 24, 3, 3, 2, 2, P::Same},         // stride 2, odd side
      {3, 8, 9, 11, 16, 4, 4, 1, 1, P::Same},           // even kernel: asymmetric padding
      {5, 24, 10, 10, 8, 1, 1, 1, 1, P::Valid},         // pointwise
      {2, 12, 13, 13, 20, 3, 3, 1, 2, P::Explicit, 2},  // explicit padding, mixed strides
      {6, 10, 7, 7, 12, 3, 3, 1, 1, P::Valid, 0, false} // valid, no bias
  };
  std::uint64_t seed = 90;
  for (const Case& c : cases) {
    SCOPED_TRACE(describe(c));
    const Data d = make_data(c, seed++);
    const Tensor b = c.bias ? d.b : Tensor();
    const Conv2dParams ref_p = params_of(c, ConvBackend::Cpu), p = params_of(c, ConvBackend::OneDnn);
    const Tensor y_ref = conv2d(d.x, d.w, b, ref_p);
    Tensor dx_ref, dw_ref = zeros(d.w.shape());
    conv2d_backward_data(d.dz, d.w, d.x.shape(), dx_ref, ref_p);
    conv2d_backward_filter(d.x, d.dz, dw_ref, ref_p);
    std::vector<float> y_first;
    for (int round = 0; round < 2; ++round) {
      SCOPED_TRACE(round == 0 ? "first call (plans made)" : "second call (cached plans)");
      const Tensor y = conv2d(d.x, d.w, b, p);
      EXPECT_TRUE(test::all_close(y.to_vector<float>(), y_ref.to_vector<float>(), 1e-4f, 1e-4f));
      if (round == 0) {
        y_first = y.to_vector<float>();
      } else {
        EXPECT_EQ(y.to_vector<float>(), y_first) << "the same call twice differs";
      }
      Tensor dx = full(d.x.shape(), 3.0, Device::cpu());  // overwritten
      conv2d_backward_data(d.dz, d.w, d.x.shape(), dx, p);
      EXPECT_TRUE(test::all_close(dx.to_vector<float>(), dx_ref.to_vector<float>(), 1e-4f, 1e-4f));
      Tensor dw = full(d.w.shape(), 5.0, Device::cpu());
      conv2d_backward_filter(d.x, d.dz, dw, p, /*accumulate=*/false);
      EXPECT_TRUE(
          test::all_close(dw.to_vector<float>(), dw_ref.to_vector<float>(), filter_atol(d.g), 1e-4f));
      conv2d_backward_filter(d.x, d.dz, dw, p, /*accumulate=*/true);  // now 2 dw_ref
      std::vector<float> twice = dw_ref.to_vector<float>();
      for (float& v : twice) v *= 2.0f;
      EXPECT_TRUE(test::all_close(dw.to_vector<float>(), twice, 2.0f * filter_atol(d.g), 1e-4f));
    }
  }
}

// Auto on the CPU runs a CPU backend (oneDNN or `cpu`, by conv2d_cpu_auto_backend's rule)
// and gives that backend's result.
TEST(Conv2d, CpuAutoRunsTheBackendItNames) {
  using P = ConvPadding;
  for (const Case& c : {Case{4, 1, 28, 28, 8, 5, 5, 1, 1, P::Same},
                        Case{4, 8, 14, 14, 16, 5, 5, 1, 1, P::Same}}) {
    SCOPED_TRACE(describe(c));
    const Data d = make_data(c, 7);
    const ConvBackend chosen = conv2d_cpu_auto_backend(d.g);
    EXPECT_TRUE(chosen == ConvBackend::Cpu || chosen == ConvBackend::OneDnn);
    if (!cpu::onednn_available()) {
      EXPECT_EQ(chosen, ConvBackend::Cpu);
    }
    EXPECT_EQ(conv2d(d.x, d.w, d.b, params_of(c, ConvBackend::Auto)).to_vector<float>(),
              conv2d(d.x, d.w, d.b, params_of(c, chosen)).to_vector<float>());
  }
}

// A fused ReLU (Conv2dParams::activation) gives relu(conv(...)) of the same backend, bit for
// bit: oneDNN's eltwise post-op is max(0, .) on the finished sum, the others apply the ReLU
// to y in place. Every CPU backend, with and without bias, asymmetric padding included.
TEST(Conv2d, FusedReluIsReluOfTheConvolution) {
  using P = ConvPadding;
  std::vector<ConvBackend> backends{ConvBackend::Cpu, ConvBackend::Auto};
  if (cpu::onednn_available()) backends.push_back(ConvBackend::OneDnn);
  for (ConvBackend backend : backends) {
    for (const Case& c : {Case{4, 1, 28, 28, 8, 5, 5, 1, 1, P::Same},
                          Case{3, 8, 14, 14, 16, 5, 5, 1, 1, P::Same},
                          Case{3, 8, 9, 11, 16, 4, 4, 1, 1, P::Same},
                          Case{2, 6, 7, 7, 12, 3, 3, 2, 2, P::Valid, 0, false}}) {
      SCOPED_TRACE(describe(c) + " backend " + conv_backend_name(backend));
      const Data d = make_data(c, 31);
      const Tensor b = c.bias ? d.b : Tensor();
      Conv2dParams p = params_of(c, backend);
      const Tensor plain = conv2d(d.x, d.w, b, p);
      p.activation = Activation::ReLU;
      const std::vector<float> fused = conv2d(d.x, d.w, b, p).to_vector<float>();
      std::vector<float> expected = plain.to_vector<float>();
      std::size_t zeros_seen = 0;
      for (float& v : expected) {
        if (v <= 0.0f) ++zeros_seen;
        v = v > 0.0f ? v : 0.0f;
      }
      EXPECT_EQ(fused, expected);
      EXPECT_GT(zeros_seen, expected.size() / 4);  // the ReLU did clip something
    }
  }
  Conv2dParams p;
  p.activation = Activation::Sigmoid;
  MINIDL_EXPECT_THROW_WITH(conv2d(zeros({1, 2, 5, 5}), zeros({3, 2, 3, 3}), Tensor(), p),
                           ValueError, "identity or relu", "sigmoid");
}

TEST(Conv2d, BackendNamesRoundTrip) {
  for (ConvBackend b : {ConvBackend::Auto, ConvBackend::Cpu, ConvBackend::OneDnn,
                        ConvBackend::Cudnn, ConvBackend::Own}) {
    EXPECT_EQ(parse_conv_backend(conv_backend_name(b)), b);
  }
  MINIDL_EXPECT_THROW_WITH(parse_conv_backend("mkldnn"), ValueError, "mkldnn", "onednn");
}

TEST(Conv2d, OneDnnWithoutOneDnnIsAClearError) {
  if (cpu::onednn_available()) GTEST_SKIP() << "minidl was built with oneDNN";
  Conv2dParams p;
  p.backend = ConvBackend::OneDnn;
  MINIDL_EXPECT_THROW_WITH(conv2d(zeros({1, 2, 5, 5}), zeros({3, 2, 3, 3}), Tensor(), p), ValueError,
                           "oneDNN");
}

// C[m, n] = sum_{k in [k_begin, k_end)} A[m, k] B[k, n] through an implicit-GEMM Op of the
// own CUDA kernel, in plain loops on the host, stored as split z.
template <class Op>
void host_igemm(const Op& op, int M, int N, int K, int z = 0, int k_begin = 0, int k_end = -1) {
  if (k_end < 0) k_end = K;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double acc = 0.0;
      for (int k = k_begin; k < k_end; ++k) acc += double(op.a(m, k)) * op.b(k, n);
      op.store(z, m, n, static_cast<float>(acc));
    }
}

// The own CUDA kernel's index math (kernels/conv2d_igemm.hpp: which tensor element each
// GEMM operand is), run on the host against the oracle: checkable without a GPU. The
// tiling around it is a plain GEMM; the GPU case above checks the two together.
TEST(Conv2d, OwnKernelIndexMathMatchesCourseFormula) {
  std::uint64_t seed = 40;
  for (const Case& c : oracle_cases()) {
    SCOPED_TRACE(describe(c));
    const Data d = make_data(c, seed++);
    const igemm::Geo g = igemm::to_geo(d.g);
    const auto x = d.x.to_vector<float>(), w = d.w.to_vector<float>(),
               wc = d.w_course.to_vector<float>(), b = d.b.to_vector<float>(),
               dz = d.dz.to_vector<float>();
    const int P = g.P, Q = g.Q, crs = g.C * g.R * g.S;

    std::vector<float> y(static_cast<std::size_t>(g.B) * g.M * P * Q, -1.0f);
    host_igemm(igemm::ForwardOp{g, x.data(), w.data(), c.bias ? b.data() : nullptr, y.data()},
               g.M, g.B * P * Q, crs);
    EXPECT_TRUE(test::all_close(y, oracle_forward(c, d.g, x, wc, b), 1e-4f, 1e-4f));

    std::vector<float> dx(x.size(), -1.0f);
    host_igemm(igemm::BackwardDataOp{g, dz.data(), w.data(), dx.data()}, g.C, g.B * g.H * g.W,
               g.M * g.R * g.S);
    EXPECT_TRUE(test::all_close(dx, oracle_data(c, d.g, wc, dz), 1e-4f, 1e-4f));

    // dw with beta 1 (accumulate onto 1s), and as three split-K partials summed in order.
    const std::vector<float> ref = oracle_filter(c, d.g, x, dz);
    const int K = g.B * P * Q;
    std::vector<float> dw(w.size(), 1.0f);
    host_igemm(igemm::BackwardFilterOp{g, x.data(), dz.data(), dw.data(), 1.0f}, g.M, crs, K);
    std::vector<float> ref1 = ref;
    for (float& v : ref1) v += 1.0f;
    EXPECT_TRUE(test::all_close(conv_weight_to_course(from_vector(dw, d.w.shape())).to_vector<float>(),
                                ref1, 1e-4f, 1e-4f));
    const int splits = 3, chunk = (K + splits - 1) / splits;
    std::vector<float> partial(static_cast<std::size_t>(splits) * w.size(), -1.0f);
    const igemm::BackwardFilterOp split{g, x.data(), dz.data(), partial.data(), 0.0f};
    for (int z = 0; z < splits; ++z)
      host_igemm(split, g.M, crs, K, z, std::min(K, z * chunk), std::min(K, (z + 1) * chunk));
    std::vector<float> sum(w.size(), 0.0f);
    for (int z = 0; z < splits; ++z)
      for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += partial[z * sum.size() + i];
    EXPECT_TRUE(test::all_close(conv_weight_to_course(from_vector(sum, d.w.shape())).to_vector<float>(),
                                ref, 1e-4f, 1e-4f));
  }
}

TEST(Conv2d, OutputSizes) {
  Conv2dParams valid, same;
  same.padding = ConvPadding::Same;
  auto g = conv2d_geometry({2, 3, 28, 28}, {8, 3, 5, 5}, valid);
  EXPECT_EQ(g.out_h, 24);  // N - K + 1
  g = conv2d_geometry({2, 3, 28, 28}, {8, 3, 5, 5}, same);
  EXPECT_EQ(g.out_h, 28);
  EXPECT_EQ(g.pad_top, 2);
  EXPECT_EQ(g.pad_bottom, 2);
  g = conv2d_geometry({2, 3, 6, 6}, {8, 3, 4, 4}, same);  // even kernel: extra at bottom/right
  EXPECT_EQ(g.out_h, 6);
  EXPECT_EQ(g.pad_top, 1);
  EXPECT_EQ(g.pad_bottom, 2);
  EXPECT_FALSE(g.symmetric_padding());
  same.stride_h = same.stride_w = 2;
  g = conv2d_geometry({2, 3, 7, 7}, {8, 3, 3, 3}, same);
  EXPECT_EQ(g.out_h, 4);  // ceil(7 / 2)
  EXPECT_DOUBLE_EQ(conv2d_geometry({1, 1, 3, 3}, {1, 1, 3, 3}, valid).forward_flops(), 18.0);
}

TEST(Conv2d, BadShapesAreClearErrors) {
  Conv2dParams valid;
  MINIDL_EXPECT_THROW_WITH(conv2d_geometry({2, 3, 4, 4}, {8, 3, 5, 5}, valid, "conv 'c1'"),
                           ShapeError, "conv 'c1'", "larger", "[2, 3, 4, 4]", "[8, 3, 5, 5]");
  MINIDL_EXPECT_THROW_WITH(conv2d_geometry({2, 4, 8, 8}, {8, 3, 3, 3}, valid), ShapeError,
                           "4 channels", "expects 3");
  MINIDL_EXPECT_THROW_WITH(conv2d_geometry({2, 64}, {8, 3, 3, 3}, valid), ShapeError, "NCHW",
                           "[2, 64]");
  MINIDL_EXPECT_THROW_WITH(conv2d_geometry({2, 3, 8, 8}, {8, 3, 3}, valid), ShapeError, "weight");
  // No channels (the im2col path divided by zero: SIGFPE) or an empty image (padding alone
  // gave it an output) are errors on every backend; an empty batch is not.
  Conv2dParams same_pad;
  same_pad.padding = ConvPadding::Same;
  for (const Shape& xs : {Shape{1, 0, 5, 5}, Shape{1, 3, 0, 5}, Shape{1, 3, 5, 0}}) {
    SCOPED_TRACE(xs.str());
    MINIDL_EXPECT_THROW_WITH(conv2d_geometry(xs, {4, xs[1], 3, 3}, same_pad), ShapeError,
                             "at least one channel", "non-empty image");
    MINIDL_EXPECT_THROW_WITH(conv2d(zeros(xs), zeros({4, xs[1], 3, 3}), Tensor(), same_pad),
                             ShapeError, "non-empty image");
  }
  EXPECT_EQ(conv2d(zeros({0, 3, 5, 5}), zeros({4, 3, 3, 3}), Tensor(), same_pad).shape(),
            (Shape{0, 4, 5, 5}));
  Conv2dParams bad;
  bad.stride_h = 0;
  MINIDL_EXPECT_THROW_WITH(conv2d_geometry({2, 3, 8, 8}, {8, 3, 3, 3}, bad), ValueError, "stride");
  // Past int32: n + 2 pad overflowed int64 at 2^62; a 2^62 stride reached oneDNN, which
  // refused it with "status 2".
  Conv2dParams huge;
  huge.padding = ConvPadding::Explicit;
  huge.pad_h = std::int64_t{1} << 62;
  MINIDL_EXPECT_THROW_WITH(conv2d_geometry({1, 1, 4, 4}, {1, 1, 2, 2}, huge), ValueError,
                           "below 2^31");
  huge.pad_h = 0;
  huge.stride_w = std::int64_t{1} << 62;
  MINIDL_EXPECT_THROW_WITH(conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 2, 2}), Tensor(), huge),
                           ValueError, "below 2^31");
  Generator gen(1);
  const Tensor x = normal({1, 2, 5, 5}, 0.0f, 1.0f, gen), w = normal({3, 2, 3, 3}, 0.0f, 1.0f, gen);
  MINIDL_EXPECT_THROW_WITH(conv2d(x, w, zeros({4})), ShapeError, "bias");
  Conv2dParams cudnn;
  cudnn.backend = ConvBackend::Cudnn;
  MINIDL_EXPECT_THROW_WITH(conv2d(x, w, Tensor(), cudnn), DeviceError, "cudnn");
}

TEST(Conv2d, WeightConversionRoundTrips) {
  Generator gen(3);
  const Tensor wc = normal({5, 3, 2, 4}, 0.0f, 1.0f, gen);  // (K1, K2, N_in, N_out)
  const Tensor w = conv_weight_from_course(wc);
  EXPECT_EQ(w.shape(), (Shape{4, 2, 5, 3}));
  const auto a = wc.to_vector<float>(), b = w.to_vector<float>();
  // w[m, n, k1, k2] == wc[k1, k2, n, m]
  EXPECT_EQ(b[((3 * 2 + 1) * 5 + 4) * 3 + 2], a[((4 * 3 + 2) * 2 + 1) * 4 + 3]);
  EXPECT_EQ(conv_weight_to_course(w).to_vector<float>(), a);
}

// Central differences of L = <r, conv(x, w, b)> for x, w and b, on each CPU backend.
void check_gradients(ConvBackend backend) {
  SCOPED_TRACE(conv_backend_name(backend));
  using P = ConvPadding;
  const std::vector<Case> cases = {{2, 3, 5, 6, 2, 3, 3, 2, 1, P::Same},
                                   {1, 2, 5, 5, 3, 2, 3, 1, 2, P::Valid},
                                   {2, 3, 6, 6, 2, 4, 4, 1, 1, P::Same},
                                   {2, 1, 6, 9, 3, 3, 4, 1, 1, P::Same}};  // direct path
  std::uint64_t seed = 40;
  for (const Case& c : cases) {
    SCOPED_TRACE(describe(c));
    Data d = make_data(c, seed++);
    const Conv2dParams p = params_of(c, backend);
    const Tensor r = d.dz;
    auto loss = [&](const Tensor& x, const Tensor& w, const Tensor& b) {
      return test::project(r, conv2d(x, w, b, p));
    };
    Tensor dx, db;
    conv2d_backward_data(r, d.w, d.x.shape(), dx, p);
    Tensor dw = zeros(d.w.shape());
    conv2d_backward_filter(d.x, r, dw, p);
    conv2d_backward_bias(r, db);
    Tensor x = d.x.clone(), w = d.w.clone(), b = d.b.clone();
    EXPECT_TRUE(test::gradients_agree(
        dx.to_vector<float>(),
        test::numerical_gradient([&](const Tensor& t) { return loss(t, w, b); }, x, 1e-2f), 2e-3));
    EXPECT_TRUE(test::gradients_agree(
        dw.to_vector<float>(),
        test::numerical_gradient([&](const Tensor& t) { return loss(x, t, b); }, w, 1e-2f), 2e-3));
    EXPECT_TRUE(test::gradients_agree(
        db.to_vector<float>(),
        test::numerical_gradient([&](const Tensor& t) { return loss(x, w, t); }, b, 1e-2f), 2e-3));
  }
}

TEST(Conv2d, GradientsMatchCentralDifferences) { check_gradients(ConvBackend::Cpu); }

TEST(Conv2d, OneDnnGradientsMatchCentralDifferences) {
  MINIDL_REQUIRE_ONEDNN();
  check_gradients(ConvBackend::OneDnn);
}

// CPU-vs-CUDA values for every backend are in the parity table (tests/parity).
TEST(Conv2dCuda, CpuBackendRejectsCudaTensors) {
  MINIDL_REQUIRE_CUDA();
  const Device gpu = Device::cuda();
  Conv2dParams p;
  p.backend = ConvBackend::Cpu;
  MINIDL_EXPECT_THROW_WITH(conv2d(zeros({1, 2, 5, 5}, gpu), zeros({3, 2, 3, 3}, gpu), Tensor(), p),
                           DeviceError, "cpu");
}

TEST(Conv2dCuda, OneDnnBackendRejectsCudaTensors) {
  MINIDL_REQUIRE_CUDA();
  const Device gpu = Device::cuda();
  Conv2dParams p;
  p.backend = ConvBackend::OneDnn;
  MINIDL_EXPECT_THROW_WITH(conv2d(zeros({1, 2, 5, 5}, gpu), zeros({3, 2, 3, 3}, gpu), Tensor(), p),
                           DeviceError, "onednn");
}

// An empty batch: empty outputs, and dw = 0 (overwrite) or unchanged (accumulate),
// on every backend (cuDNN rejects 0-sized descriptors; the own kernel's split-K
// arithmetic divided by K = B P Q = 0).
// One input channel too: the AVX2 direct path takes those, and its filter gradient divided
// by a grain of 0 on an empty batch (SIGFPE; found in review).
void check_empty_batch(Device device, ConvBackend backend) {
  SCOPED_TRACE(conv_backend_name(backend));
  for (const std::int64_t c : {3, 1}) {
    SCOPED_TRACE(c);
    Conv2dParams p;
    p.padding = ConvPadding::Same;
    p.backend = backend;
    const Tensor x = zeros({0, c, 5, 5}, device), w = ones({4, c, 3, 3}, device);
    const Tensor y = conv2d(x, w, ones({4}, device), p);
    EXPECT_EQ(y.shape(), (Shape{0, 4, 5, 5}));
    Tensor dx;
    conv2d_backward_data(y, w, x.shape(), dx, p);
    EXPECT_EQ(dx.shape(), x.shape());
    const auto taps = static_cast<std::size_t>(4 * c * 9);
    Tensor dw = full(w.shape(), 2.0, device);
    conv2d_backward_filter(x, y, dw, p, /*accumulate=*/true);
    EXPECT_EQ(dw.to_vector<float>(), std::vector<float>(taps, 2.0f));
    conv2d_backward_filter(x, y, dw, p, /*accumulate=*/false);
    EXPECT_EQ(dw.to_vector<float>(), std::vector<float>(taps, 0.0f));
  }
}

// A NaN in the input reaches exactly the filter taps that read it: with Same padding, a 5x5
// kernel and a width of 20 (the AVX2 direct path's 4-lane tail), a NaN in column 19 is read
// by taps 2-4 of each row only. The tail's unmasked input load gave taps 0 and 1 NaN too
// (found in review).
TEST(Conv2d, FilterGradientNaNStaysWithTheTapsThatReadIt) {
  Conv2dParams p;
  p.padding = ConvPadding::Same;
  p.backend = ConvBackend::Cpu;
  std::vector<float> xv(20 * 20, 0.5f);
  xv[5 * 20 + 19] = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = from_vector(xv, {1, 1, 20, 20});
  const Tensor dy = ones({1, 3, 20, 20});
  Tensor dw = zeros({3, 1, 5, 5});
  conv2d_backward_filter(x, dy, dw, p, /*accumulate=*/false);
  const std::vector<float> v = dw.to_vector<float>();
  for (int m = 0; m < 3; ++m)
    for (int r = 0; r < 5; ++r)
      for (int s = 0; s < 5; ++s) {
        const float tap = v[static_cast<std::size_t>((m * 5 + r) * 5 + s)];
        EXPECT_EQ(std::isnan(tap), s >= 2) << "filter " << m << " tap (" << r << ", " << s << ")";
      }
}

TEST(Conv2d, EmptyBatch) {
  check_empty_batch(Device::cpu(), ConvBackend::Cpu);
  check_empty_batch(Device::cpu(), ConvBackend::Auto);
}

TEST(Conv2d, OneDnnEmptyBatch) {
  MINIDL_REQUIRE_ONEDNN();
  check_empty_batch(Device::cpu(), ConvBackend::OneDnn);
}

}  // namespace
}  // namespace minidl
