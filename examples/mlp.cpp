// An MLP on Fashion-MNIST with everything the Trainer offers: a progress line,
// a learning rate that drops when the validation loss stalls, early stopping,
// a checkpoint after every epoch (run it again to resume), and evaluate()'s
// confusion matrix at the end.
//   example_mlp [train images (all)] [test images (all)] [epochs (10)] [checkpoint (mlp.safetensors)]
#include <minidl/minidl.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

using namespace minidl;

int main(int argc, char** argv) try {
  const Device device = cuda_available() ? Device::cuda() : Device::cpu();
  const Dataset train = first_samples(load_fashion_mnist(FashionMnistSplit::Train),
                                      argc > 1 ? std::atoll(argv[1]) : 0);
  const Dataset test = first_samples(load_fashion_mnist(FashionMnistSplit::Test),
                                     argc > 2 ? std::atoll(argv[2]) : 0);
  const std::string checkpoint = argc > 4 ? argv[4] : "mlp.safetensors";

  Sequential net({784}, device, /*seed=*/1);
  net.add<Dense>(256).add(relu_layer()).add<Dropout>(0.2f);
  net.add<Dense>(128).add(relu_layer());
  net.add(Dense(10), "logits");
  net.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  net.build(128);
  std::cout << net.graph().summary();

  LoaderOptions data;
  data.batch_size = 128;
  data.seed = 1;
  data.device = device;
  data.mean = kFashionMnistTrainMean;
  data.stddev = kFashionMnistTrainStd;
  DataLoader train_loader(train.images, train.labels, data);
  data.shuffle = false;
  DataLoader test_loader(test.images, test.labels, data);

  Adam adam(net.graph().parameters(), AdamOptions{1e-3f});
  TrainerOptions options;
  options.epochs = argc > 3 ? std::atoi(argv[3]) : 10;
  options.reduce_on_plateau.enabled = true;  // lr x 0.1 after 2 epochs without progress
  options.early_stopping.enabled = true;     // stop after 5
  options.checkpoint = checkpoint;
  if (std::filesystem::exists(checkpoint)) options.resume = checkpoint;
  options.report_every = 50;  // each report reads the loss from the device once
  options.on_progress = [](const Progress& p) {
    std::printf("\repoch %d/%d  step %lld/%lld  loss %.4f  %.0f images/s ", p.epoch, p.epochs,
                static_cast<long long>(p.step), static_cast<long long>(p.steps), p.loss,
                p.images_per_second);
    std::fflush(stdout);
  };
  options.on_epoch = [](const EpochMetrics& m) {
    std::printf("\repoch %d  train loss %.4f  test loss %.4f  test accuracy %.4f  lr %.2g\n",
                m.epoch, m.train_loss, m.val_loss, m.val_accuracy, m.learning_rate);
  };
  Trainer trainer(net, adam, options);
  if (trainer.epochs_done() > 0)
    std::cout << "resuming from " << checkpoint << " after epoch " << trainer.epochs_done() << "\n";
  trainer.fit(train_loader, &test_loader);
  if (trainer.stopped_early()) std::cout << "stopped early\n";

  const Evaluation e = evaluate(net, test_loader);
  std::printf("test accuracy %.4f, loss %.4f on %lld images\nconfusion (rows: true class):\n",
              e.accuracy, e.loss, static_cast<long long>(e.samples));
  for (const auto& row : e.confusion) {
    for (std::int64_t count : row) std::printf("%6lld", static_cast<long long>(count));
    std::printf("\n");
  }
} catch (const std::exception& e) {
  std::cerr << "example_mlp: " << e.what() << "\n";
  return 1;
}
