// ismscode-gateway as a user runs it: the bundled mock when no upstream is given, logs,
// SIGTERM, exit codes.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

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
  testing::Subprocess gw(
      {ISMSCODE_GATEWAY_BINARY, "--listen", "127.0.0.1:0", "--mock-scenario", "ci-fast"});
  const json mock = ReadUntil(gw, "no --upstream given: using the bundled mock");
  ASSERT_TRUE(mock.is_object());
  const json listening = ReadUntil(gw, "ismscode-gateway listening");
  ASSERT_TRUE(listening.is_object());
  auto stub = v1::VerificationService::NewStub(grpc::CreateChannel(
      listening["grpc"].get<std::string>(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::AcquireNumberRequest req;
  req.set_country("GB");
  req.set_service("telegram");
  v1::AcquireNumberResponse resp;
  const grpc::Status s = stub->AcquireNumber(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.number().phone().rfind("+447700900", 0), 0u);
  gw.Signal(SIGTERM);
  EXPECT_TRUE(ReadUntil(gw, "stopped").is_object());
  EXPECT_EQ(gw.Wait(), 0);
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
