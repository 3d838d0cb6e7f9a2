// ismscode-gateway as a user runs it: the bundled mock when no upstream is given, logs,
// SIGTERM, exit codes.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ismscode/harness/v1/verification.grpc.pb.h"
#include "tests/support/subprocess.h"

namespace ismscode::gateway {
namespace {

namespace v1 = ismscode::harness::v1;
using json = nlohmann::json;

json ReadUntil(testing::Subprocess& p, const std::string& msg) {
  while (auto line = p.ReadStderrLine()) {
    json j = json::parse(*line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "one JSON object per line: " << *line;
    if (j.is_object() && j["msg"] == msg) return j;
  }
  return nullptr;
}

TEST(GatewayBinary, BundledMockServesAndSigtermStopsCleanly) {
  testing::Subprocess gw({ISMSCODE_GATEWAY_BINARY, "--listen", "127.0.0.1:0", "--metrics-listen",
                          "127.0.0.1:0", "--mock-scenario", "ci-fast"});
  const json mock = ReadUntil(gw, "no --upstream given: using the bundled mock");
  ASSERT_TRUE(mock.is_object());
  const json listening = ReadUntil(gw, "ismscode-gateway listening");
  ASSERT_TRUE(listening.is_object());
  auto stub = v1::VerificationService::NewStub(grpc::CreateChannel(
      listening["grpc"].get<std::string>(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::AcquireNumberRequest req;
  req.set_country("GB");
  req.set_service("telegram");
  v1::AcquireNumberResponse resp;
  const grpc::Status s = stub->AcquireNumber(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.number().phone().rfind("+447700900", 0), 0u);
  // One structured line per finished call.
  const json call = ReadUntil(gw, "call");
  ASSERT_TRUE(call.is_object());
  EXPECT_EQ(call["method"], "/ismscode.harness.v1.VerificationService/AcquireNumber");
  EXPECT_EQ(call["grpc_code"], "OK");
  EXPECT_GE(call["duration_ms"].get<double>(), 0.0);
  // Metrics on their own port, as announced.
  httplib::Client metrics("127.0.0.1", listening["metrics_port"].get<int>());
  auto scrape = metrics.Get("/metrics");
  ASSERT_TRUE(scrape);
  EXPECT_NE(scrape->body.find("grpc_server_handled_total"), std::string::npos);
  gw.Signal(SIGTERM);
  EXPECT_TRUE(ReadUntil(gw, "stopped").is_object());
  EXPECT_EQ(gw.Wait(), 0);
}

TEST(GatewayBinary, TokenFileGuardsCallsAndNoSecretIsLogged) {
  char dir[] = "/tmp/ismscode-gw-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  const std::string token_file = std::string(dir) + "/tokens";
  std::ofstream(token_file) << "# CI runners\nsecret-token-aaaa\n\n  secret-token-bbbb  \n";
  testing::Subprocess gw({ISMSCODE_GATEWAY_BINARY, "--listen", "127.0.0.1:0", "--metrics-listen",
                          "off", "--token-file", token_file, "--mock-scenario", "ci-fast"});
  const json listening = ReadUntil(gw, "ismscode-gateway listening");
  ASSERT_TRUE(listening.is_object());
  EXPECT_EQ(listening["caller_tokens"], 2);
  EXPECT_EQ(listening["metrics"], "off");
  auto stub = v1::VerificationService::NewStub(grpc::CreateChannel(
      listening["grpc"].get<std::string>(), grpc::InsecureChannelCredentials()));
  for (const char* token : {"", "secret-token-cccc", "secret-token-bbbb"}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (*token) ctx.AddMetadata("authorization", std::string("Bearer ") + token);
    v1::ListServicesResponse resp;
    stub->ListServices(&ctx, {}, &resp);
  }
  std::vector<std::string> codes;
  for (int i = 0; i < 3; ++i) {
    const json call = ReadUntil(gw, "call");
    ASSERT_TRUE(call.is_object());
    codes.push_back(call["grpc_code"]);
  }
  EXPECT_EQ(codes, (std::vector<std::string>{"Unauthenticated", "Unauthenticated", "OK"}));
  gw.Signal(SIGTERM);
  std::string rest;
  while (auto line = gw.ReadStderrLine()) rest += *line + "\n";
  EXPECT_EQ(gw.Wait(), 0);
  EXPECT_EQ(rest.find("secret-token"), std::string::npos) << rest;
  std::filesystem::remove_all(dir);
}

TEST(GatewayBinary, MissingFilesAreClearErrors) {
  testing::Subprocess gw({ISMSCODE_GATEWAY_BINARY, "--token-file", "/nonexistent/tokens"});
  auto line = gw.ReadStderrLine();
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("cannot read /nonexistent/tokens"), std::string::npos) << *line;
  EXPECT_EQ(gw.Wait(), 2);
}

TEST(GatewayBinary, UpstreamWithoutKeyIsRefused) {
  unsetenv("ISMSCODE_API_KEY");
  testing::Subprocess gw({ISMSCODE_GATEWAY_BINARY, "--upstream", "https://example.invalid/api/v3"});
  auto line = gw.ReadStderrLine();
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("ISMSCODE_API_KEY"), std::string::npos);
  EXPECT_EQ(gw.Wait(), 2);
}

TEST(GatewayBinary, BadFlagExits2) {
  testing::Subprocess gw({ISMSCODE_GATEWAY_BINARY, "--poll-interval-ms", "soon"});
  EXPECT_EQ(gw.Wait(), 2);
}

}  // namespace
}  // namespace ismscode::gateway
