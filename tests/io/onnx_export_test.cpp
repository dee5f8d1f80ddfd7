#include "io/onnx_export.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/pool.hpp"
#include "layers/sequential.hpp"
#include "layers/structural.hpp"
#include "test_util.hpp"

#ifndef MINIDL_SOURCE_ROOT
#error "the ONNX test needs MINIDL_SOURCE_ROOT (tests/CMakeLists.txt sets it)"
#endif

namespace minidl {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("minidl_onnx_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// The source tree: $MINIDL_SOURCE_DIR (the GPU check sets it), else the one this
// test was built from.
std::string source_dir() {
  if (const char* s = std::getenv("MINIDL_SOURCE_DIR")) return s;
  return MINIDL_SOURCE_ROOT;
}

// The project's virtual environment with onnxruntime (tools/setup.sh creates it).
// MINIDL_ONNX_PYTHON names another interpreter; MINIDL_SKIP_ONNXRUNTIME=1 skips
// the comparison explicitly (machines where the set-up cannot run: the GPU
// runner sets it when the source copy has no .venv). Otherwise a missing
// interpreter is a failure, not a skip.
std::string python() {
  if (const char* p = std::getenv("MINIDL_ONNX_PYTHON")) return p;
  return source_dir() + "/.venv/bin/python";
}
bool skip_onnxruntime() {
  const char* s = std::getenv("MINIDL_SKIP_ONNXRUNTIME");
  return s != nullptr && std::string(s) == "1";
}

void write_floats(const fs::path& path, const std::vector<float>& v) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()),
            static_cast<std::streamsize>(v.size() * sizeof(float)));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<float> read_floats(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const auto bytes = static_cast<std::size_t>(in.tellg());
  std::vector<float> v(bytes / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  return v;
}

std::string dims_of(const Tensor& t) {
  std::string s;
  for (std::int64_t d : t.shape()) s += (s.empty() ? "" : ",") + std::to_string(d);
  return s;
}

// Exports `graph`, runs it in ONNX Runtime on `inputs` (the exported inputs, in
// declaration order) and compares every output with minidl's `expected` values:
// |ort - minidl| <= 1e-5 max(|minidl|, 1) elementwise. Returns the largest
// |ort - minidl| / max(|minidl|, 1) seen.
double compare_with_onnxruntime(Graph& graph, const std::string& name,
                                const std::vector<Tensor>& inputs,
                                const std::vector<Tensor>& expected) {
  const fs::path dir = temp_dir(name);
  const fs::path model = dir / (name + ".onnx");
  export_onnx(graph, model.string());
  EXPECT_GT(fs::file_size(model), 0u);
  if (skip_onnxruntime()) {
    ADD_FAILURE() << "unreachable";  // callers check skip_onnxruntime() first
    return 0;
  }
  const std::string py = python();
  if (!fs::exists(py)) {
    ADD_FAILURE() << "no Python with onnxruntime at " << py
                  << ": run tools/setup.sh (it creates .venv), or set MINIDL_ONNX_PYTHON, or "
                     "MINIDL_SKIP_ONNXRUNTIME=1 to skip this check explicitly";
    return 0;
  }
  std::ostringstream cmd;
  cmd << "'" << py << "' '" << source_dir() << "/tests/io/onnx_run.py' '" << model.string()
      << "' '" << dir.string() << "'";
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const fs::path in = dir / ("input" + std::to_string(i) + ".bin");
    write_floats(in, inputs[i].to_vector<float>());
    cmd << " '" << in.string() << ":" << dims_of(inputs[i]) << "'";
  }
  cmd << " > '" << (dir / "ort.txt").string() << "' 2>&1";
  const int status = std::system(cmd.str().c_str());
  std::ifstream log(dir / "ort.txt");
  const std::string ort_output((std::istreambuf_iterator<char>(log)),
                               std::istreambuf_iterator<char>());
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "ONNX Runtime failed on " << model << ":\n" << ort_output;
    return 0;
  }
  double worst = 0;
  for (std::size_t k = 0; k < expected.size(); ++k) {
    const std::vector<float> got = read_floats(dir / ("output" + std::to_string(k) + ".bin"));
    const std::vector<float> want = expected[k].to_vector<float>();
    EXPECT_EQ(got.size(), want.size()) << name << " output " << k << "\n" << ort_output;
    if (got.size() != want.size()) return 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double ref = want[i];
      const double err = std::fabs(static_cast<double>(got[i]) - ref) / std::max(std::fabs(ref), 1.0);
      worst = std::max(worst, err);
    }
    EXPECT_LE(worst, 1e-5) << name << " output " << k;
  }
  std::printf("[ onnx     ] %s: %zu output(s) against ONNX Runtime, max relative error %.3g\n",
              name.c_str(), expected.size(), worst);
  fs::remove_all(dir);
  return worst;
}

