#include "svm/model_file.hpp"

#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

SvcOptions options_for(KernelType k) {
  SvcOptions o;
  o.kernel = k;
  o.C = 1.0;
  o.gamma_mode = GammaMode::Value;
  o.gamma = k == KernelType::Sigmoid ? 0.02 : 0.2;
  o.coef0 = k == KernelType::Polynomial ? 1.0 : 0.0;
  return o;
}

TEST(ModelFile, LibsvmPredictsWhatMinidlSaves) {
  MINIDL_REQUIRE_LIBSVM();
  for (KernelType k :
       {KernelType::Linear, KernelType::Polynomial, KernelType::Rbf, KernelType::Sigmoid})
    for (const std::vector<std::int32_t>& labels :
         {std::vector<std::int32_t>{1, -1}, std::vector<std::int32_t>{4, 0, 2, 7}}) {
      SCOPED_TRACE(detail::concat(kernel_name(k), " classes=", labels.size()));
      svm_test::TempDir dir;
      const LibsvmData train = svm_test::make_blobs(160, 5, labels, 1.0f, 21);
      const LibsvmData test = svm_test::make_blobs(300, 5, labels, 1.0f, 22);
      SVC svc(options_for(k));
      svc.fit(train.x, train.y);
      save_libsvm_model(dir.file("model"), svc);
      write_libsvm(dir.file("test"), test.x, test.y);
      const std::vector<std::int32_t> theirs = svm_test::svm_predict(
          dir.file("test"), dir.file("model"), dir.file("pred"), dir.file("log"));
      const std::vector<std::int32_t> ours = svc.predict(test.x).to_vector<std::int32_t>();
      ASSERT_EQ(theirs.size(), ours.size());
      std::size_t agree = 0;
      for (std::size_t i = 0; i < ours.size(); ++i) agree += ours[i] == theirs[i];
      EXPECT_GE(agree, ours.size() - 1);  // float vs double kernels: a tie at most

      // Loading it back gives the same decisions.
      const SVC back = load_libsvm_model(dir.file("model"), 5);
      EXPECT_EQ(back.classes(), svc.classes());
      EXPECT_EQ(back.n_support(), svc.n_support());
      EXPECT_TRUE(test::all_close(back.decision_function(test.x).to_vector<float>(),
                                  svc.decision_function(test.x).to_vector<float>(), 1e-5f, 1e-5f));
    }
}

TEST(ModelFile, MinidlPredictsWhatLibsvmTrains) {
  MINIDL_REQUIRE_LIBSVM();
  svm_test::TempDir dir;
  const LibsvmData train = svm_test::make_blobs(200, 6, {3, 1, 2}, 1.0f, 31);
  const LibsvmData test = svm_test::make_blobs(400, 6, {3, 1, 2}, 1.0f, 32);
  write_libsvm(dir.file("train"), train.x, train.y);
  write_libsvm(dir.file("test"), test.x, test.y);
  for (const char* args : {"-t 2 -g 0.3 -c 2", "-t 1 -g 0.2 -r 1 -d 2 -c 0.5", "-t 0 -c 1",
                           "-t 3 -g 0.01 -r 0.1 -c 1"}) {
    SCOPED_TRACE(args);
    svm_test::svm_train(args, dir.file("train"), dir.file("model"), dir.file("log"));
    const std::vector<std::int32_t> theirs = svm_test::svm_predict(
        dir.file("test"), dir.file("model"), dir.file("pred"), dir.file("log2"));
    const SVC svc = load_libsvm_model(dir.file("model"), 6);
    const std::vector<std::int32_t> ours = svc.predict(test.x).to_vector<std::int32_t>();
    ASSERT_EQ(theirs.size(), ours.size());
    std::size_t agree = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) agree += ours[i] == theirs[i];
    EXPECT_GE(agree, ours.size() - 1);
  }
}

TEST(ModelFile, MalformedModels) {
  svm_test::TempDir dir;
  const auto write = [&](const std::string& text) {
    std::ofstream(dir.file("m")) << text;
    return dir.file("m");
  };
  const std::string head =
      "svm_type c_svc\nkernel_type rbf\ngamma 0.5\nnr_class 2\ntotal_sv 2\nrho 0.1\nlabel 1 -1\n"
      "nr_sv 1 1\nSV\n";
  EXPECT_NO_THROW(load_libsvm_model(write(head + "1 1:0.5\n-1 2:1\n")));
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(head + "1 1:0.5\n")), IoError,
                           "m:11:", "expected 2 support vectors");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(head + "1 1:0.5\n-1 2-1\n")), IoError,
                           "m:11:", "index>:<value");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write("svm_type nu_svc\n")), IoError,
                           "m:1:", "nu_svc");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write("svm_type c_svc\nkernel_type precomputed\n")),
                           IoError, "m:2:", "precomputed");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write("svm_type c_svc\nfoo 1\n")), IoError,
                           "m:2:", "unknown model-file key \"foo\"");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(dir.file("none")), IoError, "cannot open");
  SvcOptions o;
  o.multi_class = MultiClass::OneVsRest;
  SVC ovr(o);
  const LibsvmData d = svm_test::make_blobs(60, 2, {0, 1, 2}, 2.0f, 3);
  ovr.fit(d.x, d.y);
  MINIDL_EXPECT_THROW_WITH(save_libsvm_model(dir.file("o"), ovr), ValueError, "one-vs-one");
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A save that fails halfway (a full disk; EFBIG from a file-size limit here) used
// to truncate the previous model in place; now it says why and keeps it.
TEST(ModelFile, FailedSaveKeepsThePreviousModel) {
  svm_test::TempDir dir;
  const LibsvmData small = svm_test::make_blobs(40, 3, {1, -1}, 2.0f, 5);
  SVC first(options_for(KernelType::Rbf));
  first.fit(small.x, small.y);
  save_libsvm_model(dir.file("model"), first);
  const std::string before = read_all(dir.file("model"));

  const LibsvmData big = svm_test::make_blobs(400, 60, {1, -1}, 0.3f, 6);
  SVC second(options_for(KernelType::Rbf));
  second.fit(big.x, big.y);
  std::string message;
  {
    const test::FileSizeLimit limit(4096);
    try {
      save_libsvm_model(dir.file("model"), second);
    } catch (const IoError& e) {
      message = e.what();
    }
  }
  ASSERT_FALSE(message.empty()) << "the save past the file-size limit did not fail";
  EXPECT_NE(message.find("save_libsvm_model"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_EQ(read_all(dir.file("model")), before);
  EXPECT_EQ(load_libsvm_model(dir.file("model"), 3).n_support(), first.n_support());
}

TEST(ModelFile, SaveRefusesNonRegularFiles) {
  svm_test::TempDir dir;
  const LibsvmData d = svm_test::make_blobs(40, 3, {1, -1}, 2.0f, 5);
  SVC svc(options_for(KernelType::Linear));
  svc.fit(d.x, d.y);
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  MINIDL_EXPECT_THROW_WITH(save_libsvm_model(dir.file("fifo"), svc), IoError,
                           "refusing to replace", "a FIFO");
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

}  // namespace
}  // namespace minidl::svm
