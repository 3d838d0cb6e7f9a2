#include "server/flags.h"

#include <gtest/gtest.h>

#include <fstream>
#include <vector>

namespace ismscode::gateway {
namespace {

absl::StatusOr<GatewayConfig> Parse(std::vector<const char*> args,
                                    std::optional<std::string> env_key = std::nullopt,
                                    std::optional<std::string> env_state_password = std::nullopt) {
  args.insert(args.begin(), "ismscode-gateway");
  return ParseGatewayFlags(static_cast<int>(args.size()), args.data(),
                           [&](const char* name) -> std::optional<std::string> {
                             if (std::string(name) == "ISMSCODE_API_KEY") return env_key;
                             if (std::string(name) == "ISMSCODE_STATE_PASSWORD") {
                               return env_state_password;
                             }
                             return std::nullopt;
                           });
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(GatewayFlags, Defaults) {
  auto c = Parse({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->options.listen, "127.0.0.1:50051");
  EXPECT_EQ(c->options.metrics_listen, "127.0.0.1:9464");
  EXPECT_TRUE(c->upstream.empty()) << "no --upstream: the bundled mock";
  EXPECT_EQ(c->mock_scenario, "default");
  EXPECT_EQ(c->options.poll_interval, std::chrono::milliseconds(5000));
  EXPECT_EQ(c->options.poll_policy, PollPolicy::kLikely);
  EXPECT_EQ(c->options.poll_max_gap, std::chrono::milliseconds(60000));
  EXPECT_EQ(c->options.rate_limit, 60);
  EXPECT_EQ(c->options.rate_window, std::chrono::seconds(60));
  EXPECT_EQ(c->options.list_cache_ttl, std::chrono::seconds(600));
  EXPECT_EQ(c->options.workers, 8u);
  EXPECT_TRUE(c->options.log_calls);
  EXPECT_FALSE(c->options.allow_caller_keys);
  EXPECT_FALSE(c->help);
}

TEST(GatewayFlags, EveryFlagInBothSpellings) {
  const std::string tokens = WriteFile("tokens", "# team tokens\n\n  alpha  \nbravo\n");
  const std::string cert = WriteFile("cert.pem", "CERT");
  const std::string key = WriteFile("key.pem", "KEY");
  const std::string api_key = WriteFile("api-key", "  sk-from-file\n");
  auto c = Parse({"--listen=0.0.0.0:6000",
                  "--upstream",
                  "https://ismscode.com/api/v3",
                  "--api-key-file",
                  api_key.c_str(),
                  "--ca-file=ca.pem",
                  "--poll-interval-ms",
                  "250",
                  "--rate-limit=30",
                  "--rate-window",
                  "10",
                  "--list-cache-seconds=0",
                  "--workers",
                  "3",
                  "--mock-scenario=slow-sms",
                  "--metrics-listen",
                  "off",
                  "--tls-cert",
                  cert.c_str(),
                  "--tls-key",
                  key.c_str(),
                  "--token-file",
                  tokens.c_str(),
                  "--allow-caller-keys",
                  "--no-call-logs"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->options.listen, "0.0.0.0:6000");
  EXPECT_EQ(c->options.upstream.base_url, "https://ismscode.com/api/v3");
  EXPECT_EQ(c->options.upstream_key, "sk-from-file");
  EXPECT_EQ(c->options.upstream.ca_file, "ca.pem");
  EXPECT_EQ(c->options.poll_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(c->options.rate_limit, 30);
  EXPECT_EQ(c->options.rate_window, std::chrono::seconds(10));
  EXPECT_EQ(c->options.list_cache_ttl, std::chrono::seconds(0));
  EXPECT_EQ(c->options.workers, 3u);
  EXPECT_EQ(c->mock_scenario, "slow-sms");
  EXPECT_EQ(c->options.metrics_listen, "") << "off: not served";
  EXPECT_EQ(c->options.tls_cert_chain, "CERT");
  EXPECT_EQ(c->options.tls_private_key, "KEY");
  EXPECT_EQ(c->options.caller_tokens, (std::vector<std::string>{"alpha", "bravo"}));
  EXPECT_TRUE(c->options.allow_caller_keys);
  EXPECT_FALSE(c->options.log_calls);
}

TEST(GatewayFlags, TheUpstreamKeyComesFromTheEnvironmentOrAFileNeverAFlag) {
  auto from_env = Parse({"--upstream", "https://example.com/api/v3"}, "sk-env");
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ(from_env->options.upstream_key, "sk-env");
  auto none = Parse({"--upstream", "https://example.com/api/v3"});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("ISMSCODE_API_KEY"), std::string::npos);
  EXPECT_FALSE(Parse({"--api-key", "sk-on-argv"}).ok()) << "no such flag";
}

TEST(GatewayFlags, BadFlagsAreNamedAndSecretsAreNot) {
  const std::string empty_tokens = WriteFile("no-tokens", "# nothing\n");
  const std::string secret = WriteFile("secret-key", "sk-secret-123\n");
  const std::pair<std::vector<const char*>, const char*> cases[] = {
      {{"--poll-interval-ms", "5"}, "--poll-interval-ms"},
      {{"--poll-interval-ms", "soon"}, "--poll-interval-ms"},
      {{"--poll-policy", "random"}, "--poll-policy"},
      {{"--poll-interval-ms", "9000", "--poll-max-gap-ms", "8000"}, "--poll-max-gap-ms"},
      {{"--rate-limit", "0"}, "--rate-limit"},
      {{"--rate-window", "86401"}, "--rate-window"},
      {{"--workers", "1000"}, "--workers"},
      {{"--listen="}, "--listen"},
      {{"--listen"}, "--listen"},
      {{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
      {{"--token-file", "/nonexistent/tokens"}, "--token-file: cannot read"},
      {{"--token-file", empty_tokens.c_str()}, "holds no token"},
      {{"--verbose"}, "--verbose"},
  };
  for (const auto& [args, expected] : cases) {
    auto c = Parse(args);
    ASSERT_FALSE(c.ok()) << expected;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find(expected), std::string::npos) << c.status();
  }
  auto c = Parse({"--upstream", "https://example.com", "--api-key-file", secret.c_str(),
                  "--rate-limit", "-3"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().find("sk-secret"), std::string::npos) << c.status();
}

TEST(GatewayFlags, ThePollSchedulerFlags) {
  auto c = Parse({"--poll-policy", "even", "--poll-max-gap-ms", "45000"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->options.poll_policy, PollPolicy::kEven);
  EXPECT_EQ(c->options.poll_max_gap, std::chrono::milliseconds(45000));
  // A long interval alone still starts: the default gap follows it.
  c = Parse({"--poll-interval-ms", "90000"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->options.poll_max_gap, std::chrono::milliseconds(90000));
}

TEST(GatewayFlags, StateNamesRedisAndItsPasswordComesFromTheEnvironmentOrAFile) {
  auto none = Parse({});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->options.state.has_value()) << "without --state, the gateway's own state";

  auto tcp = Parse({"--state", "redis://redis.internal:6380/2"}, std::nullopt, "pw-from-env");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  ASSERT_TRUE(tcp->options.state.has_value());
  EXPECT_EQ(tcp->options.state->host, "redis.internal");
  EXPECT_EQ(tcp->options.state->port, 6380);
  EXPECT_EQ(tcp->options.state->db, 2);
  EXPECT_EQ(tcp->options.state_password, "pw-from-env");

  const std::string file = WriteFile("state-password", "pw-from-file\n");
  auto unix_socket =
      Parse({"--state=unix:///run/redis/redis.sock?db=1", "--state-password-file", file.c_str()},
            std::nullopt, "pw-from-env");
  ASSERT_TRUE(unix_socket.ok()) << unix_socket.status();
  EXPECT_EQ(unix_socket->options.state->unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(unix_socket->options.state->db, 1);
  EXPECT_EQ(unix_socket->options.state_password, "pw-from-file") << "the file wins";

  auto in_url = Parse({"--state", "redis://:hunter2-secret@redis:6379"});
  ASSERT_FALSE(in_url.ok());
  EXPECT_NE(in_url.status().message().find("--state"), std::string::npos);
  EXPECT_EQ(in_url.status().message().find("hunter2-secret"), std::string::npos);
  auto alone = Parse({"--state-password-file", file.c_str()});
  ASSERT_FALSE(alone.ok());
  EXPECT_NE(alone.status().message().find("--state"), std::string::npos);
}

TEST(GatewayFlags, TheUpstreamReadTimeout) {
  auto defaults = Parse({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->options.upstream.read_timeout, std::chrono::milliseconds(10000));
  auto c = Parse({"--upstream-read-timeout-ms", "2500"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->options.upstream.read_timeout, std::chrono::milliseconds(2500));
  auto zero = Parse({"--upstream-read-timeout-ms", "0"});
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("--upstream-read-timeout-ms"), std::string::npos);
}

TEST(GatewayFlags, HelpIsGeneratedFromTheDefinitions) {
  auto c = Parse({"--help"});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->help);
  const std::string usage = GatewayUsage();
  for (const char* flag : {"--listen",
                           "--upstream",
                           "--api-key-file",
                           "--ca-file",
                           "--poll-interval-ms",
                           "--poll-policy",
                           "--poll-max-gap-ms",
                           "--rate-limit",
                           "--rate-window",
                           "--list-cache-seconds",
                           "--workers",
                           "--mock-scenario",
                           "--metrics-listen",
                           "--tls-cert",
                           "--tls-key",
                           "--token-file",
                           "--allow-caller-keys",
                           "--no-call-logs",
                           "--help",
                           "127.0.0.1:50051",
                           "5000"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag << " missing from\n" << usage;
  }
}

}  // namespace
}  // namespace ismscode::gateway
