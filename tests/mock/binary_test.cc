// ismscode-mock as a user runs it: flags, scenario files, logs, signals, exit codes.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "tests/support/mock_fixture.h"
#include "tests/support/subprocess.h"

namespace ismscode::testing {
namespace {

using json = nlohmann::ordered_json;

// Starts the binary on a free port; returns the parsed "listening" log line.
json StartAndReadListening(Subprocess& mock) {
  for (;;) {
    auto line = mock.ReadStderrLine();
    if (!line) return nullptr;
    json j = json::parse(*line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "logs are one JSON object per line: " << *line;
    if (j.is_object() && j["msg"] == "ismscode-mock listening") return j;
  }
}

TEST(MockBinary, ServesUntilSigtermAndExitsCleanly) {
  Subprocess mock({ISMSCODE_MOCK_BINARY, "--port", "0", "--scenario", "ci-fast", "--seed", "3"});
  const json listening = StartAndReadListening(mock);
  ASSERT_TRUE(listening.is_object());
  EXPECT_EQ(listening["scenario"], "ci-fast");
  const std::string url = listening["url"];
  httplib::Client client(url);
  auto r = client.Post("/api/v3/numbers/request", {{"Authorization", "Bearer demo-key"}},
                       R"({"country":"GB","service":"telegram"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  mock.Signal(SIGTERM);
  EXPECT_EQ(mock.Wait(), 0);
}

TEST(MockBinary, AdminTokenFromEnvironmentNeverLogged) {
  setenv("ISMSCODE_MOCK_ADMIN_TOKEN", "tok-0123456789abcdef", 1);
  Subprocess mock({ISMSCODE_MOCK_BINARY, "--port", "0"});
  unsetenv("ISMSCODE_MOCK_ADMIN_TOKEN");
  const json listening = StartAndReadListening(mock);
  ASSERT_TRUE(listening.is_object());
  EXPECT_EQ(listening["control_api_guarded"], true);
  EXPECT_EQ(listening.dump().find("tok-0123"), std::string::npos);
  httplib::Client client(listening["url"].get<std::string>());
  EXPECT_EQ(client.Get("/_mock/v1/clock")->status, 401);
  EXPECT_EQ(
      client.Get("/_mock/v1/clock", {{"Authorization", "Bearer tok-0123456789abcdef"}})->status,
      200);
  mock.Signal(SIGINT);
  EXPECT_EQ(mock.Wait(), 0);
}

TEST(MockBinary, ScenarioFileErrorsNameTheLineOrField) {
  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/broken.json") << "{\n  \"countries\": [\n    {\"code\": \"US\",}\n  ]\n}\n";
  Subprocess broken({ISMSCODE_MOCK_BINARY, "--scenario", dir + "/broken.json"});
  auto line = broken.ReadStderrLine();
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("broken.json: line 3"), std::string::npos) << *line;
  EXPECT_EQ(broken.Wait(), 2);

  std::ofstream(dir + "/bad-field.json")
      << R"({"countries": [{"code": "US", "name": "U", "prefix": "+1"}], "services": ["a"],
            "offer_defaults": {"sms": {"delay": {"kind": "fixed", "seconds": -1}}}})";
  Subprocess bad({ISMSCODE_MOCK_BINARY, "--scenario", dir + "/bad-field.json"});
  line = bad.ReadStderrLine();
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("scenario.offer_defaults.sms.delay.seconds"), std::string::npos) << *line;
  EXPECT_EQ(bad.Wait(), 2);
}

TEST(MockBinary, BadFlagExitsWithUsageError) {
  Subprocess mock({ISMSCODE_MOCK_BINARY, "--port", "eighty"});
  auto line = mock.ReadStderrLine();
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("--port"), std::string::npos);
  EXPECT_EQ(mock.Wait(), 2);
}

TEST(MockBinary, HelpListAndPrintScenarios) {
  Subprocess help({ISMSCODE_MOCK_BINARY, "--help"});
  EXPECT_NE(help.ReadAllStdout().find("--time-scale"), std::string::npos);
  EXPECT_EQ(help.Wait(), 0);
  Subprocess list({ISMSCODE_MOCK_BINARY, "--list-scenarios"});
  EXPECT_EQ(list.ReadAllStdout(),
            "app-sms\nci-fast\ndefault\nflaky-upstream\nlost-sms\nslow-sms\nstock-outs\n");
  EXPECT_EQ(list.Wait(), 0);
  Subprocess print({ISMSCODE_MOCK_BINARY, "--print-scenario", "lost-sms"});
  const json scenario = json::parse(print.ReadAllStdout(), nullptr, false);
  EXPECT_EQ(scenario["name"], "lost-sms");
  EXPECT_EQ(print.Wait(), 0);
}

}  // namespace
}  // namespace ismscode::testing
