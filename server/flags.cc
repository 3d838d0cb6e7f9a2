#include "server/flags.h"

#include <CLI/CLI.hpp>
#include <sstream>

#include "server/state_url.h"

namespace ismscode::gateway {

namespace {

// Flag values that are converted after parsing (durations, files).
struct RawFlags {
  int64_t poll_interval_ms = 5000;
  int64_t poll_max_gap_ms = 60000;
  std::string poll_policy = "likely";
  int64_t rate_window_seconds = 60;
  int64_t list_cache_seconds = 600;
  int64_t upstream_read_timeout_ms = 10000;
  std::string api_key_file, tls_cert, tls_key, token_file;
  std::string metrics_listen = "127.0.0.1:9464";
  std::string state, state_password_file;
};

std::unique_ptr<CLI::App> MakeApp(GatewayConfig& c, RawFlags& raw) {
  auto app = std::make_unique<CLI::App>(
      "gRPC gateway (ismscode.harness.v1.VerificationService) in front of the iSMScode API.\n"
      "With no --upstream it starts the bundled mock on loopback and uses it.",
      "ismscode-gateway");
  app->set_help_flag("-h,--help", "print this text and exit");
  app->option_defaults()->always_capture_default();
  app->add_option("--listen", c.options.listen, "gRPC address HOST:PORT (port 0: any free one)");
  app->add_option("--upstream", c.upstream,
                  "the REST API, e.g. https://ismscode.com/api/v3; its key comes from "
                  "ISMSCODE_API_KEY or --api-key-file, never a flag (default: the bundled mock)");
  app->add_option("--api-key-file", raw.api_key_file, "read the upstream key from FILE");
  app->add_option("--ca-file", c.options.upstream.ca_file,
                  "trust this PEM CA for an HTTPS upstream (default: the system's)");
  app->add_option("--upstream-read-timeout-ms", raw.upstream_read_timeout_ms,
                  "how long an upstream answer may take (reading it, and sending the request); "
                  "a purchase unanswered in time is UPSTREAM_TIMEOUT")
      ->check(CLI::Range(int64_t{100}, int64_t{600'000}));
  app->add_option("--poll-interval-ms", raw.poll_interval_ms,
                  "the least time between two SMS polls of one number (the provider's advice); "
                  "while the key's budget has room, every number is polled this often")
      ->check(CLI::Range(int64_t{10}, int64_t{3'600'000}));
  app->add_option("--poll-policy", raw.poll_policy,
                  "how a saturated key's polls are spent: \"likely\" (on the numbers whose "
                  "codes are most likely there, from each service's learned SMS delay) or "
                  "\"even\" (every number in turn)")
      ->check(CLI::IsMember({"likely", "even"}));
  app->add_option("--poll-max-gap-ms", raw.poll_max_gap_ms,
                  "under --poll-policy likely, a number is due for a poll this long after its "
                  "last one, whatever its SMS's delay says (default: at least "
                  "--poll-interval-ms)")
      ->check(CLI::Range(int64_t{10}, int64_t{3'600'000}));
  app->add_option("--rate-limit", c.options.rate_limit,
                  "at most N upstream requests per key in any interval of --rate-window "
                  "(purchases, polls and list calls together)")
      ->check(CLI::Range(1, 1'000'000'000));
  app->add_option("--rate-window", raw.rate_window_seconds,
                  "the upstream's rate-limit window, seconds")
      ->check(CLI::Range(int64_t{1}, int64_t{86'400}));
  app->add_option("--list-cache-seconds", raw.list_cache_seconds,
                  "keep the countries and services lists this long")
      ->check(CLI::Range(int64_t{0}, int64_t{86'400}));
  app->add_option("--workers", c.options.workers, "upstream connections and worker threads")
      ->check(CLI::Range(size_t{1}, size_t{256}));
  app->add_option("--state", raw.state,
                  "share the rate budget, request ids, numbers and poll loops with every "
                  "gateway on this Redis: redis://HOST[:PORT][/DB] or unix:///PATH[?db=N]; its "
                  "password comes from ISMSCODE_STATE_PASSWORD or --state-password-file, never "
                  "the URL (default: this gateway's own state)");
  app->add_option("--state-password-file", raw.state_password_file,
                  "read the --state Redis password from FILE");
  app->add_option("--mock-scenario", c.mock_scenario, "scenario of the bundled mock");
  app->add_option("--metrics-listen", raw.metrics_listen,
                  "Prometheus GET /metrics address HOST:PORT, or \"off\"");
  app->add_option("--tls-cert", raw.tls_cert,
                  "serve gRPC over TLS with this PEM certificate chain (with --tls-key)");
  app->add_option("--tls-key", raw.tls_key, "... and this PEM private key (with --tls-cert)");
  app->add_option("--token-file", raw.token_file,
                  "callers must send \"authorization: Bearer <token>\" with one of the tokens "
                  "in FILE (one per line, # comments)");
  app->add_flag("--allow-caller-keys", c.options.allow_caller_keys,
                "callers may send their own upstream key in the x-ismscode-api-key metadata "
                "(it gets its own rate budget)");
  app->add_flag_callback(
      "--no-call-logs", [&c] { c.options.log_calls = false; },
      "no JSON log line per finished call");
  RequireNonEmptyValues(*app);
  return app;
}

// One token per line; blank lines and # comments skipped.
std::vector<std::string> ParseTokens(const std::string& text) {
  std::vector<std::string> tokens;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const std::string_view token = TrimWhitespace(line);
    if (!token.empty() && token.front() != '#') tokens.emplace_back(token);
  }
  return tokens;
}

}  // namespace

absl::StatusOr<GatewayConfig> ParseGatewayFlags(int argc, const char* const* argv,
                                                const EnvLookup& env) {
  GatewayConfig c;
  c.options.listen = "127.0.0.1:50051";
  c.options.log_calls = true;
  RawFlags raw;
  auto app = MakeApp(c, raw);
  auto help = ParseCommandLine(*app, argc, argv);
  if (!help.ok()) return help.status();
  if (*help) {
    c.help = true;
    return c;
  }
  c.options.poll_interval = std::chrono::milliseconds(raw.poll_interval_ms);
  c.options.poll_policy = raw.poll_policy == "even" ? PollPolicy::kEven : PollPolicy::kLikely;
  c.options.poll_max_gap = std::chrono::milliseconds(raw.poll_max_gap_ms);
  if (c.options.poll_max_gap < c.options.poll_interval) {
    if (app->get_option("--poll-max-gap-ms")->count() > 0) {
      return absl::InvalidArgumentError("--poll-max-gap-ms must be at least --poll-interval-ms");
    }
    c.options.poll_max_gap = c.options.poll_interval;  // the default gap, under a long interval
  }
  c.options.rate_window = std::chrono::seconds(raw.rate_window_seconds);
  c.options.upstream.read_timeout = std::chrono::milliseconds(raw.upstream_read_timeout_ms);
  c.options.list_cache_ttl = std::chrono::seconds(raw.list_cache_seconds);
  c.options.metrics_listen = raw.metrics_listen == "off" ? "" : raw.metrics_listen;

  if (raw.tls_cert.empty() != raw.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!raw.tls_cert.empty()) {
    auto chain = ReadFileForFlag("--tls-cert", raw.tls_cert);
    if (!chain.ok()) return chain.status();
    auto key = ReadFileForFlag("--tls-key", raw.tls_key);
    if (!key.ok()) return key.status();
    c.options.tls_cert_chain = *std::move(chain);
    c.options.tls_private_key = *std::move(key);
  }
  if (!raw.token_file.empty()) {
    auto text = ReadFileForFlag("--token-file", raw.token_file);
    if (!text.ok()) return text.status();
    c.options.caller_tokens = ParseTokens(*text);
    if (c.options.caller_tokens.empty()) {
      return absl::InvalidArgumentError("--token-file: " + raw.token_file + " holds no token");
    }
  }
  if (!raw.state.empty()) {
    auto url = ParseStateUrl(raw.state);
    if (!url.ok()) return url.status();  // names --state, never repeats a password
    c.options.state = *url;
    if (!raw.state_password_file.empty()) {
      auto password = ReadSecretForFlag("--state-password-file", raw.state_password_file);
      if (!password.ok()) return password.status();
      c.options.state_password = *std::move(password);
    } else if (auto password = env("ISMSCODE_STATE_PASSWORD")) {
      c.options.state_password = *password;
    }
  } else if (!raw.state_password_file.empty()) {
    return absl::InvalidArgumentError("--state-password-file needs --state");
  }
  if (!c.upstream.empty()) {
    c.options.upstream.base_url = c.upstream;
    if (!raw.api_key_file.empty()) {
      auto key = ReadSecretForFlag("--api-key-file", raw.api_key_file);
      if (!key.ok()) return key.status();
      c.options.upstream_key = *std::move(key);
    } else if (auto key = env("ISMSCODE_API_KEY")) {
      c.options.upstream_key = *key;
    }
    if (c.options.upstream_key.empty()) {
      return absl::InvalidArgumentError(
          "--upstream needs a key: set ISMSCODE_API_KEY or give --api-key-file");
    }
  }
  return c;
}

std::string GatewayUsage() {
  GatewayConfig c;
  c.options.listen = "127.0.0.1:50051";
  RawFlags raw;
  return MakeApp(c, raw)->help();
}

}  // namespace ismscode::gateway
