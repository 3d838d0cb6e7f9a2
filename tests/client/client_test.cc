// The C++ client at its edges: bad input, an unreachable gateway, options from the
// environment, cancellation, and the typed errors' text. Against a real gateway with its
// mock in-process (the GoogleTest plugin's in-process mode).
#include "ismscode/harness/client.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <thread>

#include "ismscode/harness/gtest.h"

namespace ismscode::harness {
namespace {

using namespace std::chrono_literals;

class ClientEdge : public HarnessTest {};

TEST(ClientNames, EveryReasonRoundTrips) {
  std::set<std::string> names;
  for (int r = 0; r <= static_cast<int>(Reason::kDeadlineExceeded); ++r) {
    const char* name = ReasonName(static_cast<Reason>(r));
    EXPECT_EQ(ReasonFromName(name), static_cast<Reason>(r)) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(Reason::kDeadlineExceeded) + 1);
  EXPECT_EQ(ReasonFromName("SOMETHING_NEW"), Reason::kUnknown);
}

TEST(ClientNames, RequestIdsAreFreshAndShaped) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 36u) << id;
    ASSERT_EQ(id.rfind("req-", 0), 0u);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(ClientConnect, AnUnreachableGatewayIsATypedErrorSayingWhatToDo) {
  // A port nothing listens on: bind one, read it, close it.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  auto client = Client::Connect({.address = address, .connect_timeout = 300ms});
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().reason, Reason::kGatewayUnavailable);
  EXPECT_EQ(client.error().grpc_code_name, "UNAVAILABLE");
  EXPECT_NE(client.error().message.find(address), std::string::npos);
  EXPECT_NE(client.error().message.find("ISMSCODE_HARNESS_ADDR"), std::string::npos);

  // Without waiting at connect, the first call says the same.
  auto lazy = Client::Connect({.address = address, .connect_timeout = 0ms});
  ASSERT_TRUE(lazy.ok());
  auto countries = lazy->ListCountries();
  ASSERT_FALSE(countries.ok());
  EXPECT_EQ(countries.error().reason, Reason::kGatewayUnavailable) << countries.error().ToString();
}

TEST(ClientConnect, AnUnreadableCaFileIsInvalidArgument) {
  auto client = Client::Connect({.tls_ca_file = "/nonexistent/ca.pem"});
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().reason, Reason::kInvalidArgument);
  EXPECT_NE(client.error().message.find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(ClientConnect, SecretsThatAreNotPrintableAsciiAreRefusedWithoutQuotingThem) {
  for (ClientOptions options : {ClientOptions{.token = "s3cret-token\r\n"},
                                ClientOptions{.caller_key = "s3cret-k\xc3\xa9y"}}) {
    options.use_environment = false;
    options.connect_timeout = 0ms;
    auto client = Client::Connect(options);
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.error().reason, Reason::kInvalidArgument);
    EXPECT_EQ(client.error().ToString().find("s3cret"), std::string::npos)
        << client.error().ToString();
  }
}

TEST(ClientConnect, AddressComesFromTheEnvironmentUnlessGiven) {
  setenv("ISMSCODE_HARNESS_ADDR", "127.0.0.1:1", 1);
  auto from_env = Client::Connect({.connect_timeout = 0ms});
  auto given = Client::Connect({.address = "127.0.0.1:2", .connect_timeout = 0ms});
  auto ignored = Client::Connect({.use_environment = false, .connect_timeout = 0ms});
  unsetenv("ISMSCODE_HARNESS_ADDR");
  EXPECT_EQ(from_env->address(), "127.0.0.1:1");
  EXPECT_EQ(given->address(), "127.0.0.1:2");
  EXPECT_EQ(ignored->address(), "127.0.0.1:50051");
}

TEST_F(ClientEdge, BadFieldsAreTypedWithTheFieldNamed) {
  auto empty = client().Acquire({.country = "", .service = "whatsapp"});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().reason, Reason::kInvalidArgument);
  ASSERT_EQ(empty.error().bad_fields.size(), 1u);
  EXPECT_EQ(empty.error().bad_fields[0].field, "country");

  auto unknown = client().Acquire({.country = "US", .service = "no-such-service"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().reason, Reason::kInvalidService) << unknown.error().ToString();

  auto negative = client().Acquire({.country = "US", .service = "whatsapp", .max_wait = -1ms});
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().bad_fields.at(0).field, "max_wait");

  auto number = AcquireNumber("US", "whatsapp");
  auto timeout = client().AwaitCode(number.id, {.timeout = -5s});
  ASSERT_FALSE(timeout.ok());
  EXPECT_EQ(timeout.error().reason, Reason::kInvalidArgument);
  EXPECT_EQ(timeout.error().bad_fields.at(0).field, "timeout");
}

