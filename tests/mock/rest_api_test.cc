// The REST API of the provider's document, over real HTTP: paths, JSON shapes, status
// strings and codes, field for field.
#include <gtest/gtest.h>

#include <regex>

#include "tests/support/mock_fixture.h"

namespace ismscode::testing {
namespace {

using json = nlohmann::ordered_json;

void ExpectError(const httplib::Result& r, int status, const std::string& code) {
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, status) << r->body;
  const json body = Body(r);
  ASSERT_TRUE(body.is_object()) << r->body;
  EXPECT_EQ(body["status"], "error");
  EXPECT_EQ(body["code"], code);
  EXPECT_TRUE(body["message"].is_string() && !body["message"].get<std::string>().empty());
  EXPECT_EQ(body.size(), 3u) << "error bodies are exactly {status, code, message}";
}

TEST(RestApi, CountriesListsCodeNamePrefix) {
  MockFixture mock;
  auto r = mock.Get("/api/v3/countries");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(
      r->body,
      R"({"status":"success","countries":[{"code":"US","name":"United States","prefix":"+1"},)"
      R"({"code":"GB","name":"United Kingdom","prefix":"+44"},)"
      R"({"code":"CA","name":"Canada","prefix":"+1"}]})");
}

TEST(RestApi, ServicesListsSlugs) {
  MockFixture mock;
  auto r = mock.Get("/api/v3/services");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body,
            R"({"status":"success","services":["whatsapp","telegram","google","amazon"]})");
}

TEST(RestApi, RequestNumberReturnsTheDocumentedShape) {
  MockFixture mock;
  auto r = mock.RequestNumber("US", "whatsapp");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = Body(r);
  EXPECT_EQ(body["status"], "success");
  const json& n = body["number"];
  std::vector<std::string> keys;
  for (const auto& [k, v] : n.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "phone", "country", "service", "expires_at"}));
  EXPECT_TRUE(std::regex_match(n["id"].get<std::string>(), std::regex("num_[a-z0-9]{12}")));
  // US numbers come only from the NANP range reserved for fiction: NPA-555-01xx.
  EXPECT_TRUE(std::regex_match(n["phone"].get<std::string>(), std::regex(R"(\+1\d{3}55501\d{2})")))
      << n["phone"];
  EXPECT_EQ(n["country"], "US");
  EXPECT_EQ(n["service"], "whatsapp");
  // Frozen clock at 00:00:00 and a 20-minute reservation.
  EXPECT_EQ(n["expires_at"], "2026-01-01T00:20:00Z");
  EXPECT_EQ(r->get_header_value("Date"), "Thu, 01 Jan 2026 00:00:00 GMT");
}

TEST(RestApi, UkNumbersComeFromTheOfcomDramaRange) {
  MockFixture mock;
  for (int i = 0; i < 5; ++i) {
    const json body = Body(mock.RequestNumber("GB", "telegram"));
    EXPECT_TRUE(std::regex_match(body["number"]["phone"].get<std::string>(),
                                 std::regex(R"(\+447700900\d{3})")))
        << body;
  }
}

TEST(RestApi, ActiveNumbersAreNotHandedOutTwice) {
  MockFixture mock;
  mock.Control("PATCH", "accounts/key-alpha-0001", {{"balance", 1000}, {"rate_limit", "off"}});
  std::set<std::string> phones;
  for (int i = 0; i < 50; ++i) {
    phones.insert(Body(mock.RequestNumber("GB", "google"))["number"]["phone"].get<std::string>());
  }
  EXPECT_EQ(phones.size(), 50u);
}

TEST(RestApi, BothAuthHeadersWork) {
  MockFixture mock;
  auto client = mock.NewClient();
  auto bearer = client->Get("/api/v3/services", {{"Authorization", "Bearer key-alpha-0001"}});
  auto custom = client->Get("/api/v3/services", {{"API-Key", "key-alpha-0001"}});
  auto lower = client->Get("/api/v3/services", {{"authorization", "bearer key-alpha-0001"}});
  ASSERT_TRUE(bearer && custom && lower);
  EXPECT_EQ(bearer->status, 200);
  EXPECT_EQ(custom->status, 200);
  EXPECT_EQ(lower->status, 200);
}

TEST(RestApi, MissingOrUnknownKeyIs401OnEveryEndpoint) {
  MockFixture mock;
  auto client = mock.NewClient();
  for (const std::string path :
       {"/api/v3/countries", "/api/v3/services", "/api/v3/numbers/x/sms"}) {
    ExpectError(client->Get(path), 401, "unauthorized");
    ExpectError(client->Get(path, {{"API-Key", "not-a-key"}}), 401, "unauthorized");
    ExpectError(client->Get(path, {{"Authorization", "Basic a2V5OnB3"}}), 401, "unauthorized");
  }
  ExpectError(client->Post("/api/v3/numbers/request", R"({"country":"US","service":"google"})",
                           "application/json"),
              401, "unauthorized");
}

