// svm/cross_validation.hpp: stratified folds, and -v n against svm-train -v n.
#include "svm/cross_validation.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

TEST(StratifiedFolds, EveryClassIsSpreadEvenly) {
  std::vector<std::int32_t> y;
  for (int i = 0; i < 103; ++i) y.push_back(i % 7 == 0 ? 5 : (i % 3 == 0 ? -1 : 2));
  const std::vector<int> f = stratified_folds(y, 5, 11);
  std::map<int, int> size;
  std::map<std::pair<std::int32_t, int>, int> per_class;
  for (std::size_t i = 0; i < y.size(); ++i) {
    ASSERT_GE(f[i], 0);
    ASSERT_LT(f[i], 5);
    ++size[f[i]];
    ++per_class[{y[i], f[i]}];
  }
  for (const auto& [fold, count] : size) EXPECT_TRUE(count == 20 || count == 21) << count;
  for (std::int32_t c : {5, -1, 2}) {
    int lo = 1 << 30, hi = 0;
    for (int fold = 0; fold < 5; ++fold) {
      lo = std::min(lo, per_class[{c, fold}]);
      hi = std::max(hi, per_class[{c, fold}]);
    }
    EXPECT_LE(hi - lo, 1) << "class " << c;
  }
  EXPECT_EQ(stratified_folds(y, 5, 11), f);
  EXPECT_NE(stratified_folds(y, 5, 12), f);
  MINIDL_EXPECT_THROW_WITH(stratified_folds(y, 0, 1), ValueError, "folds must be >= 1");
}

// CSR samples: every fold trains and predicts on CSR rows (FoldRows keeps the
// matrix shared), and the predictions are the dense path's.
TEST(CrossValidation, SparseSamplesPredictAsDenseOnes) {
  const LibsvmData d = svm_test::make_blobs(240, 6, {3, 1, 2}, 0.9f, 23);
  std::vector<float> xv = d.x.to_vector<float>();
  for (std::size_t i = 1; i < xv.size(); i += 2) xv[i] = 0.0f;
  const Tensor x = from_vector(xv, d.x.shape());
  SvcOptions o;
  o.C = 2;
  o.with_gamma(0.2);
  o.tol = 1e-5;
  CrossValidationOptions cv;
  cv.folds = 4;
  o.storage = Storage::Dense;
  const CrossValidationResult dense = cross_validate(o, x, d.y, cv);
  o.storage = Storage::Sparse;
  const CrossValidationResult sparse = cross_validate(o, Samples(csr_from_dense(x)), d.y, cv);
  EXPECT_EQ(sparse.predicted, dense.predicted);
  EXPECT_GT(dense.accuracy, 0.5);  // half the features zeroed: harder than the blobs
  // FoldRows gathers in the storage it holds.
  const FoldRows rows(Samples(csr_from_dense(x)));
  EXPECT_EQ(rows.storage(), Storage::Sparse);
  const Samples part = rows.gather({5, 0, 7});
  ASSERT_TRUE(part.sparse());
  const std::vector<float> got = csr_to_dense(part.csr()).to_vector<float>();
  for (int c = 0; c < 6; ++c) {
    EXPECT_EQ(got[static_cast<std::size_t>(c)], xv[static_cast<std::size_t>(5 * 6 + c)]);
    EXPECT_EQ(got[static_cast<std::size_t>(6 + c)], xv[static_cast<std::size_t>(c)]);
  }
  EXPECT_EQ(FoldRows(Samples(x)).gather({1, 2}).dense().shape(), Shape({2, 6}));
}