TEST_F(ClientEdge, RequestIdIsGeneratedAndReplayable) {
  auto first = client().Acquire({.country = "US", .service = "telegram"});
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->request_id.rfind("req-", 0), 0u);
  auto again =
      client().Acquire({.country = "US", .service = "telegram", .request_id = first->request_id});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->id, first->id);
}

TEST_F(ClientEdge, AnUpstreamTimeoutCarriesTheRequestIdToRepeatWith) {
  if (mock_url().empty()) GTEST_SKIP() << "no mock behind this gateway";
  httplib::Client mock(mock_url());
  auto fault = mock.Post("/_mock/v1/faults",
                         R"({"kind": "reset", "endpoint": "numbers.request", "key": ")" +
                             account_key() + R"(", "count": 1, "phase": "after"})",
                         "application/json");
  ASSERT_TRUE(fault && fault->status == 201);
  auto lost = client().Acquire({.country = "US", .service = "whatsapp"});
  ASSERT_FALSE(lost.ok());
  ASSERT_EQ(lost.error().reason, Reason::kUpstreamTimeout) << lost.error().ToString();
  EXPECT_EQ(lost.error().request_id.rfind("req-", 0), 0u);
  auto again = client().Acquire(
      {.country = "US", .service = "whatsapp", .request_id = lost.error().request_id});
  // The repeat never buys again: the outcome stays unknown.
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().reason, Reason::kUpstreamTimeout);
}

TEST_F(ClientEdge, CancellationFromAnotherThreadEndsTheWait) {
  auto number = AcquireNumber("US", "whatsapp");
  Cancellation cancel;
  std::atomic<int> heartbeats = 0;
  AwaitOptions options{.timeout = 60s, .code_pattern = "never (\\d{12})"};
  options.cancellation = cancel;
  options.on_heartbeat = [&](const Heartbeat& h) {
    if (h.polls >= 1 && ++heartbeats == 1) std::thread([cancel] { cancel.Cancel(); }).detach();
  };
  auto code = client().AwaitCode(number.id, options);
  ASSERT_FALSE(code.ok());
  EXPECT_EQ(code.error().reason, Reason::kCancelled);
  ASSERT_TRUE(code.error().last_heartbeat.has_value());
  EXPECT_GE(code.error().last_heartbeat->polls, 1);

  // Cancelled before it starts: at once, without a call.
  auto early = client().AwaitCode(number.id, options);
  EXPECT_EQ(early.error().reason, Reason::kCancelled);
}

TEST_F(ClientEdge, ATimeoutCarriesTheLastHeartbeatInItsText) {
  auto number = AcquireNumber("US", "whatsapp");
  auto code = client().AwaitCode(number.id, {.timeout = 600ms, .code_pattern = "never (\\d{12})"});
  ASSERT_FALSE(code.ok());
  EXPECT_EQ(code.error().reason, Reason::kCodeWaitTimeout);
  const std::string text = code.error().ToString();
  EXPECT_NE(text.find("CODE_WAIT_TIMEOUT (DEADLINE_EXCEEDED)"), std::string::npos) << text;
  EXPECT_NE(text.find("last heartbeat"), std::string::npos) << text;
}

// The plugin's helpers turn an error into a fatal failure naming the reason.
TEST_F(ClientEdge, HelpersFailTheTestWithTheReason) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    auto number = AcquireNumber("US", "no-such-service");
    EXPECT_TRUE(number.id.empty());
    AwaitCode(number);
  }
  ASSERT_EQ(results.size(), 2);
  EXPECT_TRUE(results.GetTestPartResult(0).fatally_failed());
  EXPECT_NE(std::string(results.GetTestPartResult(0).message()).find("INVALID_SERVICE"),
            std::string::npos)
      << results.GetTestPartResult(0).message();
  EXPECT_NE(std::string(results.GetTestPartResult(1).message()).find("did AcquireNumber fail"),
            std::string::npos);
}

// Each test has its own mock account: its purchases are charged to it alone.
TEST_F(ClientEdge, EveryTestHasItsOwnAccount) {
  ASSERT_FALSE(account_key().empty());
  EXPECT_EQ(account_key().rfind("gtest-", 0), 0u);
  auto number = AcquireNumber("US", "whatsapp");
  auto code = AwaitCode(number);
  EXPECT_FALSE(code.code.empty());
}

}  // namespace
}  // namespace ismscode::harness
