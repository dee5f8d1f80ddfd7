#include "svm/model_file.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <cstdio>
#include <iterator>
#include <random>

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

// Counts that are negative, overflow, or promise more than the file holds.
// Before: "nr_sv 2 -1" corrupted the heap, nr_class 9999999999 was undefined
// behaviour, labels and degrees were truncated, total_sv 300000000 took 9.5 GB.
TEST(ModelFile, HostileCountsAreErrorsNamingTheLine) {
  svm_test::TempDir dir;
  const auto write = [&](const std::string& text) {
    std::ofstream(dir.file("m")) << text;
    return dir.file("m");
  };
  const auto model = [](const std::string& nr_class, const std::string& total_sv,
                        const std::string& rho, const std::string& label,
                        const std::string& nr_sv) {
    return "svm_type c_svc\nkernel_type polynomial\ndegree 3\ngamma 0.5\ncoef0 0\nnr_class " +
           nr_class + "\ntotal_sv " + total_sv + "\nrho " + rho + "\nlabel " + label +
           "\nnr_sv " + nr_sv + "\nSV\n1 1:0.5\n-1 2:1\n";
  };
  EXPECT_NO_THROW(load_libsvm_model(write(model("2", "2", "0.1", "1 -1", "1 1"))));
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(model("2", "1", "0.1", "1 -1", "2 -1"))),
                           IoError, "m:10:", "nr_sv \"2\" is not an integer in [0, 1]");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(model("2", "2", "0.1", "1 -1", "3 -1"))),
                           IoError, "m:10:", "nr_sv \"3\"");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(model("2", "2", "0.1", "1 -1", "1 -1"))),
                           IoError, "m:10:", "nr_sv \"-1\"");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(model("2", "2", "0.1", "1 -1", "1 0"))),
                           IoError, "m:10:", "adds up to 1, total_sv is 2");
  MINIDL_EXPECT_THROW_WITH(
      load_libsvm_model(write(model("9999999999", "2", "0.1", "1 -1", "1 1"))), IoError, "m:6:",
      "nr_class \"9999999999\" is not an integer in [2,");
  MINIDL_EXPECT_THROW_WITH(
      load_libsvm_model(write(model("99999999999999999999", "2", "0.1", "1 -1", "1 1"))), IoError,
      "m:6:", "nr_class");
  MINIDL_EXPECT_THROW_WITH(
      load_libsvm_model(write(model("2", "2", "0.1", "99999999999 -1", "1 1"))), IoError, "m:9:",
      "label \"99999999999\"");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(model("2", "2", "0.1", "1 1", "1 1"))),
                           IoError, "m:9:", "label 1 appears twice");
  std::string text = model("2", "2", "0.1", "1 -1", "1 1");
  text.replace(text.find("degree 3"), 8, "degree 4294967298");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(text)), IoError, "m:3:",
                           "degree \"4294967298\"");
  // A 150-byte file cannot hold 300 million support vectors: refused at once.
  MINIDL_EXPECT_THROW_WITH(
      load_libsvm_model(write(model("2", "300000000", "0.1", "1 -1", "150000000 150000000"))),
      IoError, "m:7:", "total_sv \"300000000\"");
  MINIDL_EXPECT_THROW_WITH(
      load_libsvm_model(write(model("2", "4000000000", "0.1", "1 -1", "1 1"))), IoError,
      "total_sv \"4000000000\"");
  // Within the file's size, but more lines than follow the SV line.
  std::string padded = model("2", "100", "0.1", "1 -1", "50 50");
  padded.insert(0, std::string(300, '\n'));
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(padded)), IoError,
                           "total_sv 100 support vectors", "bytes follow the SV line");
  MINIDL_EXPECT_THROW_WITH(
      load_libsvm_model(write("svm_type c_svc\nsvm_type c_svc\n")), IoError, "m:2:",
      "duplicate header key \"svm_type\"");
}

// A two-class RBF model file "m" in dir with these support-vector lines (two SVs).
std::string two_sv_model(const svm_test::TempDir& dir, const std::string& sv_lines) {
  std::ofstream(dir.file("m")) << "svm_type c_svc\nkernel_type rbf\ngamma 0.5\nnr_class 2\n"
                                  "total_sv 2\nrho 0.1\nlabel 1 -1\nnr_sv 1 1\nSV\n"
                               << sv_lines;
  return dir.file("m");
}

