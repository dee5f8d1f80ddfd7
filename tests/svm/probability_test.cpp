// svm/probability.hpp: the Platt fit against its own optimality conditions, the
// coupling against Wu, Lin & Weng's optimality system, and the whole -b 1 method
// against LIBSVM's svm-train -b 1 / svm-predict -b 1 (log-loss and most probable
// class on held-out data; LIBSVM's folds are random, so the sigmoids differ a little).
#include "svm/probability.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>

#include "core/random.hpp"
#include "svm/model_file.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

// The Platt objective in its textbook form, -sum t log p + (1 - t) log(1 - p).
double platt_loss(const std::vector<double>& f, const std::vector<std::int8_t>& y, double a,
                  double b) {
  double np = 0, nn = 0;
  for (std::int8_t v : y) (v > 0 ? np : nn) += 1;
  double loss = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    const double t = y[i] > 0 ? (np + 1) / (np + 2) : 1 / (nn + 2);
    const double p = 1.0 / (1.0 + std::exp(a * f[i] + b));
    loss -= t * std::log(p) + (1 - t) * std::log(1 - p);
  }
  return loss;
}

TEST(Platt, FitIsTheMinimumOfTheRegularisedCrossEntropy) {
  Generator gen(7);
  const std::vector<float> u = uniform({400}, 0.0f, 1.0f, gen).to_vector<float>();
  const std::vector<float> noise = normal({400}, 0.0f, 1.0f, gen).to_vector<float>();
  std::vector<double> f;
  std::vector<std::int8_t> y;
  for (std::size_t i = 0; i < u.size(); ++i) {
    const std::int8_t label = u[i] < 0.4f ? 1 : -1;
    y.push_back(label);
    f.push_back(0.8 * label + 0.9 * noise[i]);  // overlapping classes
  }
  const PlattSigmoid s = fit_platt(f, y);
  EXPECT_LT(s.a, 0.0);  // larger f, more likely +1
  // Central differences of the loss vanish at the fitted (A, B) and every nearby
  // point is worse.
  const double h = 1e-5;
  const double ga = (platt_loss(f, y, s.a + h, s.b) - platt_loss(f, y, s.a - h, s.b)) / (2 * h);
  const double gb = (platt_loss(f, y, s.a, s.b + h) - platt_loss(f, y, s.a, s.b - h)) / (2 * h);
  EXPECT_NEAR(ga, 0.0, 1e-4);
  EXPECT_NEAR(gb, 0.0, 1e-4);
  const double best = platt_loss(f, y, s.a, s.b);
  for (double da : {-0.05, 0.0, 0.05})
    for (double db : {-0.05, 0.0, 0.05})
      if (da != 0.0 || db != 0.0) {
        EXPECT_GT(platt_loss(f, y, s.a + da, s.b + db), best);
      }
}

TEST(Platt, SeparableDataStaysFinite) {
  // Perfectly separated values: Platt's targets keep A finite.
  const std::vector<double> f{-3, -2, -1.5, 1.2, 2, 4};
  const std::vector<std::int8_t> y{-1, -1, -1, 1, 1, 1};
  const PlattSigmoid s = fit_platt(f, y);
  EXPECT_TRUE(std::isfinite(s.a) && std::isfinite(s.b));
  EXPECT_LT(s.a, 0.0);
  // Probabilities never reach 0 or 1 beyond the targets 1/(N-+2) and (N++1)/(N++2) by much.
  EXPECT_GT(platt_probability(4, s), 0.5);
  EXPECT_LT(platt_probability(-3, s), 0.5);
}

TEST(Platt, ProbabilityIsStableForHugeArguments) {
  EXPECT_EQ(platt_probability(1e300, {1.0, 0.0}), 0.0);
  EXPECT_EQ(platt_probability(-1e300, {1.0, 0.0}), 1.0);
  EXPECT_DOUBLE_EQ(platt_probability(2.0, {-1.0, 0.5}), 1.0 / (1.0 + std::exp(-1.5)));
}

TEST(Platt, RejectsBadInput) {
  MINIDL_EXPECT_THROW_WITH(fit_platt({}, {}), ValueError, "no decision values");
  MINIDL_EXPECT_THROW_WITH(fit_platt({1.0}, {}), ValueError, "1 decision values");
  MINIDL_EXPECT_THROW_WITH(fit_platt({1.0}, {0}), ValueError, "not +1 or -1");
  MINIDL_EXPECT_THROW_WITH(fit_platt({NAN}, {1}), ValueError, "not finite");
}

