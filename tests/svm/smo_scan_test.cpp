// The CPU solver's scans (svm/smo_scan.hpp): the pick of i, the pick of j and the
// gradient update with its pick of i, AVX2 against the portable loop (the same
// positions and the same bits), both against the rule written plainly (the last
// position among equal scores), on random and tie-heavy inputs of every length
// mod 4, with and without kernel-row columns. On a CPU without AVX2 both calls run
// the portable loop and the comparisons with the plain rule still hold.
#include "svm/smo_scan.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "svm/smo_step.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

// n packed variables whose kernel-row columns are cols (or 0..n-1), rows of l floats.
struct Scan {
  std::vector<double> yd, alpha, grad, cbox, qd;
  std::vector<std::int64_t> cols;  // empty: column = position
  std::vector<float> ki, kj;
  std::int64_t n = 0;
  SmoScanVars vars() const {
    return {yd.data(), alpha.data(), grad.data(), cbox.data(), qd.data()};
  }
  const std::int64_t* col_ptr() const { return cols.empty() ? nullptr : cols.data(); }
  std::int64_t col(std::int64_t k) const {
    return cols.empty() ? k : cols[static_cast<std::size_t>(k)];
  }
};

// ties: scores, alphas and kernel values from a few values each (equal scores and
// equal gains everywhere, zeros of both signs); else continuous draws.
Scan make_scan(std::int64_t n, bool ties, bool with_cols, std::mt19937& rng) {
  Scan s;
  s.n = n;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const auto pick = [&](std::initializer_list<double> v) {
    return *(v.begin() + static_cast<std::ptrdiff_t>(rng() % v.size()));
  };
  std::int64_t l = n;
  if (with_cols) {
    l = 2 * n + 3;
    for (std::int64_t t = 0; t < l && static_cast<std::int64_t>(s.cols.size()) < n; ++t)
      if (static_cast<std::int64_t>(rng() % static_cast<unsigned>(l - t)) <
          n - static_cast<std::int64_t>(s.cols.size()))
        s.cols.push_back(t);
  }
  for (std::int64_t k = 0; k < n; ++k) {
    const double y = rng() % 2 == 0 ? 1.0 : -1.0;
    const double c = y > 0 ? 10.0 : 2.5;
    s.yd.push_back(y);
    s.cbox.push_back(c);
    const double a = pick({0.0, c, c / 2, unit(rng) * c});
    s.alpha.push_back(ties ? pick({0.0, c, c / 2}) : a);
    s.grad.push_back(ties ? pick({-1.0, -0.5, -0.0, 0.0, 0.5, 1.0}) : unit(rng) * 4 - 2);
    s.qd.push_back(ties ? 1.0 : 0.5 + unit(rng));
  }
  for (std::int64_t t = 0; t < l; ++t) {
    s.ki.push_back(ties ? static_cast<float>(pick({0.25, 0.5, 1.0})) : float(unit(rng)));
    s.kj.push_back(ties ? static_cast<float>(pick({0.25, 0.5, 1.0})) : float(unit(rng)));
  }
  return s;
}

bool in_up(const Scan& s, std::size_t k) {
  return s.yd[k] > 0 ? s.alpha[k] < s.cbox[k] : s.alpha[k] > 0;
}
bool in_low(const Scan& s, std::size_t k) {
  return s.yd[k] > 0 ? s.alpha[k] > 0 : s.alpha[k] < s.cbox[k];
}

// The rule written plainly: the best value first, then the largest position holding it.
SmoPickI oracle_i(const Scan& s) {
  SmoPickI r;
  for (std::size_t k = 0; k < s.yd.size(); ++k)
    if (in_up(s, k)) r.gmax = std::max(r.gmax, -s.yd[k] * s.grad[k]);
  for (std::size_t k = 0; k < s.yd.size(); ++k)
    if (in_up(s, k) && -s.yd[k] * s.grad[k] == r.gmax) r.i = static_cast<std::int64_t>(k);
  if (r.i >= 0) r.gmax = -s.yd[static_cast<std::size_t>(r.i)] * s.grad[static_cast<std::size_t>(r.i)];
  return r;
}