TEST(ModelFile, SupportVectorWidthIsBounded) {
  svm_test::TempDir dir;
  const auto write = [&](const std::string& sv_lines) { return two_sv_model(dir, sv_lines); };
  // An index of 50,000,003 took 3.6 GB; the limit (here lowered) stops it.
  MINIDL_EXPECT_THROW_WITH(
      load_libsvm_model(write("1 1:0.5\n-1 50000003:1\n"), 0, std::size_t{1} << 20), IoError,
      "m:11:", "feature index 50000003", "dense [2, 50000003]", "0.373 GiB", "max_dense_bytes");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write("1 1:0.5\n-1 200000000:1\n")), IoError,
                           "m:11:", "1.49 GiB");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write("1 1:0.5\n-1 0:1\n")), IoError, "m:11:",
                           "feature index \"0\"");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write("1 1:0.5\n-1 2:1\n"), 200000000), ValueError,
                           "num_features 200000000");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write("1 1:0.5\n-1 2:1\n"), -1), ValueError,
                           "num_features -1");
  EXPECT_EQ(load_libsvm_model(write("1 1:0.5\n-1 2:1\n"), 7).support_vectors().shape(),
            Shape({2, 7}));
  std::filesystem::create_directory(dir.file("folder"));
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(dir.file("folder")), IoError, "not a regular file");
}

// Storage::Auto / Sparse read the support vectors as CSR: no dense width limit
// (int32 indices), and Auto makes a dense-enough, small set dense.
TEST(ModelFile, SparseSupportVectors) {
  svm_test::TempDir dir;
  const auto write = [&](const std::string& sv_lines) { return two_sv_model(dir, sv_lines); };
  const SVC wide = load_libsvm_model(write("1 1:0.5\n-1 200000000:1\n"), 0, kMaxDenseBytes,
                                     Storage::Auto);
  EXPECT_TRUE(wide.sparse_model());
  EXPECT_EQ(wide.n_features(), 200000000);
  EXPECT_EQ(wide.support_vector_samples().csr().nnz(), 2);
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write("1 1:0.5\n-1 3000000000:1\n"), 0,
                                             kMaxDenseBytes, Storage::Sparse),
                           IoError, "m:11:4: feature index 3000000000 is above 2147483647");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write("1 1:0.5\n-1 2:1\n"), 3000000000LL,
                                             kMaxDenseBytes, Storage::Auto),
                           ValueError, "num_features 3000000000");
  const SVC small = load_libsvm_model(write("1 1:0.5\n-1 2:1\n"), 0, kMaxDenseBytes, Storage::Auto);
  EXPECT_FALSE(small.sparse_model());
  const SVC forced =
      load_libsvm_model(write("1 1:0.5\n-1 2:1\n"), 0, kMaxDenseBytes, Storage::Sparse);
  EXPECT_TRUE(forced.sparse_model());
  const Tensor x = from_vector({0.5f, 0.0f, 0.0f, 1.0f, 0.3f, 0.3f}, {3, 2});
  EXPECT_TRUE(test::all_close(forced.decision_function(x).to_vector<float>(),
                              small.decision_function(x).to_vector<float>(), 1e-6f, 1e-5f));
}