Tensor random_input(std::int64_t n, const Shape& sample, std::uint64_t seed) {
  std::vector<std::int64_t> dims{n};
  for (std::int64_t d : sample) dims.push_back(d);
  Generator gen(seed);
  return normal(Shape(dims), 0.0f, 1.0f, gen);
}

// A few training-mode forwards give BatchNorm2d running statistics that are not 0 / 1.
void warm_up_batchnorm(Graph& g, const Shape& sample, std::int64_t batch) {
  g.train();
  for (std::uint64_t s = 0; s < 3; ++s) {
    std::vector<Tensor> in{random_input(batch, sample, 100 + s)};
    for (std::size_t k = 1; k < g.inputs().size(); ++k) in.emplace_back();
    g.forward(in, g.output_of("logits"));
  }
}

// minidl-train's MLP (784-256-128-10, ReLU, softmax cross-entropy), batch axis 7
// where it was built for 32: the exported batch axis is dynamic.
TEST(OnnxExport, MlpMatchesOnnxRuntime) {
  if (skip_onnxruntime()) GTEST_SKIP() << "MINIDL_SKIP_ONNXRUNTIME=1";
  Sequential net({784}, Device::cpu(), 3);
  net.add<Dense>(256).add(relu_layer()).add<Dense>(128).add(relu_layer()).add(Dense(10), "logits");
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(32);
  net.graph().eval();
  const Tensor x = random_input(7, {784}, 1);
  const Tensor logits = net.predict(x).clone();
  compare_with_onnxruntime(net.graph(), "mlp", {x}, {logits});
}

// A CNN with every spatial layer: TensorFlow-style same padding at stride 2 (odd
// kernel: the extra row and column at the bottom / right), same at stride 1 with a fused
// ReLU (Conv + Relu nodes), explicit
// padding, BatchNorm2d with running statistics, max and average pooling, LeakyReLU,
// Tanh, Dropout (identity), Flatten and Reshape.
TEST(OnnxExport, CnnMatchesOnnxRuntime) {
  if (skip_onnxruntime()) GTEST_SKIP() << "MINIDL_SKIP_ONNXRUNTIME=1";
  Sequential net({64}, Device::cpu(), 5);
  Conv2dOptions explicit_pad;
  explicit_pad.padding = ConvPadding::Explicit;
  explicit_pad.pad_h = 1;
  explicit_pad.pad_w = 1;
  Conv2dOptions same_relu = Conv2dOptions::same();
  same_relu.activation = Activation::ReLU;  // exported as Conv + Relu
  net.add<Reshape>(Shape{1, 8, 8})
      .add(Conv2d(4, 3, Conv2dOptions::same(2)), "conv_same_s2")
      .add<BatchNorm2d>()
      .add(relu_layer())
      .add(Conv2d(6, 3, same_relu), "conv_same_relu")
      .add<MaxPool2d>(2)
      .add(Conv2d(5, 2, explicit_pad), "conv_explicit")
      .add(leaky_relu_layer(0.1f))
      .add<AvgPool2d>(2, 1)
      .add<Flatten>()
      .add<Dense>(16)
      .add(tanh_layer())
      .add<Dropout>(0.3f)
      .add(Dense(10), "logits");
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(16);
  warm_up_batchnorm(net.graph(), {64}, 16);
  net.graph().eval();
  const Tensor x = random_input(5, {64}, 2);
  const Tensor logits = net.predict(x).clone();
  compare_with_onnxruntime(net.graph(), "cnn", {x}, {logits});
}

