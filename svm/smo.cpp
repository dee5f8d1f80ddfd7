#include "smo.hpp"

#include "smo_scan.hpp"
#include "smo_step.hpp"
#include "working_set.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>

namespace minidl::svm {

// ---- the solver ----------------------------------------------------------------------

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

// LIBSVM's bound tests: alpha sits at a bound when it equals it (the update clips exactly).
inline bool at_upper(double a, double c) { return a >= c; }
inline bool at_lower(double a) { return a <= 0.0; }
}  // namespace

double max_kkt_violation(const std::vector<double>& alpha, const std::vector<double>& grad,
                         const std::vector<std::int8_t>& y, double cp, double cn) {
  double gmax = -kInf;   // max over I_up of -y G
  double gmax2 = -kInf;  // max over I_low of y G  (= -min over I_low of -y G)
  for (std::size_t t = 0; t < alpha.size(); ++t) {
    const double c = y[t] > 0 ? cp : cn;
    if (y[t] > 0) {
      if (!at_upper(alpha[t], c)) gmax = std::max(gmax, -grad[t]);
      if (!at_lower(alpha[t])) gmax2 = std::max(gmax2, grad[t]);
    } else {
      if (!at_upper(alpha[t], c)) gmax2 = std::max(gmax2, -grad[t]);
      if (!at_lower(alpha[t])) gmax = std::max(gmax, grad[t]);
    }
  }
  if (gmax == -kInf || gmax2 == -kInf) return 0.0;
  return std::max(0.0, gmax + gmax2);
}

namespace {

// When row `must` is not cached and the source computes rows in batches: computes
// it together with the rows the next iterations are likeliest to ask for, the
// largest violators on either side (the top -y_t G_t in I_up, candidates for i, and
// the top y_t G_t in I_low, candidates for j), alternating, up to the source's
// prefetch limit. One GEMM of many rows costs little more than one row's GEMV
// (memory-bound): at 60,000 Fashion-MNIST images a pair's 12,000-sample rows are
// read from 37 MB of samples either way. Changes no value: only what is cached.
void prefetch_likely_rows(KernelRows& k, std::int64_t must, const SmoScanVars& s,
                          const std::vector<std::int64_t>& active) {
  const std::int64_t limit = k.prefetch_limit();
  if (limit < 2) return;
  const std::size_t half = static_cast<std::size_t>(limit / 2);
  std::vector<std::pair<double, std::int64_t>> up, low;
  for (std::size_t p = 0; p < active.size(); ++p) {
    const std::int64_t a = active[p];
    if (k.cached(a)) continue;
    const auto y = static_cast<std::int8_t>(s.yd[p]);
    if (ws_in_up(y, s.alpha[p], s.cbox[p])) up.emplace_back(-s.yd[p] * s.grad[p], a);
    if (ws_in_low(y, s.alpha[p], s.cbox[p])) low.emplace_back(s.yd[p] * s.grad[p], a);
  }
  const auto top = [half](std::vector<std::pair<double, std::int64_t>>& v) {
    const auto greater = [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    if (v.size() > half) {
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(half), v.end(), greater);
      v.resize(half);
    }
    std::sort(v.begin(), v.end(), greater);
  };
  top(up);
  top(low);
  std::vector<std::int64_t> idx{must};
  for (std::size_t r = 0; r < std::max(up.size(), low.size()); ++r) {
    if (r < up.size() && up[r].second != must) idx.push_back(up[r].second);
    if (r < low.size() && low[r].second != must) idx.push_back(low[r].second);
  }
  k.prefetch(idx);
}

}  // namespace

void check_smo_problem(const std::vector<std::int8_t>& y, double cp, double cn, double eps,
                       const std::string& who) {
  MINIDL_CHECK(cp > 0 && cn > 0 && std::isfinite(cp) && std::isfinite(cn), ValueError, who,
               ": C must be finite and > 0, got Cp = ", cp, ", Cn = ", cn);
  MINIDL_CHECK(eps > 0, ValueError, who, ": eps must be > 0, got ", eps);
  bool has_pos = false;
  bool has_neg = false;
  for (std::int8_t v : y) {
    MINIDL_CHECK(v == 1 || v == -1, ValueError, who, ": labels must be +1 or -1, got ", int(v));
    (v > 0 ? has_pos : has_neg) = true;
  }
  MINIDL_CHECK(has_pos && has_neg, ValueError, who, ": both classes must be present");
}