// probA / probB (svm-train -b 1): read, checked, carried to predict_proba and
// written back; every error names the line and the column.
TEST(ModelFile, ProbabilitySigmoidsAndColumns) {
  svm_test::TempDir dir;
  const auto write = [&](const std::string& text) {
    std::ofstream(dir.file("m")) << text;
    return dir.file("m");
  };
  const auto model = [](const std::string& prob) {
    return "svm_type c_svc\nkernel_type rbf\ngamma 0.5\nnr_class 2\ntotal_sv 2\nrho 0.1\n"
           "label 1 -1\n" +
           prob + "nr_sv 1 1\nSV\n1 1:0.5\n-1 2:1\n";
  };
  const SVC plain = load_libsvm_model(write(model("")));
  EXPECT_FALSE(plain.has_probability());
  const SVC with = load_libsvm_model(write(model("probA -2.5\nprobB 0.25\n")));
  ASSERT_TRUE(with.has_probability());
  EXPECT_EQ(with.prob_a(), std::vector<double>{-2.5});
  EXPECT_EQ(with.prob_b(), std::vector<double>{0.25});
  save_libsvm_model(dir.file("again"), with);
  const SVC again = load_libsvm_model(dir.file("again"));
  EXPECT_EQ(again.prob_a(), with.prob_a());
  EXPECT_EQ(again.prob_b(), with.prob_b());
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(model("probA -2.5\n"))), IoError, "m:8:1:",
                           "probA without probB");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(model("probB -2.5\n"))), IoError, "m:8:1:",
                           "probB without probA");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(model("probA -2.5 1\nprobB 1\n"))), IoError,
                           "m:8:12:", "\"probA\" expects 1 values, got 2");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(model("probA x\nprobB 1\n"))), IoError,
                           "m:8:7:", "\"x\" is not a finite number");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(model("probA nan\nprobB 1\n"))), IoError,
                           "m:8:7:", "not a finite number");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write("svm_type c_svc\nprobA 1\n")), IoError,
                           "m:2:1:", "probA before nr_class");
  // Columns on support-vector lines: the coefficient, the index and the value.
  const std::string head =
      "svm_type c_svc\nkernel_type rbf\ngamma 0.5\nnr_class 2\ntotal_sv 2\nrho 0.1\nlabel 1 -1\n"
      "nr_sv 1 1\nSV\n1 1:0.5\n";
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(head + "-1 2:1 1:3\n")), IoError, "m:11:8:",
                           "feature index 1 does not increase (after 2)");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(head + "-1  2:abc\n")), IoError, "m:11:7:",
                           "\"abc\" is not a finite number");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(head + "-1 2:1e39\n")), IoError, "m:11:6:",
                           "not finite in float32");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(head + "zz 2:1\n")), IoError, "m:11:1:",
                           "\"zz\" is not a finite number");
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(head + "-1 0:1\n")), IoError, "m:11:4:",
                           "feature index \"0\"");
  // One-vs-rest models hold no probabilities.
  SvcOptions o;
  o.multi_class = MultiClass::OneVsRest;
  SVC ovr(o);
  const LibsvmData d = svm_test::make_blobs(60, 2, {0, 1, 2}, 2.0f, 3);
  ovr.fit(d.x, d.y);
  MINIDL_EXPECT_THROW_WITH(ovr.set_probability({1, 1, 1}, {0, 0, 0}), ValueError, "one-vs-one");
}

// A 3-class model of 3000 dense support vectors (several MB: the reader cuts its
// support-vector lines into several chunks), with zeros, subnormals and large values.
SVC big_model() {
  std::mt19937 rng(17);
  std::normal_distribution<double> normal(0.0, 1.0);
  const std::int64_t n_sv = 3000;
  const std::int64_t d = 120;
  std::vector<float> x(static_cast<std::size_t>(n_sv * d));
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = rng() % 4 == 0 ? 0.0f
           : i % 997 == 0 ? 1e-41f
                          : static_cast<float>(normal(rng) * std::pow(10.0, double(rng() % 12) - 6));
  std::vector<double> coef(static_cast<std::size_t>(n_sv * 3));
  for (double& c : coef) c = normal(rng) * 10.0;
  KernelParams kp;
  kp.type = KernelType::Rbf;
  kp.gamma = 0.0123456789012345;
  return SVC::from_parts(kp, {5, -2, 9}, {1000, 1200, 800}, Samples(from_vector(x, {n_sv, d})),
                         std::move(coef), {0.5, -1.25, 1.0 / 3.0});
}

std::string file_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void expect_same_model(const SVC& a, const SVC& b) {
  EXPECT_EQ(a.classes(), b.classes());
  EXPECT_EQ(a.n_support(), b.n_support());
  EXPECT_EQ(a.rho(), b.rho());
  EXPECT_EQ(a.dual_coef(), b.dual_coef());
  EXPECT_EQ(a.kernel().gamma, b.kernel().gamma);
  const Samples sa = a.support_vector_samples();
  const Samples sb = b.support_vector_samples();
  const Tensor da = sa.sparse() ? csr_to_dense(sa.csr()) : sa.dense();
  const Tensor db = sb.sparse() ? csr_to_dense(sb.csr()) : sb.dense();
  EXPECT_EQ(da.shape(), db.shape());
  EXPECT_EQ(da.to_vector<float>(), db.to_vector<float>());
}

