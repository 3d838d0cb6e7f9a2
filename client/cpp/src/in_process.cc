#include "ismscode/harness/detail/in_process.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "mock/http_server.h"
#include "mock/scenario.h"
#include "mock/service.h"
#include "server/gateway.h"

namespace ismscode::harness::detail {
namespace {
// The mock's account for the gateway's own key (calls without a caller key use it).
constexpr const char* kGatewayKey = "harness-in-process-gateway-key";
}  // namespace

struct InProcessGateway::Impl {
  std::string address, mock_url;
  std::unique_ptr<mock::MockService> mock;
  std::unique_ptr<mock::MockHttpServer> mock_server;
  std::unique_ptr<gateway::Gateway> gateway;
};

InProcessGateway::InProcessGateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
InProcessGateway::~InProcessGateway() { Stop(); }
const std::string& InProcessGateway::address() const { return impl_->address; }
const std::string& InProcessGateway::mock_url() const { return impl_->mock_url; }

std::unique_ptr<InProcessGateway> InProcessGateway::Start(const std::string& scenario_name,
                                                          std::chrono::milliseconds poll_interval,
                                                          std::string* error) {
  auto scenario = mock::LoadScenario(scenario_name);
  if (!scenario.ok()) {
    *error = "scenario " + scenario_name + ": " + std::string(scenario.status().message());
    return nullptr;
  }
  scenario->accounts.push_back({.key = kGatewayKey,
                                .balance_micros = 1'000'000'000,
                                .rate_limit = mock::RateLimit{.enabled = false}});
  auto impl = std::make_unique<Impl>();
  impl->mock = std::make_unique<mock::MockService>(*scenario, mock::MockService::Options{});
  auto mock_server = mock::MockHttpServer::Start(*impl->mock, {});
  if (!mock_server.ok()) {
    *error = "mock: " + std::string(mock_server.status().message());
    return nullptr;
  }
  impl->mock_server = *std::move(mock_server);
  impl->mock_url = impl->mock_server->base_url();

  gateway::GatewayOptions g;
  g.listen = "127.0.0.1:0";
  g.upstream.base_url = impl->mock_url + "/api/v3";
  g.upstream_key = kGatewayKey;
  g.poll_interval = poll_interval;
  g.rate_limit = 600;  // the mock's own limits apply per account; no provider to spare
  g.allow_caller_keys = true;
  auto started = gateway::Gateway::Start(g);
  if (!started.ok()) {
    *error = "gateway: " + std::string(started.status().message());
    return nullptr;
  }
  impl->gateway = *std::move(started);
  impl->address = "127.0.0.1:" + std::to_string(impl->gateway->port());
  return std::unique_ptr<InProcessGateway>(new InProcessGateway(std::move(impl)));
}

void InProcessGateway::Stop() {
  if (impl_->gateway) impl_->gateway->Shutdown();
  impl_->gateway.reset();
  if (impl_->mock_server) impl_->mock_server->Stop();
  impl_->mock_server.reset();
  impl_->mock.reset();
}

bool CreateMockAccount(const std::string& mock_url, const std::string& key, double balance,
                       std::string* error) {
  httplib::Client control(mock_url);
  control.set_connection_timeout(5);
  control.set_read_timeout(30);
  const nlohmann::json body = {{"key", key}, {"balance", balance}, {"rate_limit", "off"}};
  auto r = control.Post("/_mock/v1/accounts", body.dump(), "application/json");
  if (r && r->status == 201) return true;
  *error = "cannot create a mock account at " + mock_url + ": " +
           (r ? std::to_string(r->status) + " " + r->body : httplib::to_string(r.error()));
  return false;
}

}  // namespace ismscode::harness::detail
