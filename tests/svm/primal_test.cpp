#include "svm/primal.hpp"

#include <cmath>

#include "svm/svc.hpp"
#include "svm_test_util.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

// The primal trained by SGD through Dense + hinge agrees with the dual (SMO) on w, b
// and on the objective J (the dual's optimum equals the primal's).
void compare_with_dual(const LibsvmData& d, double c, double w_tol, double b_tol,
                       std::int64_t epochs) {
  SvcOptions o;
  o.kernel = KernelType::Linear;
  o.C = c;
  o.tol = 1e-6;
  SVC dual(o);
  dual.fit(d.x, d.y);
  const std::vector<float> w_dual = dual.coef().to_vector<float>();
  const double b_dual = dual.intercept()[0];
  PrimalOptions po;
  po.C = c;
  po.epochs = epochs;
  const PrimalResult p = train_linear_svm_primal(d.x, d.y, po);
  double wn = 0;
  for (float v : w_dual) wn += double(v) * v;
  for (std::size_t j = 0; j < w_dual.size(); ++j)
    EXPECT_NEAR(p.w[j], w_dual[j], w_tol * std::sqrt(wn)) << "w[" << j << "]";
  EXPECT_NEAR(p.b, b_dual, b_tol);
  const double dual_opt = dual.binary_results()[0].dual_objective;
  EXPECT_GE(p.objective, dual_opt * (1 - 1e-6));  // weak duality
  EXPECT_NEAR(p.objective, dual_opt, 2e-3 * std::fabs(dual_opt));
}

TEST(Primal, SeparableAgreesWithDual) {
  compare_with_dual(svm_test::make_blobs(80, 2, {1, -1}, 2.5f, 51), 1.0, 0.03, 0.05, 4000);
}

TEST(Primal, NonSeparableAgreesWithDual) {
  compare_with_dual(svm_test::make_blobs(120, 3, {1, -1}, 0.6f, 52), 0.5, 0.03, 0.05, 2000);
}

TEST(Primal, BadInput) {
  const LibsvmData d = svm_test::make_blobs(20, 2, {0, 1, 2}, 1.0f, 1);
  MINIDL_EXPECT_THROW_WITH(train_linear_svm_primal(d.x, d.y), ValueError, "two classes");
  PrimalOptions o;
  o.C = -1;
  MINIDL_EXPECT_THROW_WITH(train_linear_svm_primal(d.x, d.y, o), ValueError, "C must be");
}

}  // namespace
}  // namespace minidl::svm
