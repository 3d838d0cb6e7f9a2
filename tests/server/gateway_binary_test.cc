// ismscode-gateway as a user runs it: the bundled mock when no upstream is given, logs,
// SIGTERM, exit codes.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

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

// A stopped upstream: it accepts connections and reads requests, and never answers.
class SilentUpstream {
 public:
  SilentUpstream() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listener_, 64), 0);
    socklen_t len = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] {
      for (int fd; (fd = accept(listener_, nullptr, nullptr)) >= 0;) {
        std::lock_guard lock(mu_);
        readers_.emplace_back([this, fd] {
          char buf[4096];
          std::string seen;
          for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
            seen.append(buf, static_cast<size_t>(n));
            for (size_t end; (end = seen.find("\r\n\r\n")) != std::string::npos;) {
              seen.erase(0, end + 4);
              std::lock_guard lock(mu_);
              ++requests_;
              changed_.notify_all();
            }
          }
          close(fd);
        });
        fds_.push_back(fd);
      }
    });
  }
  ~SilentUpstream() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    acceptor_.join();
    std::lock_guard lock(mu_);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    for (auto& t : readers_) t.join();
  }
  std::string api() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v3"; }
  // Waits (at most 30 s) until `n` requests have arrived.
  bool AwaitRequests(int n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(30), [&] { return requests_ >= n; });
  }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  int listener_ = -1, port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::thread> readers_;
  std::vector<int> fds_;
  int requests_ = 0;
};

TEST(GatewayBinary, SigtermWithAStoppedUpstreamSendsNothingNewAndExitsWithinTheGrace) {
  // Budget of two a minute: the list prefetch takes one (and hangs), the first purchase
  // the other (and hangs); the second purchase waits for budget.
  SilentUpstream upstream;
  setenv("ISMSCODE_API_KEY", "test-key-silent", 1);
  testing::Subprocess gw({ISMSCODE_GATEWAY_BINARY, "--listen", "127.0.0.1:0", "--metrics-listen",
                          "127.0.0.1:0", "--upstream", upstream.api(), "--rate-limit", "2"});
  const json listening = ReadUntil(gw, "ismscode-gateway listening");
  ASSERT_TRUE(listening.is_object());
  auto stub = v1::VerificationService::NewStub(grpc::CreateChannel(
      listening["grpc"].get<std::string>(), grpc::InsecureChannelCredentials()));
  struct Call {
    grpc::ClientContext ctx;
    v1::AcquireNumberRequest req;
    v1::AcquireNumberResponse resp;
    std::promise<grpc::Status> status;
  } wire, queued;
  auto acquire = [&](const char* country, Call& call) {
    call.ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    call.req.set_country(country);
    call.req.set_service("google");
    call.req.mutable_max_wait()->set_seconds(100);
    stub->async()->AcquireNumber(&call.ctx, &call.req, &call.resp,
                                 [&call](grpc::Status s) { call.status.set_value(s); });
  };
  acquire("US", wire);
  ASSERT_TRUE(upstream.AwaitRequests(2)) << "a list call and a purchase on the wire";
  acquire("GB", queued);
  // The second purchase waits for the budget (the gateway counts it as throttled).
  httplib::Client metrics("127.0.0.1", listening["metrics_port"].get<int>());
  const std::string throttled =
      R"(ismscode_throttled_total{purpose="acquire",source="rate_budget"} 1)";
  for (int i = 0;; ++i) {
    auto scrape = metrics.Get("/metrics");
    if (scrape && scrape->body.find(throttled) != std::string::npos) break;
    ASSERT_LT(i, 3000) << "the second purchase never waited for budget";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a condition, bounded
  }

  gw.Signal(SIGTERM);
  const grpc::Status q = queued.status.get_future().get();
  EXPECT_EQ(q.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(q.error_message(), "the gateway is shutting down");
  const grpc::Status w = wire.status.get_future().get();
  EXPECT_FALSE(w.ok());
  EXPECT_NE(w.error_message(), "Cancelling all calls") << "answered by the gateway, in its grace";
  // The default grace is 3 s and the upstream read timeout 10 s: "stopped" comes after
  // the grace, not after the timeouts (each wait here is bounded at 30 s).
  EXPECT_TRUE(ReadUntil(gw, "stopped").is_object());
  EXPECT_EQ(gw.Wait(), 0);
  EXPECT_EQ(upstream.requests(), 2) << "the queued purchase was never sent";
}

}  // namespace
}  // namespace ismscode::gateway
