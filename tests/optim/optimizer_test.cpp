// The Optimizer base: parameter checks, zero_grad, the learning rate, and
// checkpoint state (save, load, resume bit-identically; mismatches rejected).
#include "optim/optimizer.hpp"

#include <functional>
#include <memory>

#include "optim/adam.hpp"
#include "optim/sgd.hpp"
#include "optim_test_util.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(std::vector<Parameter*>)>;

struct NamedFactory {
  const char* label;
  MakeOptimizer make;
};

std::vector<NamedFactory> factories() {
  return {
      {"sgd",
       [](auto ps) {
         return std::make_unique<Sgd>(ps, SgdOptions{0.05f, 0.0f, false, 0.0f});
       }},
      {"sgd-momentum",
       [](auto ps) {
         return std::make_unique<Sgd>(ps, SgdOptions{0.05f, 0.9f, false, 1e-3f});
       }},
      {"sgd-nesterov",
       [](auto ps) {
         return std::make_unique<Sgd>(ps, SgdOptions{0.05f, 0.9f, true, 0.0f});
       }},
      {"adam",
       [](auto ps) {
         return std::make_unique<Adam>(ps, AdamOptions{0.02f, 0.9f, 0.999f, 1e-8f, 1e-3f, false});
       }},
      {"adamw", [](auto ps) { return std::make_unique<AdamW>(ps); }},
  };
}

// Each step changes the learning rate too, so a resume must restore it.
void train(test::TinyModel& model, Optimizer& opt, int steps) {
  for (int i = 0; i < steps; ++i) {
    model.quadratic_grads();
    opt.set_learning_rate(opt.learning_rate() * 0.97f);
    opt.step();
  }
}

Optimizer::StateTensors to_host(const Optimizer::StateTensors& state) {
  Optimizer::StateTensors out;
  for (const auto& [name, t] : state) out.emplace_back(name, t.to(Device::cpu()).clone());
  return out;
}

void expect_resume_is_bit_identical(Device device) {
  constexpr int kTotal = 8, kSaveAt = 3;
  for (const NamedFactory& f : factories()) {
    test::TinyModel straight(Device::cpu());
    test::TinyModel resumed(straight, device);
    test::TinyModel reference(straight, device);
    auto opt_ref = f.make(reference.pointers());
    train(reference, *opt_ref, kTotal);

    Optimizer::StateTensors saved;
    Optimizer::StateMetadata meta;
    {
      auto opt = f.make(resumed.pointers());
      train(resumed, *opt, kSaveAt);
      saved = to_host(opt->state_tensors());
      meta = opt->state_metadata();
    }
    auto fresh = f.make(resumed.pointers());
    fresh->load_state(saved, meta);
    EXPECT_EQ(fresh->steps(), kSaveAt) << f.label;
    train(resumed, *fresh, kTotal - kSaveAt);

    EXPECT_EQ(resumed.values(), reference.values()) << f.label;
    EXPECT_EQ(fresh->steps(), opt_ref->steps()) << f.label;
    EXPECT_EQ(fresh->learning_rate(), opt_ref->learning_rate()) << f.label;
    const auto a = fresh->state_tensors(), b = opt_ref->state_tensors();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].second.to_vector<float>(), b[k].second.to_vector<float>()) << a[k].first;
    }
  }
}

TEST(Optimizer, ResumeIsBitIdentical) { expect_resume_is_bit_identical(Device::cpu()); }

TEST(OptimizerCuda, ResumeIsBitIdentical) {
  MINIDL_REQUIRE_CUDA();
  expect_resume_is_bit_identical(Device::cuda());
}

TEST(OptimizerCuda, LoadsStateFromAnotherDevice) {
  MINIDL_REQUIRE_CUDA();
  // Saved on the GPU, loaded into a CPU optimizer (and back): the tensors copy across.
  test::TinyModel gpu(Device::cuda());
  Adam adam_gpu(gpu.pointers());
  train(gpu, adam_gpu, 2);
  test::TinyModel cpu(gpu, Device::cpu());
  Adam adam_cpu(cpu.pointers());
  adam_cpu.load_state(adam_gpu.state_tensors(), adam_gpu.state_metadata());
  for (std::size_t k = 0; k < adam_cpu.state_tensors().size(); ++k) {
    EXPECT_EQ(adam_cpu.state_tensors()[k].second.to_vector<float>(),
              adam_gpu.state_tensors()[k].second.to_vector<float>());
  }
  Adam again(gpu.pointers());
  again.load_state(adam_cpu.state_tensors(), adam_cpu.state_metadata());
  EXPECT_EQ(again.steps(), 2);
}

