#include "svc.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <utility>

#include "../kernels/gemm.hpp"
#include "smo.hpp"
#include "sparse_kernel.hpp"

namespace minidl::svm {

const char* margin_category_name(MarginCategory c) {
  switch (c) {
    case MarginCategory::CorrectSide:
      return "correct side of the margin";
    case MarginCategory::OnMargin:
      return "on the margin";
    case MarginCategory::InsideMargin:
      return "inside the margin";
    case MarginCategory::Misclassified:
      return "misclassified";
  }
  return "unknown";
}

SVC::SVC(SvcOptions options) : options_(std::move(options)) {
  MINIDL_CHECK(options_.gamma == 0.0 || options_.gamma_mode == GammaMode::Value, ValueError,
               "SVC: SvcOptions::gamma is ", options_.gamma, " but gamma_mode is ",
               options_.gamma_mode == GammaMode::Scale ? "Scale" : "Auto",
               ", which would ignore it: set gamma_mode = GammaMode::Value (or use "
               "SvcOptions::with_gamma) to use this gamma, or leave gamma at 0");
}

namespace {

// LIBSVM's svm_group_classes order: first appearance, with {-1, +1} as (+1, -1).
std::vector<std::int32_t> libsvm_class_order(const std::vector<std::int32_t>& y) {
  std::vector<std::int32_t> classes;
  for (std::int32_t v : y)
    if (std::find(classes.begin(), classes.end(), v) == classes.end()) classes.push_back(v);
  if (classes.size() == 2 && classes[0] == -1 && classes[1] == 1) std::swap(classes[0], classes[1]);
  return classes;
}

}  // namespace

namespace {

void check_fit_operands(const Samples& xs, const Tensor& y) {
  MINIDL_CHECK(xs.defined(), ShapeError, "SVC::fit: x must be float32 [n, d], got an undefined tensor");
  if (!xs.sparse()) {
    const Tensor& x = xs.dense();
    MINIDL_CHECK(x.rank() == 2 && x.dtype() == DType::Float32, ShapeError,
                 "SVC::fit: x must be float32 [n, d], got ", x.description());
  }
  MINIDL_CHECK(y.defined() && y.rank() == 1 && y.dtype() == DType::Int32, ShapeError,
               "SVC::fit: y must be int32 [n], got ",
               y.defined() ? y.description() : std::string("an undefined tensor"));
  const Shape shape({xs.rows(), xs.cols()});
  MINIDL_CHECK(y.size(0) == xs.rows(), ShapeError, "SVC::fit: x ", shape, " and y ", y.shape(),
               " have different numbers of samples");
  MINIDL_CHECK(xs.rows() > 0, ValueError, "SVC::fit: x has no samples: ", shape,
               "; a classifier needs samples of at least two classes");
  MINIDL_CHECK(xs.cols() > 0, ShapeError, "SVC::fit: x has no features: ", shape);
}

// gamma = "scale" for CSR samples: the variance over all n*d values, zeros included.
double csr_gamma_scale(const CsrMatrix& m) {
  const double count = double(m.rows) * double(m.cols);
  double sum = 0.0;
  double sum_sq = 0.0;
  for (float v : m.values) {
    sum += v;
    sum_sq += double(v) * v;
  }
  const double mean = sum / count;
  const double var = std::max(0.0, sum_sq / count - mean * mean);
  return var > 0.0 ? 1.0 / (double(m.cols) * var) : 1.0;
}

void check_options(const SvcOptions& o) {
  MINIDL_CHECK(std::isfinite(o.C) && o.C > 0, ValueError, "SVC: C must be finite and > 0, got ",
               o.C);
  MINIDL_CHECK(std::isfinite(o.tol) && o.tol > 0, ValueError,
               "SVC: tol must be finite and > 0, got ", o.tol);
  MINIDL_CHECK(o.max_iter >= 0, ValueError, "SVC: max_iter must be >= 0, got ", o.max_iter);
}

void check_finite(const Tensor& x) {
  const std::int64_t n = x.size(0);
  const std::int64_t d = x.size(1);
  const float* xp = x.data<float>();
  for (std::int64_t t = 0; t < n * d; ++t)
    MINIDL_CHECK(std::isfinite(xp[t]), ValueError, "SVC::fit: x[", t / d, ", ", t % d,
                 "] = ", xp[t], " is not finite");
}

KernelParams resolve_kernel(const SvcOptions& o, const Samples& x) {
  KernelParams kp;
  kp.type = o.kernel;
  kp.coef0 = o.coef0;
  kp.degree = o.degree;
  switch (o.gamma_mode) {
    case GammaMode::Scale:
      kp.gamma = x.sparse() ? csr_gamma_scale(x.csr()) : gamma_scale(x.dense());
      break;
    case GammaMode::Auto:
      kp.gamma = 1.0 / static_cast<double>(x.cols());
      break;
    case GammaMode::Value:
      kp.gamma = o.gamma;
      break;
  }
  check_kernel_params(kp);
  return kp;
}

// C per class: C, times class_weight or the balanced weight.
std::vector<double> class_costs(const SvcOptions& o, const std::vector<std::int32_t>& classes,
                                const std::vector<std::int64_t>& count, std::int64_t n) {
  const auto k = static_cast<std::int32_t>(classes.size());
  std::vector<double> c_of(static_cast<std::size_t>(k), o.C);
  if (o.balanced) {
    for (std::int32_t c = 0; c < k; ++c)
      c_of[static_cast<std::size_t>(c)] =
          o.C * static_cast<double>(n) / (double(k) * double(count[static_cast<std::size_t>(c)]));
  } else {
    for (const auto& [label, w] : o.class_weight) {
      const auto it = std::find(classes.begin(), classes.end(), label);
      MINIDL_CHECK(it != classes.end(), ValueError, "SVC: class_weight names label ", label,
                   ", which is not in the training labels");
      MINIDL_CHECK(std::isfinite(w) && w > 0, ValueError, "SVC: class_weight[", label,
                   "] must be finite and > 0, got ", w);
      c_of[static_cast<std::size_t>(it - classes.begin())] = o.C * w;
    }
  }
  return c_of;
}

// The sub-problems: one-vs-one pairs (i, j), i < j, class i +1; or class i against the rest.
void make_problems(SvcPlan& plan, const std::vector<double>& c_of, double c_rest) {
  const auto k = static_cast<std::int32_t>(plan.classes.size());
  const std::int64_t n = plan.n_samples;
  const std::vector<std::int32_t>& cls = plan.sample_class;
  if (!plan.one_vs_rest) {
    for (std::int32_t i = 0; i < k; ++i)
      for (std::int32_t j = i + 1; j < k; ++j) {
        BinaryProblem r;
        for (std::int32_t side : {i, j})
          for (std::int64_t t = 0; t < n; ++t)
            if (cls[static_cast<std::size_t>(t)] == side) {
              r.samples.push_back(t);
              r.y.push_back(side == i ? 1 : -1);
            }
        r.cp = c_of[static_cast<std::size_t>(i)];
        r.cn = c_of[static_cast<std::size_t>(j)];
        plan.problems.push_back(std::move(r));
        plan.problem_classes.emplace_back(i, j);
      }
  } else {
    for (std::int32_t i = 0; i < k; ++i) {
      BinaryProblem r;
      for (std::int64_t t = 0; t < n; ++t) {
        r.samples.push_back(t);
        r.y.push_back(cls[static_cast<std::size_t>(t)] == i ? 1 : -1);
      }
      // The rest's C: the weight of the rest as one class is C (LIBSVM has no OvR).
      r.cp = c_of[static_cast<std::size_t>(i)];
      r.cn = c_rest;
      plan.problems.push_back(std::move(r));
      plan.problem_classes.emplace_back(i, -1);
    }
  }
}

// A sub-problem's solution with the course notes' diagnostics: y_t f_t = G_t + 1
// (f without b), so y_t z_t = G_t + 1 - y_t rho.
BinaryResult binary_result(const BinaryProblem& prob, std::pair<std::int32_t, std::int32_t> pair,
                           SmoResult s, double tol) {
  BinaryResult r;
  r.positive_class = pair.first;
  r.negative_class = pair.second;
  r.samples = prob.samples;
  r.y = prob.y;
  r.cp = prob.cp;
  r.cn = prob.cn;
  const auto l = r.samples.size();
  r.rho = s.rho;
  r.iterations = s.iterations;
  r.converged = s.converged;
  r.max_kkt_violation = max_kkt_violation(s.alpha, s.grad, r.y, r.cp, r.cn);
  r.dual_objective = -s.objective;
  r.margin.resize(l);
  r.slack.resize(l);
  r.category.resize(l);
  for (std::size_t t = 0; t < l; ++t) {
    const double yz = s.grad[t] + 1.0 - r.y[t] * s.rho;
    r.margin[t] = yz;
    r.slack[t] = std::max(0.0, 1.0 - yz);
    r.category[t] = yz < 0                      ? MarginCategory::Misclassified
                    : std::fabs(yz - 1.0) <= tol ? MarginCategory::OnMargin
                    : yz < 1.0                  ? MarginCategory::InsideMargin
                                                : MarginCategory::CorrectSide;
    r.sum_alpha_y += s.alpha[t] * r.y[t];
    if (s.alpha[t] > 0) ++r.n_sv;
    if (s.alpha[t] >= (r.y[t] > 0 ? r.cp : r.cn)) ++r.n_bsv;
  }
  r.alpha = std::move(s.alpha);
  return r;
}

}  // namespace

SvcPlan SVC::plan(const Samples& x_in, const Tensor& y_in) const {
  check_fit_operands(x_in, y_in);
  check_options(options_);
  const Samples x = with_storage(x_in, options_.storage);
  if (x.sparse())
    x.csr().check("SVC::fit");
  else
    check_finite(x.dense().to(Device::cpu()));
  const std::vector<std::int32_t> y = y_in.to_vector<std::int32_t>();
  SvcPlan plan;
  plan.sparse = x.sparse();
  plan.n_samples = x.rows();
  plan.n_features = x.cols();
  plan.classes = libsvm_class_order(y);
  MINIDL_CHECK(plan.classes.size() >= 2, ValueError,
               "SVC::fit: the training labels hold a single class (", plan.classes[0],
               "); a classifier needs at least two");
  plan.kernel = resolve_kernel(options_, x);
  const auto k = static_cast<std::int32_t>(plan.classes.size());
  plan.one_vs_rest = options_.multi_class == MultiClass::OneVsRest && k > 2;
  // Class index per sample, counts, C per class.
  plan.sample_class.resize(y.size());
  std::vector<std::int64_t> count(static_cast<std::size_t>(k), 0);
  for (std::size_t t = 0; t < y.size(); ++t) {
    const auto c = static_cast<std::int32_t>(
        std::find(plan.classes.begin(), plan.classes.end(), y[t]) - plan.classes.begin());
    plan.sample_class[t] = c;
    ++count[static_cast<std::size_t>(c)];
  }
  make_problems(plan, class_costs(options_, plan.classes, count, plan.n_samples), options_.C);
  return plan;
}

namespace {

// x in the plan's storage (as plan() converted it), after checking it is the plan's x.
Samples plan_samples(const SvcPlan& plan, const Samples& x, const char* where) {
  const bool dense_ok = x.sparse() || (x.dense().defined() && x.dense().rank() == 2 &&
                                       x.dense().dtype() == DType::Float32);
  MINIDL_CHECK(x.defined() && dense_ok && x.rows() == plan.n_samples &&
                   x.cols() == plan.n_features,
               ShapeError, "SVC::", where, ": x must be the float32 [", plan.n_samples, ", ",
               plan.n_features, "] the plan was made from, got ",
               x.defined() ? x.description() : std::string("an undefined tensor"));
  return with_storage(x, plan.sparse ? Storage::Sparse : Storage::Dense);
}

}  // namespace

std::vector<SmoResult> SVC::solve(const SvcPlan& plan, const Samples& x_in,
                                  const std::vector<std::int64_t>& which) const {
  const Samples x = plan_samples(plan, x_in, "solve");
  const auto total = static_cast<std::int64_t>(plan.problems.size());
  std::vector<char> seen(plan.problems.size(), 0);
  std::vector<BinaryProblem> chosen;
  chosen.reserve(which.size());
  for (std::int64_t p : which) {
    MINIDL_CHECK(p >= 0 && p < total, ValueError, "SVC::solve: problem index ", p,
                 " is outside the plan's ", total, " problems");
    MINIDL_CHECK(!seen[static_cast<std::size_t>(p)], ValueError, "SVC::solve: problem ", p,
                 " is listed twice");
    seen[static_cast<std::size_t>(p)] = 1;
    chosen.push_back(plan.problems[static_cast<std::size_t>(p)]);
  }
  SolveConfig config;
  config.kernel = plan.kernel;
  config.smo.eps = options_.tol;
  config.smo.max_iter = options_.max_iter;
  config.smo.shrinking = options_.shrinking;
  config.memory_budget = options_.memory_budget;
  config.working_set = options_.working_set;
  config.cpu_decomposition = options_.cpu_decomposition;
  config.progress = options_.progress;
  return solve_problems(x, chosen, config);
}

std::vector<SmoResult> SVC::solve(const SvcPlan& plan, const Samples& x) const {
  std::vector<std::int64_t> all(plan.problems.size());
  for (std::size_t p = 0; p < all.size(); ++p) all[p] = static_cast<std::int64_t>(p);
  return solve(plan, x, all);
}

SVC& SVC::assemble(SvcPlan plan, const Samples& x_in, std::vector<SmoResult> solutions) {
  const Samples xs = plan_samples(plan, x_in, "assemble");
  const auto nd = static_cast<std::int64_t>(plan.problems.size());
  MINIDL_CHECK(static_cast<std::int64_t>(solutions.size()) == nd, ShapeError, "SVC::assemble: ",
               solutions.size(), " solutions for a plan of ", nd, " problems");
  for (std::size_t p = 0; p < solutions.size(); ++p)
    MINIDL_CHECK(solutions[p].alpha.size() == plan.problems[p].samples.size() &&
                     solutions[p].grad.size() == plan.problems[p].samples.size(),
                 ShapeError, "SVC::assemble: solution ", p, " has ", solutions[p].alpha.size(),
                 " alphas and ", solutions[p].grad.size(), " gradients for a problem of ",
                 plan.problems[p].samples.size(), " samples");
  const std::int64_t n = plan.n_samples;
  const std::int64_t d = plan.n_features;
  const auto k = static_cast<std::int32_t>(plan.classes.size());
  const std::vector<std::int32_t>& cls = plan.sample_class;

  std::vector<BinaryResult> results;
  results.reserve(solutions.size());
  for (std::size_t p = 0; p < solutions.size(); ++p)
    results.push_back(binary_result(plan.problems[p], plan.problem_classes[p],
                                    std::move(solutions[p]), options_.tol));

  // Support vectors: samples with alpha > 0 in any sub-problem, grouped by class.
  std::vector<std::int64_t> sv_pos(static_cast<std::size_t>(n), -1);
  for (const BinaryResult& r : results)
    for (std::size_t t = 0; t < r.samples.size(); ++t)
      if (r.alpha[t] > 0) sv_pos[static_cast<std::size_t>(r.samples[t])] = 0;
  std::vector<std::int64_t> support;
  std::vector<std::int64_t> n_support(static_cast<std::size_t>(k), 0);
  std::vector<std::int32_t> sv_class;
  for (std::int32_t c = 0; c < k; ++c)
    for (std::int64_t t = 0; t < n; ++t)
      if (cls[static_cast<std::size_t>(t)] == c && sv_pos[static_cast<std::size_t>(t)] >= 0) {
        sv_pos[static_cast<std::size_t>(t)] = static_cast<std::int64_t>(support.size());
        support.push_back(t);
        sv_class.push_back(c);
        ++n_support[static_cast<std::size_t>(c)];
      }
  const auto n_sv = static_cast<std::int64_t>(support.size());
  std::vector<double> coef(static_cast<std::size_t>(n_sv * nd), 0.0);
  std::vector<double> rho(static_cast<std::size_t>(nd));
  for (std::int64_t p = 0; p < nd; ++p) {
    const BinaryResult& r = results[static_cast<std::size_t>(p)];
    rho[static_cast<std::size_t>(p)] = r.rho;
    for (std::size_t t = 0; t < r.samples.size(); ++t)
      if (r.alpha[t] > 0)
        coef[static_cast<std::size_t>(sv_pos[static_cast<std::size_t>(r.samples[t])] * nd + p)] =
            r.alpha[t] * r.y[t];
  }
  Tensor sv;
  std::shared_ptr<const CsrMatrix> sv_csr;
  if (xs.sparse()) {
    sv_csr = std::make_shared<const CsrMatrix>(csr_gather_rows(xs.csr(), support));
  } else {
    const Tensor x = xs.dense().to(Device::cpu());
    const float* xp = x.data<float>();
    sv = empty({n_sv, d});
    for (std::int64_t s = 0; s < n_sv; ++s)
      std::copy_n(xp + support[static_cast<std::size_t>(s)] * d, d, sv.data<float>() + s * d);
  }

  kernel_ = plan.kernel;
  n_features_ = d;
  classes_ = std::move(plan.classes);
  support_ = std::move(support);
  n_support_ = std::move(n_support);
  sv_class_ = std::move(sv_class);
  sv_ = sv;
  sv_csr_ = std::move(sv_csr);
  coef_ = std::move(coef);
  rho_ = std::move(rho);
  results_ = std::move(results);
  prob_a_.clear();
  prob_b_.clear();
  one_vs_rest_ = plan.one_vs_rest;
  fitted_ = true;
  return *this;
}

SVC& SVC::fit(const Samples& x_in, const Tensor& y) {
  // The storage decided once (plan() would convert again in each step otherwise).
  const Samples x = with_storage(x_in, options_.storage);
  SvcPlan p = plan(x, y);
  std::vector<SmoResult> solutions = solve(p, x);
  return assemble(std::move(p), x, std::move(solutions));
}

void SVC::check_fitted(const char* where) const {
  MINIDL_CHECK(fitted_, ValueError, "SVC::", where, ": the model is not fitted");
}

const Tensor& SVC::support_vectors() const {
  MINIDL_CHECK(sv_csr_ == nullptr, ValueError,
               "SVC::support_vectors: this model's support vectors are sparse (CSR [",
               sv_csr_->rows, ", ", sv_csr_->cols, "]): use support_vector_samples()");
  return sv_;
}

Samples SVC::support_vector_samples() const {
  if (sv_csr_ != nullptr) return Samples(sv_csr_);
  return Samples(sv_);
}

Tensor SVC::decision_function(const Samples& xs) const {
  check_fitted("decision_function");
  const bool dense_ok = xs.sparse() || (xs.dense().defined() && xs.dense().rank() == 2 &&
                                        xs.dense().dtype() == DType::Float32);
  MINIDL_CHECK(xs.defined() && dense_ok && xs.cols() == n_features_, ShapeError,
               "SVC::decision_function: x must be float32 [m, ", n_features_, "], got ",
               xs.defined() ? xs.description() : std::string("an undefined tensor"));
  const Device dev = xs.device();
  const std::int64_t m = xs.rows();
  const std::int64_t nd = n_decisions();
  std::vector<float> coef_f(coef_.begin(), coef_.end());
  std::vector<float> out(static_cast<std::size_t>(m * nd));
  const auto finish_block = [&](std::int64_t r0, std::int64_t rows, const Tensor& db) {
    const std::vector<float> dv = db.to_vector<float>();
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t p = 0; p < nd; ++p)
        out[static_cast<std::size_t>((r0 + i) * nd + p)] = static_cast<float>(
            dv[static_cast<std::size_t>(i * nd + p)] - rho_[static_cast<std::size_t>(p)]);
  };
  if (sv_csr_ != nullptr || xs.sparse()) {
    // Sparse: the kernel block from sparse dot products on the CPU.
    const std::shared_ptr<const CsrMatrix> sv =
        sv_csr_ != nullptr ? sv_csr_ : std::make_shared<const CsrMatrix>(csr_from_dense(sv_));
    const CsrMatrix xcsr_owned = xs.sparse() ? CsrMatrix{} : csr_from_dense(xs.dense());
    const CsrMatrix& xc = xs.sparse() ? xs.csr() : xcsr_owned;
    const std::int64_t n_sv = sv->rows;
    const SparseKernel kernel(*sv, kernel_);
    const std::vector<float> x_norms = csr_row_sq_norms(xc);
    const Tensor coef = from_vector(coef_f, {n_sv, nd});
    const std::int64_t block = std::max<std::int64_t>(
        1, std::min<std::int64_t>(m, (std::int64_t{64} << 20) / std::max<std::int64_t>(n_sv, 1)));
    std::vector<std::int64_t> idx;
    for (std::int64_t r0 = 0; r0 < m; r0 += block) {
      const std::int64_t rows = std::min(block, m - r0);
      idx.resize(static_cast<std::size_t>(rows));
      for (std::int64_t i = 0; i < rows; ++i) idx[static_cast<std::size_t>(i)] = r0 + i;
      Tensor kb = empty({rows, n_sv});
      if (n_sv > 0) kernel.rows(xc, x_norms.data(), idx.data(), rows, kb.data<float>());
      Tensor db = empty({rows, nd});
      gemm(kb, coef, db);
      finish_block(r0, rows, db);
    }
    return from_vector(out, {m, nd}, dev);
  }
  const Tensor& x = xs.dense();
  const std::int64_t n_sv = sv_.size(0);
  const Tensor sv = sv_.to(dev);
  const Tensor coef = from_vector(coef_f, {n_sv, nd}, dev);
  const Tensor sv_norms = row_sq_norms(sv);
  // Blocks of test rows bound the [rows, n_sv] kernel block to about 256 MiB.
  const std::int64_t block = std::max<std::int64_t>(
      1, std::min<std::int64_t>(m, (std::int64_t{64} << 20) / std::max<std::int64_t>(n_sv, 1)));
  const std::vector<float> xv = x.to_vector<float>();
  for (std::int64_t r0 = 0; r0 < m; r0 += block) {
    const std::int64_t rows = std::min(block, m - r0);
    std::vector<float> part(xv.begin() + r0 * n_features_, xv.begin() + (r0 + rows) * n_features_);
    const Tensor xb = from_vector(part, {rows, n_features_}, dev);
    Tensor kb = empty({rows, n_sv}, dev);
    kernel_matrix(xb, sv, kb, kernel_, Tensor(), sv_norms);
    Tensor db = empty({rows, nd}, dev);
    gemm(kb, coef, db);
    finish_block(r0, rows, db);
  }
  return from_vector(out, {m, nd}, dev);
}

