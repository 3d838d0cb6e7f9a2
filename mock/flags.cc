#include "mock/flags.h"

#include <CLI/CLI.hpp>
#include <cmath>

#include "mock/scenario.h"

namespace ismscode::mock {

namespace {

// Flag values converted or checked after parsing.
struct RawFlags {
  std::string start_time, admin_token_file, admin_token, print_scenario;
  bool list_scenarios = false;
};

std::unique_ptr<CLI::App> MakeApp(MockConfig& c, RawFlags& raw) {
  std::string presets;
  for (const auto& n : PresetNames()) presets += (presets.empty() ? "" : ", ") + n;
  auto app = std::make_unique<CLI::App>(
      "A faithful, deterministic mock of the iSMScode REST API (/api/v3) with a control API\n"
      "under /_mock/v1, /healthz and /metrics.",
      "ismscode-mock");
  app->set_help_flag("-h,--help", "print this text and exit");
  app->option_defaults()->always_capture_default();
  app->add_option("--host", c.server.host, "address to listen on");
  app->add_option("--port", c.server.port, "port, 0 for any free one")->check(CLI::Range(0, 65535));
  app->add_option("--port-file", c.port_file, "write the bound port to FILE once listening");
  app->add_option("--scenario", c.scenario, "a preset (" + presets + ") or a scenario JSON file");
  app->add_option("--seed", c.service.seed, "seed of the one random generator")
      ->check(CLI::NonNegativeNumber);  // "-1" would otherwise wrap around
  app->add_option("--time-scale", c.service.clock.time_scale,
                  "multiply every simulated duration by X (0.01 makes a 20-minute "
                  "reservation last 12 s)")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            double x = 0;
            try {
              x = std::stod(value);
            } catch (...) {
              return "expected a number";
            }
            return std::isfinite(x) && x > 0 && x <= 1000 ? "" : "expected > 0 and <= 1000";
          },
          "(0, 1000]", "time scale"));
  app->add_option("--start-time", raw.start_time,
                  "mock time at start, RFC 3339 (2026-01-01T00:00:00Z; default: now)")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            return ParseRfc3339(value) ? ""
                                       : "expected an RFC 3339 UTC time such as "
                                         "2026-01-01T00:00:00Z";
          },
          "RFC 3339", "time"));
  app->add_flag("--frozen-clock", c.service.clock.frozen,
                "mock time moves only through POST /_mock/v1/clock/advance");
  app->add_option("--tls-cert", c.server.tls_cert_file,
                  "serve HTTPS with this PEM certificate (with --tls-key)");
  app->add_option("--tls-key", c.server.tls_key_file,
                  "... and this PEM private key (with --tls-cert)");
  app->add_option("--admin-token-file", raw.admin_token_file,
                  "require 'Authorization: Bearer <token>' on /_mock/v1 (or set "
                  "ISMSCODE_MOCK_ADMIN_TOKEN)");
  app->add_option("--admin-token", raw.admin_token,
                  "the same, but visible to anyone running ps: prefer the file");
  app->add_option("--journal-size", c.service.journal_capacity, "REST requests kept in the journal")
      ->check(CLI::Range(size_t{0}, size_t{1'000'000}));
  app->add_option("--max-numbers", c.service.max_numbers,
                  "numbers kept; past it the oldest are forgotten")
      ->check(CLI::Range(size_t{1}, size_t{100'000'000}));
  app->add_option("--max-body-bytes", c.server.max_body_bytes,
                  "larger request bodies get 413, however framed")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  app->add_option("--max-threads", c.server.max_threads, "requests answered at once, a worker each")
      ->check(CLI::Range(size_t{1}, size_t{65536}));
  app->add_option("--max-connections", c.server.max_connections,
                  "connections open at once; past it the one waiting longest is dropped, "
                  "strangers (no request completed) first")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}));
  app->add_option("--request-timeout", c.server.request_timeout_seconds,
                  "seconds from a request's first byte to its last; slower clients get 408")
      ->check(CLI::Range(0.1, 3600.0));
  app->add_flag("--list-scenarios", raw.list_scenarios, "print the preset names and exit");
  app->add_option("--print-scenario", raw.print_scenario,
                  "print a preset (materialised) as JSON and exit");
  RequireNonEmptyValues(*app);
  return app;
}

}  // namespace

std::string MockUsage() {
  MockConfig c;
  c.server.port = kDefaultPort;
  RawFlags raw;
  return MakeApp(c, raw)->help();
}

absl::StatusOr<MockConfig> ParseMockFlags(int argc, const char* const* argv, const EnvLookup& env) {
  MockConfig c;
  c.server.port = kDefaultPort;
  RawFlags raw;
  auto app = MakeApp(c, raw);
  auto help = ParseCommandLine(*app, argc, argv);
  if (!help.ok()) return help.status();
  if (*help) {
    c.action = MockConfig::Action::kHelp;
    return c;
  }
  if (raw.list_scenarios) {
    c.action = MockConfig::Action::kListScenarios;
  } else if (!raw.print_scenario.empty()) {
    c.action = MockConfig::Action::kPrintScenario;
    c.scenario = raw.print_scenario;
  }
  if (!raw.start_time.empty()) c.service.clock.start_time = ParseRfc3339(raw.start_time);
  // The admin token: a file, else the flag (visible to ps), else the environment.
  if (!raw.admin_token_file.empty()) {
    auto token = ReadSecretForFlag("--admin-token-file", raw.admin_token_file);
    if (!token.ok()) return token.status();
    c.service.admin_token = *std::move(token);
  } else if (!raw.admin_token.empty()) {
    c.service.admin_token = raw.admin_token;
    c.admin_token_on_argv = true;
  } else if (auto token = env("ISMSCODE_MOCK_ADMIN_TOKEN")) {
    c.service.admin_token = *token;
  }
  if (c.server.tls_cert_file.empty() != c.server.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  return c;
}

}  // namespace ismscode::mock