SmoResult smo_solve(KernelRows& k, const std::vector<std::int8_t>& y, double cp, double cn,
                    const SmoOptions& options, const IterationHook& on_iterations) {
  const std::int64_t l = k.size();
  MINIDL_CHECK(static_cast<std::int64_t>(y.size()) == l, ShapeError, "smo_solve: ", y.size(),
               " labels for a kernel of size ", l);
  check_smo_problem(y, cp, cn, options.eps, "smo_solve");

  const auto L = static_cast<std::size_t>(l);
  std::vector<double> alpha(L, 0.0);
  std::vector<double> grad(L, -1.0);  // G = Q a - e at a = 0
  std::vector<double> qd(L);
  std::vector<double> cbox(L);
  for (std::size_t t = 0; t < L; ++t) {
    qd[t] = k.diag(static_cast<std::int64_t>(t));
    cbox[t] = y[t] > 0 ? cp : cn;
  }
  const std::int64_t max_iter =
      options.max_iter > 0 ? options.max_iter : std::max<std::int64_t>(10000000, 100 * l);

  // ---- shrinking (LIBSVM's do_shrinking / reconstruct_gradient) ----
  // The active set, in increasing index order (the scans below then break ties as
  // the unshrunk solver does). Only active gradients are updated; gbar holds
  // G_bar_t = sum over alpha_s at its upper bound of C_s Q_ts, from which the
  // others are rebuilt: G_t = G_bar_t - 1 + sum over free s of alpha_s Q_ts.
  const bool shrinking = options.shrinking;
  std::vector<std::int64_t> active(L);
  for (std::size_t t = 0; t < L; ++t) active[t] = static_cast<std::int64_t>(t);
  std::vector<double> gbar(shrinking ? L : 0, 0.0);
  bool unshrunk = false;
  std::int64_t smallest_active = l;
  const auto reconstruct_gradient = [&]() {
    if (active.size() == L) return;
    std::vector<char> is_active(L, 0);
    for (std::int64_t t : active) is_active[static_cast<std::size_t>(t)] = 1;
    std::vector<std::int64_t> inactive;
    std::vector<std::int64_t> free_active;
    for (std::size_t t = 0; t < L; ++t) {
      if (is_active[t] == 0) {
        inactive.push_back(static_cast<std::int64_t>(t));
        grad[t] = gbar[t] - 1.0;
      } else if (!at_upper(alpha[t], cbox[t]) && !at_lower(alpha[t])) {
        free_active.push_back(static_cast<std::int64_t>(t));
      }
    }
    // Fetch whichever rows are fewer: the inactive ones (each summing over the free
    // variables) or the free ones (each adding to every inactive gradient).
    // Inactive variables sit at a bound, so free ones are all active.
    const bool by_inactive = inactive.size() <= free_active.size();
    const std::vector<std::int64_t>& fetch = by_inactive ? inactive : free_active;
    const auto chunk = static_cast<std::size_t>(std::max<std::int64_t>(1, k.prefetch_limit()));
    for (std::size_t c0 = 0; c0 < fetch.size(); c0 += chunk) {
      const std::size_t c1 = std::min(fetch.size(), c0 + chunk);
      if (chunk > 1) k.prefetch(std::vector<std::int64_t>(fetch.begin() + c0, fetch.begin() + c1));
      for (std::size_t f = c0; f < c1; ++f) {
        const auto r = static_cast<std::size_t>(fetch[f]);
        const float* kr = k.row(fetch[f]);
        if (by_inactive) {
          double acc = 0.0;
          for (std::int64_t s : free_active) {
            const auto S = static_cast<std::size_t>(s);
            acc += alpha[S] * y[S] * kr[S];
          }
          grad[r] += y[r] * acc;
        } else {
          const double ay = alpha[r] * y[r];
          for (std::int64_t t : inactive) {
            const auto T = static_cast<std::size_t>(t);
            grad[T] += ay * y[T] * kr[T];
          }
        }
      }
    }
    active.resize(L);
    for (std::size_t t = 0; t < L; ++t) active[t] = static_cast<std::int64_t>(t);
  };
  // LIBSVM's be_shrunk: a variable at a bound whose gradient says it stays there
  // while the violators are what they are now.
  const auto do_shrinking = [&]() {
    double gmax1 = -kInf;  // max over active I_up of -y G
    double gmax2 = -kInf;  // max over active I_low of y G
    for (std::int64_t t : active) {
      const auto T = static_cast<std::size_t>(t);
      if (ws_in_up(y[T], alpha[T], cbox[T])) gmax1 = std::max(gmax1, -y[T] * grad[T]);
      if (ws_in_low(y[T], alpha[T], cbox[T])) gmax2 = std::max(gmax2, y[T] * grad[T]);
    }
    if (!unshrunk && gmax1 + gmax2 <= options.eps * 10) {
      // Near the end: every variable back in once, with its exact gradient.
      unshrunk = true;
      reconstruct_gradient();
    }
    std::size_t kept = 0;
    for (std::int64_t t : active) {
      const auto T = static_cast<std::size_t>(t);
      bool shrink = false;
      if (at_upper(alpha[T], cbox[T]))
        shrink = y[T] > 0 ? -grad[T] > gmax1 : -grad[T] > gmax2;
      else if (at_lower(alpha[T]))
        shrink = y[T] > 0 ? grad[T] > gmax2 : grad[T] > gmax1;
      if (!shrink) active[kept++] = t;
    }
    active.resize(kept);
    smallest_active = std::min(smallest_active, static_cast<std::int64_t>(kept));
  };

  // The scans read the active variables' state packed in position order
  // (svm/smo_scan.hpp; contiguous for their AVX2 loops): pgrad holds the active
  // gradients between pack() and unpack(), alpha is written to both copies.
  std::vector<double> py, palpha, pgrad, pcbox, pqd;
  const auto pack = [&]() {
    const std::size_t n = active.size();
    py.resize(n);
    palpha.resize(n);
    pgrad.resize(n);
    pcbox.resize(n);
    pqd.resize(n);
    for (std::size_t p = 0; p < n; ++p) {
      const auto t = static_cast<std::size_t>(active[p]);
      py[p] = y[t];
      palpha[p] = alpha[t];
      pgrad[p] = grad[t];
      pcbox[p] = cbox[t];
      pqd[p] = qd[t];
    }
  };
  const auto unpack = [&]() {
    for (std::size_t p = 0; p < active.size(); ++p)
      grad[static_cast<std::size_t>(active[p])] = pgrad[p];
  };
  const auto vars = [&]() {
    return SmoScanVars{py.data(), palpha.data(), pgrad.data(), pcbox.data(), pqd.data()};
  };
  // Kernel-row columns of the positions: null when every variable is active.
  const auto cols = [&]() { return active.size() == L ? nullptr : active.data(); };

  SmoResult res;
  std::int64_t iter = 0;
  double violation = kInf;
  std::int64_t counter = std::min<std::int64_t>(l, 1000) + 1;
  std::int64_t pi = -1;  // i and j as positions in `active`
  std::int64_t pj = -1;
  const float* ki = nullptr;
  SmoPickI next_i;  // the pick of i the gradient update made, while valid
  bool have_next_i = false;
  // Working set selection (WSS2) over the active set: i, j, the violation.
  const auto select = [&]() {
    const auto n = static_cast<std::int64_t>(active.size());
    const SmoScanVars v = vars();
    const SmoPickI pick_i = have_next_i ? next_i : smo_pick_i(v, n);
    have_next_i = false;
    pi = pick_i.i;
    const std::int64_t i = pi >= 0 ? active[static_cast<std::size_t>(pi)] : -1;
    if (i >= 0 && !k.cached(i)) prefetch_likely_rows(k, i, v, active);
    ki = i >= 0 ? k.row(i) : nullptr;
    const double qdi = pi >= 0 ? pqd[static_cast<std::size_t>(pi)] : 0.0;
    const SmoPickJ pick_j = smo_pick_j(v, cols(), n, pick_i.gmax, qdi, ki);
    pj = pick_j.j;
    violation = pick_i.gmax + pick_j.gmax2;
    return violation < options.eps || pj == -1;
  };
  pack();
  while (true) {
    if (shrinking && --counter == 0) {
      counter = std::min<std::int64_t>(l, 1000);
      unpack();
      do_shrinking();
      pack();
      have_next_i = false;
    }
    if (select()) {
      // Optimal on the active set: on all of it, once every gradient is exact?
      if (active.size() == L) {
        res.converged = true;
        break;
      }
      unpack();
      reconstruct_gradient();
      pack();
      if (select()) {
        res.converged = true;
        break;
      }
      counter = 1;  // shrink again at the next iteration
    }
    if (iter >= max_iter) break;
    ++iter;
    if (on_iterations && iter % kProgressStride == 0) on_iterations(iter);

    // ---- the two-variable update (LIBSVM's Solver::Solve) ----
    const auto PI = static_cast<std::size_t>(pi);
    const auto PJ = static_cast<std::size_t>(pj);
    const auto I = static_cast<std::size_t>(active[PI]);
    const auto J = static_cast<std::size_t>(active[PJ]);
    if (!k.cached(static_cast<std::int64_t>(J)))
      prefetch_likely_rows(k, static_cast<std::int64_t>(J), vars(), active);
    ki = k.row(static_cast<std::int64_t>(I));
    const float* kj = k.row(static_cast<std::int64_t>(J));
    // Rows may have been evicted by the second call only if capacity < 2; it is >= 2.
    const double qij = double(y[I]) * y[J] * ki[J];
    const double ci = cbox[I];
    const double cj = cbox[J];
    const double old_ai = alpha[I];
    const double old_aj = alpha[J];
    double& ai = alpha[I];
    double& aj = alpha[J];
    smo_pair_step(y[I] == y[J], qd[I], qd[J], qij, pgrad[PI], pgrad[PJ], ci, cj, ai, aj);
    palpha[PI] = ai;
    palpha[PJ] = aj;
    // G_t += Q_ti dai + Q_tj daj with Q_ti = y_t y_i K_ti; then the next i.
    const double di = (ai - old_ai) * y[I];
    const double dj = (aj - old_aj) * y[J];
    next_i = smo_update_gradient(pgrad.data(), vars(), ki, kj, di, dj, cols(),
                                 static_cast<std::int64_t>(active.size()));
    have_next_i = true;
    if (shrinking) {
      // G_bar follows the variables entering or leaving their upper bound.
      const auto follow = [&](std::size_t v, double old_a, const float* kv) {
        const bool was = at_upper(old_a, cbox[v]);
        const bool now = at_upper(alpha[v], cbox[v]);
        if (was == now) return;
        const double cy = (now ? cbox[v] : -cbox[v]) * y[v];
        for (std::size_t t = 0; t < L; ++t) gbar[t] += cy * y[t] * kv[t];
      };
      follow(I, old_ai, ki);
      follow(J, old_aj, kj);
    }
  }
  unpack();
  if (shrinking && active.size() < L) reconstruct_gradient();  // stopped by max_iter

  res.iterations = iter;
  res.smallest_active = smallest_active;
  res.alpha = std::move(alpha);
  res.grad = std::move(grad);
  smo_finish(res, y, cp, cn);
  if (!shrinking || res.converged) res.max_violation = std::max(0.0, violation);
  return res;
}