Tensor SVC::predict(const Samples& x) const {
  check_fitted("predict");
  const std::vector<float> dec = decision_function(x).to_vector<float>();
  const std::int64_t m = x.rows();
  const std::int64_t nd = n_decisions();
  const auto k = static_cast<std::int32_t>(classes_.size());
  const bool ovr = one_vs_rest_;
  std::vector<std::int32_t> out(static_cast<std::size_t>(m));
  std::vector<std::int32_t> votes(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < m; ++i) {
    const float* di = dec.data() + i * nd;
    std::int32_t best = 0;
    if (ovr) {
      for (std::int32_t c = 1; c < k; ++c)
        if (di[c] > di[best]) best = c;
    } else {
      std::fill(votes.begin(), votes.end(), 0);
      std::int64_t p = 0;
      for (std::int32_t a = 0; a < k; ++a)
        for (std::int32_t b = a + 1; b < k; ++b, ++p)
          ++votes[static_cast<std::size_t>(di[p] > 0 ? a : b)];
      for (std::int32_t c = 1; c < k; ++c)
        if (votes[static_cast<std::size_t>(c)] > votes[static_cast<std::size_t>(best)]) best = c;
    }
    out[static_cast<std::size_t>(i)] = classes_[static_cast<std::size_t>(best)];
  }
  return from_vector(out, {m});
}

