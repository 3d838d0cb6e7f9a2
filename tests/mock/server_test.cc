// The HTTP layer: HTTPS, many keep-alive clients, and hostile input that must neither
// crash the server nor corrupt its state.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <barrier>
#include <thread>

#include "tests/support/mock_fixture.h"
#include "tests/support/raw_http.h"
#include "tests/support/tls_cert.h"

namespace ismscode::testing {
namespace {

using json = nlohmann::ordered_json;

// The server still answers correctly and its state is what it was.
void ExpectHealthy(MockFixture& mock) {
  auto r = mock.Get("/api/v3/countries");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_DOUBLE_EQ(
      Body(mock.Control("GET", "accounts/key-alpha-0001"))["account"]["balance"].get<double>(), 10);
}

TEST(Server, ServesHttpsWithTheGivenCertificate) {
  SelfSignedCert cert;
  mock::ServerOptions options;
  options.tls_cert_file = cert.cert_file();
  options.tls_key_file = cert.key_file();
  MockFixture mock(TestScenario(), FrozenOptions(), options);
  EXPECT_EQ(mock.base_url().rfind("https://127.0.0.1:", 0), 0u);

  httplib::SSLClient client("127.0.0.1", mock.port());
  client.set_ca_cert_path(cert.cert_file());
  client.enable_server_certificate_verification(true);
  auto r = client.Post("/api/v3/numbers/request", {{"API-Key", "key-alpha-0001"}},
                       R"({"country":"US","service":"google"})", "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r)["status"], "success");

  // A client that does not trust the certificate is refused.
  httplib::SSLClient untrusting("127.0.0.1", mock.port());
  untrusting.enable_server_certificate_verification(true);
  untrusting.set_ca_cert_path("/nonexistent");
  EXPECT_FALSE(untrusting.Get("/healthz"));
  // Plain HTTP on the HTTPS port gets no answer and does not hurt the server.
  auto plain = httplib::Client("127.0.0.1", mock.port()).Get("/healthz");
  EXPECT_TRUE(!plain || plain->status >= 400);
  EXPECT_TRUE(client.Get("/healthz"));
}

TEST(Server, BadCertificateIsAClearError) {
  mock::MockService service(TestScenario(), FrozenOptions());
  mock::ServerOptions options;
  options.tls_cert_file = "/nonexistent/cert.pem";
  options.tls_key_file = "/nonexistent/key.pem";
  auto started = mock::MockHttpServer::Start(service, options);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(started.status().message().find("/nonexistent/cert.pem"), std::string::npos)
      << started.status();
}

TEST(Server, BusyPortIsAClearError) {
  MockFixture first;
  mock::MockService service(TestScenario(), FrozenOptions());
  mock::ServerOptions options;
  options.port = first.port();
  auto started = mock::MockHttpServer::Start(service, options);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(started.status().message().find("cannot listen"), std::string::npos)
      << started.status();
}

// cpp-httplib's defaults (8 workers, each held by a keep-alive connection until its
// timeout) make client 9 wait seconds. All 256 clients hold their connection open at
// once; if any needed a worker held by another, it would stall until keep-alive timed
// out, which we make longer than the test's own timeout.
TEST(Server, ServesManyConcurrentKeepAliveClients) {
  constexpr int kClients = 256;
  mock::ServerOptions options;
  options.keep_alive_timeout_seconds = 300;
  MockFixture mock(TestScenario(), FrozenOptions(), options);
  mock.Control("PATCH", "accounts/key-alpha-0001", {{"rate_limit", "off"}});
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(mock.NewClient());
  // Every client opens its connection before anyone sends a second request.
  std::barrier all_connected(kClients);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto& c = *clients[i];
      c.set_read_timeout(60, 0);
      auto first = c.Get("/api/v3/services", {{"API-Key", "key-alpha-0001"}});
      all_connected.arrive_and_wait();
      auto second = c.Get("/api/v3/countries", {{"API-Key", "key-alpha-0001"}});
      if (first && first->status == 200 && second && second->status == 200) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients);
}

TEST(Server, OversizedBodyIs413) {
  mock::ServerOptions options;
  options.max_body_bytes = 64 * 1024;
  MockFixture mock(TestScenario(), FrozenOptions(), options);
  auto client = mock.NewClient();
  const std::string huge(200 * 1024, 'x');
  auto r = client->Post("/api/v3/numbers/request", {{"API-Key", "key-alpha-0001"}}, huge,
                        "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(Body(r)["code"], "payload_too_large");
  ExpectHealthy(mock);
}

TEST(Server, MalformedJsonBodiesAre400InvalidJson) {
  MockFixture mock;
  auto client = mock.NewClient();
  const httplib::Headers auth = {{"API-Key", "key-alpha-0001"}};
  const std::vector<std::string> bodies = {"",      "{",      "{\"country\": \"US\",}", "null",
                                           "[1,2]", "\"US\"", std::string(100000, '[')};
  for (const std::string& body : bodies) {
    auto r = client->Post("/api/v3/numbers/request", auth, body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body.substr(0, 20);
    EXPECT_EQ(Body(r)["code"], "invalid_json") << body.substr(0, 20);
  }
  ExpectHealthy(mock);
}

TEST(Server, WrongContentTypeIs415) {
  MockFixture mock;
  auto r = mock.NewClient()->Post("/api/v3/numbers/request", {{"API-Key", "key-alpha-0001"}},
                                  "country=US&service=google", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  EXPECT_EQ(Body(r)["code"], "unsupported_media_type");
  auto with_charset = mock.NewClient()->Post(
      "/api/v3/numbers/request", {{"API-Key", "key-alpha-0001"}},
      R"({"country":"US","service":"google"})", "application/json; charset=utf-8");
  EXPECT_EQ(with_charset->status, 200);
}

TEST(Server, InvalidUtf8IsRejectedOrEchoedSafely) {
  MockFixture mock;
  auto client = mock.NewClient();
  const httplib::Headers auth = {{"API-Key", "key-alpha-0001"}};
  // In a JSON body: not valid JSON.
  auto r = client->Post("/api/v3/numbers/request", auth,
                        "{\"country\":\"U\xff\xfe\",\"service\":\"google\"}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Body(r)["code"], "invalid_json");
  // In a path that the error message echoes: replaced, still valid JSON.
  auto p = client->Get("/api/v3/numbers/num_\xc3\x28\xff/sms", auth);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 404);
  EXPECT_FALSE(Body(p).is_discarded()) << p->body;
  // In the journal, which echoes paths too.
  EXPECT_EQ(mock.Control("GET", "journal")->status, 200);
  ExpectHealthy(mock);
}

TEST(Server, HugeHeadersAndGarbageDoNotHurt) {
  MockFixture mock;
  const std::string huge_header =
      "GET /api/v3/countries HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') +
      "\r\n\r\n";
  const std::string answer = RawExchange(mock.port(), huge_header);
  EXPECT_EQ(StatusOf(answer), 431) << answer.substr(0, 80);
  const std::string many_headers = [] {
    std::string s = "GET /api/v3/countries HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 5000; ++i) s += "X-H" + std::to_string(i) + ": v\r\n";
    return s + "\r\n";
  }();
  EXPECT_EQ(StatusOf(RawExchange(mock.port(), many_headers)), 431);
  EXPECT_EQ(RawExchange(mock.port(), "\x16\x03\x01 not http at all\r\n\r\n").find("200 OK"),
            std::string::npos);
  const std::string long_uri = "GET /" + std::string(100000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(StatusOf(RawExchange(mock.port(), long_uri)), 414);
  ExpectHealthy(mock);
}

TEST(Server, UnknownMethodsAreRefused) {
  MockFixture mock;
  const std::string answer =
      RawExchange(mock.port(), "BREW /api/v3/countries HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer.substr(0, 80);
  const std::string put = RawExchange(
      mock.port(), "PUT /api/v3/countries HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(put.rfind("HTTP/1.1 405", 0), 0u) << put.substr(0, 80);
  ExpectHealthy(mock);
}

TEST(Server, HeadRequestsGetHeadersOnly) {
  MockFixture mock;
  auto r = mock.NewClient()->Head("/api/v3/countries", {{"API-Key", "key-alpha-0001"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
}

}  // namespace
}  // namespace ismscode::testing
