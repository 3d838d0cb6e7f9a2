#include "mock/scenario.h"

#include <gtest/gtest.h>

#include "mock/random.h"

namespace ismscode::mock {
namespace {

using json = nlohmann::ordered_json;

TEST(Scenario, EveryPresetParsesAndNamesItself) {
  const auto names = PresetNames();
  EXPECT_EQ(names, (std::vector<std::string>{"app-sms", "ci-fast", "default", "flaky-upstream",
                                             "lost-sms", "slow-sms", "stock-outs"}));
  for (const auto& name : names) {
    auto s = LoadScenario(name);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->name, name);
    EXPECT_FALSE(s->description.empty());
    EXPECT_EQ(s->offers.size(), s->countries.size() * s->services.size());
    EXPECT_FALSE(s->accounts.empty());
  }
}

TEST(Scenario, PresetsSayWhatTheyPromise) {
  auto stock = LoadScenario("stock-outs");
  EXPECT_EQ(stock->FindOffer("US", "whatsapp")->stock, 0);
  EXPECT_EQ(stock->FindOffer("US", "whatsapp")->restock.amount, 2);
  EXPECT_EQ(stock->FindOffer("GB", "telegram")->stock, 0);
  auto lost = LoadScenario("lost-sms");
  EXPECT_DOUBLE_EQ(lost->FindOffer("US", "google")->sms.loss_probability, 0.5);
  auto flaky = LoadScenario("flaky-upstream");
  EXPECT_GE(flaky->faults.size(), 5u);
  auto fast = LoadScenario("ci-fast");
  EXPECT_FALSE(fast->rate_limit.enabled);
  EXPECT_LE(fast->FindOffer("US", "google")->sms.delay.max_seconds, 1.0);
}

TEST(Scenario, RoundTripsThroughJson) {
  auto s = LoadScenario("stock-outs");
  ASSERT_TRUE(s.ok());
  const json once = ScenarioToJson(*s);
  auto again = ScenarioFromJson(once);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ScenarioToJson(*again), once);
}

TEST(Scenario, SyntaxErrorsNameLineAndColumn) {
  auto s = ParseScenario("{\n  \"name\": \"x\",\n  \"countries\": [,]\n}");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("line 3, column 17"), std::string::npos) << s.status();
}

struct BadField {
  const char* json;
  const char* expected;  // a substring of the error
};

TEST(Scenario, BadValuesNameTheFieldPath) {
  const std::string base_countries =
      R"("countries": [{"code": "US", "name": "U", "prefix": "+1"}])";
  const BadField cases[] = {
      {R"({"services": ["a"]})", "scenario.countries: expected a non-empty array"},
      {R"({"countries": [{"code": "usa", "name": "U", "prefix": "+1"}], "services": ["a"]})",
       "scenario.countries[0].code"},
      {R"({"countries": [{"code": "DE", "name": "D", "prefix": "+49"}], "services": ["a"]})",
       "scenario.countries[0].ranges: is required for DE"},
      {R"({"countries": [{"code": "US", "name": "U", "prefix": "+1", "ranges": [{"prefix": "+1", "first": 5, "last": 1}]}], "services": ["a"]})",
       "scenario.countries[0].ranges[0].last"},
      {R"({"countries": [{"code": "US", "name": "U", "prefix": "+1"}], "services": ["Bad Slug"]})",
       "scenario.services[0]"},
      {R"({"countries": [{"code": "US", "name": "U", "prefix": "+1"}], "services": ["a"],
          "offers": [{"country": "US", "service": "a", "sms": {"delay": {"kind": "later"}}}]})",
       "scenario.offers[0].sms.delay.kind: expected one of fixed, uniform, lognormal"},
      {R"({"countries": [{"code": "US", "name": "U", "prefix": "+1"}], "services": ["a"],
          "offers": [{"country": "FR", "service": "a"}]})",
       "scenario.offers[0].country: unknown country FR"},
      {R"({"countries": [{"code": "US", "name": "U", "prefix": "+1"}], "services": ["a"],
          "offer_defaults": {"sms": {"loss_probability": 1.5}}})",
       "scenario.offer_defaults.sms.loss_probability: must be between 0 and 1"},
      {R"({"countries": [{"code": "US", "name": "U", "prefix": "+1"}], "services": ["a"],
          "accounts": [{"key": "k", "balance": "lots"}]})",
       "scenario.accounts[0].balance: expected a number"},
      {R"({"countries": [{"code": "US", "name": "U", "prefix": "+1"}], "services": ["a"],
          "rate_limit": {"requests": 0}})",
       "scenario.rate_limit.requests"},
      {R"({"countries": [{"code": "US", "name": "U", "prefix": "+1"}], "services": ["a"],
          "faults": [{"kind": "http_503", "endpoint": "balance"}]})",
       "scenario.faults[0].endpoint"},
      {R"({"countries": [{"code": "US", "name": "U", "prefix": "+1"}], "services": ["a"],
          "reservaton_seconds": 60})",
       "scenario.reservaton_seconds: unknown field"},
  };
  for (const auto& c : cases) {
    auto s = ParseScenario(c.json);
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_NE(s.status().message().find(c.expected), std::string::npos) << "got: " << s.status();
  }
}

TEST(Scenario, ExplicitOffersOverrideDefaultsWithWildcards) {
  auto s = ParseScenario(R"({
    "countries": [{"code": "US", "name": "U", "prefix": "+1"}, {"code": "GB", "name": "G", "prefix": "+44"}],
    "services": ["a", "b"],
    "offer_defaults": {"price": 1, "stock": 5},
    "offers": [{"country": "GB", "service": "*", "price": 2}, {"country": "*", "service": "b", "stock": 0}]
  })");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->FindOffer("US", "a")->price_micros, 1'000'000);
  EXPECT_EQ(s->FindOffer("GB", "a")->price_micros, 2'000'000);
  EXPECT_EQ(s->FindOffer("GB", "b")->stock, 0);
  EXPECT_EQ(s->FindOffer("US", "a")->stock, 5);
}

TEST(Scenario, MissingFileOrPresetIsAClearError) {
  auto s = LoadScenario("/nonexistent/scenario.json");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("neither a preset"), std::string::npos);
  EXPECT_NE(s.status().message().find("ci-fast"), std::string::npos) << "lists the presets";
}

TEST(DelaySpec, DrawsStayInTheirBounds) {
  Random random(3);
  DelaySpec uniform{.kind = DelaySpec::Kind::kUniform, .min_seconds = 2, .max_seconds = 4};
  DelaySpec lognormal{
      .kind = DelaySpec::Kind::kLogNormal, .max_seconds = 30, .median_seconds = 10, .sigma = 1};
  int below_median = 0;
  for (int i = 0; i < 2000; ++i) {
    const double u = uniform.Draw(random);
    EXPECT_GE(u, 2);
    EXPECT_LT(u, 4);
    const double l = lognormal.Draw(random);
    EXPECT_GT(l, 0);
    EXPECT_LE(l, 30);
    below_median += l < 10;
  }
  EXPECT_NEAR(below_median, 1000, 120);
}

}  // namespace
}  // namespace ismscode::mock