SmoPickJ oracle_j(const Scan& s, double gmax, double qdi, bool with_ki) {
  SmoPickJ r;
  std::vector<double> obj(s.yd.size(), kInf);
  double best = kInf;
  for (std::size_t k = 0; k < s.yd.size(); ++k) {
    if (!in_low(s, k)) continue;
    const double g = s.yd[k] * s.grad[k];
    r.gmax2 = std::max(r.gmax2, g);
    const double gd = gmax + g;
    if (!with_ki || !(gd > 0)) continue;
    const double quad =
        qdi + s.qd[k] - 2.0 * double(s.ki[static_cast<std::size_t>(s.col(static_cast<std::int64_t>(k)))]);
    obj[k] = -(gd * gd) / (quad > 0 ? quad : kSmoTau);
    best = std::min(best, obj[k]);
  }
  for (std::size_t k = 0; k < s.yd.size(); ++k)
    if (obj[k] != kInf && obj[k] == best) r.j = static_cast<std::int64_t>(k);
  return r;
}

std::vector<std::int64_t> lengths() {
  std::vector<std::int64_t> n;
  for (std::int64_t v = 0; v <= 17; ++v) n.push_back(v);
  for (std::int64_t v : {31, 64, 257, 1001}) n.push_back(v);
  return n;
}

// Every length, random and tie-heavy, without and with columns, several draws each.
template <class F>
void for_each_scan(F check) {
  std::mt19937 rng(7);
  for (std::int64_t n : lengths())
    for (bool ties : {false, true})
      for (bool with_cols : {false, true})
        for (int draw = 0; draw < 6; ++draw) {
          SCOPED_TRACE(testing::Message() << "n " << n << (ties ? " ties" : " random")
                                          << (with_cols ? " cols" : "") << " draw " << draw);
          check(make_scan(n, ties, with_cols, rng));
        }
}

TEST(SmoScan, PickIMatchesTheRuleOnBothLoops) {
  for_each_scan([](const Scan& s) {
    const SmoPickI want = oracle_i(s);
    for (bool portable : {true, false}) {
      const SmoPickI got = smo_pick_i(s.vars(), s.n, portable);
      EXPECT_EQ(got.i, want.i) << (portable ? "portable" : "avx2");
      EXPECT_TRUE(same_bits(got.gmax, want.gmax)) << got.gmax << " vs " << want.gmax;
    }
  });
}

TEST(SmoScan, PickJMatchesTheRuleOnBothLoops) {
  for_each_scan([](const Scan& s) {
    const SmoPickI i = oracle_i(s);
    const double qdi = i.i >= 0 ? s.qd[static_cast<std::size_t>(i.i)] : 0.0;
    for (bool with_ki : {true, false}) {
      const SmoPickJ want = oracle_j(s, i.gmax, qdi, with_ki);
      const SmoPickJ portable =
          smo_pick_j(s.vars(), s.col_ptr(), s.n, i.gmax, qdi, with_ki ? s.ki.data() : nullptr, true);
      const SmoPickJ wide =
          smo_pick_j(s.vars(), s.col_ptr(), s.n, i.gmax, qdi, with_ki ? s.ki.data() : nullptr, false);
      EXPECT_EQ(portable.j, want.j);
      EXPECT_EQ(wide.j, portable.j);
      EXPECT_EQ(portable.gmax2, want.gmax2);
      // The same bits, the sign of a zero included.
      EXPECT_TRUE(same_bits(wide.gmax2, portable.gmax2)) << wide.gmax2 << " vs " << portable.gmax2;
      if (!with_ki) {
        EXPECT_EQ(portable.j, -1);
      }
    }
  });
}

