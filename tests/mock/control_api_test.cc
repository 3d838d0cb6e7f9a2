// Every operation of the control API under /_mock/v1.
#include <gtest/gtest.h>

#include "tests/support/mock_fixture.h"

namespace ismscode::testing {
namespace {

using json = nlohmann::ordered_json;

TEST(ControlApi, CreateAccountWithGeneratedKeyIsolatesTests) {
  MockFixture mock;
  auto r = mock.Control("POST", "accounts", {{"balance", 3.0}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string key = Body(r)["account"]["key"];
  EXPECT_EQ(key.rfind("test_", 0), 0u);
  EXPECT_EQ(mock.Get("/api/v3/services", key)->status, 200);
  const std::string id = mock.BuyNumber("US", "google", key);
  // Another key cannot see it, and its balance is its own.
  EXPECT_EQ(mock.Get("/api/v3/numbers/" + id + "/sms")->status, 404);
  EXPECT_DOUBLE_EQ(Body(mock.Control("GET", "accounts/" + key))["account"]["balance"].get<double>(),
                   2.5);
}

TEST(ControlApi, CreateAccountWithGivenKeyAndDuplicates) {
  MockFixture mock;
  auto r = mock.Control("POST", "accounts", {{"key", "my-own-key-123"}, {"rate_limit", "off"}});
  ASSERT_EQ(r->status, 201);
  EXPECT_EQ(Body(r)["account"]["rate_limit"], "off");
  EXPECT_DOUBLE_EQ(Body(r)["account"]["balance"].get<double>(), 100.0);
  EXPECT_EQ(mock.Control("POST", "accounts", {{"key", "my-own-key-123"}})->status, 409);
  EXPECT_EQ(mock.Control("POST", "accounts", {{"balance", -1}})->status, 400);
  EXPECT_EQ(mock.Control("POST", "accounts", {{"balanse", 1}})->status, 400);
}

TEST(ControlApi, ListUpdateDeleteAccounts) {
  MockFixture mock;
  const json list = Body(mock.Control("GET", "accounts"));
  ASSERT_EQ(list["accounts"].size(), 2u);
  EXPECT_EQ(list["accounts"][0]["key"], "key-alpha-0001");
  auto patched = mock.Control("PATCH", "accounts/key-bravo-0002", {{"balance", 42.5}});
  ASSERT_EQ(patched->status, 200);
  EXPECT_DOUBLE_EQ(Body(patched)["account"]["balance"].get<double>(), 42.5);
  EXPECT_EQ(mock.Control("PATCH", "accounts/key-bravo-0002", {{"balance", "lots"}})->status, 400);
  EXPECT_EQ(mock.Control("DELETE", "accounts/key-bravo-0002")->status, 200);
  EXPECT_EQ(mock.Get("/api/v3/services", "key-bravo-0002")->status, 401);
  EXPECT_EQ(mock.Control("GET", "accounts/key-bravo-0002")->status, 404);
}

TEST(ControlApi, SetStockPriceAndSmsBehaviourOfAnOffer) {
  MockFixture mock;
  auto r = mock.Control(
      "PATCH", "offers/US/amazon",
      {{"stock", 7}, {"price", 1.25}, {"sms", {{"delay", {{"kind", "fixed"}, {"seconds", 3}}}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Body(r)["offer"]["stock"], 7);
  const std::string id = mock.BuyNumber("US", "amazon");
  mock.AdvanceSeconds(3);
  EXPECT_EQ(Body(mock.Get("/api/v3/numbers/" + id + "/sms"))["sms"].size(), 1u);
  EXPECT_DOUBLE_EQ(
      Body(mock.Control("GET", "accounts/key-alpha-0001"))["account"]["balance"].get<double>(),
      8.75);
  auto bad = mock.Control("PATCH", "offers/US/amazon", {{"sms", {{"delay", {{"kind", "soon"}}}}}});
  ASSERT_EQ(bad->status, 400);
  EXPECT_NE(Body(bad)["message"].get<std::string>().find("body.sms.delay.kind"), std::string::npos)
      << bad->body;
  EXPECT_EQ(mock.Control("PATCH", "offers/XX/amazon", {{"stock", 1}})->status, 404);
}

TEST(ControlApi, InjectSmsNowWithTextOrGenerated) {
  MockFixture mock;
  const std::string id = mock.BuyNumber("US", "telegram");
  auto r = mock.Control("POST", "numbers/" + id + "/sms",
                        {{"text", "Your code is 4711"}, {"from", "Acme"}, {"code", "4711"}});
  ASSERT_EQ(r->status, 201) << r->body;
  const json sms = Body(mock.Get("/api/v3/numbers/" + id + "/sms"))["sms"];
  ASSERT_EQ(sms.size(), 1u);
  EXPECT_EQ(sms[0]["text"], "Your code is 4711");
  EXPECT_EQ(sms[0]["from"], "Acme");
  EXPECT_EQ(sms[0]["received_at"], "2026-01-01T00:00:00Z");

  auto generated = mock.Control("POST", "numbers/" + id + "/sms", {{"code", "55555"}});
  ASSERT_EQ(generated->status, 201);
  EXPECT_NE(Body(generated)["sms"]["text"].get<std::string>().find("55555"), std::string::npos);
  auto later = mock.Control("POST", "numbers/" + id + "/sms", json::object({{"delay_seconds", 5}}));
  EXPECT_EQ(Body(later)["sms"]["delivered"], false);
  EXPECT_EQ(mock.Control("POST", "numbers/num_nope/sms", json::object())->status, 404);
}

TEST(ControlApi, NumberDetailShowsTheScheduleAndCodes) {
  MockFixture mock;
  const std::string id = mock.BuyNumber("GB", "google");
  const json n = Body(mock.Control("GET", "numbers/" + id))["number"];
  EXPECT_EQ(n["id"], id);
  EXPECT_EQ(n["country"], "GB");
  ASSERT_EQ(n["sms"].size(), 1u);
  EXPECT_EQ(n["sms"][0]["due_at"], "2026-01-01T00:00:10Z");
  EXPECT_EQ(n["sms"][0]["delivered"], false);
  EXPECT_EQ(n["sms"][0]["code"].get<std::string>().size(), 6u);
  EXPECT_EQ(n["key"], "key-…") << "keys are masked outside the accounts endpoint";
}

TEST(ControlApi, FaultsCanBeAddedListedAndRemoved) {
  MockFixture mock;
  auto added = mock.Control("POST", "faults", {{"kind", "http_503"}, {"endpoint", "services"}});
  ASSERT_EQ(added->status, 201) << added->body;
  const int64_t id = Body(added)["fault"]["id"];
  EXPECT_EQ(mock.Get("/api/v3/services")->status, 503);
  EXPECT_EQ(Body(mock.Control("GET", "faults"))["faults"][0]["fired"], 1);
  EXPECT_EQ(mock.Control("DELETE", "faults/" + std::to_string(id))->status, 200);
  EXPECT_EQ(mock.Get("/api/v3/services")->status, 200);
  EXPECT_EQ(mock.Control("DELETE", "faults/" + std::to_string(id))->status, 404);
  mock.Control("POST", "faults", {{"kind", "http_500"}});
  mock.Control("POST", "faults", {{"kind", "http_503"}});
  EXPECT_EQ(mock.Control("DELETE", "faults")->status, 200);
  EXPECT_EQ(Body(mock.Control("GET", "faults"))["faults"].size(), 0u);
  auto bad = mock.Control("POST", "faults", {{"kind", "explode"}});
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("fault.kind"), std::string::npos);
}

TEST(ControlApi, ClockAdvancesAndReports) {
  MockFixture mock;
  const json before = Body(mock.Control("GET", "clock"));
  EXPECT_EQ(before["now"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(before["frozen"], true);
  auto r = mock.Control("POST", "clock/advance", {{"seconds", 3600}});
  EXPECT_EQ(Body(r)["now"], "2026-01-01T01:00:00Z");
  EXPECT_EQ(mock.Control("POST", "clock/advance", {{"seconds", -5}})->status, 400);
  EXPECT_EQ(mock.Control("POST", "clock/advance", json::object())->status, 400);
  EXPECT_EQ(mock.Get("/api/v3/services")->get_header_value("Date"),
            "Thu, 01 Jan 2026 01:00:00 GMT");
}

TEST(ControlApi, JournalRecordsRestRequestsBoundedAndFiltered) {
  mock::MockService::Options options = FrozenOptions();
  options.journal_capacity = 5;
  MockFixture mock(TestScenario(), options);
  mock.Get("/api/v3/services");
  mock.Get("/api/v3/countries", "key-bravo-0002");
  const std::string id = mock.BuyNumber("US", "google");
  mock.Get("/api/v3/numbers/" + id + "/sms");
  const json j = Body(mock.Control("GET", "journal"));
  ASSERT_EQ(j["entries"].size(), 4u);
  EXPECT_EQ(j["entries"][2]["endpoint"], "numbers.request");
  EXPECT_EQ(j["entries"][2]["number_id"], id);
  EXPECT_EQ(j["entries"][2]["country"], "US");
  EXPECT_EQ(j["entries"][0]["key"], "key-…");
  EXPECT_EQ(j.dump().find("key-alpha-0001"), std::string::npos) << "keys never appear whole";
  const json bravo = Body(mock.Control("GET", "journal?key=key-bravo-0002"));
  ASSERT_EQ(bravo["entries"].size(), 1u);
  EXPECT_EQ(bravo["entries"][0]["endpoint"], "countries");
  const json after = Body(mock.Control("GET", "journal?after=3"));
  EXPECT_EQ(after["entries"].size(), 1u);
  for (int i = 0; i < 10; ++i) mock.Get("/api/v3/services");
  const json bounded = Body(mock.Control("GET", "journal?limit=100"));
  EXPECT_EQ(bounded["entries"].size(), 5u);
  EXPECT_EQ(bounded["last_seq"], 14);
  EXPECT_EQ(mock.Control("DELETE", "journal")->status, 200);
  EXPECT_EQ(Body(mock.Control("GET", "journal"))["entries"].size(), 0u);
}

TEST(ControlApi, JournalRecordsErrorCodesAndFaults) {
  MockFixture mock;
  mock.Get("/api/v3/numbers/num_nope/sms");
  mock.Control("POST", "faults", {{"kind", "http_503"}, {"count", 1}});
  mock.Get("/api/v3/services");
  const json entries = Body(mock.Control("GET", "journal"))["entries"];
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0]["status"], 404);
  EXPECT_EQ(entries[0]["code"], "number_not_found");
  EXPECT_EQ(entries[1]["status"], 503);
  EXPECT_EQ(entries[1]["code"], "service_unavailable");
  EXPECT_EQ(entries[1]["fault"], "http_503");
}

TEST(ControlApi, ResetRestoresTheScenarioAndReplaysTheSameDraws) {
  MockFixture mock;
  const std::string first = mock.BuyNumber("US", "google");
  mock.Control("PATCH", "accounts/key-alpha-0001", {{"balance", 1}});
  mock.Control("POST", "faults", {{"kind", "http_500"}});
  mock.AdvanceSeconds(100);
  ASSERT_EQ(mock.Control("POST", "reset")->status, 200);
  EXPECT_EQ(mock.Get("/api/v3/numbers/" + first + "/sms")->status, 404);
  EXPECT_DOUBLE_EQ(
      Body(mock.Control("GET", "accounts/key-alpha-0001"))["account"]["balance"].get<double>(), 10);
  EXPECT_EQ(Body(mock.Control("GET", "faults"))["faults"].size(), 0u);
  EXPECT_EQ(Body(mock.Control("GET", "clock"))["now"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(mock.BuyNumber("US", "google"), first) << "the seed is replayed from the start";
}

TEST(ControlApi, GetAndPutScenario) {
  MockFixture mock;
  json scenario = Body(mock.Control("GET", "scenario"));
  EXPECT_EQ(scenario["name"], "test");
  EXPECT_EQ(scenario["offers"].size(), 12u);  // 3 countries x 4 services, materialised
  scenario["name"] = "edited";
  scenario["services"] = {"whatsapp"};
  scenario["offers"] = json::array();
  scenario["accounts"] = {{{"key", "fresh-key-0000"}, {"balance", 1}}};
  auto put = mock.Control("PUT", "scenario", scenario);
  ASSERT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(Body(mock.NewClient()->Get("/healthz"))["scenario"], "edited");
  EXPECT_EQ(mock.Get("/api/v3/services", "fresh-key-0000")->body,
            R"({"status":"success","services":["whatsapp"]})");
  EXPECT_EQ(mock.Get("/api/v3/services")->status, 401) << "old accounts are gone";
  auto bad = mock.Control("PUT", "scenario", {{"countries", json::array()}, {"services", {"x"}}});
  ASSERT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["code"], "invalid_scenario");
  EXPECT_NE(bad->body.find("scenario.countries"), std::string::npos) << bad->body;
  EXPECT_EQ(Body(mock.NewClient()->Get("/healthz"))["scenario"], "edited") << "state kept";
}

TEST(ControlApi, AdminTokenGuardsEveryControlRoute) {
  mock::MockService::Options options = FrozenOptions();
  options.admin_token = "s3cret-admin-token";
  MockFixture mock(TestScenario(), options);
  for (const std::string path : {"clock", "faults", "journal", "scenario", "accounts"}) {
    auto r = mock.Control("GET", path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(r->body.find("s3cret"), std::string::npos);
    EXPECT_EQ(mock.Control("GET", path, nullptr, "wrong-token")->status, 401);
    EXPECT_EQ(mock.Control("GET", path, nullptr, "s3cret-admin-token")->status, 200);
  }
  EXPECT_EQ(mock.Control("POST", "reset", json::object())->status, 401);
  // The REST API does not need it.
  EXPECT_EQ(mock.Get("/api/v3/services")->status, 200);
}

TEST(ControlApi, BadControlRequests) {
  MockFixture mock;
  auto client = mock.NewClient();
  auto not_json = client->Post("/_mock/v1/faults", "{kind:", "application/json");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  EXPECT_NE(Body(not_json)["message"].get<std::string>().find("line 1, column"), std::string::npos);
  EXPECT_EQ(client->Post("/_mock/v1/faults", "kind=x", "text/plain")->status, 415);
  EXPECT_EQ(client->Get("/_mock/v1/nothing")->status, 404);
  auto wrong = client->Delete("/_mock/v1/clock");
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->get_header_value("Allow"), "GET");
}

TEST(ControlApi, CarrierSmsReachesTheActiveNumberWithThatPhone) {
  MockFixture mock;
  const std::string id = mock.BuyNumber("US", "telegram");
  const std::string phone = Body(mock.Control("GET", "numbers/" + id))["number"]["phone"];
  // Spaces, dashes and brackets are what people type; the phone is the same.
  std::string spaced = phone.substr(0, 2) + " (" + phone.substr(2, 3) + ") " + phone.substr(5);
  auto r = mock.Control("POST", "sms",
                        {{"to", spaced}, {"from", "DemoApp"}, {"text", "Your DemoApp code: 4711"}});
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(Body(r)["sms"]["number_id"], id);
  EXPECT_EQ(Body(r)["sms"]["to"], phone);
  const json sms = Body(mock.Get("/api/v3/numbers/" + id + "/sms"))["sms"];
  ASSERT_EQ(sms.size(), 1u) << "the scheduled SMS is 10 s away; only the carrier's is visible";
  EXPECT_EQ(sms[0]["from"], "DemoApp");
  EXPECT_EQ(sms[0]["text"], "Your DemoApp code: 4711");
  EXPECT_EQ(sms[0]["received_at"], "2026-01-01T00:00:00Z");
  const json detail = Body(mock.Control("GET", "numbers/" + id))["number"]["sms"];
  EXPECT_EQ(detail[0]["origin"], "carrier");

  // Journal and metrics count it.
  const json journal = Body(mock.Control("GET", "journal?key=key-alpha-0001"));
  const json last = journal["entries"][journal["entries"].size() - 2];  // before the GET
  EXPECT_EQ(last["endpoint"], "carrier.sms");
  EXPECT_EQ(last["number_id"], id);
  EXPECT_EQ(last["status"], 201);
  const std::string metrics = mock.Get("/metrics")->body;
  EXPECT_NE(metrics.find(R"(ismscode_mock_requests_total{endpoint="carrier.sms",status="201"} 1)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(ismscode_mock_sms_delivered_total{service="telegram"} 1)"),
            std::string::npos);
}

TEST(ControlApi, CarrierSmsToAnUnknownOrExpiredPhone) {
  MockFixture mock;
  auto none = mock.Control("POST", "sms", {{"to", "+12125550100"}, {"text", "code 1234"}});
  ASSERT_EQ(none->status, 404) << none->body;
  EXPECT_EQ(Body(none)["code"], "number_not_found");
  const std::string id = mock.BuyNumber("US", "telegram");
  const std::string phone = Body(mock.Control("GET", "numbers/" + id))["number"]["phone"];
  mock.AdvanceSeconds(3600);
  auto expired = mock.Control("POST", "sms", {{"to", phone}, {"text", "code 1234"}});
  ASSERT_EQ(expired->status, 409) << expired->body;
  EXPECT_EQ(Body(expired)["code"], "number_expired");
  const json journal = Body(mock.Control("GET", "journal"));
  EXPECT_EQ(journal["entries"].back()["code"], "number_expired");
  EXPECT_EQ(journal["entries"].back()["endpoint"], "carrier.sms");
}

TEST(ControlApi, CarrierSmsToAPhoneTwoLiveNumbersShareIsRefused) {
  // One phone in the country: the second purchase shares it while the first lasts.
  json j = json::parse(TestScenarioJson());
  j["countries"].push_back(
      {{"code", "ZZ"},
       {"name", "Testland"},
       {"prefix", "+999"},
       {"ranges", {{{"prefix", "+99955501"}, {"first", 0}, {"last", 0}, {"width", 2}}}}});
  auto scenario = mock::ScenarioFromJson(j);
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  MockFixture mock(*scenario);
  const std::string first = mock.BuyNumber("ZZ", "telegram");
  auto one = mock.Control("POST", "sms", {{"to", "+9995550100"}, {"text", "code 1234"}});
  ASSERT_EQ(one->status, 201) << one->body;
  EXPECT_EQ(Body(one)["sms"]["number_id"], first);
  mock.BuyNumber("ZZ", "telegram");
  auto two = mock.Control("POST", "sms", {{"to", "+9995550100"}, {"text", "code 1234"}});
  ASSERT_EQ(two->status, 409) << two->body;
  EXPECT_EQ(Body(two)["code"], "phone_shared");
}

TEST(ControlApi, CarrierSmsRejectsBadRequests) {
  MockFixture mock;
  for (const json& body :
       {json{{"text", "code 1"}}, json{{"to", "+1212"}, {"text", ""}},
        json{{"to", "12125550100"}, {"text", "x"}}, json{{"to", "+1212555abc"}, {"text", "x"}},
        json{{"to", "+12125550100"}, {"text", std::string(1601, 'x')}},
        json{{"to", "+12125550100"}, {"text", "x"}, {"cc", "+1"}},
        json{{"to", 12125550100}, {"text", "x"}}}) {
    auto r = mock.Control("POST", "sms", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body.dump() << " -> " << r->body;
    EXPECT_EQ(Body(r)["code"], "invalid_request");
  }
  EXPECT_EQ(mock.Control("GET", "sms")->status, 405);
}

TEST(ControlApi, AppSmsScenarioSendsNothingOfItsOwn) {
  auto scenario = mock::LoadScenario("app-sms");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  MockFixture mock(*scenario);
  const std::string id = mock.BuyNumber("US", "demoapp", "demo-key");
  mock.AdvanceSeconds(1000);
  EXPECT_EQ(Body(mock.Get("/api/v3/numbers/" + id + "/sms", "demo-key"))["sms"].size(), 0u);
  EXPECT_EQ(Body(mock.Control("GET", "numbers/" + id))["number"]["sms"].size(), 0u);
  EXPECT_EQ(Body(mock.Control("GET", "scenario"))["offers"][0]["sms"]["send"], false);
}

}  // namespace
}  // namespace ismscode::testing