TEST(Optimizer, LoadStateRejectsMismatches) {
  test::TinyModel model(Device::cpu());
  Sgd source(model.pointers(), SgdOptions{0.1f, 0.9f, false, 0.0f});
  train(model, source, 2);
  const Optimizer::StateTensors state = to_host(source.state_tensors());
  const Optimizer::StateMetadata meta = source.state_metadata();

  Sgd target(model.pointers(), SgdOptions{0.1f, 0.9f, false, 0.0f});
  const std::vector<float> before = target.state_tensors()[0].second.to_vector<float>();

  Adam adam(model.pointers());
  MINIDL_EXPECT_THROW_WITH(adam.load_state(state, meta), ValueError, "Adam", "'sgd'", "'adam'");

  Sgd other(model.pointers(), SgdOptions{0.1f, 0.5f, false, 0.0f});
  MINIDL_EXPECT_THROW_WITH(other.load_state(state, meta), ValueError, "momentum", "0.8999999",
                           "0.5");

  Optimizer::StateTensors missing(state.begin(), state.end() - 1);
  MINIDL_EXPECT_THROW_WITH(target.load_state(missing, meta), ValueError, "'extra.scale.momentum'",
                           "missing");

  Optimizer::StateTensors extra = state;
  extra.emplace_back("dense2.weight.momentum", zeros({2}));
  MINIDL_EXPECT_THROW_WITH(target.load_state(extra, meta), ValueError,
                           "unexpected state tensor 'dense2.weight.momentum'");

  Optimizer::StateTensors twice = state;
  twice.push_back(state[0]);
  MINIDL_EXPECT_THROW_WITH(target.load_state(twice, meta), ValueError, "'dense1.weight.momentum'",
                           "more than once");

  Optimizer::StateTensors reshaped = state;
  reshaped[1].second = zeros({5});
  MINIDL_EXPECT_THROW_WITH(target.load_state(reshaped, meta), ShapeError, "'dense1.bias.momentum'",
                           "[5]", "[4]");

  Optimizer::StateTensors ints = state;
  ints[1].second = zeros({4}, Device::cpu(), DType::Int32);
  MINIDL_EXPECT_THROW_WITH(target.load_state(ints, meta), DTypeError, "'dense1.bias.momentum'",
                           "int32");

  Optimizer::StateMetadata no_steps = meta;
  no_steps.erase("steps");
  MINIDL_EXPECT_THROW_WITH(target.load_state(state, no_steps), ValueError, "lacks 'steps'");
  Optimizer::StateMetadata bad_steps = meta;
  bad_steps["steps"] = "-3";
  MINIDL_EXPECT_THROW_WITH(target.load_state(state, bad_steps), ValueError, "'steps'", "-3");
  Optimizer::StateMetadata bad_lr = meta;
  bad_lr["learning_rate"] = "fast";
  MINIDL_EXPECT_THROW_WITH(target.load_state(state, bad_lr), ValueError, "'learning_rate'", "fast");
  Optimizer::StateMetadata no_kind = meta;
  no_kind.erase("kind");
  MINIDL_EXPECT_THROW_WITH(target.load_state(state, no_kind), ValueError, "lacks 'kind'");

  // Nothing changed after the failures; a good load then succeeds.
  EXPECT_EQ(target.steps(), 0);
  EXPECT_EQ(target.state_tensors()[0].second.to_vector<float>(), before);
  Optimizer::StateMetadata hand_written = meta;
  hand_written["momentum"] = "0.9";  // the same float as the saved "0.899999976"
  target.load_state(state, hand_written);
  EXPECT_EQ(target.steps(), 2);
  EXPECT_EQ(target.state_tensors()[2].second.to_vector<float>(),
            state[2].second.to_vector<float>());
}