std::vector<double> SVC::dual_coef() const {
  check_fitted("dual_coef");
  const auto k = static_cast<std::int32_t>(classes_.size());
  MINIDL_CHECK(!one_vs_rest_, ValueError,
               "SVC::dual_coef: LIBSVM's layout exists for one-vs-one models only");
  const auto n_sv = static_cast<std::int64_t>(sv_class_.size());
  const std::int64_t nd = n_decisions();
  std::vector<double> out(static_cast<std::size_t>((k - 1) * n_sv), 0.0);
  std::int64_t p = 0;
  for (std::int32_t i = 0; i < k; ++i)
    for (std::int32_t j = i + 1; j < k; ++j, ++p)
      for (std::int64_t s = 0; s < n_sv; ++s) {
        const std::int32_t c = sv_class_[static_cast<std::size_t>(s)];
        const double v = coef_[static_cast<std::size_t>(s * nd + p)];
        if (c == i) out[static_cast<std::size_t>((j - 1) * n_sv + s)] = v;
        if (c == j) out[static_cast<std::size_t>(i * n_sv + s)] = v;
      }
  return out;
}

void SVC::set_probability(std::vector<double> prob_a, std::vector<double> prob_b) {
  check_fitted("set_probability");
  MINIDL_CHECK(!one_vs_rest_, ValueError,
               "SVC::set_probability: probabilities are defined for one-vs-one models only");
  const auto nd = static_cast<std::size_t>(n_decisions());
  MINIDL_CHECK(prob_a.size() == nd && prob_b.size() == nd, ValueError,
               "SVC::set_probability: ", prob_a.size(), " probA and ", prob_b.size(),
               " probB values for ", nd, " decisions");
  for (std::size_t p = 0; p < nd; ++p)
    MINIDL_CHECK(std::isfinite(prob_a[p]) && std::isfinite(prob_b[p]), ValueError,
                 "SVC::set_probability: probA[", p, "] = ", prob_a[p], ", probB[", p,
                 "] = ", prob_b[p], " must be finite");
  prob_a_ = std::move(prob_a);
  prob_b_ = std::move(prob_b);
}

