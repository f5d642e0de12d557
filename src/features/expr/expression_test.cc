#include "features/expr/expression.h"
#include "gtest/gtest.h"
namespace cairn::features {
namespace {
TEST(Expression, Smoke) {
  Schema schema = {{"amount", FeatureType::kDouble, true}};
  auto e = Expression::Compile("log1p(amout)", schema);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(std::string(e.status().message()), "expr 'log1p(amout)': position 7: unknown column 'amout' (did you mean 'amount'?)");
}
}  // namespace
}  // namespace cairn::features
