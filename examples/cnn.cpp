// A CNN on Fashion-MNIST with the library's Trainer (the README's quick start).
//   example_cnn [train images (all)] [test images (all)] [epochs (3)]
#include <minidl/minidl.hpp>

#include <cstdlib>
#include <iostream>

using namespace minidl;

int main(int argc, char** argv) try {
  const Device device = cuda_available() ? Device::cuda() : Device::cpu();
  const Dataset train = first_samples(load_fashion_mnist(FashionMnistSplit::Train), argc > 1 ? std::atoll(argv[1]) : 0);
  const Dataset test = first_samples(load_fashion_mnist(FashionMnistSplit::Test), argc > 2 ? std::atoll(argv[2]) : 0);

  Sequential net({784}, device, /*seed=*/1);
  net.add<Reshape>(Shape{1, 28, 28})
      .add<Conv2d>(16, 5, Conv2dOptions::same()).add(relu_layer()).add<MaxPool2d>(2)
      .add<Conv2d>(32, 5, Conv2dOptions::same()).add(relu_layer()).add<MaxPool2d>(2)
      .add<Flatten>().add<Dense>(128).add(relu_layer()).add(Dense(10), "logits");
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);  // int32 class labels
  net.build(/*batch_size=*/128);

  LoaderOptions data{128, /*shuffle=*/true, /*seed=*/1};
  data.device = device;
  data.mean = kFashionMnistTrainMean;
  data.stddev = kFashionMnistTrainStd;
  DataLoader train_loader(train.images, train.labels, data);
  data.shuffle = false;
  DataLoader test_loader(test.images, test.labels, data);

  Adam adam(net.graph().parameters(), AdamOptions{1e-3f});
  TrainerOptions options;
  options.epochs = argc > 3 ? std::atoi(argv[3]) : 3;
  options.on_epoch = [](const EpochMetrics& m) {
    std::cout << "epoch " << m.epoch << "  train loss " << m.train_loss << "  test accuracy "
              << m.val_accuracy << "  " << static_cast<long>(m.images_per_second) << " images/s\n";
  };
  Trainer(net, adam, options).fit(train_loader, &test_loader);
} catch (const std::exception& e) {
  std::cerr << "example_cnn: " << e.what() << "\n";
  return 1;
}
