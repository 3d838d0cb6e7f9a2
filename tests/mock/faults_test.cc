// Every fault kind, matched and counted as documented, over real HTTP.
#include <gtest/gtest.h>

#include "tests/support/mock_fixture.h"

namespace ismscode::testing {
namespace {

using json = nlohmann::ordered_json;

struct DocumentedError {
  const char* kind;
  int status;
};

TEST(Faults, EveryDocumentedErrorCanBeInjected) {
  MockFixture mock;
  const DocumentedError errors[] = {{"invalid_country", 400},
                                    {"invalid_service", 400},
                                    {"unauthorized", 401},
                                    {"insufficient_balance", 402},
                                    {"no_numbers_available", 404},
                                    {"number_not_found", 404},
                                    {"rate_limit_exceeded", 429},
                                    {"http_500", 500},
                                    {"http_503", 503}};
  for (const auto& e : errors) {
    ASSERT_EQ(mock.Control("POST", "faults",
                           {{"kind", e.kind}, {"endpoint", "numbers.request"}, {"count", 1}})
                  ->status,
              201);
    auto r = mock.RequestNumber("US", "google");
    ASSERT_TRUE(r) << e.kind;
    EXPECT_EQ(r->status, e.status) << e.kind;
    const json body = Body(r);
    EXPECT_EQ(body["status"], "error");
    const std::string code = body["code"];
    if (e.status < 500) {
      EXPECT_EQ(code, e.kind);
    } else {
      EXPECT_EQ(code, e.status == 500 ? "internal_error" : "service_unavailable");
    }
  }
  // Each fired once and retired; nothing was bought.
  EXPECT_EQ(Body(mock.Control("GET", "faults"))["faults"].size(), 0u);
  EXPECT_DOUBLE_EQ(
      Body(mock.Control("GET", "accounts/key-alpha-0001"))["account"]["balance"].get<double>(), 10);
}

TEST(Faults, InjectedRateLimitCarriesRetryAfter) {
  MockFixture mock;
  mock.Control("POST", "faults", {{"kind", "rate_limit_exceeded"}, {"retry_after_seconds", 7}});
  auto r = mock.Get("/api/v3/services");
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "7");
}

TEST(Faults, MatchByEndpointKeyCountryAndService) {
  MockFixture mock;
  mock.Control("POST", "faults",
               {{"kind", "http_503"},
                {"endpoint", "numbers.request"},
                {"key", "key-bravo-0002"},
                {"country", "GB"},
                {"service", "telegram"}});
  EXPECT_EQ(mock.RequestNumber("GB", "telegram")->status, 200) << "other key";
  EXPECT_EQ(mock.RequestNumber("US", "telegram", "key-bravo-0002")->status, 200) << "other country";
  EXPECT_EQ(mock.RequestNumber("GB", "google", "key-bravo-0002")->status, 200) << "other service";
  EXPECT_EQ(mock.Get("/api/v3/services", "key-bravo-0002")->status, 200) << "other endpoint";
  EXPECT_EQ(mock.RequestNumber("GB", "telegram", "key-bravo-0002")->status, 503);
  EXPECT_EQ(mock.RequestNumber("GB", "telegram", "key-bravo-0002")->status, 503) << "standing";
}

TEST(Faults, SmsEndpointFaultsMatchTheNumbersCountryAndService) {
  MockFixture mock;
  const std::string us = mock.BuyNumber("US", "google");
  const std::string gb = mock.BuyNumber("GB", "google");
  mock.Control("POST", "faults",
               {{"kind", "http_500"}, {"endpoint", "numbers.sms"}, {"country", "GB"}});
  EXPECT_EQ(mock.Get("/api/v3/numbers/" + us + "/sms")->status, 200);
  EXPECT_EQ(mock.Get("/api/v3/numbers/" + gb + "/sms")->status, 500);
}

TEST(Faults, CountRetiresAfterNFirings) {
  MockFixture mock;
  mock.Control("POST", "faults", {{"kind", "http_503"}, {"count", 3}});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(mock.Get("/api/v3/services")->status, 503);
  EXPECT_EQ(mock.Get("/api/v3/services")->status, 200);
}

TEST(Faults, ProbabilityIsSeededAndRoughlyRight) {
  auto run = [] {
    MockFixture mock;
    mock.Control("PATCH", "accounts/key-alpha-0001", {{"rate_limit", "off"}});
    mock.Control("POST", "faults", {{"kind", "http_503"}, {"probability", 0.3}});
    std::string pattern;
    for (int i = 0; i < 400; ++i)
      pattern += mock.Get("/api/v3/services")->status == 503 ? 'x' : '.';
    return pattern;
  };
  const std::string a = run();
  EXPECT_EQ(a, run()) << "same seed, same requests, same faults";
  const auto hits = std::count(a.begin(), a.end(), 'x');
  EXPECT_GT(hits, 80);
  EXPECT_LT(hits, 160);
}

TEST(Faults, ResetDropsTheConnectionAndTheServerCarriesOn) {
  MockFixture mock;
  mock.Control("POST", "faults", {{"kind", "reset"}, {"endpoint", "services"}, {"count", 1}});
  auto client = mock.NewClient();
  auto r = client->Get("/api/v3/services", {{"API-Key", "key-alpha-0001"}});
  ASSERT_FALSE(r) << "expected no response, got " << r->status;
  EXPECT_EQ(r.error(), httplib::Error::Read);
  auto again = client->Get("/api/v3/services", {{"API-Key", "key-alpha-0001"}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  const json journal = Body(mock.Control("GET", "journal"));
  EXPECT_EQ(journal["entries"][0]["fault"], "reset");
  EXPECT_EQ(journal["entries"][0]["status"], 0);
}

TEST(Faults, HangNeverAnswersUntilTheClientGivesUp) {
  MockFixture mock;
  mock.Control("POST", "faults", {{"kind", "hang"}, {"endpoint", "countries"}, {"count", 1}});
  auto client = mock.NewClient();
  client->set_read_timeout(0, 300'000);  // the client's patience: 300 ms
  auto r = client->Get("/api/v3/countries", {{"API-Key", "key-alpha-0001"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), httplib::Error::Read);
  // Other connections are served meanwhile and afterwards.
  EXPECT_EQ(mock.Get("/api/v3/countries")->status, 200);
}

TEST(Faults, HangIsReleasedWhenTheServerStops) {
  auto mock = std::make_unique<MockFixture>();
  mock->Control("POST", "faults", {{"kind", "hang"}, {"hang_seconds", 3600}});
  auto client = mock->NewClient();
  client->set_read_timeout(3600, 0);
  std::thread caller([&] {
    auto r = client->Get("/api/v3/countries", {{"API-Key", "key-alpha-0001"}});
    EXPECT_FALSE(r);
  });
  // Stop() must release the held request rather than wait an hour; the test's own
  // timeout catches a regression.
  for (int i = 0; Body(mock->Control("GET", "journal"))["entries"].empty(); ++i) {
    ASSERT_LT(i, 100000) << "the request never reached the journal";
    std::this_thread::yield();
  }
  mock->server().Stop();
  caller.join();
}

TEST(Faults, MalformedJsonBeforeTheModelActs) {
  MockFixture mock;
  mock.Control("POST", "faults", {{"kind", "malformed_json"}, {"endpoint", "numbers.request"}});
  auto r = mock.RequestNumber("US", "google");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_TRUE(Body(r).is_discarded()) << r->body;
  EXPECT_DOUBLE_EQ(
      Body(mock.Control("GET", "accounts/key-alpha-0001"))["account"]["balance"].get<double>(), 10);
}

TEST(Faults, AfterPhaseBuysTheNumberButLosesTheAnswer) {
  MockFixture mock;
  mock.Control(
      "POST", "faults",
      {{"kind", "http_503"}, {"endpoint", "numbers.request"}, {"phase", "after"}, {"count", 1}});
  EXPECT_EQ(mock.RequestNumber("US", "google")->status, 503);
  // The purchase happened: the balance went down and the journal knows the number.
  EXPECT_DOUBLE_EQ(
      Body(mock.Control("GET", "accounts/key-alpha-0001"))["account"]["balance"].get<double>(),
      9.5);
  const json journal = Body(mock.Control("GET", "journal"));
  EXPECT_TRUE(journal["entries"][0].contains("number_id"));
  mock.Control("POST", "faults",
               {{"kind", "malformed_json"}, {"endpoint", "numbers.request"}, {"phase", "after"}});
  auto truncated = mock.RequestNumber("US", "google");
  EXPECT_TRUE(Body(truncated).is_discarded());
  EXPECT_EQ(truncated->body.rfind(R"({"status":"success","number":{"id":"num_)", 0), 0u)
      << truncated->body;
}

TEST(Faults, SlowAnswersLateButCorrectly) {
  MockFixture mock;
  mock.Control("POST", "faults", {{"kind", "slow"}, {"delay_seconds", 0.2}, {"count", 1}});
  const auto start = std::chrono::steady_clock::now();
  auto r = mock.Get("/api/v3/services");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r)["status"], "success");
  // A lower bound only: the fault promises at least this much delay.
  EXPECT_GE(took, std::chrono::milliseconds(200));
}

TEST(Faults, StandingFaultsFromTheScenario) {
  auto scenario = mock::ParseScenario(R"({
    "countries": [{"code": "US", "name": "United States", "prefix": "+1"}],
    "services": ["google"],
    "accounts": [{"key": "key-alpha-0001", "balance": 1}],
    "faults": [{"kind": "http_500", "endpoint": "countries"}]
  })");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  MockFixture mock(*scenario);
  EXPECT_EQ(mock.Get("/api/v3/countries")->status, 500);
  EXPECT_EQ(mock.Get("/api/v3/countries")->status, 500);
  EXPECT_EQ(mock.Get("/api/v3/services")->status, 200);
  auto metrics = mock.NewClient()->Get("/metrics");
  EXPECT_NE(metrics->body.find(R"(ismscode_mock_faults_injected_total{kind="http_500"} 2)"),
            std::string::npos);
}

}  // namespace
}  // namespace ismscode::testing