TEST(Optimizer, RejectsBadParameters) {
  Parameter a = test::make_parameter("dense1.weight", {1, 2, 3}, {0, 0, 0});
  Parameter b = test::make_parameter("dense1.bias", {1}, {0});
  MINIDL_EXPECT_THROW_WITH(Sgd({}), ValueError, "Sgd", "empty");
  MINIDL_EXPECT_THROW_WITH(Sgd({&a, nullptr}), ValueError, "parameter 1", "null");

  Parameter dup = test::make_parameter("dense1.weight", {1}, {0});
  MINIDL_EXPECT_THROW_WITH(Adam({&a, &b, &dup}), ValueError, "Adam", "'dense1.weight'",
                           "more than once");

  Parameter unnamed = test::make_parameter("", {1}, {0});
  MINIDL_EXPECT_THROW_WITH(Sgd({&unnamed}), ValueError, "empty name");

  Parameter bad_grad{"dense2.weight", zeros({2, 3}), zeros({3, 2})};
  MINIDL_EXPECT_THROW_WITH(Sgd({&a, &bad_grad}), ShapeError, "'dense2.weight'", "[2, 3]", "[3, 2]");

  Parameter no_grad{"dense2.weight", zeros({2}), Tensor()};
  MINIDL_EXPECT_THROW_WITH(Sgd({&no_grad}), ValueError, "'dense2.weight'", "undefined grad");

  Parameter no_value{"dense2.weight", Tensor(), zeros({2})};
  MINIDL_EXPECT_THROW_WITH(Sgd({&no_value}), ValueError, "'dense2.weight'", "undefined value");

  Parameter ints{"counts", zeros({2}, Device::cpu(), DType::Int32), zeros({2})};
  MINIDL_EXPECT_THROW_WITH(Sgd({&ints}), DTypeError, "'counts'", "float32", "int32");

  Parameter int_grad{"counts", zeros({2}), zeros({2}, Device::cpu(), DType::Int32)};
  MINIDL_EXPECT_THROW_WITH(Sgd({&int_grad}), DTypeError, "'counts'", "grad", "int32");

  Parameter alias{"tied", a.value, zeros({3})};
  MINIDL_EXPECT_THROW_WITH(Sgd({&a, &alias}), ValueError, "'tied'", "shares");
}

TEST(Optimizer, StepRechecksParameters) {
  Parameter a = test::make_parameter("w", {1, 2}, {0, 0});
  Sgd sgd({&a}, SgdOptions{0.1f, 0.9f, false, 0.0f});
  a.grad = zeros({3});
  MINIDL_EXPECT_THROW_WITH(sgd.step(), ShapeError, "'w'", "[2]", "[3]");
  EXPECT_EQ(sgd.steps(), 0);
  a.grad = zeros({2});
  a.value = zeros({5});
  a.grad = zeros({5});
  MINIDL_EXPECT_THROW_WITH(sgd.step(), ShapeError, "'w'", "momentum", "[5]", "[2]");
}

TEST(Optimizer, ZeroGradAndLearningRate) {
  test::TinyModel model(Device::cpu());
  model.quadratic_grads();
  Adam adam(model.pointers());
  EXPECT_EQ(adam.parameters().size(), 3u);
  EXPECT_EQ(adam.parameters()[1], &model.params[1]);
  adam.zero_grad();
  for (const Parameter& p : model.params) {
    EXPECT_EQ(p.grad.to_vector<float>(), std::vector<float>(p.grad.numel(), 0.0f)) << p.name;
  }
  adam.set_learning_rate(0.25f);
  EXPECT_EQ(adam.learning_rate(), 0.25f);
  MINIDL_EXPECT_THROW_WITH(adam.set_learning_rate(-1.0f), ValueError, "learning_rate", "-1");
  MINIDL_EXPECT_THROW_WITH(adam.set_learning_rate(INFINITY), ValueError, "learning_rate");
  EXPECT_EQ(adam.learning_rate(), 0.25f);
  adam.step();
  adam.step();
  EXPECT_EQ(adam.steps(), 2);
  EXPECT_EQ(adam.state_metadata().at("steps"), "2");
}

TEST(OptimizerCuda, RejectsMixedDevices) {
  MINIDL_REQUIRE_CUDA();
  Parameter a = test::make_parameter("cpu.weight", {1}, {0});
  Parameter b{"gpu.weight", zeros({2}, Device::cuda()), zeros({2}, Device::cuda())};
  MINIDL_EXPECT_THROW_WITH(Sgd({&a, &b}), DeviceError, "'gpu.weight'", "cuda:0", "cpu");
  Parameter c{"split.weight", zeros({2}, Device::cuda()), zeros({2})};
  MINIDL_EXPECT_THROW_WITH(Sgd({&c}), DeviceError, "'split.weight'", "cuda:0", "cpu");
}

}  // namespace
}  // namespace minidl