namespace {
inline bool in_up(std::int8_t y, double a, double c) { return ws_in_up(y, a, c); }
inline bool in_low(std::int8_t y, double a, double c) { return ws_in_low(y, a, c); }
}  // namespace

SmoResult smo_solve_decomposition(KernelRows& k, const std::vector<std::int8_t>& y, double cp,
                                  double cn, const SmoOptions& options, int working_set,
                                  const IterationHook& on_iterations) {
  const std::int64_t l = k.size();
  MINIDL_CHECK(working_set >= 2, ValueError,
               "smo_solve_decomposition: working_set must be >= 2, got ", working_set);
  MINIDL_CHECK(static_cast<std::int64_t>(y.size()) == l, ShapeError,
               "smo_solve_decomposition: ", y.size(), " labels for a kernel of size ", l);
  check_smo_problem(y, cp, cn, options.eps, "smo_solve_decomposition");
  const auto L = static_cast<std::size_t>(l);
  const int q = static_cast<int>(std::min<std::int64_t>(working_set, l)) & ~1;
  const int half = q / 2;
  const int local_cap = std::max(1000, 10 * q);
  std::vector<double> alpha(L, 0.0);
  std::vector<double> grad(L, -1.0);
  std::vector<double> cbox(L);
  for (std::size_t t = 0; t < L; ++t) cbox[t] = y[t] > 0 ? cp : cn;
  std::vector<std::int64_t> ws;
  std::vector<float> kws;
  std::vector<double> la, lg, lc, delta;
  std::vector<float> lkd;
  const std::int64_t max_outer =
      options.max_iter > 0 ? options.max_iter : std::max<std::int64_t>(100000, 100 * l);
  SmoResult res;
  std::int64_t outer = 0;
  double violation = 0.0;
  for (;; ++outer) {
    // ---- global violation and working set ----
    double up = -kInf;
    double low = -kInf;
    for (std::size_t t = 0; t < L; ++t) {
      if (in_up(y[t], alpha[t], cbox[t])) up = std::max(up, -y[t] * grad[t]);
      if (in_low(y[t], alpha[t], cbox[t])) low = std::max(low, y[t] * grad[t]);
    }
    violation = (up == -kInf || low == -kInf) ? 0.0 : up + low;
    ws = select_working_set(y, alpha, grad, cbox, half);
    if (violation < options.eps || ws.size() < 2) {
      res.converged = true;
      break;
    }
    if (outer >= max_outer) break;
    if (on_iterations && outer > 0) on_iterations(outer);
    // ---- the working set's kernel rows ----
    const std::size_t n_ws = ws.size();
    kws.resize(n_ws * L);
    k.rows(ws, kws.data());
    la.resize(n_ws);
    lg.resize(n_ws);
    lc.resize(n_ws);
    lkd.resize(n_ws);
    delta.assign(n_ws, 0.0);
    for (std::size_t w = 0; w < n_ws; ++w) {
      const auto g = static_cast<std::size_t>(ws[w]);
      la[w] = alpha[g];
      lg[w] = grad[g];
      lc[w] = cbox[g];
      lkd[w] = kws[w * L + g];
    }
    // ---- local SMO on the working set ----
    const double local_eps = std::max(options.eps, 0.1 * violation);
    for (int it = 0; it < local_cap; ++it) {
      double gmax = -kInf;
      std::ptrdiff_t i = -1;
      double gmax2 = -kInf;
      for (std::size_t w = 0; w < n_ws; ++w) {
        const std::int8_t yw = y[static_cast<std::size_t>(ws[w])];
        if (in_up(yw, la[w], lc[w]) && -yw * lg[w] >= gmax) {
          gmax = -yw * lg[w];
          i = static_cast<std::ptrdiff_t>(w);
        }
        if (in_low(yw, la[w], lc[w])) gmax2 = std::max(gmax2, yw * lg[w]);
      }
      if (i < 0 || gmax2 == -kInf || gmax + gmax2 < local_eps) break;
      const auto I = static_cast<std::size_t>(i);
      const double yi = y[static_cast<std::size_t>(ws[I])];
      const float* ki = kws.data() + I * L;
      double best = -kInf;
      std::ptrdiff_t j = -1;
      for (std::size_t w = 0; w < n_ws; ++w) {
        const std::int8_t yw = y[static_cast<std::size_t>(ws[w])];
        if (!in_low(yw, la[w], lc[w])) continue;
        const double gd = gmax + yw * lg[w];
        if (gd <= 0) continue;
        const double quad =
            double(lkd[I]) + lkd[w] - 2.0 * ki[static_cast<std::size_t>(ws[w])];
        const double gain = gd * gd / (quad > 0 ? quad : kSmoTau);
        if (gain >= best) {
          best = gain;
          j = static_cast<std::ptrdiff_t>(w);
        }
      }
      if (j < 0) break;
      const auto J = static_cast<std::size_t>(j);
      const double yj = y[static_cast<std::size_t>(ws[J])];
      const float* kj = kws.data() + J * L;
      const double kij = ki[static_cast<std::size_t>(ws[J])];
      const double ci = lc[I];
      const double cj = lc[J];
      double ai = la[I];
      double aj = la[J];
      const double oi = ai;
      const double oj = aj;
      smo_pair_step(yi == yj, lkd[I], lkd[J], yi * yj * kij, lg[I], lg[J], ci, cj, ai, aj);
      la[I] = ai;
      la[J] = aj;
      const double di = (ai - oi) * yi;
      const double dj = (aj - oj) * yj;
      delta[I] += di;
      delta[J] += dj;
      for (std::size_t w = 0; w < n_ws; ++w) {
        const auto g = static_cast<std::size_t>(ws[w]);
        lg[w] += y[g] * (ki[g] * di + kj[g] * dj);
      }
    }
    // ---- the whole gradient from the working set's rows ----
    for (std::size_t w = 0; w < n_ws; ++w) alpha[static_cast<std::size_t>(ws[w])] = la[w];
#pragma omp parallel for schedule(static) if (L * n_ws > 1000000)
    for (std::int64_t u = 0; u < l; ++u) {
      double acc = 0.0;
      for (std::size_t w = 0; w < n_ws; ++w)
        if (delta[w] != 0.0) acc += delta[w] * kws[w * L + static_cast<std::size_t>(u)];
      grad[static_cast<std::size_t>(u)] += y[static_cast<std::size_t>(u)] * acc;
    }
  }
  res.iterations = outer;
  res.alpha = std::move(alpha);
  res.grad = std::move(grad);
  smo_finish(res, y, cp, cn);
  return res;
}