TEST(Coupling, TwoClassesAreThePairwiseProbability) {
  const std::vector<double> p = couple_pairwise({0, 0.3, 0.7, 0}, 2);
  EXPECT_NEAR(p[0], 0.3, 1e-15);
  EXPECT_NEAR(p[1], 0.7, 1e-15);
}

TEST(Coupling, ConsistentPairwiseProbabilitiesGiveTheClassProbabilities) {
  // r_ij = p_i / (p_i + p_j) makes every term of method 2's objective 0 at p.
  const std::vector<double> truth{0.5, 0.2, 0.2, 0.1};
  const int k = 4;
  std::vector<double> r(16, 0.0);
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j)
      if (i != j) r[i * k + j] = truth[i] / (truth[i] + truth[j]);
  const std::vector<double> p = couple_pairwise(r, k);
  for (int i = 0; i < k; ++i) EXPECT_NEAR(p[i], truth[i], 1e-12);
}

TEST(Coupling, SolutionSatisfiesTheOptimalityConditions) {
  // Inconsistent random r: at the minimum of p^T Q p on sum p = 1 every (Q p)_t
  // equals p^T Q p (Wu, Lin & Weng eq. (19)), and p >= 0 (their Theorem 2).
  Generator gen(3);
  for (int k : {3, 5, 10}) {
    SCOPED_TRACE(k);
    const std::vector<float> u = uniform({k * k}, 0.02f, 0.98f, gen).to_vector<float>();
    std::vector<double> r(static_cast<std::size_t>(k * k), 0.0);
    for (int i = 0; i < k; ++i)
      for (int j = i + 1; j < k; ++j) {
        r[i * k + j] = u[i * k + j];
        r[j * k + i] = 1.0 - r[i * k + j];
      }
    const std::vector<double> p = couple_pairwise(r, k);
    EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-12);
    std::vector<double> qp(k, 0.0);
    for (int t = 0; t < k; ++t)
      for (int j = 0; j < k; ++j) {
        double q = 0;
        if (t == j) {
          for (int s = 0; s < k; ++s)
            if (s != t) q += r[s * k + t] * r[s * k + t];
        } else {
          q = -r[j * k + t] * r[t * k + j];
        }
        qp[t] += q * p[j];
      }
    double pqp = 0;
    for (int t = 0; t < k; ++t) pqp += p[t] * qp[t];
    for (int t = 0; t < k; ++t) {
      EXPECT_GE(p[t], 0.0);
      EXPECT_NEAR(qp[t], pqp, 1e-12);
    }
  }
}

TEST(Coupling, RejectsBadInput) {
  MINIDL_EXPECT_THROW_WITH(couple_pairwise({0.5}, 1), ValueError, "k >= 2");
  MINIDL_EXPECT_THROW_WITH(couple_pairwise({0, 0.5, 0.5}, 2), ValueError, "expected k * k");
  MINIDL_EXPECT_THROW_WITH(couple_pairwise({0, 0.0, 1.0, 0}, 2), ValueError, "not in (0, 1)");
  MINIDL_EXPECT_THROW_WITH(couple_pairwise({0, 0.4, 0.4, 0}, 2), ValueError, "not 1");
}

double log_loss(const std::vector<double>& prob, const std::vector<std::int32_t>& prob_labels,
                const std::vector<std::int32_t>& truth) {
  const std::size_t k = prob_labels.size();
  double loss = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const auto c = static_cast<std::size_t>(
        std::find(prob_labels.begin(), prob_labels.end(), truth[i]) - prob_labels.begin());
    loss -= std::log(std::max(prob[i * k + c], 1e-15));
  }
  return loss / static_cast<double>(truth.size());
}

struct ProbCase {
  std::vector<std::int32_t> labels;
  float spread;
  double c;
  double gamma;
};

