#include "probability.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <utility>

#include "../core/parallel.hpp"
#include "cross_validation.hpp"
#include "smo.hpp"

namespace minidl::svm {

namespace {

// The Platt objective at z = (A, B) in its stable form: for u = A f + B,
//   -[t log p + (1 - t) log(1 - p)],  p = 1 / (1 + e^u),
//   = t u + log(1 + e^-u)          (u >= 0)
//   = (t - 1) u + log(1 + e^u)     (u < 0).
double platt_objective(const std::vector<double>& f, const std::vector<double>& t, double a,
                       double b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    const double u = a * f[i] + b;
    sum += u >= 0 ? t[i] * u + std::log1p(std::exp(-u)) : (t[i] - 1.0) * u + std::log1p(std::exp(u));
  }
  return sum;
}

}  // namespace

double platt_probability(double f, const PlattSigmoid& s) {
  const double u = s.a * f + s.b;
  // 1 / (1 + e^u) = e^-u / (1 + e^-u): the form whose exponential cannot overflow.
  return u >= 0 ? std::exp(-u) / (1.0 + std::exp(-u)) : 1.0 / (1.0 + std::exp(u));
}

PlattSigmoid fit_platt(const std::vector<double>& f, const std::vector<std::int8_t>& y) {
  MINIDL_CHECK(f.size() == y.size(), ValueError, "fit_platt: ", f.size(), " decision values for ",
               y.size(), " labels");
  MINIDL_CHECK(!f.empty(), ValueError, "fit_platt: no decision values");
  double n_pos = 0, n_neg = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    MINIDL_CHECK(y[i] == 1 || y[i] == -1, ValueError, "fit_platt: label ", int(y[i]), " at ", i,
                 " is not +1 or -1");
    MINIDL_CHECK(std::isfinite(f[i]), ValueError, "fit_platt: decision value ", f[i], " at ", i,
                 " is not finite");
    (y[i] > 0 ? n_pos : n_neg) += 1;
  }
  // Lin, Lin & Weng, section 3 and Algorithm 1 (their appendix): Platt's targets,
  // which keep the fit away from A = -inf on separable data.
  const double t_pos = (n_pos + 1.0) / (n_pos + 2.0);
  const double t_neg = 1.0 / (n_neg + 2.0);
  std::vector<double> t(f.size());
  for (std::size_t i = 0; i < f.size(); ++i) t[i] = y[i] > 0 ? t_pos : t_neg;

  constexpr int kMaxIter = 100;
  constexpr double kMinStep = 1e-10;
  constexpr double kSigma = 1e-12;  // added to the Hessian's diagonal: keeps it positive definite
  constexpr double kGradTol = 1e-5;
  double a = 0.0;
  double b = std::log((n_neg + 1.0) / (n_pos + 1.0));
  double fval = platt_objective(f, t, a, b);
  for (int iter = 0; iter < kMaxIter; ++iter) {
    // Gradient and Hessian of the objective: with p_i = P(+1 | f_i) at (a, b),
    // d/du_i = t_i - p_i and d2/du_i^2 = p_i (1 - p_i).
    double h11 = kSigma, h22 = kSigma, h21 = 0.0, g1 = 0.0, g2 = 0.0;
    for (std::size_t i = 0; i < f.size(); ++i) {
      const double p = platt_probability(f[i], {a, b});
      const double w = p * (1.0 - p);
      const double r = t[i] - p;
      h11 += f[i] * f[i] * w;
      h22 += w;
      h21 += f[i] * w;
      g1 += f[i] * r;
      g2 += r;
    }
    if (std::fabs(g1) < kGradTol && std::fabs(g2) < kGradTol) break;
    // Newton direction d = -H^-1 g (2 x 2, H symmetric positive definite).
    const double det = h11 * h22 - h21 * h21;
    const double da = -(h22 * g1 - h21 * g2) / det;
    const double db = -(-h21 * g1 + h11 * g2) / det;
    const double gd = g1 * da + g2 * db;  // < 0: a descent direction
    double step = 1.0;
    while (step >= kMinStep) {
      const double na = a + step * da;
      const double nb = b + step * db;
      const double nf = platt_objective(f, t, na, nb);
      if (nf < fval + 1e-4 * step * gd) {  // sufficient decrease (Armijo)
        a = na;
        b = nb;
        fval = nf;
        break;
      }
      step /= 2.0;
    }
    if (step < kMinStep) break;  // no progress along d: (a, b) is as good as it gets
  }
  return {a, b};
}

