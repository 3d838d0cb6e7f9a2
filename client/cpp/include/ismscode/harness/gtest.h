#pragma once

// GoogleTest plugin: a signup test in three lines.
//
//   class Signup : public ismscode::harness::HarnessTest {};
//   TEST_F(Signup, NewUserGetsACode) {
//     auto number = AcquireNumber("US", "whatsapp");
//     /* ... make the app under test text number.phone ... */
//     auto code = AwaitCode(number);
//     EXPECT_EQ(code.code.size(), 6u);
//   }
//
// Link ismscode::harness_gtest_main (it registers the environment), or register
// HarnessEnvironment in your own main. Where the gateway comes from:
//   - ISMSCODE_HARNESS_ADDR set: that gateway (with ISMSCODE_HARNESS_TOKEN /
//     ISMSCODE_HARNESS_CA). ISMSCODE_MOCK_URL, when set, names the mock behind it, and
//     every test gets its own mock account as its caller key (the gateway needs
//     --allow-caller-keys).
//   - unset: the gateway and its bundled mock start in this process on free loopback
//     ports (scenario ISMSCODE_HARNESS_SCENARIO, default "ci-fast"); offline, no set-up.
// Either way, with a mock every test has its own account (balance, stock charges and
// rate budget of its own), so tests can run in parallel (ctest -j, several processes).

#include <gtest/gtest.h>

#include <memory>
#include <source_location>
#include <string>

#include "ismscode/harness/client.h"

namespace ismscode::harness {

struct HarnessOptions {
  // In-process mode only: the mock's scenario (a preset name or a JSON file). Empty:
  // $ISMSCODE_HARNESS_SCENARIO, else "ci-fast".
  std::string scenario;
  // In-process mode only: how often the gateway polls a number (the mock has no provider
  // limit to respect).
  std::chrono::milliseconds poll_interval{250};
};

class HarnessEnvironment : public ::testing::Environment {
 public:
  explicit HarnessEnvironment(HarnessOptions options = {});
  ~HarnessEnvironment() override;
  void SetUp() override;
  void TearDown() override;

  // The running environment (nullptr outside SetUp..TearDown).
  static HarnessEnvironment* Get();
  // The gateway's address, and the mock's base URL ("" when there is no mock to manage).
  const std::string& gateway_address() const;
  const std::string& mock_url() const;
  bool in_process() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A test fixture with a client of its own: a fresh mock account as its caller key when
// there is a mock, and helpers that fail the test (with the reason, the message and the
// last heartbeat) instead of returning errors.
class HarnessTest : public ::testing::Test {
 protected:
  void SetUp() override;

  const Client& client() const { return *client_; }
  // This test's mock account key ("" without a mock).
  const std::string& account_key() const { return account_key_; }
  // The mock's base URL ("" without a mock), e.g. for its control API.
  const std::string& mock_url() const;

  // A number, or a fatal failure and an empty Number.
  Number AcquireNumber(const std::string& country, const std::string& service,
                       std::source_location where = std::source_location::current());
  Number AcquireNumber(const AcquireRequest& request,
                       std::source_location where = std::source_location::current());
  // The first code, or a fatal failure and an empty Code.
  Code AwaitCode(const Number& number, const AwaitOptions& options = {},
                 std::source_location where = std::source_location::current());

 private:
  std::unique_ptr<Client> client_;
  std::string account_key_;
};

}  // namespace ismscode::harness