TEST(SmoScan, GradientUpdateIsBitwiseTheSameAndPicksTheNextI) {
  for_each_scan([](const Scan& s) {
    for (const auto& [di, dj] : {std::pair{0.3, -1.7}, std::pair{-0.0, 2.5}, std::pair{1e-3, 0.0}}) {
      Scan portable = s;
      Scan wide = s;
      const SmoPickI pp = smo_update_gradient(portable.grad.data(), portable.vars(),
                                              s.ki.data(), s.kj.data(), di, dj, s.col_ptr(),
                                              s.n, true);
      const SmoPickI pw = smo_update_gradient(wide.grad.data(), wide.vars(), s.ki.data(),
                                              s.kj.data(), di, dj, s.col_ptr(), s.n, false);
      for (std::size_t k = 0; k < s.grad.size(); ++k) {
        const auto c = static_cast<std::size_t>(s.col(static_cast<std::int64_t>(k)));
        const double want = s.grad[k] + s.yd[k] * (double(s.ki[c]) * di + double(s.kj[c]) * dj);
        EXPECT_TRUE(same_bits(portable.grad[k], want)) << "position " << k;
        EXPECT_TRUE(same_bits(wide.grad[k], want)) << "position " << k;
      }
      const SmoPickI want = oracle_i(portable);
      EXPECT_EQ(pp.i, want.i);
      EXPECT_EQ(pw.i, want.i);
      EXPECT_TRUE(same_bits(pp.gmax, want.gmax));
      EXPECT_TRUE(same_bits(pw.gmax, want.gmax));
    }
  });
}

TEST(SmoScan, LastPositionWinsEveryTieWhateverItsLane) {
  // n equal candidates for i (8: vector lanes only; 11: a scalar tail too), then the
  // same with the best one moved to each position in turn.
  for (std::int64_t n : {8, 11}) {
    for (std::int64_t best_at = -1; best_at < n; ++best_at) {
      SCOPED_TRACE(testing::Message() << "n " << n << " best at " << best_at);
      Scan s;
      s.n = n;
      for (std::int64_t k = 0; k < n; ++k) {
        s.yd.push_back(k % 2 == 0 ? 1.0 : -1.0);
        s.cbox.push_back(1.0);
        s.alpha.push_back(0.5);
        // -y G = 1 everywhere but at best_at (2).
        const double score = k == best_at ? 2.0 : 1.0;
        s.grad.push_back(-s.yd.back() * score);
        s.qd.push_back(1.0);
        s.ki.push_back(0.5f);
      }
      for (bool portable : {true, false}) {
        const SmoPickI i = smo_pick_i(s.vars(), s.n, portable);
        EXPECT_EQ(i.i, best_at < 0 ? n - 1 : best_at);
        // Every other t ties for j (same y G, same curvature): the last of them.
        const SmoPickJ j = smo_pick_j(s.vars(), nullptr, s.n, 3.0, 1.0, s.ki.data(), portable);
        EXPECT_EQ(j.j, best_at == n - 1 ? n - 2 : n - 1);
      }
    }
  }
}

TEST(SmoScan, EmptySetsPickNothing) {
  Scan s;
  s.n = 6;
  for (int k = 0; k < 6; ++k) {
    // y = +1 at C and y = -1 at 0: all in I_low, none in I_up.
    s.yd.push_back(k < 3 ? 1.0 : -1.0);
    s.cbox.push_back(1.0);
    s.alpha.push_back(k < 3 ? 1.0 : 0.0);
    s.grad.push_back(0.25 * k);
    s.qd.push_back(1.0);
    s.ki.push_back(1.0f);
  }
  for (bool portable : {true, false}) {
    const SmoPickI i = smo_pick_i(s.vars(), s.n, portable);
    EXPECT_EQ(i.i, -1);
    EXPECT_EQ(i.gmax, -kInf);
    const SmoPickJ j = smo_pick_j(s.vars(), nullptr, s.n, i.gmax, 0.0, nullptr, portable);
    EXPECT_EQ(j.j, -1);
    EXPECT_EQ(j.gmax2, 0.5);  // y G over I_low: 0, 0.25, 0.5 (y = +1) and -0.75 .. (y = -1)
  }
}

}  // namespace
}  // namespace minidl::svm
