#include "layers/sequential.hpp"

#include "layers/activation.hpp"
#include "layers/dense.hpp"
#include "layers/structural.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

// add<L>(args...), add(L(...)) and add(std::make_shared<L>(...)) build the same network:
// the same layers, names and initial parameters for one seed.
TEST(Sequential, AddByTypeByValueAndBySharedPointerAgree) {
  Sequential a({6}, Device::cpu(), 5);
  a.add(std::make_shared<Dense>(8)).add(relu_layer()).add(std::make_shared<Dense>(3), "out");
  a.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  a.build(4);

  Sequential b({6}, Device::cpu(), 5);
  b.add<Dense>(8).add(relu_layer()).add(Dense(3), "out");
  b.loss(softmax_cross_entropy_loss(), {}, DType::Int32);
  b.build(4);

  EXPECT_EQ(a.graph().summary(), b.graph().summary());
  const auto pa = a.graph().parameters();
  const auto pb = b.graph().parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i]->name, pb[i]->name);
    EXPECT_EQ(pa[i]->value.to_vector<float>(), pb[i]->value.to_vector<float>());
  }
  EXPECT_NO_THROW(b.graph().layer("out"));

  // Layers with several constructor arguments, and an lvalue layer (copied).
  Sequential c({2, 3});
  const Dense head(5);
  c.add<Flatten>().add(head).add<Dense>(2, DenseOptions{});
  c.build(2);
  EXPECT_NE(c.graph().summary().find("[B, 5]"), std::string::npos);
  EXPECT_NE(c.graph().summary().find("[B, 2]"), std::string::npos);
}

}  // namespace
}  // namespace minidl
