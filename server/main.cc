// ismscode-gateway: parses flags, starts the gateway (and, with no --upstream, the
// bundled mock on loopback), serves until SIGINT/SIGTERM.
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mock/clock.h"
#include "mock/http_server.h"
#include "mock/process.h"
#include "mock/scenario.h"
#include "mock/service.h"
#include "server/gateway.h"

namespace {

using ismscode::gateway::GatewayOptions;
using ismscode::mock::LogLine;

constexpr const char* kUsage =
    "Usage: ismscode-gateway [flags]\n"
    "gRPC gateway (ismscode.harness.v1.VerificationService) in front of the iSMScode API.\n"
    "With no --upstream it starts the bundled mock on loopback and uses it.\n\n"
    "  --listen HOST:PORT       gRPC address (default 127.0.0.1:50051; port 0: any)\n"
    "  --upstream URL           the REST API, e.g. https://ismscode.com/api/v3; its key\n"
    "                           comes from ISMSCODE_API_KEY or --api-key-file, never a flag\n"
    "  --api-key-file FILE      read the upstream key from FILE\n"
    "  --ca-file FILE           trust this PEM CA for an HTTPS upstream (default: system)\n"
    "  --poll-interval-ms N     SMS poll interval per number (default 5000)\n"
    "  --rate-limit N           upstream requests per minute per key (default 60)\n"
    "  --workers N              upstream connections and worker threads (default 8)\n"
    "  --mock-scenario NAME     scenario of the bundled mock (default: default)\n"
    "  --help                   this text\n";

bool ParseInt(const std::string& s, long* out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

int main(int argc, char** argv) {
  GatewayOptions options;
  options.listen = "127.0.0.1:50051";
  std::string upstream, key_file, scenario = "default";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (arg != "--help" && i + 1 < argc) {
      value = argv[++i];
    }
    long n = 0;
    if (arg == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--listen" && !value.empty()) {
      options.listen = value;
    } else if (arg == "--upstream" && !value.empty()) {
      upstream = value;
    } else if (arg == "--api-key-file" && !value.empty()) {
      key_file = value;
    } else if (arg == "--ca-file" && !value.empty()) {
      options.upstream.ca_file = value;
    } else if (arg == "--poll-interval-ms" && ParseInt(value, &n) && n >= 10) {
      options.poll_interval = std::chrono::milliseconds(n);
    } else if (arg == "--rate-limit" && ParseInt(value, &n) && n >= 1) {
      options.requests_per_minute = static_cast<double>(n);
    } else if (arg == "--workers" && ParseInt(value, &n) && n >= 1 && n <= 256) {
      options.workers = static_cast<size_t>(n);
    } else if (arg == "--mock-scenario" && !value.empty()) {
      scenario = value;
    } else {
      std::cerr << "ismscode-gateway: bad flag or value: " << arg << " (see --help)\n";
      return 2;
    }
  }

  const sigset_t stop_signals = ismscode::mock::BlockStopSignals();

  std::string error;
  std::unique_ptr<ismscode::mock::MockService> mock;
  std::unique_ptr<ismscode::mock::MockHttpServer> mock_server;
  if (upstream.empty()) {
    auto s = ismscode::mock::LoadScenario(scenario, &error);
    if (!s) {
      std::cerr << "ismscode-gateway: " << error << "\n";
      return 2;
    }
    const std::string key = s->accounts.empty() ? "" : s->accounts.front().key;
    mock =
        std::make_unique<ismscode::mock::MockService>(*s, ismscode::mock::MockService::Options{});
    mock_server = ismscode::mock::MockHttpServer::Start(*mock, {}, &error);
    if (!mock_server) {
      std::cerr << "ismscode-gateway: bundled mock: " << error << "\n";
      return 1;
    }
    options.upstream.base_url = mock_server->base_url() + "/api/v3";
    options.upstream_key = key;
    LogLine("info", "no --upstream given: using the bundled mock",
            {{"mock", options.upstream.base_url}, {"scenario", s->name}});
  } else {
    options.upstream.base_url = upstream;
    if (!key_file.empty()) {
      std::ifstream in(key_file);
      std::stringstream buf;
      buf << in.rdbuf();
      options.upstream_key = buf.str();
      while (!options.upstream_key.empty() &&
             std::isspace(static_cast<unsigned char>(options.upstream_key.back()))) {
        options.upstream_key.pop_back();
      }
    } else if (const char* env = std::getenv("ISMSCODE_API_KEY")) {
      options.upstream_key = env;
    }
    if (options.upstream_key.empty()) {
      std::cerr << "ismscode-gateway: --upstream needs a key: set ISMSCODE_API_KEY or give "
                   "--api-key-file\n";
      return 2;
    }
  }

  auto gateway = ismscode::gateway::Gateway::Start(options, &error);
  if (!gateway) {
    std::cerr << "ismscode-gateway: " << error << "\n";
    return 1;
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  LogLine("info", "ismscode-gateway listening",
          {{"grpc", host + ":" + std::to_string(gateway->port())},
           {"port", gateway->port()},
           {"upstream", options.upstream.base_url},
           {"poll_interval_ms", options.poll_interval.count()},
           {"rate_limit_per_minute", options.requests_per_minute}});

  LogLine("info", "draining", {{"signal", ismscode::mock::WaitForStopSignal(stop_signals)}});
  gateway->Shutdown();
  if (mock_server) mock_server->Stop();
  LogLine("info", "stopped");
  return 0;
}
