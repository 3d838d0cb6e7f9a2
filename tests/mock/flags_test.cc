#include "mock/flags.h"

#include <gtest/gtest.h>

#include <fstream>

namespace ismscode::mock {
namespace {

// The old signature, so that each case reads as before: nullopt and `error` on failure.
std::optional<MockConfig> Parse(std::vector<const char*> args, std::string* error,
                                std::optional<std::string> env_token = std::nullopt) {
  args.insert(args.begin(), "ismscode-mock");
  auto c = ParseMockFlags(static_cast<int>(args.size()), args.data(),
                          [&](const char*) { return env_token; });
  if (!c.ok()) {
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    *error = std::string(c.status().message());
    return std::nullopt;
  }
  return *std::move(c);
}

TEST(Flags, Defaults) {
  std::string error;
  auto c = Parse({}, &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->server.host, "127.0.0.1");
  EXPECT_EQ(c->server.port, kDefaultPort);
  EXPECT_EQ(c->scenario, "default");
  EXPECT_EQ(c->service.seed, 1u);
  EXPECT_DOUBLE_EQ(c->service.clock.time_scale, 1.0);
  EXPECT_TRUE(c->service.admin_token.empty());
}

TEST(Flags, EveryFlagInBothSpellings) {
  std::string error;
  auto c = Parse({"--host",
                  "0.0.0.0",
                  "--port=0",
                  "--scenario",
                  "ci-fast",
                  "--seed=99",
                  "--time-scale",
                  "0.01",
                  "--start-time",
                  "2026-01-01T00:00:00Z",
                  "--frozen-clock",
                  "--tls-cert",
                  "c.pem",
                  "--tls-key=k.pem",
                  "--journal-size",
                  "10",
                  "--max-body-bytes",
                  "4096",
                  "--max-threads",
                  "64",
                  "--max-connections=500",
                  "--max-numbers=1000",
                  "--request-timeout",
                  "2.5",
                  "--port-file",
                  "/tmp/p"},
                 &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->server.host, "0.0.0.0");
  EXPECT_EQ(c->server.port, 0);
  EXPECT_EQ(c->scenario, "ci-fast");
  EXPECT_EQ(c->service.seed, 99u);
  EXPECT_DOUBLE_EQ(c->service.clock.time_scale, 0.01);
  EXPECT_TRUE(c->service.clock.frozen);
  EXPECT_EQ(FormatRfc3339(*c->service.clock.start_time), "2026-01-01T00:00:00Z");
  EXPECT_EQ(c->server.tls_cert_file, "c.pem");
  EXPECT_EQ(c->server.tls_key_file, "k.pem");
  EXPECT_EQ(c->service.journal_capacity, 10u);
  EXPECT_EQ(c->server.max_body_bytes, 4096u);
  EXPECT_EQ(c->server.max_threads, 64u);
  EXPECT_EQ(c->server.max_connections, 500u);
  EXPECT_EQ(c->service.max_numbers, 1000u);
  EXPECT_DOUBLE_EQ(c->server.request_timeout_seconds, 2.5);
  EXPECT_EQ(c->port_file, "/tmp/p");
}

TEST(Flags, BadFlagsAreNamed) {
  const std::pair<std::vector<const char*>, const char*> cases[] = {
      {{"--port", "http"}, "--port"},
      {{"--port", "70000"}, "--port"},
      {{"--port"}, "--port"},
      {{"--host="}, "--host"},
      {{"--time-scale", "0"}, "--time-scale"},
      {{"--time-scale", "nan"}, "--time-scale"},
      {{"--seed", "-1"}, "--seed"},
      {{"--start-time", "yesterday"}, "--start-time"},
      {{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
      {{"--admin-token-file", "/nonexistent"}, "--admin-token-file: cannot read"},
      {{"--max-connections", "0"}, "--max-connections"},
      {{"--request-timeout", "0"}, "--request-timeout"},
      {{"--verbose"}, "--verbose"},
  };
  for (const auto& [args, expected] : cases) {
    std::string error;
    EXPECT_FALSE(Parse(args, &error)) << expected;
    EXPECT_NE(error.find(expected), std::string::npos) << "got: " << error;
  }
}

TEST(Flags, AdminTokenFromEnvironmentFileOrFlag) {
  std::string error;
  EXPECT_EQ(Parse({}, &error, "from-env")->service.admin_token, "from-env");
  const std::string path = ::testing::TempDir() + "/admin-token";
  std::ofstream(path) << "from-file\n";
  auto c = Parse({"--admin-token-file", path.c_str()}, &error, "from-env");
  EXPECT_EQ(c->service.admin_token, "from-file");
  EXPECT_FALSE(c->admin_token_on_argv);
  auto argv = Parse({"--admin-token", "on-argv"}, &error);
  EXPECT_EQ(argv->service.admin_token, "on-argv");
  EXPECT_TRUE(argv->admin_token_on_argv);
}

TEST(Flags, HelpIsGeneratedFromTheDefinitions) {
  std::string error;
  auto help = Parse({"--help"}, &error);
  ASSERT_TRUE(help) << error;
  EXPECT_EQ(help->action, MockConfig::Action::kHelp);
  const std::string usage = MockUsage();
  for (const char* flag : {"--host",
                           "--port",
                           "--port-file",
                           "--scenario",
                           "--seed",
                           "--time-scale",
                           "--start-time",
                           "--frozen-clock",
                           "--tls-cert",
                           "--tls-key",
                           "--admin-token-file",
                           "--admin-token",
                           "--journal-size",
                           "--max-numbers",
                           "--max-body-bytes",
                           "--max-threads",
                           "--max-connections",
                           "--request-timeout",
                           "--list-scenarios",
                           "--print-scenario",
                           "--help",
                           "7700",
                           "1048576"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag << " missing from\n" << usage;
  }
}

TEST(Flags, UsageMentionsEveryPreset) {
  const std::string usage = MockUsage();
  for (const char* preset :
       {"default", "stock-outs", "slow-sms", "lost-sms", "flaky-upstream", "ci-fast"}) {
    EXPECT_NE(usage.find(preset), std::string::npos) << preset;
  }
}

}  // namespace
}  // namespace ismscode::mock