std::vector<double> couple_pairwise(const std::vector<double>& r, int k) {
  MINIDL_CHECK(k >= 2, ValueError, "couple_pairwise: need k >= 2 classes, got ", k);
  const auto ku = static_cast<std::size_t>(k);
  MINIDL_CHECK(r.size() == ku * ku, ValueError, "couple_pairwise: r has ", r.size(),
               " entries, expected k * k = ", ku * ku);
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j) {
      if (i == j) continue;
      const double v = r[ku * i + j];
      MINIDL_CHECK(v > 0.0 && v < 1.0, ValueError, "couple_pairwise: r[", i, ", ", j, "] = ", v,
                   " is not in (0, 1)");
      MINIDL_CHECK(std::fabs(v + r[ku * j + i] - 1.0) <= 1e-9, ValueError, "couple_pairwise: r[",
                   i, ", ", j, "] + r[", j, ", ", i, "] = ", v + r[ku * j + i], ", not 1");
    }
  // The bordered system [Q e; e^T 0] [p; b] = [0; 1] of Wu, Lin & Weng (their
  // eq. (20)), (k + 1) x (k + 1), by Gaussian elimination with partial pivoting
  // (Q alone is singular for k = 2, and the border's 0 needs a pivot anyway).
  const std::size_t m = ku + 1;
  std::vector<double> a(m * (m + 1), 0.0);  // augmented [A | rhs], row-major, m + 1 columns
  const auto at = [&](std::size_t row, std::size_t col) -> double& { return a[row * (m + 1) + col]; };
  for (std::size_t i = 0; i < ku; ++i) {
    for (std::size_t j = 0; j < ku; ++j) {
      if (i == j) {
        double q = 0.0;
        for (std::size_t s = 0; s < ku; ++s)
          if (s != i) q += r[ku * s + i] * r[ku * s + i];
        at(i, i) = q;
      } else {
        at(i, j) = -r[ku * j + i] * r[ku * i + j];
      }
    }
    at(i, ku) = 1.0;
    at(ku, i) = 1.0;
  }
  at(ku, m) = 1.0;
  for (std::size_t col = 0; col < m; ++col) {
    std::size_t pivot = col;
    for (std::size_t row = col + 1; row < m; ++row)
      if (std::fabs(at(row, col)) > std::fabs(at(pivot, col))) pivot = row;
    MINIDL_CHECK(at(pivot, col) != 0.0, ValueError,
                 "couple_pairwise: the coupling system is singular");
    if (pivot != col)
      for (std::size_t c = 0; c <= m; ++c) std::swap(at(col, c), at(pivot, c));
    for (std::size_t row = col + 1; row < m; ++row) {
      const double factor = at(row, col) / at(col, col);
      if (factor == 0.0) continue;
      for (std::size_t c = col; c <= m; ++c) at(row, c) -= factor * at(col, c);
    }
  }
  std::vector<double> x(m);
  for (std::size_t row = m; row-- > 0;) {
    double v = at(row, m);
    for (std::size_t c = row + 1; c < m; ++c) v -= at(row, c) * x[c];
    x[row] = v / at(row, row);
  }
  // Theorem 2 makes p >= 0 in exact arithmetic; rounding can leave -1e-17.
  std::vector<double> p(x.begin(), x.begin() + k);
  double sum = 0.0;
  for (double& v : p) {
    v = std::max(v, 0.0);
    sum += v;
  }
  for (double& v : p) v /= sum;
  return p;
}