// The writer's support-vector lines are printf's "%.17g " and "%lld:%.9g " (what it
// wrote before it formatted them in parallel with to_chars), and the reader, which
// parses them in parallel chunks, gives back the same model exactly.
TEST(ModelFile, LargeModelRoundTripIsExactAndPrintfFormatted) {
  svm_test::TempDir dir;
  const SVC model = big_model();
  save_libsvm_model(dir.file("m"), model);
  const std::string text = file_text(dir.file("m"));
  ASSERT_GT(text.size(), std::size_t{3} << 20);
  const std::size_t sv_at = text.find("\nSV\n") + 4;
  std::string expected;
  char buf[64];
  const std::vector<double> dc = model.dual_coef();
  const Tensor x = model.support_vector_samples().dense();
  const float* xp = x.data<float>();
  for (std::int64_t s = 0; s < 3000; ++s) {
    for (std::int64_t r = 0; r < 2; ++r) {
      std::snprintf(buf, sizeof buf, "%.17g ", dc[static_cast<std::size_t>(r * 3000 + s)]);
      expected += buf;
    }
    for (std::int64_t j = 0; j < 120; ++j)
      if (xp[s * 120 + j] != 0.0f) {
        std::snprintf(buf, sizeof buf, "%lld:%.9g ", static_cast<long long>(j) + 1,
                      double(xp[s * 120 + j]));
        expected += buf;
      }
    expected += "\n";
  }
  EXPECT_EQ(text.substr(sv_at), expected);
  for (Storage storage : {Storage::Dense, Storage::Auto, Storage::Sparse}) {
    const SVC back = load_libsvm_model(dir.file("m"), 0, kMaxDenseBytes, storage);
    expect_same_model(back, model);
  }
}

// Lines the fast path does not take ("+" signs, tabs, hex floats, "\r\n") anywhere
// in the file read as before; lines after the total_sv-th are not read; an error in
// any chunk is the first one, at its line and column.
TEST(ModelFile, LargeModelOddLinesAndErrorsInAnyChunk) {
  svm_test::TempDir dir;
  const SVC model = big_model();
  save_libsvm_model(dir.file("m"), model);
  const std::string text = file_text(dir.file("m"));
  const std::size_t sv_at = text.find("\nSV\n") + 4;
  std::int64_t header_lines = 0;
  for (std::size_t i = 0; i < sv_at; ++i) header_lines += text[i] == '\n';
  std::vector<std::string> lines;
  for (std::size_t at = sv_at; at < text.size();) {
    const std::size_t nl = text.find('\n', at);
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  ASSERT_EQ(lines.size(), 3000u);
  const auto join = [&](const std::vector<std::string>& ls, const std::string& after) {
    std::string out = text.substr(0, sv_at);
    for (const std::string& l : ls) out += l + "\n";
    return out + after;
  };
  const auto write = [&](const std::string& content) {
    std::ofstream(dir.file("odd"), std::ios::binary) << content;
    return dir.file("odd");
  };
  std::vector<std::string> odd = lines;
  char buf[64];
  for (std::size_t l : {0u, 1u, 777u, 1999u, 2500u, 2999u}) {
    std::string& line = odd[l];
    line = (line[0] == '-' ? " " : "+") + line;           // "+1.5" coefficient
    line[line.find(' ')] = '\t';                          // a tab separator
    const std::size_t colon = line.find(':');
    const std::size_t end = line.find(' ', colon);
    const float v = std::strtof(line.substr(colon + 1, end - colon - 1).c_str(), nullptr);
    std::snprintf(buf, sizeof buf, "%a", double(v));      // the same value in hex
    line = line.substr(0, colon + 1) + buf + line.substr(end) + "\r";
  }
  for (Storage storage : {Storage::Dense, Storage::Sparse})
    expect_same_model(load_libsvm_model(write(join(odd, "garbage after the last SV\n")), 0,
                                        kMaxDenseBytes, storage),
                      model);
  // A bad value in line 2901 of the support vectors, and one after it.
  std::vector<std::string> bad = lines;
  const std::size_t colon = bad[2900].find(':', bad[2900].find(':') + 1);
  bad[2900] = bad[2900].substr(0, colon + 1) + "zz" + bad[2900].substr(bad[2900].find(' ', colon));
  bad[2950] = "oops";
  MINIDL_EXPECT_THROW_WITH(
      load_libsvm_model(write(join(bad, "")), 0, kMaxDenseBytes, Storage::Sparse), IoError,
      detail::concat(dir.file("odd"), ":", header_lines + 2901, ":", colon + 2,
                     ": \"zz\" is not a finite number"));
  // Lines missing at the end.
  std::vector<std::string> short_file(lines.begin(), lines.end() - 10);
  MINIDL_EXPECT_THROW_WITH(load_libsvm_model(write(join(short_file, "")), 0), IoError,
                           detail::concat(dir.file("odd"), ":", header_lines + 2991,
                                          ":1: expected 3000 support vectors, found 2990"));
  // The last line without its newline is read (std::getline's rule).
  std::string no_newline = join(lines, "");
  no_newline.pop_back();
  expect_same_model(load_libsvm_model(write(no_newline), 0), model);
}

}  // namespace
}  // namespace minidl::svm
