// The number table stays bounded: expired numbers are forgotten an hour (scaled) after
// expiry on any request, the table is capped oldest first, and /metrics counts active
// numbers without walking it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/mock_fixture.h"

namespace ismscode::testing {
namespace {

int SmsStatus(MockFixture& mock, const std::string& id) {
  auto r = mock.Get("/api/v3/numbers/" + id + "/sms");
  return r ? r->status : 0;
}

double ActiveNumbers(MockFixture& mock) {
  auto r = mock.Get("/metrics");
  EXPECT_TRUE(r);
  const std::string name = "\nismscode_mock_numbers_active ";
  const size_t at = r->body.find(name);
  EXPECT_NE(at, std::string::npos);
  return std::stod(r->body.substr(at + name.size()));
}

TEST(NumberTable, ExpiredNumbersAreForgottenAnHourAfterExpiryOnAnyRequest) {
  MockFixture mock;
  const std::string id = mock.BuyNumber();
  EXPECT_EQ(ActiveNumbers(mock), 1);
  mock.AdvanceSeconds(1200 + 1);  // the test scenario reserves for 1200 s
  EXPECT_EQ(ActiveNumbers(mock), 0);
  EXPECT_EQ(SmsStatus(mock, id), 200) << "an expired number is still known for an hour";
  mock.AdvanceSeconds(3600);
  EXPECT_EQ(SmsStatus(mock, id), 404) << "forgotten without a purchase to trigger it";
}

TEST(NumberTable, IsCappedOldestFirst) {
  auto options = FrozenOptions();
  options.max_numbers = 3;
  MockFixture mock(TestScenario(), options);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(mock.BuyNumber());
    mock.AdvanceSeconds(1);
  }
  EXPECT_EQ(SmsStatus(mock, ids[0]), 404);
  EXPECT_EQ(SmsStatus(mock, ids[1]), 404);
  for (int i = 2; i < 5; ++i) EXPECT_EQ(SmsStatus(mock, ids[i]), 200) << i;
  EXPECT_EQ(ActiveNumbers(mock), 3);
}

TEST(NumberTable, ActiveCountFollowsExpiries) {
  MockFixture mock;
  mock.BuyNumber();
  mock.AdvanceSeconds(600);
  mock.BuyNumber();
  mock.BuyNumber();
  EXPECT_EQ(ActiveNumbers(mock), 3);
  mock.AdvanceSeconds(601);  // the first expired, the other two have 599 s left
  EXPECT_EQ(ActiveNumbers(mock), 2);
}

}  // namespace
}  // namespace ismscode::testing