void fit_probability(SVC& model, const Samples& x_in, const Tensor& y_in,
                     const ProbabilityOptions& options) {
  MINIDL_CHECK(model.fitted(), ValueError, "fit_probability: the model is not fitted");
  MINIDL_CHECK(!model.binary_results().empty(), ValueError,
               "fit_probability: the model holds no training results (a loaded model); fit it "
               "with SVC::fit on the data first");
  const std::int64_t k = static_cast<std::int64_t>(model.classes().size());
  MINIDL_CHECK(model.options().multi_class == MultiClass::OneVsOne || k == 2, ValueError,
               "fit_probability: probabilities are defined for one-vs-one models only (LIBSVM's "
               "-b 1); this model is one-vs-rest");
  MINIDL_CHECK(options.folds >= 2, ValueError, "fit_probability: folds must be >= 2, got ",
               options.folds);
  MINIDL_CHECK(x_in.defined() && (x_in.sparse() || (x_in.dense().rank() == 2 &&
                                                    x_in.dense().dtype() == DType::Float32)) &&
                   x_in.cols() == model.n_features(),
               ShapeError, "fit_probability: x must be float32 [n, ", model.n_features(),
               "] (the training data), got ",
               x_in.defined() ? x_in.description() : std::string("an undefined tensor"));
  MINIDL_CHECK(y_in.defined() && y_in.rank() == 1 && y_in.dtype() == DType::Int32 &&
                   y_in.size(0) == x_in.rows(),
               ShapeError, "fit_probability: y must be int32 [", x_in.rows(), "], got ",
               y_in.defined() ? y_in.description() : std::string("an undefined tensor"));
  // The storage the model trained in (SvcOptions::storage), decided once: the
  // fold fits gather rows of it (CSR rows stay CSR; never an n x d matrix).
  const FoldRows x(with_storage(x_in, model.options().storage));
  const std::vector<std::int32_t> y = y_in.to_vector<std::int32_t>();
  const std::int64_t n = x.rows();
  const std::vector<BinaryResult>& pairs = model.binary_results();
  for (const BinaryResult& r : pairs)
    for (std::size_t t = 0; t < r.samples.size(); ++t) {
      const std::int64_t s = r.samples[t];
      const std::int32_t cls = r.y[t] > 0 ? r.positive_class : r.negative_class;
      MINIDL_CHECK(s >= 0 && s < n && y[static_cast<std::size_t>(s)] ==
                                          model.classes()[static_cast<std::size_t>(cls)],
                   ShapeError,
                   "fit_probability: x and y are not the data the model was fitted on (sample ", s,
                   ")");
    }

  // The binary problems: the model's kernel with gamma resolved, C per side as in
  // the pair (class weights included).
  SvcOptions base = model.options();
  base.with_gamma(model.kernel().gamma);
  base.balanced = false;
  base.class_weight.clear();
  base.multi_class = MultiClass::OneVsOne;
  base.C = 1.0;
  base.progress = nullptr;  // concurrent fits: progress comes through options.on_fit
  base.storage = x.storage();

  const auto n_pairs = static_cast<std::int64_t>(pairs.size());
  const std::int64_t folds = options.folds;
  std::vector<std::vector<int>> fold_of(pairs.size());
  std::vector<std::vector<double>> dec(pairs.size());
  for (std::int64_t p = 0; p < n_pairs; ++p) {
    const BinaryResult& r = pairs[static_cast<std::size_t>(p)];
    // Stratified by side; each pair its own Philox stream.
    fold_of[static_cast<std::size_t>(p)] =
        stratified_folds(std::vector<std::int32_t>(r.y.begin(), r.y.end()), options.folds,
                         options.seed, static_cast<std::uint64_t>(p));
    dec[static_cast<std::size_t>(p)].assign(r.samples.size(), 0.0);
  }
  // The fits below run cpu_threads() at a time: they share the memory budget, as
  // cross-validation's folds do (each had all of it, -m or half the RAM; found in review).
  const std::int64_t concurrent = std::min<std::int64_t>(cpu_threads(), n_pairs * folds);
  if (concurrent > 1)
    base.memory_budget =
        resolve_budget(base.memory_budget, x_in.device()) / static_cast<std::size_t>(concurrent);
  std::exception_ptr error;
  std::mutex error_mutex;
  std::int64_t fits_done = 0;
  // Each job writes only the held-out entries of its own pair's dec. The jobs are whole
  // fits, so they run on cpu_threads() even while the adaptive backend (core/parallel.hpp)
  // holds OpenMP at one thread on a busy machine.
#pragma omp parallel for schedule(dynamic, 1) num_threads(cpu_threads())
  for (std::int64_t job = 0; job < n_pairs * folds; ++job) {
    try {
      const std::int64_t p = job / folds;
      const int fold = static_cast<int>(job % folds);
      const BinaryResult& r = pairs[static_cast<std::size_t>(p)];
      const std::vector<int>& fo = fold_of[static_cast<std::size_t>(p)];
      std::vector<std::size_t> train_idx, test_idx;
      bool has_pos = false, has_neg = false;
      for (std::size_t t = 0; t < r.samples.size(); ++t) {
        if (fo[t] == fold) {
          test_idx.push_back(t);
        } else {
          train_idx.push_back(t);
          (r.y[t] > 0 ? has_pos : has_neg) = true;
        }
      }
      if (test_idx.empty()) continue;
      std::vector<double>& out = dec[static_cast<std::size_t>(p)];
      if (!has_pos || !has_neg) {
        for (std::size_t t : test_idx) out[t] = has_pos ? 1.0 : -1.0;
        continue;
      }
      const auto gather = [&](const std::vector<std::size_t>& idx) {
        std::vector<std::int64_t> rows(idx.size());
        for (std::size_t t = 0; t < idx.size(); ++t) rows[t] = r.samples[idx[t]];
        return x.gather(rows);
      };
      std::vector<std::int32_t> train_y(train_idx.size());
      for (std::size_t t = 0; t < train_idx.size(); ++t) train_y[t] = r.y[train_idx[t]];
      SvcOptions o = base;
      o.class_weight = {{1, r.cp}, {-1, r.cn}};
      SVC binary(o);
      const Device dev = x_in.device();
      binary.fit(gather(train_idx),
                 from_vector(train_y, {static_cast<std::int64_t>(train_y.size())}).to(dev));
      // Two classes {+1, -1} are ordered (+1, -1): a positive value means +1.
      const std::vector<float> f = binary.decision_function(gather(test_idx)).to_vector<float>();
      for (std::size_t t = 0; t < test_idx.size(); ++t) out[test_idx[t]] = f[t];
      if (options.on_fit) {
        std::lock_guard<std::mutex> lock(error_mutex);
        options.on_fit(++fits_done, n_pairs * folds);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);

  std::vector<double> a(pairs.size()), b(pairs.size());
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    const PlattSigmoid s = fit_platt(dec[p], pairs[p].y);
    a[p] = s.a;
    b[p] = s.b;
  }
  model.set_probability(std::move(a), std::move(b));
}

std::vector<double> predict_proba(const SVC& model, const Samples& x) {
  MINIDL_CHECK(model.fitted(), ValueError, "predict_proba: the model is not fitted");
  MINIDL_CHECK(model.has_probability(), ValueError,
               "predict_proba: the model has no probability sigmoids (fit_probability, or a model "
               "file with probA / probB, e.g. svm-train -b 1)");
  const int k = static_cast<int>(model.classes().size());
  const std::vector<float> dec = model.decision_function(x).to_vector<float>();
  const std::int64_t m = x.rows();
  const std::int64_t nd = model.n_decisions();
  const auto ku = static_cast<std::size_t>(k);
  std::vector<double> out(static_cast<std::size_t>(m) * ku);
  std::vector<double> r(ku * ku, 0.0);
  for (std::int64_t i = 0; i < m; ++i) {
    std::int64_t p = 0;
    for (int a = 0; a < k; ++a)
      for (int b = a + 1; b < k; ++b, ++p) {
        const PlattSigmoid s{model.prob_a()[static_cast<std::size_t>(p)],
                             model.prob_b()[static_cast<std::size_t>(p)]};
        const double z = dec[static_cast<std::size_t>(i * nd + p)];
        MINIDL_CHECK(std::isfinite(z), ValueError, "predict_proba: decision value ", p,
                     " of sample ", i, " is ", z,
                     " (the model's coefficients overflow float32); no probability follows");
        const double v = std::clamp(platt_probability(z, s),
                                    kMinPairProbability, 1.0 - kMinPairProbability);
        r[ku * a + b] = v;
        r[ku * b + a] = 1.0 - v;
      }
    const std::vector<double> pi = couple_pairwise(r, k);
    std::copy(pi.begin(), pi.end(), out.begin() + static_cast<std::ptrdiff_t>(i * k));
  }
  return out;
}

std::vector<std::int32_t> most_probable(const std::vector<double>& probabilities, int k) {
  MINIDL_CHECK(k >= 1 && probabilities.size() % static_cast<std::size_t>(k) == 0, ValueError,
               "most_probable: ", probabilities.size(), " probabilities are not rows of ", k);
  const std::size_t m = probabilities.size() / static_cast<std::size_t>(k);
  std::vector<std::int32_t> best(m, 0);
  for (std::size_t i = 0; i < m; ++i)
    for (int c = 1; c < k; ++c)
      if (probabilities[i * k + c] > probabilities[i * k + best[i]]) best[i] = c;
  return best;
}

}  // namespace minidl::svm
