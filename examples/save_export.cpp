// Saving and exporting a model: train an MLP briefly, save a checkpoint, load it
// into a freshly built model (the same predictions, bit for bit), and export the
// model as ONNX for ONNX Runtime or any other ONNX engine.
//   example_save_export [train images (all)] [output folder (.)]
//
// The ONNX model takes x [batch, 784] float32, normalised as the loader does:
// (pixel / 255 - 0.2860406) / 0.3530242, and returns the logits [batch, 10].
#include <minidl/minidl.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>

using namespace minidl;

Sequential make_model(Device device) {
  Sequential net({784}, device, /*seed=*/1);
  net.add<Dense>(128).add(relu_layer()).add(Dense(10), "logits");
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(128);
  return net;
}

int main(int argc, char** argv) try {
  const Device device = cuda_available() ? Device::cuda() : Device::cpu();
  const Dataset train = first_samples(load_fashion_mnist(FashionMnistSplit::Train),
                                      argc > 1 ? std::atoll(argv[1]) : 0);
  const std::filesystem::path out = argc > 2 ? argv[2] : ".";
  std::filesystem::create_directories(out);

  Sequential net = make_model(device);
  Adam adam(net.graph().parameters());
  LoaderOptions data;
  data.device = device;
  data.mean = kFashionMnistTrainMean;
  data.stddev = kFashionMnistTrainStd;
  DataLoader loader(train.images, train.labels, data);
  TrainerOptions options;
  options.epochs = 1;
  Trainer(net, adam, options).fit(loader);

  // Parameters, optimizer state and the random-number position, in one safetensors file.
  const std::string checkpoint = (out / "mlp.safetensors").string();
  save_checkpoint(checkpoint, net.graph(), &adam);

  Sequential restored = make_model(device);
  Adam restored_adam(restored.graph().parameters());
  load_checkpoint(checkpoint, restored.graph(), &restored_adam);
  const Tensor x = first_samples(train, 8).images.to(device);
  const bool same = net.predict(x).to_vector<float>() == restored.predict(x).to_vector<float>();
  std::cout << "checkpoint " << checkpoint << " ("
            << std::filesystem::file_size(checkpoint) << " bytes): the restored model predicts "
            << (same ? "the same logits" : "DIFFERENT logits") << "\n";

  // Evaluation-mode semantics, the loss left out: input "x", output "logits".
  const std::string onnx = (out / "mlp.onnx").string();
  export_onnx(net.graph(), onnx);
  std::cout << "ONNX model " << onnx << " (" << std::filesystem::file_size(onnx) << " bytes)\n";
  return same ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "example_save_export: " << e.what() << "\n";
  return 1;
}