// minidl's -b 1 against LIBSVM's on held-out data: log-loss within 0.01, the most
// probable class the same on >= 98% of the samples.
void compare_with_libsvm_b1(const ProbCase& pc) {
  SCOPED_TRACE(detail::concat(pc.labels.size(), " classes, spread ", pc.spread));
  svm_test::TempDir dir;
  const LibsvmData train = svm_test::make_blobs(1000, 6, pc.labels, pc.spread, 41);
  const LibsvmData test = svm_test::make_blobs(600, 6, pc.labels, pc.spread, 42);
  write_libsvm(dir.file("train"), train.x, train.y);
  write_libsvm(dir.file("test"), test.x, test.y);
  svm_test::svm_train(detail::concat("-b 1 -c ", svm_test::fmt17(pc.c), " -g ",
                                     svm_test::fmt17(pc.gamma), " -q"),
                      dir.file("train"), dir.file("libsvm.model"), dir.file("log"));
  const svm_test::LibsvmProbabilities ref = svm_test::svm_predict_probability(
      dir.file("test"), dir.file("libsvm.model"), dir.file("libsvm.out"), dir.file("log2"));

  SvcOptions o;
  o.C = pc.c;
  o.with_gamma(pc.gamma);
  SVC svc(o);
  svc.fit(train.x, train.y);
  fit_probability(svc, train.x, train.y);
  ASSERT_EQ(svc.classes(), ref.labels);
  const std::vector<double> ours = predict_proba(svc, test.x);
  const auto k = static_cast<int>(svc.classes().size());
  const std::vector<std::int32_t> truth = test.y.to_vector<std::int32_t>();
  const std::vector<std::int32_t> best = most_probable(ours, k);
  ASSERT_EQ(ref.predicted.size(), truth.size());
  std::size_t agree = 0;
  for (std::size_t i = 0; i < truth.size(); ++i)
    agree += svc.classes()[static_cast<std::size_t>(best[i])] == ref.predicted[i];
  const double ours_loss = log_loss(ours, svc.classes(), truth);
  const double ref_loss = log_loss(ref.probability, ref.labels, truth);
  std::printf("log-loss minidl %.5f, LIBSVM %.5f; most probable class agrees on %zu / %zu\n",
              ours_loss, ref_loss, agree, truth.size());
  EXPECT_NEAR(ours_loss, ref_loss, 0.01);
  EXPECT_GE(double(agree), 0.98 * double(truth.size()));
  // Rows are distributions.
  for (std::size_t i = 0; i < truth.size(); ++i) {
    double sum = 0;
    for (int c = 0; c < k; ++c) sum += ours[i * k + c];
    EXPECT_NEAR(sum, 1.0, 1e-9);
  }

  // The model file carries probA / probB: svm-predict -b 1 on minidl's model gives
  // minidl's probabilities (the same sigmoids; LIBSVM's coupling iteration stops
  // at a tolerance of 0.005 / k, and it prints 6 digits).
  save_libsvm_model(dir.file("minidl.model"), svc);
  const svm_test::LibsvmProbabilities theirs = svm_test::svm_predict_probability(
      dir.file("test"), dir.file("minidl.model"), dir.file("minidl.out"), dir.file("log3"));
  ASSERT_EQ(theirs.probability.size(), ours.size());
  double worst = 0;
  for (std::size_t i = 0; i < ours.size(); ++i)
    worst = std::max(worst, std::fabs(theirs.probability[i] - ours[i]));
  EXPECT_LT(worst, 5e-3);
  // And minidl on LIBSVM's model gives LIBSVM's.
  const SVC loaded = load_libsvm_model(dir.file("libsvm.model"), test.x.size(1));
  ASSERT_TRUE(loaded.has_probability());
  const std::vector<double> on_theirs = predict_proba(loaded, test.x);
  worst = 0;
  for (std::size_t i = 0; i < ours.size(); ++i)
    worst = std::max(worst, std::fabs(ref.probability[i] - on_theirs[i]));
  EXPECT_LT(worst, 5e-3);
}

TEST(ProbabilityVsLibsvm, ThreeClasses) {
  MINIDL_REQUIRE_LIBSVM();
  compare_with_libsvm_b1({{3, 1, 2}, 0.9f, 1.0, 0.15});
}

TEST(ProbabilityVsLibsvm, TwoClassesPlusMinusOne) {
  MINIDL_REQUIRE_LIBSVM();
  compare_with_libsvm_b1({{1, -1}, 0.6f, 2.0, 0.2});
}

