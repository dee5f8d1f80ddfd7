// A kernel SVM on Fashion-MNIST: fit, the course notes' diagnostics (where each
// training sample lies relative to the margin, its slack), and the model as a
// LIBSVM model file that svm-predict reads (and minidl reads back).
//   example_svm [train images (2000)] [test images (1000)] [model file (fashion.svm_model)]
#include <minidl/minidl.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <iostream>

using namespace minidl;

int main(int argc, char** argv) try {
  const Dataset train = first_samples(load_fashion_mnist(FashionMnistSplit::Train),
                                      argc > 1 ? std::atoll(argv[1]) : 2000);
  const Dataset test = first_samples(load_fashion_mnist(FashionMnistSplit::Test),
                                     argc > 2 ? std::atoll(argv[2]) : 1000);
  const std::string model_file = argc > 3 ? argv[3] : "fashion.svm_model";

  svm::SvcOptions options;  // RBF kernel, one-vs-one
  options.C = 10.0;
  options.with_gamma(1.0 / 784.0);  // or leave gamma_mode = Scale (1 / (d Var x))
  svm::SVC model(options);
  model.fit(train.images, train.labels);  // CPU tensors: LIBSVM's SMO; CUDA tensors: the GPU solver

  const auto predicted = model.predict(test.images).to_vector<std::int32_t>();
  const auto truth = test.labels.to_vector<std::int32_t>();
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i];
  std::printf("%lld support vectors, test accuracy %.4f\n",
              static_cast<long long>(model.support_vectors().size(0)),
              static_cast<double>(correct) / static_cast<double>(truth.size()));

  // Diagnostics per binary sub-problem (45 for 10 classes): the margin y z of each
  // sample puts it on the correct side (y z > 1), on the margin (y z = 1), inside
  // the margin (0 <= y z < 1) or on the wrong side (y z < 0); its slack is
  // max(0, 1 - y z), and C sum(slack) + |w|^2 / 2 is the primal objective.
  std::array<std::int64_t, 4> categories{};
  double slack = 0, worst_kkt = 0;
  for (const svm::BinaryResult& r : model.binary_results()) {
    for (svm::MarginCategory c : r.category) ++categories[static_cast<std::size_t>(c)];
    for (double xi : r.slack) slack += xi;
    worst_kkt = std::max(worst_kkt, r.max_kkt_violation);
  }
  for (std::size_t c = 0; c < 4; ++c)
    std::printf("%-28s %lld\n", svm::margin_category_name(static_cast<svm::MarginCategory>(c)),
                static_cast<long long>(categories[c]));
  const svm::BinaryResult& first = model.binary_results().front();
  std::printf("total slack %.3f over %zu sub-problems; largest KKT violation %.2g\n"
              "pair (%d, %d): %lld support vectors (%lld at C), dual objective %.4f\n",
              slack, model.binary_results().size(), worst_kkt,
              model.classes()[static_cast<std::size_t>(first.positive_class)],
              model.classes()[static_cast<std::size_t>(first.negative_class)],
              static_cast<long long>(first.n_sv), static_cast<long long>(first.n_bsv),
              first.dual_objective);

  svm::save_libsvm_model(model_file, model);  // svm-predict <test file> model_file out
  const svm::SVC loaded = svm::load_libsvm_model(model_file, 784);
  const bool same = loaded.predict(test.images).to_vector<std::int32_t>() == predicted;
  std::printf("wrote %s; reloaded, it predicts %s\n", model_file.c_str(),
              same ? "the same labels" : "DIFFERENT labels");
  return same ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "example_svm: " << e.what() << "\n";
  return 1;
}