TEST(CrossValidation, MatchesLibsvmAccuracyAndIsReproducible) {
  MINIDL_REQUIRE_LIBSVM();
  svm_test::TempDir dir;
  const LibsvmData d = svm_test::make_blobs(600, 5, {3, 1, 2}, 0.8f, 17);
  write_libsvm(dir.file("train"), d.x, d.y);
  const svm_test::LibsvmRun ref =
      svm_test::svm_train("-v 5 -c 2 -g 0.2", dir.file("train"), dir.file("m"), dir.file("log"));
  double ref_acc = -1;
  const std::size_t at = ref.output.find("Cross Validation Accuracy = ");
  ASSERT_NE(at, std::string::npos) << ref.output;
  std::sscanf(ref.output.c_str() + at, "Cross Validation Accuracy = %lf%%", &ref_acc);
  SvcOptions o;
  o.C = 2;
  o.with_gamma(0.2);
  CrossValidationOptions cv;
  cv.folds = 5;
  int calls = 0;
  cv.on_fold = [&](int done, int total) {
    ++calls;
    EXPECT_EQ(total, 5);
    EXPECT_EQ(done, calls);
  };
  const CrossValidationResult r = cross_validate(o, d.x, d.y, cv);
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(r.folds, 5);
  std::printf("5-fold accuracy: minidl %.4f%%, LIBSVM %.4f%%\n", 100 * r.accuracy, ref_acc);
  // Different random folds: the two estimates of one accuracy differ by noise only.
  EXPECT_NEAR(100 * r.accuracy, ref_acc, 2.5);
  const std::vector<std::int32_t> y = d.y.to_vector<std::int32_t>();
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i) correct += r.predicted[i] == y[i];
  EXPECT_EQ(correct, r.correct);
  // One fold at a time or concurrently: the same folds, the same predictions.
  cv.on_fold = nullptr;
  cv.concurrent_folds = 1;
  const CrossValidationResult serial = cross_validate(o, d.x, d.y, cv);
  EXPECT_EQ(serial.predicted, r.predicted);
  cv.concurrent_folds = 2;
  EXPECT_EQ(cross_validate(o, d.x, d.y, cv).predicted, r.predicted);
  cv.seed = 2;
  EXPECT_NE(cross_validate(o, d.x, d.y, cv).predicted, r.predicted);
}

TEST(CrossValidation, ProbabilityModeAndLeaveOneOut) {
  const LibsvmData d = svm_test::make_blobs(40, 3, {0, 1}, 1.5f, 4);
  SvcOptions o;
  o.with_gamma(0.3);
  CrossValidationOptions cv;
  cv.folds = 100;  // more folds than samples: leave-one-out
  const CrossValidationResult loo = cross_validate(o, d.x, d.y, cv);
  EXPECT_EQ(loo.folds, 40);
  EXPECT_GT(loo.accuracy, 0.8);
  cv.folds = 4;
  cv.probability = true;
  const CrossValidationResult p = cross_validate(o, d.x, d.y, cv);
  EXPECT_GT(p.accuracy, 0.8);
  CrossValidationOptions one_fold;
  one_fold.folds = 1;
  MINIDL_EXPECT_THROW_WITH(cross_validate(o, d.x, d.y, one_fold), ValueError,
                           "folds must be >= 2");
  const Tensor one = from_vector(std::vector<std::int32_t>(40, 3), {40});
  MINIDL_EXPECT_THROW_WITH(cross_validate(o, d.x, one), ValueError, "single class");
}

TEST(CrossValidation, FoldWithOneTrainingClassPredictsIt) {
  // Class 9 has one sample: the fold that holds it out trains on the other class... and
  // a fold whose training part has a single class predicts that class.
  std::vector<float> x{0, 1, 2, 3, 10};
  std::vector<std::int32_t> y{0, 0, 0, 0, 9};
  CrossValidationOptions cv;
  cv.folds = 5;
  const CrossValidationResult r =
      cross_validate(SvcOptions{}.with_gamma(1.0), from_vector(x, {5, 1}), from_vector(y, {5}), cv);
  EXPECT_EQ(r.predicted[4], 0);  // never seen class 9 when predicting it
  EXPECT_EQ(r.correct, 4);
  // A weight for class 9 applies where class 9 is trained on, and nowhere else.
  std::vector<float> x2{0, 1, 2, 3, 10, 11};
  std::vector<std::int32_t> y2{0, 0, 0, 0, 9, 1};
  SvcOptions weighted = SvcOptions{}.with_gamma(1.0);
  weighted.class_weight = {{9, 2.0}};
  const CrossValidationResult w =
      cross_validate(weighted, from_vector(x2, {6, 1}), from_vector(y2, {6}), cv);
  EXPECT_EQ(w.folds, 5);
}

}  // namespace
}  // namespace minidl::svm