TEST(ProbabilityVsLibsvm, FiveClasses) {
  MINIDL_REQUIRE_LIBSVM();
  compare_with_libsvm_b1({{0, 1, 2, 3, 4}, 1.2f, 4.0, 0.1});
}

TEST(Probability, SameSeedSameSigmoidsAndRefitClearsThem) {
  const LibsvmData d = svm_test::make_blobs(120, 4, {0, 1, 2}, 1.0f, 9);
  SVC a(SvcOptions{}.with_gamma(0.3));
  a.fit(d.x, d.y);
  fit_probability(a, d.x, d.y);
  SVC b(SvcOptions{}.with_gamma(0.3));
  b.fit(d.x, d.y);
  fit_probability(b, d.x, d.y);
  EXPECT_EQ(a.prob_a(), b.prob_a());
  EXPECT_EQ(a.prob_b(), b.prob_b());
  ASSERT_EQ(a.prob_a().size(), 3u);
  a.fit(d.x, d.y);
  EXPECT_FALSE(a.has_probability());
}

// CSR samples (the model trained sparse): the fold fits stay CSR and give the
// dense path's sigmoids and probabilities to the solver's precision.
TEST(Probability, SparseSamplesGiveTheDenseSigmoids) {
  const LibsvmData d = svm_test::make_blobs(150, 6, {0, 1, 2}, 1.0f, 19);
  std::vector<float> xv = d.x.to_vector<float>();
  for (std::size_t i = 0; i < xv.size(); i += 3) xv[i] = 0.0f;  // a third of the entries
  const Tensor x = from_vector(xv, d.x.shape());
  SvcOptions o = SvcOptions{}.with_gamma(0.3);
  o.tol = 1e-5;
  o.storage = Storage::Dense;
  SVC dense(o);
  dense.fit(x, d.y);
  fit_probability(dense, x, d.y);
  o.storage = Storage::Sparse;
  SVC sparse(o);
  const Samples csr(csr_from_dense(x));
  sparse.fit(csr, d.y);
  ASSERT_TRUE(sparse.sparse_model());
  fit_probability(sparse, csr, d.y);
  ASSERT_EQ(sparse.prob_a().size(), dense.prob_a().size());
  for (std::size_t p = 0; p < dense.prob_a().size(); ++p) {
    EXPECT_NEAR(sparse.prob_a()[p], dense.prob_a()[p], 1e-2 * std::fabs(dense.prob_a()[p]) + 1e-3);
    EXPECT_NEAR(sparse.prob_b()[p], dense.prob_b()[p], 1e-2);
  }
  const std::vector<double> pd = predict_proba(dense, x);
  const std::vector<double> ps = predict_proba(sparse, csr);
  ASSERT_EQ(ps.size(), pd.size());
  for (std::size_t i = 0; i < pd.size(); ++i) EXPECT_NEAR(ps[i], pd[i], 2e-3) << i;
}

TEST(Probability, RejectsWhatItCannotDo) {
  const LibsvmData d = svm_test::make_blobs(60, 3, {0, 1, 2}, 1.0f, 9);
  SVC unfitted;
  MINIDL_EXPECT_THROW_WITH(fit_probability(unfitted, d.x, d.y), ValueError, "not fitted");
  SvcOptions ovr;
  ovr.multi_class = MultiClass::OneVsRest;
  SVC r(ovr);
  r.fit(d.x, d.y);
  MINIDL_EXPECT_THROW_WITH(fit_probability(r, d.x, d.y), ValueError, "one-vs-one");
  SVC m;
  m.fit(d.x, d.y);
  MINIDL_EXPECT_THROW_WITH(predict_proba(m, d.x), ValueError, "no probability");
  ProbabilityOptions one_fold;
  one_fold.folds = 1;
  MINIDL_EXPECT_THROW_WITH(fit_probability(m, d.x, d.y, one_fold), ValueError, "folds");
  const LibsvmData other = svm_test::make_blobs(60, 3, {0, 1, 2}, 1.0f, 10);
  MINIDL_EXPECT_THROW_WITH(fit_probability(m, other.x, other.y), ShapeError, "not the data the model was fitted on");
  MINIDL_EXPECT_THROW_WITH(m.set_probability({1, 2}, {1, 2, 3}), ValueError, "probA");
}

}  // namespace
}  // namespace minidl::svm