TEST(RestApi, InvalidCountryAndServiceAre400) {
  MockFixture mock;
  ExpectError(mock.RequestNumber("XX", "whatsapp"), 400, "invalid_country");
  ExpectError(mock.RequestNumber("us", "whatsapp"), 400, "invalid_country");
  ExpectError(mock.RequestNumber("US", "myspace"), 400, "invalid_service");
  auto client = mock.NewClient();
  const httplib::Headers auth = {{"API-Key", "key-alpha-0001"}};
  ExpectError(
      client->Post("/api/v3/numbers/request", auth, R"({"service":"google"})", "application/json"),
      400, "invalid_country");
  ExpectError(
      client->Post("/api/v3/numbers/request", auth, R"({"country":"US"})", "application/json"), 400,
      "invalid_service");
  ExpectError(client->Post("/api/v3/numbers/request", auth, R"({"country":1,"service":"google"})",
                           "application/json"),
              400, "invalid_country");
}

TEST(RestApi, InsufficientBalanceIs402AndChargesNothing) {
  MockFixture mock;
  ASSERT_EQ(mock.Control("PATCH", "accounts/key-alpha-0001", {{"balance", 0.49}})->status, 200);
  ExpectError(mock.RequestNumber("US", "whatsapp"), 402, "insufficient_balance");
  const json account = Body(mock.Control("GET", "accounts/key-alpha-0001"));
  EXPECT_DOUBLE_EQ(account["account"]["balance"].get<double>(), 0.49);
}

TEST(RestApi, PurchaseDeductsPriceAndStock) {
  MockFixture mock;
  mock.BuyNumber("US", "google");
  const json account = Body(mock.Control("GET", "accounts/key-alpha-0001"));
  EXPECT_DOUBLE_EQ(account["account"]["balance"].get<double>(), 9.50);
  const json offers = Body(mock.Control("GET", "offers"));
  for (const auto& o : offers["offers"]) {
    if (o["country"] == "US" && o["service"] == "google") {
      EXPECT_EQ(o["stock"], 99);
    }
  }
}

TEST(RestApi, OutOfStockIs404NoNumbersAvailable) {
  MockFixture mock;
  ExpectError(mock.RequestNumber("CA", "whatsapp"), 404, "no_numbers_available");
  ASSERT_EQ(mock.Control("PATCH", "offers/US/telegram", {{"stock", 1}})->status, 200);
  mock.BuyNumber("US", "telegram");
  ExpectError(mock.RequestNumber("US", "telegram"), 404, "no_numbers_available");
}

TEST(RestApi, RestockBringsNumbersBackOverMockTime) {
  MockFixture mock;
  ASSERT_EQ(mock.Control("PATCH", "offers/CA/whatsapp",
                         {{"restock", {{"every_seconds", 30}, {"amount", 1}, {"max_stock", 1}}}})
                ->status,
            200);
  ExpectError(mock.RequestNumber("CA", "whatsapp"), 404, "no_numbers_available");
  mock.AdvanceSeconds(90);  // three periods, but max_stock caps the stock at 1
  mock.BuyNumber("CA", "whatsapp");
  ExpectError(mock.RequestNumber("CA", "whatsapp"), 404, "no_numbers_available");
}

TEST(RestApi, UnknownNumberIs404NumberNotFound) {
  MockFixture mock;
  ExpectError(mock.Get("/api/v3/numbers/num_doesnotexist/sms"), 404, "number_not_found");
}

TEST(RestApi, AnotherAccountsNumberIsNotFound) {
  MockFixture mock;
  const std::string id = mock.BuyNumber();
  ExpectError(mock.Get("/api/v3/numbers/" + id + "/sms", "key-bravo-0002"), 404,
              "number_not_found");
}

TEST(RestApi, SmsIsInvisibleBeforeItsDueTimeAndVisibleAfter) {
  MockFixture mock;  // fixed 10 s delay, frozen clock
  const std::string id = mock.BuyNumber("US", "google");
  auto before = mock.Get("/api/v3/numbers/" + id + "/sms");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->body, R"({"status":"success","sms":[]})");
  mock.AdvanceSeconds(9.5);
  EXPECT_EQ(Body(mock.Get("/api/v3/numbers/" + id + "/sms"))["sms"].size(), 0u);
  mock.AdvanceSeconds(0.5);
  const json after = Body(mock.Get("/api/v3/numbers/" + id + "/sms"));
  ASSERT_EQ(after["sms"].size(), 1u);
  const json& sms = after["sms"][0];
  std::vector<std::string> keys;
  for (const auto& [k, v] : sms.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"from", "text", "received_at"}));
  EXPECT_EQ(sms["received_at"], "2026-01-01T00:00:10Z");
  // The control API knows the code the text carries.
  const json number = Body(mock.Control("GET", "numbers/" + id));
  const std::string raw = number["number"]["sms"][0]["raw_code"];
  EXPECT_NE(sms["text"].get<std::string>().find(raw), std::string::npos);
}

