// A custom graph: two inputs (the top and the bottom half of each image), one
// Dense branch for each, joined by Concat, and a residual block whose output is
// added to its input (a skip connection). Trained with a hand-written loop: the
// layer graph, forward, backward and the optimizer are all a user needs.
//   example_two_inputs [train images (all)] [test images (all)] [epochs (3)]
#include <minidl/minidl.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

using namespace minidl;

int main(int argc, char** argv) try {
  const Device device = cuda_available() ? Device::cuda() : Device::cpu();
  const Dataset train = first_samples(load_fashion_mnist(FashionMnistSplit::Train),
                                      argc > 1 ? std::atoll(argv[1]) : 0);
  const Dataset test = first_samples(load_fashion_mnist(FashionMnistSplit::Test),
                                     argc > 2 ? std::atoll(argv[2]) : 0);
  const int epochs = argc > 3 ? std::atoi(argv[3]) : 3;
  const std::int64_t half = 14 * 28;  // rows 0-13 and 14-27 of a 28 x 28 image

  Graph g(device, /*seed=*/1);
  const auto top = g.input("top", {half});
  const auto bottom = g.input("bottom", {half});
  const auto label = g.input("label", {}, DType::Int32);
  const auto a = g.add(relu_layer(), {g.add(std::make_shared<Dense>(64), {top}, "top_dense")});
  const auto b = g.add(relu_layer(), {g.add(std::make_shared<Dense>(64), {bottom}, "bottom_dense")});
  const auto joined = g.add(std::make_shared<Concat>(), {a, b}, "joined");  // [B, 128]
  const auto inner = g.add(relu_layer(), {g.add(std::make_shared<Dense>(128), {joined}, "block")});
  const auto residual = g.add(std::make_shared<Add>(), {joined, inner}, "skip");  // joined + f(joined)
  const auto logits = g.add(std::make_shared<Dense>(10), {residual}, "logits");
  const auto loss = g.add(softmax_cross_entropy_loss(), {logits, label}, "loss");
  g.build(128);
  std::cout << g.summary();

  LoaderOptions data;
  data.batch_size = 128;
  data.seed = 1;
  data.device = device;
  data.mean = kFashionMnistTrainMean;
  data.stddev = kFashionMnistTrainStd;
  DataLoader train_loader(train.images, train.labels, data);
  data.shuffle = false;
  DataLoader test_loader(test.images, test.labels, data);
  Adam adam(g.parameters(), AdamOptions{1e-3f});

  // The halves of a batch x [n, 784] as two [n, 392] tensors (copies of column blocks).
  auto split = [&](const Batch& batch) {
    Tensor t = empty({batch.size, half}, device), u = empty({batch.size, half}, device);
    copy_from_columns(batch.x, 0, t);
    copy_from_columns(batch.x, half, u);
    return std::vector<Tensor>{t, u, batch.y};
  };

  Batch batch;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    train_loader.start_epoch(epoch);
    Tensor loss_sum = zeros({}, device);  // summed on the device, read once per epoch
    while (train_loader.next(batch)) {
      g.zero_grad();
      g.forward(split(batch));
      g.backward(loss);
      adam.step();
      axpy(static_cast<float>(batch.size), g.value(loss), loss_sum);
    }
    g.eval();  // (no dropout or batch norm here, but this is where it would switch)
    std::int64_t correct = 0, seen = 0;
    test_loader.start_epoch(0);
    while (test_loader.next(batch)) {
      std::vector<Tensor> inputs = split(batch);
      inputs[2] = Tensor();  // the loss is not needed: stop at the logits
      g.forward(inputs, logits);
      const auto predicted = argmax(g.value(logits)).to_vector<std::int32_t>();
      const auto truth = batch.y.to_vector<std::int32_t>();
      for (std::size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i];
      seen += batch.size;
    }
    g.train();
    std::printf("epoch %d  train loss %.4f  test accuracy %.4f\n", epoch + 1,
                loss_sum.item<float>() / static_cast<double>(train.images.size(0)),
                static_cast<double>(correct) / static_cast<double>(seen));
  }
} catch (const std::exception& e) {
  std::cerr << "example_two_inputs: " << e.what() << "\n";
  return 1;
}
