// Delayed, lost and resent SMS over real HTTP, on a frozen clock that only the test
// moves: no test waits in real time for a simulated delay.
#include <gtest/gtest.h>

#include "tests/support/mock_fixture.h"

namespace ismscode::testing {
namespace {

using json = nlohmann::ordered_json;

mock::Scenario WithSms(const std::string& sms_json) {
  auto s = mock::ParseScenario(R"({
    "countries": [{"code": "US", "name": "United States", "prefix": "+1"}],
    "services": ["whatsapp", "google"],
    "rate_limit": "off",
    "offer_defaults": {"price": 0.5, "stock": 100, "sms": )" +
                               sms_json + R"(},
    "accounts": [{"key": "key-alpha-0001", "balance": 10}]
  })");
  if (!s.ok()) throw std::runtime_error(s.status().ToString());
  return *s;
}

json Sms(MockFixture& mock, const std::string& id) {
  return Body(mock.Get("/api/v3/numbers/" + id + "/sms"))["sms"];
}

TEST(SmsDelivery, LostSmsNeverArrivesButItsResendDoes) {
  MockFixture mock(WithSms(R"({"delay": {"kind": "fixed", "seconds": 10},
                               "loss_probability": 1.0, "resends": 1,
                               "resend_interval_seconds": 60})"));
  const std::string id = mock.BuyNumber("US", "google");
  mock.AdvanceSeconds(69);
  EXPECT_EQ(Sms(mock, id).size(), 0u) << "the first SMS (due at 10 s) is lost";
  mock.AdvanceSeconds(1);
  const json sms = Sms(mock, id);
  ASSERT_EQ(sms.size(), 1u);
  EXPECT_EQ(sms[0]["received_at"], "2026-01-01T00:01:10Z");
  const json schedule = Body(mock.Control("GET", "numbers/" + id))["number"]["sms"];
  ASSERT_EQ(schedule.size(), 2u);
  EXPECT_EQ(schedule[0]["lost"], true);
  EXPECT_EQ(schedule[0]["delivered"], false);
  EXPECT_EQ(schedule[1]["origin"], "resend");
  EXPECT_EQ(schedule[1]["delivered"], true);
  EXPECT_NE(sms[0]["text"].get<std::string>().find(schedule[1]["raw_code"].get<std::string>()),
            std::string::npos);
}

TEST(SmsDelivery, ResendsArriveInOrderWithNewOrSameCodes) {
  MockFixture fresh(WithSms(R"({"delay": {"kind": "fixed", "seconds": 5}, "resends": 2,
                                "resend_interval_seconds": 30})"));
  const std::string id = fresh.BuyNumber("US", "whatsapp");
  fresh.AdvanceSeconds(65);
  const json sms = Sms(fresh, id);
  ASSERT_EQ(sms.size(), 3u);
  EXPECT_EQ(sms[0]["received_at"], "2026-01-01T00:00:05Z");
  EXPECT_EQ(sms[1]["received_at"], "2026-01-01T00:00:35Z");
  EXPECT_EQ(sms[2]["received_at"], "2026-01-01T00:01:05Z");
  const json schedule = Body(fresh.Control("GET", "numbers/" + id))["number"]["sms"];
  EXPECT_NE(schedule[0]["code"], schedule[1]["code"]) << "a resend carries a new code";

  MockFixture same(WithSms(R"({"delay": {"kind": "fixed", "seconds": 5}, "resends": 1,
                               "resend_interval_seconds": 30, "resend_same_code": true})"));
  const std::string id2 = same.BuyNumber("US", "whatsapp");
  const json schedule2 = Body(same.Control("GET", "numbers/" + id2))["number"]["sms"];
  EXPECT_EQ(schedule2[0]["code"], schedule2[1]["code"]);
}

TEST(SmsDelivery, DelaysFollowTheirDistribution) {
  MockFixture mock(WithSms(R"({"delay": {"kind": "uniform", "min_seconds": 20,
                                         "max_seconds": 40}})"));
  mock.Control("PATCH", "accounts/key-alpha-0001", {{"balance", 100}});
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(mock.BuyNumber("US", "google"));
  mock.AdvanceSeconds(19.9);
  for (const auto& id : ids) EXPECT_EQ(Sms(mock, id).size(), 0u);
  mock.AdvanceSeconds(10);
  size_t arrived = 0;
  for (const auto& id : ids) arrived += Sms(mock, id).size();
  EXPECT_GT(arrived, 5u);
  EXPECT_LT(arrived, 35u);
  mock.AdvanceSeconds(10.1);
  for (const auto& id : ids) EXPECT_EQ(Sms(mock, id).size(), 1u);
}

TEST(SmsDelivery, TimeScaleShortensReservationAndDelays) {
  mock::MockService::Options options = FrozenOptions();
  options.clock.time_scale = 0.01;
  MockFixture mock(WithSms(R"({"delay": {"kind": "fixed", "seconds": 30}})"), options);
  const json bought = Body(mock.RequestNumber("US", "google"));
  // 1200 simulated seconds at a scale of 0.01: a 12-second reservation.
  EXPECT_EQ(bought["number"]["expires_at"], "2026-01-01T00:00:12Z");
  const std::string id = bought["number"]["id"];
  mock.AdvanceSeconds(0.29);
  EXPECT_EQ(Sms(mock, id).size(), 0u);
  mock.AdvanceSeconds(0.01);
  EXPECT_EQ(Sms(mock, id).size(), 1u) << "a 30 s delay lasts 0.3 s";
}

TEST(SmsDelivery, DeliveredSmsAreCountedOnce) {
  MockFixture mock(WithSms(R"({"delay": {"kind": "fixed", "seconds": 1}})"));
  const std::string id = mock.BuyNumber("US", "whatsapp");
  mock.AdvanceSeconds(1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Sms(mock, id).size(), 1u);
  const std::string metrics = mock.NewClient()->Get("/metrics")->body;
  EXPECT_NE(metrics.find(R"(ismscode_mock_sms_delivered_total{service="whatsapp"} 1)"),
            std::string::npos)
      << metrics;
}

}  // namespace
}  // namespace ismscode::testing