// Two inputs, a skip connection (Add), Concat, a Dense without bias, Sigmoid, the
// hard threshold, Identity and Softmax; two outputs (one consumed by nothing).
TEST(OnnxExport, TwoInputGraphWithAddAndConcatMatchesOnnxRuntime) {
  if (skip_onnxruntime()) GTEST_SKIP() << "MINIDL_SKIP_ONNXRUNTIME=1";
  Graph g(Device::cpu(), 9);
  const auto a = g.input("a", {6});
  const auto b = g.input("b", {4});
  auto h1 = g.add(sigmoid_layer(), {g.add(std::make_shared<Dense>(8), {a}, "dense_a")});
  auto inner = g.add(relu_layer(), {g.add(std::make_shared<Dense>(8), {h1}, "dense_inner")});
  auto skip = g.add(std::make_shared<Add>(), {h1, inner}, "skip");
  auto h2 = g.add(step_layer(), {g.add(std::make_shared<Dense>(5), {b}, "dense_b")}, "threshold");
  auto joined = g.add(std::make_shared<Concat>(), {skip, h2}, "joined");
  auto z = g.add(std::make_shared<Dense>(3, DenseOptions{false}), {joined}, "no_bias");
  auto probs = g.add(std::make_shared<Softmax>(), {g.add(identity_layer(), {z})}, "probs");
  auto aux = g.add(tanh_layer(), {skip}, "aux");  // a second output, added after probs
  g.build(8);
  g.eval();
  const Tensor xa = random_input(3, {6}, 3), xb = random_input(3, {4}, 4);
  g.forward({xa, xb});
  const Tensor want_probs = g.value(probs).clone(), want_aux = g.value(aux).clone();
  compare_with_onnxruntime(g, "add_concat", {xa, xb}, {want_probs, want_aux});
}

// The padding and pooling variants the CNN above does not cover: valid convolution
// at stride 2, PyTorch-style half-kernel padding at stride 2, max pooling with
// padding, average pooling with padding that does not count the padded zeros, and
// a Conv2d without bias.
TEST(OnnxExport, ConvolutionAndPoolingVariantsMatchOnnxRuntime) {
  if (skip_onnxruntime()) GTEST_SKIP() << "MINIDL_SKIP_ONNXRUNTIME=1";
  Conv2dOptions no_bias = Conv2dOptions::half_kernel(2);
  no_bias.bias = false;
  Sequential net({2, 11, 11}, Device::cpu(), 6);
  net.add(Conv2d(4, 3, Conv2dOptions::valid(2)), "conv_valid_s2")  // [4, 5, 5]
      .add<MaxPool2d>(3, 1, 1)                                      // [4, 5, 5]
      .add<AvgPool2d>(3, 1, 1, /*count_include_pad=*/false)          // [4, 5, 5]
      .add(Conv2d(3, 3, no_bias), "conv_half_s2")                    // [3, 3, 3]
      .add(sigmoid_layer())
      .add<Flatten>()
      .add(Dense(4), "logits");
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(4);
  net.graph().eval();
  const Tensor x = random_input(3, {2, 11, 11}, 7);
  const Tensor logits = net.predict(x).clone();
  compare_with_onnxruntime(net.graph(), "conv_variants", {x}, {logits});
}