std::vector<double> SVC::intercept() const {
  check_fitted("intercept");
  std::vector<double> b(rho_.size());
  for (std::size_t p = 0; p < rho_.size(); ++p) b[p] = -rho_[p];
  return b;
}

Tensor SVC::coef() const {
  check_fitted("coef");
  MINIDL_CHECK(kernel_.type == KernelType::Linear, ValueError,
               "SVC::coef: w exists only for the linear kernel (this model's is ",
               kernel_name(kernel_.type), ")");
  const std::int64_t nd = n_decisions();
  std::vector<double> w(static_cast<std::size_t>(nd * n_features_), 0.0);
  if (sv_csr_ != nullptr) {
    const CsrMatrix& m = *sv_csr_;
    for (std::int64_t s = 0; s < m.rows; ++s)
      for (std::int64_t p = 0; p < nd; ++p) {
        const double c = coef_[static_cast<std::size_t>(s * nd + p)];
        if (c == 0.0) continue;
        for (std::int64_t t = m.row_ptr[static_cast<std::size_t>(s)];
             t < m.row_ptr[static_cast<std::size_t>(s + 1)]; ++t)
          w[static_cast<std::size_t>(p * n_features_ + m.col_idx[static_cast<std::size_t>(t)])] +=
              c * m.values[static_cast<std::size_t>(t)];
      }
    return from_vector(std::vector<float>(w.begin(), w.end()), {nd, n_features_});
  }
  const std::int64_t n_sv = sv_.size(0);
  const float* svp = sv_.data<float>();
  for (std::int64_t s = 0; s < n_sv; ++s)
    for (std::int64_t p = 0; p < nd; ++p) {
      const double c = coef_[static_cast<std::size_t>(s * nd + p)];
      if (c == 0.0) continue;
      for (std::int64_t f = 0; f < n_features_; ++f)
        w[static_cast<std::size_t>(p * n_features_ + f)] += c * svp[s * n_features_ + f];
    }
  return from_vector(std::vector<float>(w.begin(), w.end()), {nd, n_features_});
}

