// SvcOptions::gamma is never silently ignored: with gamma_mode Value it is the
// kernel's gamma; set with Scale or Auto it is a ValueError.
#include "svm/svc.hpp"
#include "test_util.hpp"

namespace minidl::svm {
namespace {

TEST(SvcGamma, ASetGammaTakesEffectOrIsAnError) {
  const Tensor x = from_vector({0.f, 0.f, 1.f, 1.f, 3.f, 3.f, 4.f, 4.f}, {4, 2});
  const Tensor y = from_vector({0, 0, 1, 1}, {4});

  SvcOptions ignored;
  ignored.gamma = 0.5;  // the user's mistake: gamma_mode is still Scale
  MINIDL_EXPECT_THROW_WITH(SVC{ignored}, ValueError, "gamma is 0.5", "Scale",
                           "GammaMode::Value");
  ignored.gamma_mode = GammaMode::Auto;
  MINIDL_EXPECT_THROW_WITH(SVC{ignored}, ValueError, "Auto");

  SVC chosen(SvcOptions{}.with_gamma(0.5));
  chosen.fit(x, y);
  EXPECT_EQ(chosen.kernel().gamma, 0.5);

  SvcOptions value;
  value.gamma_mode = GammaMode::Value;
  value.gamma = 0.25;
  SVC explicit_mode(value);
  explicit_mode.fit(x, y);
  EXPECT_EQ(explicit_mode.kernel().gamma, 0.25);

  // Left at 0, the modes compute it: Auto = 1 / d.
  SvcOptions automatic;
  automatic.gamma_mode = GammaMode::Auto;
  SVC a(automatic);
  a.fit(x, y);
  EXPECT_DOUBLE_EQ(a.kernel().gamma, 0.5);
}

}  // namespace
}  // namespace minidl::svm
