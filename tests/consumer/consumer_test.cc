// Built outside the tree against the installed package: a number and its code, with the
// gateway and its mock in this process.
#include <ismscode/harness/gtest.h>

class Consumer : public ismscode::harness::HarnessTest {};

TEST_F(Consumer, GetsANumberAndItsCode) {
  auto number = AcquireNumber("US", "whatsapp");
  auto code = AwaitCode(number);
  EXPECT_GE(code.code.size(), 4u);
}
