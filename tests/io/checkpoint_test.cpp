#include "io/checkpoint.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "io/safetensors.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/dense.hpp"
#include "layers/sequential.hpp"
#include "layers/structural.hpp"
#include "optim/adam.hpp"
#include "optim/sgd.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("minidl_checkpoint_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

Sequential small_net(std::uint64_t seed, std::int64_t hidden = 6) {
  Sequential net({4}, Device::cpu(), seed);
  net.add(std::make_shared<Dense>(hidden)).add(relu_layer()).add(std::make_shared<Dense>(3));
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(8);
  return net;
}

TEST(Checkpoint, RoundTripsParametersOptimizerAndGenerator) {
  const std::string path = temp_path("round.safetensors");
  Sequential a = small_net(1);
  Adam opt_a(a.graph().parameters());
  Generator gen(3);
  const Tensor x = normal({8, 4}, 0.0f, 1.0f, gen);
  const Tensor y = from_vector({0, 1, 2, 0, 1, 2, 0, 1}, {8});
  for (int i = 0; i < 3; ++i) {
    a.train_step(x, y);
    opt_a.step();
  }
  a.graph().generator().next();
  save_checkpoint(path, a.graph(), &opt_a, {{"epoch", "3"}});

  Sequential b = small_net(2);  // other initial weights
  Adam opt_b(b.graph().parameters());
  const auto extra = load_checkpoint(path, b.graph(), &opt_b);
  EXPECT_EQ(extra.at("epoch"), "3");
  EXPECT_EQ(opt_b.steps(), 3);
  EXPECT_EQ(b.graph().generator().offset(), a.graph().generator().offset());
  EXPECT_EQ(b.graph().generator().seed(), 1u);
  // The same next step on both.
  a.train_step(x, y);
  opt_a.step();
  b.train_step(x, y);
  opt_b.step();
  for (std::size_t i = 0; i < a.graph().parameters().size(); ++i) {
    EXPECT_EQ(a.graph().parameters()[i]->value.to_vector<float>(),
              b.graph().parameters()[i]->value.to_vector<float>());
  }
  // The weights are plain named tensors (PyTorch-readable layout).
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.at("dense1.weight").shape(), (Shape{6, 4}));
  EXPECT_TRUE(f.contains("__optimizer__.dense1.weight.adam_m") || f.tensors.size() > 4u);
  std::remove(path.c_str());
}

TEST(Checkpoint, KeepsBatchNormRunningStatistics) {
  const std::string path = temp_path("bn.safetensors");
  auto make = [](std::uint64_t seed) {
    Sequential net({2, 3, 3}, Device::cpu(), seed);
    net.add(std::make_shared<BatchNorm2d>())
        .add(std::make_shared<Flatten>())
        .add(std::make_shared<Dense>(2));
    net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
    net.build(4);
    return net;
  };
  Sequential a = make(1);
  Generator gen(7);
  a.train_step(normal({4, 2, 3, 3}, 3.0f, 2.0f, gen), from_vector({0, 1, 0, 1}, {4}));
  save_checkpoint(path, a.graph(), nullptr);
  Sequential b = make(2);
  load_checkpoint(path, b.graph(), nullptr);
  const auto ba = a.graph().buffers(), bb = b.graph().buffers();
  ASSERT_EQ(ba.size(), 2u);
  for (std::size_t i = 0; i < ba.size(); ++i) {
    EXPECT_EQ(ba[i].first, bb[i].first);
    EXPECT_EQ(ba[i].second->to_vector<float>(), bb[i].second->to_vector<float>()) << ba[i].first;
  }
  EXPECT_NE(ba[0].second->to_vector<float>(), std::vector<float>(2, 0.0f));  // the step moved it
  std::remove(path.c_str());
}

TEST(Checkpoint, MismatchesAreClearAndLeaveTheModelAlone) {
  const std::string path = temp_path("mismatch.safetensors");
  Sequential a = small_net(1);
  Sgd sgd(a.graph().parameters(), SgdOptions{0.1f, 0.9f, false, 0.0f});
  save_checkpoint(path, a.graph(), &sgd);

  Sequential wider = small_net(5, 7);
  const auto before = wider.graph().parameters()[0]->value.to_vector<float>();
  MINIDL_EXPECT_THROW_WITH(load_checkpoint(path, wider.graph(), nullptr), ShapeError,
                           "dense1.weight", "[6, 4]", "[7, 4]");
  EXPECT_EQ(wider.graph().parameters()[0]->value.to_vector<float>(), before);

  Sequential same = small_net(5);
  Adam adam(same.graph().parameters());
  MINIDL_EXPECT_THROW_WITH(load_checkpoint(path, same.graph(), &adam), ValueError, "sgd", "adam");

  save_safetensors(path, {{"w", zeros({2})}});
  MINIDL_EXPECT_THROW_WITH(load_checkpoint(path, same.graph(), nullptr), IoError,
                           "not a minidl checkpoint");
  std::remove(path.c_str());
}

