// ismscode-gateway: parses flags, starts the gateway (and, with no --upstream, the
// bundled mock on loopback), serves until SIGINT/SIGTERM.
#include <absl/synchronization/mutex.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "mock/clock.h"
#include "mock/http_server.h"
#include "common/log.h"
#include "common/signals.h"
#include "mock/scenario.h"
#include "mock/service.h"
#include "server/gateway.h"

namespace {

using ismscode::gateway::GatewayOptions;
using ismscode::LogLine;

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
    "  --rate-limit N           at most N upstream requests per key in any interval of\n"
    "                           --rate-window (default 60; purchases, polls, lists)\n"
    "  --rate-window SECONDS    the upstream's rate-limit window (default 60)\n"
    "  --list-cache-seconds N   keep the countries and services lists N s (default 600)\n"
    "  --workers N              upstream connections and worker threads (default 8)\n"
    "  --mock-scenario NAME     scenario of the bundled mock (default: default)\n"
    "  --metrics-listen H:P     Prometheus GET /metrics address (default 127.0.0.1:9464;\n"
    "                           \"off\": not served)\n"
    "  --tls-cert FILE          serve gRPC over TLS with this PEM certificate chain...\n"
    "  --tls-key FILE           ...and this PEM private key\n"
    "  --token-file FILE        callers must send \"authorization: Bearer <token>\" with one\n"
    "                           of the tokens in FILE (one per line, # comments)\n"
    "  --allow-caller-keys      callers may send their own upstream key in the\n"
    "                           x-ismscode-api-key metadata (its own rate budget)\n"
    "  --no-call-logs           no JSON log line per finished call\n"
    "  --help                   this text\n";

bool ParseInt(const std::string& s, long* out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool IsSwitch(const std::string& arg) {
  return arg == "--help" || arg == "--allow-caller-keys" || arg == "--no-call-logs";
}

// The whole file, or false (the message names the file, never its content).
bool ReadFile(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  if (!in || !(buf << in.rdbuf())) {
    *error = "cannot read " + path;
    return false;
  }
  *out = buf.str();
  return true;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

// One token per line; blank lines and # comments skipped.
std::vector<std::string> ParseTokens(const std::string& text) {
  std::vector<std::string> tokens;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    line = Trimmed(line);
    if (!line.empty() && line.front() != '#') tokens.push_back(line);
  }
  return tokens;
}

}  // namespace

int main(int argc, char** argv) {
  // gRPC's absl::Mutex checks every lock order against a global graph (Debian builds
  // absl without NDEBUG): measurable on every call, and a bug finder, not a guard.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  GatewayOptions options;
  options.listen = "127.0.0.1:50051";
  options.metrics_listen = "127.0.0.1:9464";
  options.log_calls = true;
  std::string upstream, key_file, scenario = "default", tls_cert, tls_key, token_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (!IsSwitch(arg) && i + 1 < argc) {
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
    } else if (arg == "--rate-limit" && ParseInt(value, &n) && n >= 1 && n <= 1000000000) {
      options.rate_limit = static_cast<int>(n);
    } else if (arg == "--rate-window" && ParseInt(value, &n) && n >= 1 && n <= 86400) {
      options.rate_window = std::chrono::seconds(n);
    } else if (arg == "--list-cache-seconds" && ParseInt(value, &n) && n >= 0 && n <= 86400) {
      options.list_cache_ttl = std::chrono::seconds(n);
    } else if (arg == "--workers" && ParseInt(value, &n) && n >= 1 && n <= 256) {
      options.workers = static_cast<size_t>(n);
    } else if (arg == "--mock-scenario" && !value.empty()) {
      scenario = value;
    } else if (arg == "--metrics-listen" && !value.empty()) {
      options.metrics_listen = value == "off" ? "" : value;
    } else if (arg == "--tls-cert" && !value.empty()) {
      tls_cert = value;
    } else if (arg == "--tls-key" && !value.empty()) {
      tls_key = value;
    } else if (arg == "--token-file" && !value.empty()) {
      token_file = value;
    } else if (arg == "--allow-caller-keys") {
      options.allow_caller_keys = true;
    } else if (arg == "--no-call-logs") {
      options.log_calls = false;
    } else {
      std::cerr << "ismscode-gateway: bad flag or value: " << arg << " (see --help)\n";
      return 2;
    }
  }

  std::string error;
  if (tls_cert.empty() != tls_key.empty()) {
    std::cerr << "ismscode-gateway: --tls-cert and --tls-key go together\n";
    return 2;
  }
  if (!tls_cert.empty() && (!ReadFile(tls_cert, &options.tls_cert_chain, &error) ||
                            !ReadFile(tls_key, &options.tls_private_key, &error))) {
    std::cerr << "ismscode-gateway: " << error << "\n";
    return 2;
  }
  if (!token_file.empty()) {
    std::string text;
    if (!ReadFile(token_file, &text, &error)) {
      std::cerr << "ismscode-gateway: " << error << "\n";
      return 2;
    }
    options.caller_tokens = ParseTokens(text);
    if (options.caller_tokens.empty()) {
      std::cerr << "ismscode-gateway: " << token_file << " holds no token\n";
      return 2;
    }
  }

  const sigset_t stop_signals = ismscode::BlockStopSignals();

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
      if (!ReadFile(key_file, &options.upstream_key, &error)) {
        std::cerr << "ismscode-gateway: " << error << "\n";
        return 2;
      }
      options.upstream_key = Trimmed(options.upstream_key);
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
