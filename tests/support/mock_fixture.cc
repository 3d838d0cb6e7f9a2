#include "tests/support/mock_fixture.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace ismscode::testing {

using json = nlohmann::ordered_json;

std::string TestScenarioJson() {
  return R"({
    "name": "test",
    "reservation_seconds": 1200,
    "rate_limit": {"requests": 60, "window_seconds": 60},
    "countries": [
      {"code": "US", "name": "United States", "prefix": "+1"},
      {"code": "GB", "name": "United Kingdom", "prefix": "+44"},
      {"code": "CA", "name": "Canada", "prefix": "+1"}
    ],
    "services": ["whatsapp", "telegram", "google", "amazon"],
    "offer_defaults": {"price": 0.50, "stock": 100,
                       "sms": {"delay": {"kind": "fixed", "seconds": 10}}},
    "offers": [{"country": "CA", "service": "whatsapp", "stock": 0}],
    "accounts": [
      {"key": "key-alpha-0001", "balance": 10.00},
      {"key": "key-bravo-0002", "balance": 10.00}
    ]
  })";
}

mock::Scenario TestScenario() {
  auto s = mock::ParseScenario(TestScenarioJson());
  if (!s.ok()) throw std::runtime_error(s.status().ToString());
  return *s;
}

mock::MockService::Options FrozenOptions(uint64_t seed) {
  mock::MockService::Options o;
  o.seed = seed;
  o.clock.frozen = true;
  o.clock.start_time = ParseRfc3339("2026-01-01T00:00:00Z");
  return o;
}

MockFixture::MockFixture(mock::Scenario scenario, mock::MockService::Options options,
                         mock::ServerOptions server_options) {
  service_ = std::make_unique<mock::MockService>(std::move(scenario), std::move(options));
  server_options.port = 0;
  tls_ = !server_options.tls_cert_file.empty();
  auto started = mock::MockHttpServer::Start(*service_, server_options);
  if (!started.ok()) {
    throw std::runtime_error("mock did not start: " + std::string(started.status().message()));
  }
  server_ = *std::move(started);
  client_ = NewClient();
}

MockFixture::~MockFixture() { server_->Stop(); }

std::unique_ptr<httplib::Client> MockFixture::NewClient() const {
  auto c = std::make_unique<httplib::Client>((tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") +
                                             std::to_string(port()));
  // The test's own certificate: the fixture trusts its own mock.
  if (tls_) c->enable_server_certificate_verification(false);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);  // or every POST stalls 40 ms on Nagle + delayed ACK
  c->set_read_timeout(10, 0);
  c->set_connection_timeout(5, 0);
  return c;
}

httplib::Result MockFixture::Get(const std::string& path, const std::string& key) {
  return client_->Get(path, {{"Authorization", "Bearer " + key}});
}

httplib::Result MockFixture::RequestNumber(const std::string& country, const std::string& service,
                                           const std::string& key) {
  const json body = {{"country", country}, {"service", service}};
  return client_->Post("/api/v3/numbers/request", {{"Authorization", "Bearer " + key}}, body.dump(),
                       "application/json");
}

std::string MockFixture::BuyNumber(const std::string& country, const std::string& service,
                                   const std::string& key) {
  auto r = RequestNumber(country, service, key);
  EXPECT_TRUE(r);
  if (!r) return "";
  EXPECT_EQ(r->status, 200) << r->body;
  const json j = Body(r);
  return j.contains("number") ? j["number"]["id"].get<std::string>() : "";
}

httplib::Result MockFixture::Control(const std::string& method, const std::string& path,
                                     const json& body, const std::string& admin_token) {
  httplib::Headers headers;
  if (!admin_token.empty()) headers.emplace("Authorization", "Bearer " + admin_token);
  const std::string full = "/_mock/v1/" + path;
  const std::string payload = body.is_null() ? "" : body.dump();
  if (method == "GET") return client_->Get(full, headers);
  if (method == "DELETE") return client_->Delete(full, headers);
  if (method == "POST") return client_->Post(full, headers, payload, "application/json");
  if (method == "PUT") return client_->Put(full, headers, payload, "application/json");
  if (method == "PATCH") return client_->Patch(full, headers, payload, "application/json");
  throw std::invalid_argument("method " + method);
}

void MockFixture::AdvanceSeconds(double seconds) {
  auto r = Control("POST", "clock/advance", {{"seconds", seconds}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
}

json Body(const httplib::Result& result) {
  if (!result) return nullptr;
  return json::parse(result->body, nullptr, false);
}

}  // namespace ismscode::testing