// A checkpoint of a diverged run (NaN or inf weights or optimizer state) used to
// load and train on; a malformed generator position said "stoull" or wrapped.
TEST(Checkpoint, NonFiniteValuesAndBadMetadataAreRejected) {
  const std::string path = temp_path("bad.safetensors");
  const std::string edited = temp_path("edited.safetensors");
  Sequential a = small_net(1);
  Adam adam(a.graph().parameters());
  save_checkpoint(path, a.graph(), &adam);
  const SafetensorsFile good = load_safetensors(path);

  const auto with_value = [&](const std::string& name, std::int64_t i, float v) {
    SafetensorsFile f = good;
    for (NamedTensor& t : f.tensors) {
      if (t.name != name) continue;
      t.tensor = t.tensor.clone();
      t.tensor.data<float>()[i] = v;
    }
    save_safetensors(edited, f.tensors, f.metadata);
    return edited;
  };
  Sequential b = small_net(2);
  Adam adam_b(b.graph().parameters());
  const auto before = b.graph().parameters()[0]->value.to_vector<float>();
  MINIDL_EXPECT_THROW_WITH(load_checkpoint(with_value("dense1.weight", 3, NAN), b.graph(), &adam_b),
                           IoError, "dense1.weight", "nan", "element 3", "diverged");
  MINIDL_EXPECT_THROW_WITH(
      load_checkpoint(with_value("dense1.bias", 0, -INFINITY), b.graph(), nullptr), IoError,
      "dense1.bias", "-inf");
  std::string slot;
  for (const NamedTensor& t : good.tensors)
    if (t.name.rfind("__optimizer__.", 0) == 0 && t.tensor.numel() > 0) slot = t.name;
  ASSERT_FALSE(slot.empty());
  MINIDL_EXPECT_THROW_WITH(load_checkpoint(with_value(slot, 0, NAN), b.graph(), &adam_b), IoError,
                           slot);
  EXPECT_EQ(b.graph().parameters()[0]->value.to_vector<float>(), before);

  for (const char* bad : {"-1", "abc", "99999999999999999999999", "1.9", " 7", ""}) {
    SCOPED_TRACE(bad);
    SafetensorsFile f = good;
    f.metadata["generator.offset"] = bad;
    save_safetensors(edited, f.tensors, f.metadata);
    MINIDL_EXPECT_THROW_WITH(load_checkpoint(edited, b.graph(), &adam_b), IoError,
                             "generator.seed / generator.offset");
  }
  EXPECT_EQ(b.graph().parameters()[0]->value.to_vector<float>(), before);
  EXPECT_NO_THROW(load_checkpoint(path, b.graph(), &adam_b));
  std::remove(path.c_str());
  std::remove(edited.c_str());
}

// What load_checkpoint refuses, save_checkpoint does not write: a checkpoint of a diverged
// run (found by the trainer_resume fuzz target: Adam's second moment had overflowed to inf
// while the loss was finite) would replace a good one with one that cannot be resumed.
TEST(Checkpoint, NonFiniteStateIsNotSavedAndTheFileIsKept) {
  const std::string path = temp_path("kept.safetensors");
  Sequential a = small_net(1);
  Adam adam(a.graph().parameters());
  save_checkpoint(path, a.graph(), &adam);
  const auto saved = load_safetensors(path).tensors.size();
  Parameter* w = a.graph().parameters()[0];
  w->value.data<float>()[2] = INFINITY;
  MINIDL_EXPECT_THROW_WITH(save_checkpoint(path, a.graph(), &adam), ValueError, path, w->name,
                           "inf", "element 2", "not written");
  w->value.data<float>()[2] = 0.5f;
  // The optimizer's slots are checked too: Adam's state after a step with an inf gradient.
  const Tensor x = from_vector({1e30f, 0.0f, 0.0f, 0.0f, 1e30f, 0.0f, 0.0f, 0.0f}, {2, 4});
  const Tensor y = from_vector({0, 1}, {2});
  a.train_step(x, y);
  adam.step();
  bool finite = true;
  for (const auto& [name, t] : adam.state_tensors())
    for (float v : t.to_vector<float>()) finite = finite && std::isfinite(v);
  ASSERT_FALSE(finite) << "the step was meant to overflow Adam's second moment";
  MINIDL_EXPECT_THROW_WITH(save_checkpoint(path, a.graph(), &adam), ValueError, "__optimizer__.");
  Sequential b = small_net(2);
  Adam adam_b(b.graph().parameters());
  EXPECT_NO_THROW(load_checkpoint(path, b.graph(), &adam_b));  // the first save, intact
  EXPECT_EQ(load_safetensors(path).tensors.size(), saved);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace minidl