namespace cuda {

int solver_workers(bool full_matrix, std::size_t problems) {
  return full_matrix ? static_cast<int>(std::min<std::size_t>(std::max<std::size_t>(problems, 1), 8))
                     : 1;
}

std::size_t solver_buffer_bytes(std::int64_t l_max, std::int64_t d, int working_set,
                                bool full_matrix, std::size_t problems) {
  // Mirrors smo_solve_problems' per-worker allocations (each at least one element).
  const auto n = [](std::int64_t count, std::size_t size) {
    return static_cast<std::size_t>(std::max<std::int64_t>(count, 1)) * size;
  };
  const std::int64_t q = std::min<std::int64_t>(working_set, l_max);
  std::size_t per_worker = n(l_max, 8) /*idx*/ + n(l_max, 1) /*y*/ + 3 * n(l_max, 8) +
                           n(l_max, 1) /*mark*/ + n(q, 4) /*ws*/ + 4 + 8 + n(q, 8) /*delta*/ +
                           n(q * l_max, 4) /*kws*/;
  if (!full_matrix) per_worker += n(l_max * d, 4) + n(l_max, 4) + n(q * d, 4) + n(q, 4);
  return per_worker * static_cast<std::size_t>(solver_workers(full_matrix, problems));
}

}  // namespace cuda