SVC SVC::from_parts(const KernelParams& kernel, std::vector<std::int32_t> classes,
                    std::vector<std::int64_t> n_support, const Samples& sv,
                    std::vector<double> coef, std::vector<double> rho) {
  check_kernel_params(kernel);
  const auto k = static_cast<std::int64_t>(classes.size());
  MINIDL_CHECK(k >= 2 && static_cast<std::int64_t>(n_support.size()) == k, ValueError,
               "SVC::from_parts: need >= 2 classes and one n_support per class");
  MINIDL_CHECK(static_cast<std::int64_t>(rho.size()) == k * (k - 1) / 2, ValueError,
               "SVC::from_parts: ", rho.size(), " rho values for ", k, " classes");
  MINIDL_CHECK(sv.defined() && (sv.sparse() || sv.dense().rank() == 2), ShapeError,
               "SVC::from_parts: sv must be [n_sv, d]");
  if (sv.sparse()) sv.csr().check("SVC::from_parts");
  std::int64_t total = 0;
  for (std::int64_t c : n_support) total += c;
  MINIDL_CHECK(total == sv.rows() && coef.size() == std::size_t(total) * rho.size(), ShapeError,
               "SVC::from_parts: n_support sums to ", total, " for ", sv.rows(),
               " support vectors and ", coef.size(), " coefficients");
  SVC m;
  m.options_.kernel = kernel.type;
  m.options_.gamma_mode = GammaMode::Value;
  m.options_.gamma = kernel.gamma;
  m.options_.coef0 = kernel.coef0;
  m.options_.degree = kernel.degree;
  m.kernel_ = kernel;
  m.n_features_ = sv.cols();
  m.classes_ = std::move(classes);
  m.n_support_ = std::move(n_support);
  for (std::int64_t c = 0; c < k; ++c)
    for (std::int64_t s = 0; s < m.n_support_[static_cast<std::size_t>(c)]; ++s)
      m.sv_class_.push_back(static_cast<std::int32_t>(c));
  if (sv.sparse())
    m.sv_csr_ = sv.csr_ptr();
  else
    m.sv_ = sv.dense().to(Device::cpu());
  m.coef_ = std::move(coef);
  m.rho_ = std::move(rho);
  m.fitted_ = true;
  return m;
}

}  // namespace minidl::svm
