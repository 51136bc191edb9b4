// The API's printable values and the defined failure of a failed Result's
// dereference (soma/soma.h). That ignoring a Status or Result warns is
// tests/unit/api/nodiscard_check.py's.
#include <soma/soma.h>

#include <gtest/gtest.h>

#include <sstream>

namespace {

template <class T> std::string printed(const T &value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

TEST(Printing, EnginesAndSparsityByTheToolsNames) {
  EXPECT_EQ(printed(soma::Engine::Jit), "jit");
  EXPECT_EQ(printed(soma::Engine::Interp), "interp");
  EXPECT_EQ(printed(soma::Engine::Vec), "vec");
  EXPECT_EQ(printed(soma::Engine::Auto), "auto");
  EXPECT_STREQ(soma::name(soma::Sparsity::Auto), "auto");
  EXPECT_EQ(printed(soma::Sparsity::Dense), "dense");
  EXPECT_EQ(printed(soma::Sparsity::Sparse), "sparse");
}

TEST(Printing, StatusIsOkOrItsMessage) {
  EXPECT_EQ(printed(soma::Status::success()), "ok");
  EXPECT_EQ(printed(soma::Status::failure("input 'x' is not bound")), "input 'x' is not bound");
  EXPECT_EQ(printed(soma::Status::failure("")), "failure");
  soma::Result<soma::Model> bad = soma::Model::compileString("network n {", {}, "bad.nn");
  ASSERT_FALSE(bad);
  EXPECT_NE(printed(bad.status()).find("bad.nn:1:"), std::string::npos) << printed(bad.status());
}

using ResultDeathTest = ::testing::Test;

TEST_F(ResultDeathTest, DereferencingAFailedResultAbortsWithItsMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  soma::Result<int> failed = soma::Status::failure("the reason");
  EXPECT_DEATH((void)*failed, "soma: operator\\* of a failed Result: the reason");
  EXPECT_DEATH((void)failed.value(), "soma: value\\(\\) of a failed Result: the reason");
  soma::Result<soma::Model> model = soma::Model::compileString("network n {", {}, "bad.nn");
  EXPECT_DEATH((void)model->inputs(), "soma: operator-> of a failed Result: bad.nn:1:");
  soma::Result<int> fine = 7;
  EXPECT_EQ(*fine, 7);
  EXPECT_EQ(fine.value(), 7);
}

} // namespace
