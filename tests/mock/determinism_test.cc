// One seeded generator for everything: the same seed and the same request sequence give
// byte-identical responses, run after run.
#include <gtest/gtest.h>

#include "tests/support/mock_fixture.h"

namespace ismscode::testing {
namespace {

using json = nlohmann::ordered_json;

// A workload touching every random draw: accounts, numbers, phones, SMS schedules and
// templates, losses, resends, probabilistic faults. Returns every response, headers
// included, concatenated.
std::string RunWorkload(uint64_t seed) {
  auto scenario = mock::ParseScenario(R"({
    "countries": [{"code": "US", "name": "United States", "prefix": "+1"},
                  {"code": "GB", "name": "United Kingdom", "prefix": "+44"}],
    "services": ["whatsapp", "telegram", "google", "facebook", "instagram", "twitter", "amazon"],
    "rate_limit": "off",
    "offer_defaults": {"price": 0.1, "stock": 1000, "sms": {
      "delay": {"kind": "lognormal", "median_seconds": 20, "sigma": 0.8, "max_seconds": 300},
      "loss_probability": 0.3, "resends": 2, "resend_interval_seconds": 40}},
    "accounts": [{"key": "key-alpha-0001", "balance": 100}],
    "faults": [{"kind": "http_503", "endpoint": "numbers.sms", "probability": 0.2}]
  })");
  EXPECT_TRUE(scenario.ok()) << scenario.status();
  MockFixture mock(*scenario, FrozenOptions(seed));
  std::string transcript;
  auto record = [&](const httplib::Result& r) {
    if (!r) return;
    transcript += std::to_string(r->status) + " " + r->get_header_value("Date") + " " +
                  r->get_header_value("Retry-After") + "\n" + r->body + "\n";
  };
  const std::string key =
      Body(mock.Control("POST", "accounts", {{"balance", 50}}))["account"]["key"];
  transcript += key + "\n";
  std::vector<std::string> ids;
  const char* services[] = {"whatsapp",  "telegram", "google", "facebook",
                            "instagram", "twitter",  "amazon"};
  for (int i = 0; i < 28; ++i) {
    auto r =
        mock.RequestNumber(i % 2 ? "US" : "GB", services[i % 7], i % 3 ? "key-alpha-0001" : key);
    record(r);
    ids.push_back(Body(r)["number"]["id"]);
  }
  for (int step = 0; step < 8; ++step) {
    mock.AdvanceSeconds(30);
    for (size_t i = 0; i < ids.size(); ++i) {
      record(mock.Get("/api/v3/numbers/" + ids[i] + "/sms", i % 3 ? "key-alpha-0001" : key));
    }
  }
  for (const auto& id : ids) transcript += mock.Control("GET", "numbers/" + id)->body + "\n";
  return transcript;
}

TEST(Determinism, SameSeedSameBytes) {
  const std::string first = RunWorkload(7);
  const std::string second = RunWorkload(7);
  EXPECT_GT(first.size(), 20000u);
  EXPECT_EQ(first, second);
  // The workload did reach the random paths it is meant to cover.
  EXPECT_NE(first.find("\"lost\":true"), std::string::npos);
  EXPECT_NE(first.find("\"origin\":\"resend\""), std::string::npos);
  EXPECT_NE(first.find("503 "), std::string::npos);
}

TEST(Determinism, DifferentSeedDifferentDraws) { EXPECT_NE(RunWorkload(7), RunWorkload(8)); }

}  // namespace
}  // namespace ismscode::testing
