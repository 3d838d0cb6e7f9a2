// ismscode-gateway: parses flags, starts the gateway (and, with no --upstream, the
// bundled mock on loopback), serves until SIGINT/SIGTERM.
#include <absl/synchronization/mutex.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/log.h"
#include "common/signals.h"
#include "mock/http_server.h"
#include "mock/scenario.h"
#include "mock/service.h"
#include "server/flags.h"
#include "server/gateway.h"

namespace {
using ismscode::LogLine;
using ismscode::gateway::GatewayOptions;
}  // namespace

int main(int argc, char** argv) {
  // gRPC's absl::Mutex checks every lock order against a global graph (Debian builds
  // absl without NDEBUG): measurable on every call, and a bug finder, not a guard.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto parsed = ismscode::gateway::ParseGatewayFlags(argc, argv, ismscode::ProcessEnvironment());
  if (!parsed.ok()) {
    std::cerr << "ismscode-gateway: " << parsed.status().message() << "\n";
    return 2;
  }
  if (parsed->help) {
    std::cout << ismscode::gateway::GatewayUsage();
    return 0;
  }
  GatewayOptions& options = parsed->options;

  const sigset_t stop_signals = ismscode::BlockStopSignals();

  std::unique_ptr<ismscode::mock::MockService> mock;
  std::unique_ptr<ismscode::mock::MockHttpServer> mock_server;
  if (parsed->upstream.empty()) {
    auto s = ismscode::mock::LoadScenario(parsed->mock_scenario);
    if (!s.ok()) {
      std::cerr << "ismscode-gateway: " << s.status().message() << "\n";
      return 2;
    }
    const std::string key = s->accounts.empty() ? "" : s->accounts.front().key;
    mock =
        std::make_unique<ismscode::mock::MockService>(*s, ismscode::mock::MockService::Options{});
    auto started = ismscode::mock::MockHttpServer::Start(*mock, {});
    if (!started.ok()) {
      std::cerr << "ismscode-gateway: bundled mock: " << started.status().message() << "\n";
      return 1;
    }
    mock_server = *std::move(started);
    options.upstream.base_url = mock_server->base_url() + "/api/v3";
    options.upstream_key = key;
    LogLine("info", "no --upstream given: using the bundled mock",
            {{"mock", options.upstream.base_url}, {"scenario", s->name}});
  }

  auto started = ismscode::gateway::Gateway::Start(options);
  if (!started.ok()) {
    std::cerr << "ismscode-gateway: " << started.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<ismscode::gateway::Gateway> gateway = *std::move(started);
  auto host_of = [](const std::string& listen) { return listen.substr(0, listen.rfind(':')); };
  const std::string host = host_of(options.listen);
  LogLine("info", "ismscode-gateway listening",
          {{"grpc", host + ":" + std::to_string(gateway->port())},
           {"port", gateway->port()},
           {"pid", static_cast<int>(getpid())},
           {"upstream", options.upstream.base_url},
           {"metrics", gateway->metrics_port()
                           ? host_of(options.metrics_listen) + ":" +
                                 std::to_string(gateway->metrics_port()) + "/metrics"
                           : "off"},
           {"metrics_port", gateway->metrics_port()},
           {"tls", !options.tls_cert_chain.empty()},
           {"caller_tokens", options.caller_tokens.size()},
           {"allow_caller_keys", options.allow_caller_keys},
           {"poll_interval_ms", options.poll_interval.count()},
           {"rate_limit", options.rate_limit},
           {"rate_window_seconds", options.rate_window.count() / 1000}});

  LogLine("info", "draining", {{"signal", ismscode::WaitForStopSignal(stop_signals)}});
  gateway->Shutdown();
  if (mock_server) mock_server->Stop();
  LogLine("info", "stopped");
  return 0;
}