void smo_finish(SmoResult& res, const std::vector<std::int8_t>& y, double cp, double cn) {
  const std::vector<double>& alpha = res.alpha;
  const std::vector<double>& grad = res.grad;
  const std::size_t L = alpha.size();
  std::vector<double> cbox(L);
  for (std::size_t t = 0; t < L; ++t) cbox[t] = y[t] > 0 ? cp : cn;
  // ---- rho (LIBSVM's calculate_rho) ----
  double ub = kInf;
  double lb = -kInf;
  double sum_free = 0.0;
  std::int64_t n_free = 0;
  for (std::size_t t = 0; t < L; ++t) {
    const double yg = y[t] * grad[t];
    if (at_upper(alpha[t], cbox[t])) {
      if (y[t] < 0)
        ub = std::min(ub, yg);
      else
        lb = std::max(lb, yg);
    } else if (at_lower(alpha[t])) {
      if (y[t] > 0)
        ub = std::min(ub, yg);
      else
        lb = std::max(lb, yg);
    } else {
      ++n_free;
      sum_free += yg;
    }
  }
  res.rho = n_free > 0 ? sum_free / static_cast<double>(n_free) : (ub + lb) / 2;
  double obj = 0.0;
  for (std::size_t t = 0; t < L; ++t) obj += alpha[t] * (grad[t] - 1.0);
  res.objective = obj / 2;
  res.max_violation = max_kkt_violation(alpha, grad, y, cp, cn);
}

}  // namespace minidl::svm