// Names the exporter makes up (a fused ReLU's "<out>_conv" and node "<layer>_relu", the hard
// threshold's ".ge" and ".zero", "<layer>.weight") against layers that already carry them:
// the model defined a name twice and the checker (or ONNX Runtime, for node names) rejected
// it (found in review). Now the made-up name yields.
TEST(OnnxExport, MadeUpNamesYieldToTheGraphsNames) {
  Conv2dOptions same_relu = Conv2dOptions::same();
  same_relu.activation = Activation::ReLU;
  Sequential net({1, 6, 6}, Device::cpu(), 8);
  net.add(Conv2d(2, 3, same_relu), "stem")
      .add(identity_layer(), "stem_conv")
      .add<Flatten>()
      .add(Dense(5), "fc")
      .add(step_layer(), "fc.weight")
      .add(identity_layer(), "fc.weight.ge")
      .add(identity_layer(), "fc.weight.zero")
      .add(identity_layer(), "stem_relu")
      .add(Dense(3), "logits");
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(4);
  net.graph().eval();
  EXPECT_NO_THROW(onnx_model_bytes(net.graph()));
  if (skip_onnxruntime()) GTEST_SKIP() << "MINIDL_SKIP_ONNXRUNTIME=1";
  const Tensor x = random_input(2, {1, 6, 6}, 9);
  const Tensor logits = net.predict(x).clone();
  compare_with_onnxruntime(net.graph(), "name_clashes", {x}, {logits});
}

TEST(OnnxExport, ErrorsNameTheLayer) {
  // An unbuilt graph.
  Sequential unbuilt({4});
  unbuilt.add<Dense>(2);
  MINIDL_EXPECT_THROW_WITH(onnx_model_bytes(unbuilt.graph()), ValueError, "build the graph");

  // A layer type the exporter does not know.
  class Doubler : public Layer {
   public:
    std::string type() const override { return "Doubler"; }
    Shape build(const std::vector<Shape>& s, const std::vector<DType>&,
                const BuildContext&) override {
      return s[0];
    }
    void forward(const std::vector<const Tensor*>& in, Tensor& out) override {
      out.copy_from(*in[0]);
    }
    void backward(const std::vector<const Tensor*>&, const Tensor&, const Tensor&,
                  const std::vector<Tensor*>&) override {}
  };
  Graph g(Device::cpu(), 1);
  const auto x = g.input("x", {3});
  g.add(std::make_shared<Doubler>(), {g.add(std::make_shared<Dense>(3), {x})}, "twice");
  g.build(2);
  MINIDL_EXPECT_THROW_WITH(onnx_model_bytes(g), ValueError, "'twice'", "Doubler",
                           "cannot be exported");
  MINIDL_EXPECT_THROW_WITH(export_onnx(g, "/nonexistent-dir/m.onnx"), ValueError, "'twice'");

  // An unwritable path is an IoError naming it, and the previous file stays.
  Sequential ok({3});
  ok.add<Dense>(2);
  ok.build(2);
  MINIDL_EXPECT_THROW_WITH(export_onnx(ok.graph(), "/nonexistent-dir/m.onnx"), IoError,
                           "/nonexistent-dir/m.onnx");
}

// The model is what the header says: opset 13, inputs without the targets, a
// dynamic batch axis, the logits as output, initializers named as the parameters.
TEST(OnnxExport, ModelStructure) {
  Sequential net({5}, Device::cpu(), 1);
  net.add<Dense>(4).add<Dropout>(0.5f).add(Dense(3), "logits");
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(2);
  const std::string bytes = onnx_model_bytes(net.graph());
  // Protobuf strings are stored verbatim: the names are in the bytes.
  for (const char* s : {"minidl", "dense1.weight", "dense1.bias", "logits.weight", "Gemm",
                        "Identity", "batch", "x", "logits"})
    EXPECT_NE(bytes.find(s), std::string::npos) << s;
  EXPECT_EQ(bytes.find("targets"), std::string::npos);
  EXPECT_EQ(bytes.find("SoftmaxCrossEntropy"), std::string::npos);
}

}  // namespace
}  // namespace minidl