TEST(RestApi, RateLimitAnswers429WithRetryAfterAndRecovers) {
  MockFixture mock;  // 60 per 60 s window, frozen at the start of a window
  for (int i = 0; i < 60; ++i) {
    auto r = mock.Get("/api/v3/services");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << "request " << i;
  }
  auto limited = mock.Get("/api/v3/countries");
  ExpectError(limited, 429, "rate_limit_exceeded");
  EXPECT_EQ(limited->get_header_value("Retry-After"), "60");
  // Limits are per key.
  EXPECT_EQ(mock.Get("/api/v3/services", "key-bravo-0002")->status, 200);
  mock.AdvanceSeconds(45);
  EXPECT_EQ(mock.Get("/api/v3/services")->get_header_value("Retry-After"), "15");
  mock.AdvanceSeconds(15);
  EXPECT_EQ(mock.Get("/api/v3/services")->status, 200);
}

TEST(RestApi, RateLimitCanBeRaisedOrTurnedOffPerAccount) {
  MockFixture mock;
  ASSERT_EQ(mock.Control("PATCH", "accounts/key-alpha-0001", {{"rate_limit", "off"}})->status, 200);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(mock.Get("/api/v3/services")->status, 200);
  ASSERT_EQ(mock.Control("PATCH", "accounts/key-alpha-0001",
                         {{"rate_limit", {{"requests", 2}, {"window_seconds", 10}}}})
                ->status,
            200);
  EXPECT_EQ(mock.Get("/api/v3/services")->status, 200);
  EXPECT_EQ(mock.Get("/api/v3/services")->status, 200);
  auto r = mock.Get("/api/v3/services");
  ExpectError(r, 429, "rate_limit_exceeded");
  EXPECT_EQ(r->get_header_value("Retry-After"), "10");
}

TEST(RestApi, ExpiredReservationStopsDelivery) {
  MockFixture mock;
  const std::string id = mock.BuyNumber("US", "google");
  mock.AdvanceSeconds(1200);
  // Due at 10 s, so it arrived before expiry; one injected after expiry is refused.
  EXPECT_EQ(Body(mock.Get("/api/v3/numbers/" + id + "/sms"))["sms"].size(), 1u);
  auto late = mock.Control("POST", "numbers/" + id + "/sms", {{"text", "Your code is 1234"}});
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 409);
  const json number = Body(mock.Control("GET", "numbers/" + id));
  EXPECT_EQ(number["number"]["expired"], true);
}

TEST(RestApi, WrongMethodIs405WithAllow) {
  MockFixture mock;
  auto client = mock.NewClient();
  auto r = client->Get("/api/v3/numbers/request", {{"API-Key", "key-alpha-0001"}});
  ExpectError(r, 405, "method_not_allowed");
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  auto d = client->Delete("/api/v3/countries");
  ExpectError(d, 405, "method_not_allowed");
  EXPECT_EQ(d->get_header_value("Allow"), "GET");
}

TEST(RestApi, UnknownPathsAre404NotFound) {
  MockFixture mock;
  auto client = mock.NewClient();
  ExpectError(client->Get("/api/v3/balance", {{"API-Key", "key-alpha-0001"}}), 404, "not_found");
  ExpectError(client->Get("/api/v2/countries"), 404, "not_found");
  ExpectError(client->Get("/"), 404, "not_found");
  ExpectError(client->Post("/api/v3/numbers//sms", "", "application/json"), 404, "not_found");
}

TEST(RestApi, HealthzAndMetrics) {
  MockFixture mock;
  mock.BuyNumber("US", "google");
  auto client = mock.NewClient();
  auto health = client->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Body(health)["status"], "ok");
  auto metrics = client->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find(
                R"(ismscode_mock_requests_total{endpoint="numbers.request",status="200"} 1)"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(
      metrics->body.find(R"(ismscode_mock_numbers_issued_total{country="US",service="google"} 1)"),
      std::string::npos);
  EXPECT_NE(metrics->body.find("ismscode_mock_numbers_active 1"), std::string::npos);
  // No key, phone number or id ever appears in the metrics.
  EXPECT_EQ(metrics->body.find("key-alpha"), std::string::npos);
  EXPECT_EQ(metrics->body.find("num_"), std::string::npos);
  EXPECT_EQ(metrics->body.find("+1"), std::string::npos);
}

TEST(RestApi, HealthzTurns503WhileDraining) {
  MockFixture mock;
  mock.service().SetDraining(true);
  auto r = mock.NewClient()->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
}

}  // namespace
}  // namespace ismscode::testing
