// The upstream REST client against the real mock over real HTTP(S): every outcome ends
// in the error table's terms.
#include "server/upstream_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "tests/support/mock_fixture.h"
#include "tests/support/tls_cert.h"

namespace ismscode::gateway {
namespace {

using testing::MockFixture;
using json = nlohmann::ordered_json;

constexpr const char* kKey = "key-alpha-0001";

std::unique_ptr<UpstreamClient> ClientFor(
    const std::string& base_url, std::chrono::milliseconds read_timeout = std::chrono::seconds(10),
    const std::string& ca_file = "") {
  auto c = UpstreamClient::Create(
      {.base_url = base_url + "/api/v3", .ca_file = ca_file, .read_timeout = read_timeout});
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

TEST(UpstreamClient, CatalogueAndPurchaseAndSms) {
  MockFixture mock;
  auto client = ClientFor(mock.base_url());
  auto countries = client->ListCountries(kKey);
  ASSERT_TRUE(countries.ok()) << countries.error->message;
  ASSERT_EQ(countries.value->size(), 3u);
  EXPECT_EQ((*countries.value)[1].code, "GB");
  EXPECT_EQ((*countries.value)[1].prefix, "+44");
  auto services = client->ListServices(kKey);
  ASSERT_TRUE(services.ok());
  EXPECT_EQ(services.value->front(), "whatsapp");

  auto number = client->RequestNumber(kKey, "US", "google");
  ASSERT_TRUE(number.ok()) << number.error->message;
  EXPECT_EQ(number.value->country, "US");
  EXPECT_EQ(number.value->expires_at, *ParseRfc3339("2026-01-01T00:20:00Z"));
  // The mock's clock is frozen at 2026-01-01: the Date header says so, for skew.
  EXPECT_EQ(number.upstream_date, ParseRfc3339("2026-01-01T00:00:00Z"));

  auto none = client->ListSms(kKey, number.value->id);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.value->empty());
  mock.AdvanceSeconds(10);
  auto one = client->ListSms(kKey, number.value->id);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one.value->size(), 1u);
  EXPECT_EQ(one.value->front().received_at, *ParseRfc3339("2026-01-01T00:00:10Z"));
}

TEST(UpstreamClient, DocumentedErrorsMapToTheTable) {
  MockFixture mock;
  auto client = ClientFor(mock.base_url());
  EXPECT_EQ(client->RequestNumber(kKey, "XX", "google").error->reason, Reason::kInvalidCountry);
  EXPECT_EQ(client->RequestNumber(kKey, "US", "myspace").error->reason, Reason::kInvalidService);
  EXPECT_EQ(client->RequestNumber(kKey, "CA", "whatsapp").error->reason,
            Reason::kNoNumbersAvailable);
  EXPECT_EQ(client->ListSms(kKey, "num_unknown").error->reason, Reason::kNumberNotFound);
  auto unauthorized = client->ListServices("wrong-key-secret-123");
  EXPECT_EQ(unauthorized.error->reason, Reason::kUnauthorized);
  EXPECT_EQ(unauthorized.error->message.find("wrong-key-secret"), std::string::npos)
      << "a key never appears in an error";
  mock.Control("PATCH", "accounts/key-alpha-0001", {{"balance", 0}});
  EXPECT_EQ(client->RequestNumber(kKey, "US", "google").error->reason,
            Reason::kInsufficientBalance);
  mock.Control("POST", "faults", {{"kind", "rate_limit_exceeded"}, {"retry_after_seconds", 7}});
  auto limited = client->ListServices(kKey);
  EXPECT_EQ(limited.error->reason, Reason::kRateLimitExceeded);
  EXPECT_EQ(limited.error->retry_after, std::chrono::seconds(7));
}

TEST(UpstreamClient, MisbehavingUpstreamIsClassifiedNeverThrown) {
  MockFixture mock;
  auto client = ClientFor(mock.base_url(), std::chrono::milliseconds(300));
  auto fault = [&](const char* kind, const char* endpoint) {
    mock.Control("POST", "faults", {{"kind", kind}, {"endpoint", endpoint}, {"count", 1}});
  };
  fault("http_500", "services");
  EXPECT_EQ(client->ListServices(kKey).error->reason, Reason::kUpstreamUnavailable);
  fault("http_503", "services");
  EXPECT_EQ(client->ListServices(kKey).error->reason, Reason::kUpstreamUnavailable);
  fault("reset", "services");
  EXPECT_EQ(client->ListServices(kKey).error->reason, Reason::kUpstreamUnavailable);
  fault("malformed_json", "numbers.request");
  EXPECT_EQ(client->RequestNumber(kKey, "US", "google").error->reason,
            Reason::kUpstreamBadResponse);
  // A purchase that never gets an answer: outcome unknown.
  fault("hang", "numbers.request");
  EXPECT_EQ(client->RequestNumber(kKey, "US", "google").error->reason, Reason::kUpstreamTimeout);
  // A read that never gets an answer is just unavailable (safe to retry).
  fault("hang", "countries");
  EXPECT_EQ(client->ListCountries(kKey).error->reason, Reason::kUpstreamUnavailable);
  // And the client still works afterwards.
  EXPECT_TRUE(client->ListServices(kKey).ok());
}

TEST(UpstreamClient, ConnectFailureIsUnavailable) {
  int port;
  {
    MockFixture gone;
    port = gone.port();
  }
  auto client = ClientFor("http://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(client->ListServices(kKey).error->reason, Reason::kUpstreamUnavailable);
}

TEST(UpstreamClient, HttpsWithAGivenCaFile) {
  testing::SelfSignedCert cert;
  mock::ServerOptions options;
  options.tls_cert_file = cert.cert_file();
  options.tls_key_file = cert.key_file();
  MockFixture mock(testing::TestScenario(), testing::FrozenOptions(), options);
  auto trusted = ClientFor(mock.base_url(), std::chrono::seconds(10), cert.cert_file());
  EXPECT_TRUE(trusted->ListServices(kKey).ok());
  // Without the CA the system store does not know this certificate.
  auto untrusted = ClientFor(mock.base_url());
  EXPECT_EQ(untrusted->ListServices(kKey).error->reason, Reason::kUpstreamUnavailable);
}

TEST(UpstreamClient, OddIdsCannotEscapeTheirPath) {
  MockFixture mock;
  auto client = ClientFor(mock.base_url());
  const auto r = client->ListSms(kKey, "../../countries?x=");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error->reason, Reason::kUpstreamUnavailable);
  const json journal = testing::Body(mock.Control("GET", "journal"));
  // Whatever the upstream makes of the escaped id, it was not asked for /countries.
  EXPECT_NE(journal["entries"].back()["endpoint"], "countries");
  EXPECT_EQ(journal["entries"].back()["status"], 404);
}

TEST(UpstreamClient, BadUrlsAreClearErrors) {
  auto ftp = UpstreamClient::Create({.base_url = "ftp://example.com"});
  ASSERT_FALSE(ftp.ok());
  EXPECT_EQ(ftp.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ftp.status().message().find("http://"), std::string::npos);
  EXPECT_FALSE(UpstreamClient::Create({.base_url = "http://"}).ok());
}

TEST(UpstreamClient, TimeFormats) {
  EXPECT_EQ(ParseHttpDate("Sat, 21 Mar 2026 20:15:00 GMT"), ParseRfc3339("2026-03-21T20:15:00Z"));
  EXPECT_FALSE(ParseHttpDate("yesterday"));
  EXPECT_FALSE(ParseRfc3339("2026-03-21 20:15"));
  EXPECT_TRUE(ParseRfc3339("2026-03-21T20:15:00.5Z"));
  // Years past 2262 overflow system_clock's nanoseconds: not times (the fuzzer's find).
  EXPECT_FALSE(ParseHttpDate("Sun, 06 Nov 3988 08:49:37 GMT"));
  EXPECT_FALSE(ParseRfc3339("9999-12-31T23:59:59Z"));
  EXPECT_FALSE(ParseHttpDate("Sat, 21 Mar 2026 -5:15:00 GMT"));
  EXPECT_TRUE(ParseRfc3339("2200-01-01T00:00:00Z"));
}

// An upstream that answers what the test scripts, for headers the mock never sends.
class ScriptedServer {
 public:
  explicit ScriptedServer(httplib::Server::Handler handler) {
    server_.Post("/api/v3/numbers/request", handler);
    server_.Get("/api/v3/countries", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    // Bound and listening already: connections wait in the backlog until it accepts.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~ScriptedServer() {
    while (!server_.is_running()) std::this_thread::yield();  // stop() needs a running server
    server_.stop();
    thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(UpstreamClient, RetryAfterAsAnHttpDateIsReadAgainstTheAnswersOwnDate) {
  ScriptedServer upstream([](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Date", "Sun, 06 Nov 1994 08:49:37 GMT");
    res.set_header("Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT");  // 30 s later
    res.set_content(R"({"status":"error","code":"rate_limit_exceeded","message":"slow down"})",
                    "application/json");
  });
  auto client = ClientFor(upstream.base_url());
  auto r = client->RequestNumber(kKey, "US", "google");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->reason, Reason::kRateLimitExceeded);
  ASSERT_TRUE(r.error->retry_after);
  EXPECT_EQ(*r.error->retry_after, std::chrono::seconds(30));
}

TEST(UpstreamClient, TheUpstreamsMessageNeverBecomesOurs) {
  ScriptedServer upstream([](const httplib::Request&, httplib::Response& res) {
    res.status = 401;
    res.set_content(
        R"({"status":"error","code":"unauthorized","message":"key Bearer key-alpha-0001 is wrong"})",
        "application/json");
  });
  auto client = ClientFor(upstream.base_url());
  auto r = client->ListCountries(kKey);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->reason, Reason::kUnauthorized);
  EXPECT_EQ(r.error->message.find("key-alpha"), std::string::npos) << r.error->message;
  for (const auto& [k, v] : r.error->metadata) EXPECT_EQ(v.find("key-alpha"), std::string::npos);
}

}  // namespace
}  // namespace ismscode::gateway
