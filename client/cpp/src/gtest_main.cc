// main() for GoogleTest binaries that use the harness: registers HarnessEnvironment.
#include "ismscode/harness/gtest.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new ismscode::harness::HarnessEnvironment);
  return RUN_ALL_TESTS();
}
