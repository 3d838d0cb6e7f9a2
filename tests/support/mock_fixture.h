#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "mock/http_server.h"
#include "mock/scenario.h"
#include "mock/service.h"

namespace ismscode::testing {

// A compact scenario for tests: US/GB/CA, a few services, fixed 10 s SMS delay, and
// two accounts ("key-alpha-0001", "key-bravo-0002") with 10.00 each.
std::string TestScenarioJson();
mock::Scenario TestScenario();
// A frozen clock at 2026-01-01T00:00:00Z, seed 42: nothing moves unless a test says so.
mock::MockService::Options FrozenOptions(uint64_t seed = 42);

// The real mock, in-process, over real HTTP on a port the kernel picks.
class MockFixture {
 public:
  explicit MockFixture(mock::Scenario scenario = TestScenario(),
                       mock::MockService::Options options = FrozenOptions(),
                       mock::ServerOptions server_options = {});
  ~MockFixture();

  int port() const { return server_->port(); }
  std::string base_url() const { return server_->base_url(); }
  mock::MockService& service() { return *service_; }
  mock::MockHttpServer& server() { return *server_; }

  // A new keep-alive client to the mock.
  std::unique_ptr<httplib::Client> NewClient() const;

  // REST helpers: the key goes in the Authorization header.
  httplib::Result Get(const std::string& path, const std::string& key = "key-alpha-0001");
  httplib::Result RequestNumber(const std::string& country, const std::string& service,
                                const std::string& key = "key-alpha-0001");
  // The id of a freshly bought number (asserts success).
  std::string BuyNumber(const std::string& country = "US", const std::string& service = "whatsapp",
                        const std::string& key = "key-alpha-0001");
  // Control API helpers.
  httplib::Result Control(const std::string& method, const std::string& path,
                          const nlohmann::ordered_json& body = nullptr,
                          const std::string& admin_token = "");
  void AdvanceSeconds(double seconds);

 private:
  std::unique_ptr<mock::MockService> service_;
  std::unique_ptr<mock::MockHttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
  bool tls_ = false;
};

// Parses a response body as JSON (null when it is not JSON).
nlohmann::ordered_json Body(const httplib::Result& result);

}  // namespace ismscode::testing
