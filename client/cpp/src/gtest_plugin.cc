#include <httplib.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>

#include "ismscode/harness/gtest.h"
#include "mock/http_server.h"
#include "mock/scenario.h"
#include "mock/service.h"
#include "server/gateway.h"

namespace ismscode::harness {
namespace {

HarnessEnvironment* g_environment = nullptr;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string RandomSuffix() {
  static std::mutex mutex;
  static std::mt19937_64 random{std::random_device{}()};
  std::lock_guard lock(mutex);
  char buf[20];
  snprintf(buf, sizeof buf, "%012llx",
           static_cast<unsigned long long>(random() & 0xffffffffffffULL));
  return buf;
}

// The in-process mock's own key for the gateway (used when a test has no account).
constexpr const char* kGatewayKey = "harness-gtest-gateway-key";

}  // namespace

struct HarnessEnvironment::Impl {
  HarnessOptions options;
  std::string address, mock_url;
  std::unique_ptr<mock::MockService> mock;
  std::unique_ptr<mock::MockHttpServer> mock_server;
  std::unique_ptr<gateway::Gateway> gateway;
};

HarnessEnvironment::HarnessEnvironment(HarnessOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
HarnessEnvironment::~HarnessEnvironment() = default;

HarnessEnvironment* HarnessEnvironment::Get() { return g_environment; }
const std::string& HarnessEnvironment::gateway_address() const { return impl_->address; }
const std::string& HarnessEnvironment::mock_url() const { return impl_->mock_url; }
bool HarnessEnvironment::in_process() const { return impl_->gateway != nullptr; }

void HarnessEnvironment::SetUp() {
  Impl& m = *impl_;
  m.address = Env("ISMSCODE_HARNESS_ADDR");
  if (!m.address.empty()) {
    m.mock_url = Env("ISMSCODE_MOCK_URL");
    g_environment = this;
    return;
  }
  std::string name = m.options.scenario;
  if (name.empty()) name = Env("ISMSCODE_HARNESS_SCENARIO");
  if (name.empty()) name = "ci-fast";
  auto scenario = mock::LoadScenario(name);
  ASSERT_TRUE(scenario.ok()) << "ismscode harness: scenario " << name << ": "
                             << scenario.status().message();
  scenario->accounts.push_back({.key = kGatewayKey,
                                .balance_micros = 1'000'000'000,
                                .rate_limit = mock::RateLimit{.enabled = false}});
  m.mock = std::make_unique<mock::MockService>(*scenario, mock::MockService::Options{});
  auto mock_server = mock::MockHttpServer::Start(*m.mock, {});
  ASSERT_TRUE(mock_server.ok()) << "ismscode harness: mock: " << mock_server.status().message();
  m.mock_server = *std::move(mock_server);
  m.mock_url = m.mock_server->base_url();

  gateway::GatewayOptions g;
  g.listen = "127.0.0.1:0";
  g.upstream.base_url = m.mock_url + "/api/v3";
  g.upstream_key = kGatewayKey;
  g.poll_interval = m.options.poll_interval;
  g.rate_limit = 600;  // the mock's own limits apply per account; no provider to spare
  g.allow_caller_keys = true;
  auto started = gateway::Gateway::Start(g);
  ASSERT_TRUE(started.ok()) << "ismscode harness: gateway: " << started.status().message();
  m.gateway = *std::move(started);
  m.address = "127.0.0.1:" + std::to_string(m.gateway->port());
  g_environment = this;
}

void HarnessEnvironment::TearDown() {
  g_environment = nullptr;
  if (impl_->gateway) impl_->gateway->Shutdown();
  impl_->gateway.reset();
  if (impl_->mock_server) impl_->mock_server->Stop();
  impl_->mock_server.reset();
  impl_->mock.reset();
}

const std::string& HarnessTest::mock_url() const {
  static const std::string kNone;
  return g_environment ? g_environment->mock_url() : kNone;
}

void HarnessTest::SetUp() {
  ASSERT_NE(g_environment, nullptr)
      << "ismscode harness: no HarnessEnvironment (link ismscode::harness_gtest_main or "
         "register one with ::testing::AddGlobalTestEnvironment)";
  ClientOptions options;
  options.address = g_environment->gateway_address();
  if (g_environment->in_process()) options.use_environment = false;
  if (!mock_url().empty()) {
    // An account of its own: parallel tests share no balance, stock charge or budget.
    account_key_ = "gtest-" + RandomSuffix();
    httplib::Client control(mock_url());
    const nlohmann::json body = {{"key", account_key_}, {"balance", 1000}, {"rate_limit", "off"}};
    auto r = control.Post("/_mock/v1/accounts", body.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 201)
        << "ismscode harness: cannot create a mock account at " << mock_url() << ": "
        << (r ? r->body : httplib::to_string(r.error()));
    options.caller_key = account_key_;
  }
  auto client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  client_ = std::make_unique<Client>(std::move(*client));
}

Number HarnessTest::AcquireNumber(const std::string& country, const std::string& service,
                                  std::source_location where) {
  return AcquireNumber(AcquireRequest{.country = country, .service = service}, where);
}

Number HarnessTest::AcquireNumber(const AcquireRequest& request, std::source_location where) {
  if (!client_) {
    GTEST_MESSAGE_AT_(where.file_name(), where.line(), "ismscode harness: no client",
                      ::testing::TestPartResult::kFatalFailure);
    return {};
  }
  auto number = client_->Acquire(request);
  if (!number.ok()) {
    GTEST_MESSAGE_AT_(where.file_name(), where.line(),
                      ("AcquireNumber(" + request.country + ", " + request.service +
                       ") failed: " + number.error().ToString())
                          .c_str(),
                      ::testing::TestPartResult::kFatalFailure);
    return {};
  }
  return *number;
}

Code HarnessTest::AwaitCode(const Number& number, const AwaitOptions& options,
                            std::source_location where) {
  if (!client_ || number.id.empty()) {
    GTEST_MESSAGE_AT_(where.file_name(), where.line(),
                      "AwaitCode: no number (did AcquireNumber fail?)",
                      ::testing::TestPartResult::kFatalFailure);
    return {};
  }
  auto code = client_->AwaitCode(number.id, options);
  if (!code.ok()) {
    GTEST_MESSAGE_AT_(
        where.file_name(), where.line(),
        ("AwaitCode(" + number.phone + ") failed: " + code.error().ToString()).c_str(),
        ::testing::TestPartResult::kFatalFailure);
    return {};
  }
  return *code;
}

}  // namespace ismscode::harness
