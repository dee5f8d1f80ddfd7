#include "distributed_fit.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "../dist/collectives.hpp"
#include "../dist/process.hpp"

namespace minidl::svm {

std::vector<int> assign_problems(const std::vector<std::int64_t>& sizes, int world) {
  MINIDL_CHECK(world >= 1, ValueError, "assign_problems: world must be >= 1, got ", world);
  std::vector<std::size_t> order(sizes.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  for (std::size_t p = 0; p < sizes.size(); ++p)
    MINIDL_CHECK(sizes[p] >= 0, ValueError, "assign_problems: problem ", p, " has ", sizes[p],
                 " samples");
  // Largest first; equal sizes keep the problem order (stable).
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return sizes[a] > sizes[b]; });
  std::vector<double> load(static_cast<std::size_t>(world), 0.0);
  std::vector<int> owner(sizes.size(), 0);
  for (std::size_t p : order) {
    const auto least = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[p] = least;
    load[static_cast<std::size_t>(least)] += double(sizes[p]) * double(sizes[p]);
  }
  return owner;
}

namespace {

// Solutions as bytes: per problem its index, its length l, alpha[l], grad[l],
// rho, objective, max_violation, iterations, converged. memcpy keeps every bit.
class Writer {
 public:
  template <typename T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    bytes_.append(p, sizeof(T));
  }
  void put(const std::vector<double>& v) {
    bytes_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class Reader {
 public:
  Reader(const std::string& bytes, int rank) : bytes_(bytes), rank_(rank) {}
  bool done() const { return pos_ == bytes_.size(); }
  template <typename T>
  T get() {
    T v;
    need(sizeof(T));
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::vector<double> get_doubles(std::size_t n) {
    need(n * sizeof(double));
    std::vector<double> v(n);
    if (n > 0) std::memcpy(v.data(), bytes_.data() + pos_, n * sizeof(double));
    pos_ += n * sizeof(double);
    return v;
  }

 private:
  void need(std::size_t n) const {
    MINIDL_CHECK(bytes_.size() - pos_ >= n, Error, "fit_distributed: rank ", rank_,
                 "'s solutions end early (", bytes_.size(), " bytes)");
  }
  const std::string& bytes_;
  int rank_;
  std::size_t pos_ = 0;
};

std::string encode(const std::vector<std::int64_t>& which, const std::vector<SmoResult>& solved) {
  Writer w;
  for (std::size_t i = 0; i < which.size(); ++i) {
    const SmoResult& s = solved[i];
    w.put(which[i]);
    w.put(static_cast<std::int64_t>(s.alpha.size()));
    w.put(s.alpha);
    w.put(s.grad);
    w.put(s.rho);
    w.put(s.objective);
    w.put(s.max_violation);
    w.put(s.iterations);
    w.put(static_cast<std::uint8_t>(s.converged ? 1 : 0));
  }
  return w.take();
}

}  // namespace

SVC& fit_distributed(SVC& svc, const Tensor& x, const Tensor& y) {
  if (!dist::initialized() || dist::world_size() == 1) return svc.fit(x, y);
  const int world = dist::world_size();
  const int rank = dist::rank();
  SvcPlan plan = svc.plan(x, y);
  const std::size_t problems = plan.problems.size();
  // Every process must have made the same plan: compare the problem sizes.
  std::vector<std::int64_t> sizes(problems);
  for (std::size_t p = 0; p < problems; ++p)
    sizes[p] = static_cast<std::int64_t>(plan.problems[p].samples.size());
  std::string mine_sizes(reinterpret_cast<const char*>(sizes.data()),
                         sizes.size() * sizeof(std::int64_t));
  const std::vector<std::string> all_sizes = dist::all_gather(mine_sizes);
  for (int r = 0; r < world; ++r)
    MINIDL_CHECK(all_sizes[static_cast<std::size_t>(r)] == all_sizes[0], ValueError,
                 "fit_distributed: rank ", r, "'s sub-problems differ from rank 0's (",
                 all_sizes[static_cast<std::size_t>(r)].size() / sizeof(std::int64_t), " vs ",
                 problems,
                 " problems, or other sizes): every process must fit the same x, y and options");

  const std::vector<int> owner = assign_problems(sizes, world);
  std::vector<std::int64_t> which;
  for (std::size_t p = 0; p < problems; ++p)
    if (owner[p] == rank) which.push_back(static_cast<std::int64_t>(p));
  const std::vector<SmoResult> solved = svc.solve(plan, x, which);
  const std::vector<std::string> gathered = dist::all_gather(encode(which, solved));

  std::vector<SmoResult> solutions(problems);
  std::vector<int> seen(problems, 0);
  for (int r = 0; r < world; ++r) {
    Reader in(gathered[static_cast<std::size_t>(r)], r);
    while (!in.done()) {
      const auto p = in.get<std::int64_t>();
      MINIDL_CHECK(p >= 0 && static_cast<std::size_t>(p) < problems &&
                       owner[static_cast<std::size_t>(p)] == r,
                   Error, "fit_distributed: rank ", r, " sent a solution for problem ", p,
                   ", which is not one of its ", problems, " problems' share");
      const auto l = in.get<std::int64_t>();
      MINIDL_CHECK(l == sizes[static_cast<std::size_t>(p)], Error, "fit_distributed: rank ", r,
                   "'s solution of problem ", p, " has ", l, " variables, the plan ",
                   sizes[static_cast<std::size_t>(p)]);
      SmoResult& s = solutions[static_cast<std::size_t>(p)];
      s.alpha = in.get_doubles(static_cast<std::size_t>(l));
      s.grad = in.get_doubles(static_cast<std::size_t>(l));
      s.rho = in.get<double>();
      s.objective = in.get<double>();
      s.max_violation = in.get<double>();
      s.iterations = in.get<std::int64_t>();
      s.converged = in.get<std::uint8_t>() != 0;
      ++seen[static_cast<std::size_t>(p)];
    }
  }
  for (std::size_t p = 0; p < problems; ++p)
    MINIDL_CHECK(seen[p] == 1, Error, "fit_distributed: problem ", p, " was solved ", seen[p],
                 " times (rank ", owner[p], " owns it)");
  return svc.assemble(std::move(plan), x, std::move(solutions));
}

}  // namespace minidl::svm
