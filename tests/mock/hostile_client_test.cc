// A mock shared by a CI fleet must not be taken down by one bad client: every request is
// bounded however it is framed, slow clients cost no worker, and out-of-range input is a
// 400. Real server, raw sockets on loopback.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "tests/support/mock_fixture.h"
#include "tests/support/raw_http.h"

namespace ismscode::testing {
namespace {

using json = nlohmann::ordered_json;

mock::ServerOptions Options(void (*tweak)(mock::ServerOptions&) = nullptr) {
  mock::ServerOptions o;
  o.max_body_bytes = 64 * 1024;
  if (tweak) tweak(o);
  return o;
}

void ExpectServing(MockFixture& mock) {
  auto r = mock.Get("/api/v3/countries");
  ASSERT_TRUE(r) << "a normal client cannot get through";
  EXPECT_EQ(r->status, 200);
}

size_t ThreadCount() {
  size_t n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// Sends `bytes` in pieces until the server answers (or everything is sent) and returns
// the answer.
std::string SendUntilAnswered(int fd, const std::string& head, const std::string& piece,
                              size_t total) {
  EXPECT_TRUE(SendAll(fd, head));
  for (size_t sent = 0; sent < total; sent += piece.size()) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) break;  // answered early, as it should
    if (!SendAll(fd, piece)) break;
  }
  return ReadResponse(fd);
}

TEST(HostileClient, ChunkedBodyPastTheLimitIs413BeforeItEnds) {
  MockFixture mock(TestScenario(), FrozenOptions(), Options());
  const int fd = ConnectLoopback(mock.port());
  ASSERT_GE(fd, 0);
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'a') + "\r\n";  // 16 KiB of data
  const std::string answer = SendUntilAnswered(
      fd,
      "PUT /_mock/v1/accounts/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n",
      chunk, 512 * 1024);
  close(fd);
  EXPECT_EQ(StatusOf(answer), 413) << answer.substr(0, 120);
  EXPECT_EQ(json::parse(BodyOf(answer))["code"], "payload_too_large");
  ExpectServing(mock);
}

TEST(HostileClient, EndlessSmallHeadersAre431) {
  MockFixture mock(TestScenario(), FrozenOptions(), Options());
  const int fd = ConnectLoopback(mock.port());
  ASSERT_GE(fd, 0);
  const std::string answer =
      SendUntilAnswered(fd, "GET /api/v3/countries HTTP/1.1\r\n", "X-A: b\r\n", 3'000'000 * 8);
  close(fd);
  EXPECT_EQ(StatusOf(answer), 431) << answer.substr(0, 120);
  ExpectServing(mock);
}

TEST(HostileClient, MalformedFramingIs400Or501) {
  MockFixture mock(TestScenario(), FrozenOptions(), Options());
  const std::string post = "POST /_mock/v1/accounts HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(StatusOf(RawExchange(mock.port(), post + "Content-Length: -1\r\n\r\n")), 400);
  EXPECT_EQ(StatusOf(RawExchange(mock.port(), post + "Content-Length: 12abc\r\n\r\n")), 400);
  EXPECT_EQ(StatusOf(RawExchange(mock.port(), post + "Content-Length: 2\r\n"
                                                     "Transfer-Encoding: chunked\r\n\r\n")),
            400);
  EXPECT_EQ(StatusOf(RawExchange(mock.port(), post + "Transfer-Encoding: gzip\r\n\r\n")), 501);
  EXPECT_EQ(StatusOf(RawExchange(mock.port(), post + "Content-Length: 70000\r\n\r\n")), 413);
  ExpectServing(mock);
}

TEST(HostileClient, OutOfRangeNumbersAre400) {
  MockFixture mock(TestScenario(), FrozenOptions(), Options());
  auto r = mock.Control("PATCH", "accounts/key-alpha-0001", json::parse(R"({"balance": 1})"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const std::string answer =
      RawExchange(mock.port(),
                  "PATCH /_mock/v1/accounts/key-alpha-0001 HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  "application/json\r\nContent-Length: 18\r\n\r\n{\"balance\": 1e999}");
  EXPECT_EQ(StatusOf(answer), 400) << answer;
  EXPECT_EQ(json::parse(BodyOf(answer))["code"], "invalid_json");
  EXPECT_DOUBLE_EQ(
      Body(mock.Control("GET", "accounts/key-alpha-0001"))["account"]["balance"].get<double>(), 1)
      << "a refused change leaves the account as it was";
}

TEST(HostileClient, ATrickledRequestGets408AtItsDeadline) {
  MockFixture mock(TestScenario(), FrozenOptions(),
                   Options([](mock::ServerOptions& o) { o.request_timeout_seconds = 0.3; }));
  const int fd = ConnectLoopback(mock.port());
  ASSERT_GE(fd, 0);
  // A byte every 50 ms: each recv is quick, the request as a whole is not.
  const std::string request = "GET /api/v3/countries HTTP/1.1\r\nHost: a-slow-client\r\n\r\n";
  size_t sent = 0;
  for (; sent < request.size(); ++sent) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) break;  // answered
    if (!SendAll(fd, request.substr(sent, 1))) break;
  }
  const std::string answer = ReadResponse(fd);
  close(fd);
  EXPECT_LT(sent, request.size()) << "the whole request went through";
  EXPECT_EQ(StatusOf(answer), 408) << answer.substr(0, 120);
  EXPECT_EQ(json::parse(BodyOf(answer))["code"], "request_timeout");
}

TEST(HostileClient, SlowConnectionsNeitherStarveAFastClientNorHoldThreads) {
  MockFixture mock(TestScenario(), FrozenOptions(), Options([](mock::ServerOptions& o) {
                     o.max_threads = 2;
                     o.max_connections = 100;
                   }));
  ExpectServing(mock);  // the pool's threads exist before counting
  const size_t threads_before = ThreadCount();
  std::vector<int> slow;
  for (int i = 0; i < 300; ++i) {
    const int fd = ConnectLoopback(mock.port());
    ASSERT_GE(fd, 0);
    SendAll(fd, "GET /api/v3/countries HTTP/1.1\r\nHost: sl");  // and never more
    slow.push_back(fd);
  }
  ExpectServing(mock);  // on the keep-alive connection it had before the flood
  const std::string fresh =
      RawExchange(mock.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(fresh), 200) << "a new client cannot get through";
  EXPECT_LE(mock.server().open_connections(), 100u);
  EXPECT_LE(ThreadCount(), threads_before + 2) << "waiting connections cost no thread";
  for (int fd : slow) close(fd);
  ExpectServing(mock);
}

TEST(HostileClient, ClientsThatNeverReadTheirAnswersHoldNoWorker) {
  // Two workers, and a write timeout longer than the fixture client waits: a worker
  // blocked writing to a client that does not read would starve everyone else.
  MockFixture mock(TestScenario(), FrozenOptions(), Options([](mock::ServerOptions& o) {
                     o.max_threads = 2;
                     o.read_timeout_seconds = 30;
                   }));
  std::string flood;
  for (int i = 0; i < 4000; ++i) {
    // /metrics: kilobytes per answer, so that unread answers soon fill the socket.
    flood += "GET /metrics HTTP/1.1\r\nHost: a-client-that-never-reads\r\n\r\n";
  }
  std::vector<int> deaf;
  for (int i = 0; i < 4; ++i) {
    const int fd = ConnectLoopback(mock.port());
    ASSERT_GE(fd, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    fcntl(fd, F_SETFL, O_NONBLOCK);  // send what the socket takes, never read
    ssize_t sent = 0;
    for (size_t at = 0; at < flood.size() &&
                        (sent = send(fd, flood.data() + at, flood.size() - at, MSG_NOSIGNAL)) > 0;
         at += static_cast<size_t>(sent)) {
    }
    deaf.push_back(fd);
  }
  // Each deaf connection ends up held back by the loop (its unread answers fill the
  // socket), not by a worker blocked writing to it.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (mock.server().blocked_connections() < deaf.size() &&
         std::chrono::steady_clock::now() < give_up) {
    poll(nullptr, 0, 10);
  }
  EXPECT_EQ(mock.server().blocked_connections(), deaf.size());
  for (int i = 0; i < 3; ++i) ExpectServing(mock);
  for (int fd : deaf) close(fd);
}

TEST(HostileClient, AStrayCrlfBetweenRequestsStartsNoDeadline) {
  MockFixture mock(TestScenario(), FrozenOptions(),
                   Options([](mock::ServerOptions& o) { o.request_timeout_seconds = 0.2; }));
  const int fd = ConnectLoopback(mock.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\r\n"));
  EXPECT_EQ(StatusOf(ReadResponse(fd)), 200);
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 500), 0) << "an answer nobody asked for (408?)";
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(ReadResponse(fd)), 200);
  close(fd);
}

TEST(HostileClient, PipelinedAndExpectContinueRequestsAreAnswered) {
  MockFixture mock(TestScenario(), FrozenOptions(), Options());
  const int fd = ConnectLoopback(mock.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd,
                      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /api/v3/countries HTTP/1.1\r\nHost: x\r\n"
                      "Authorization: Bearer key-alpha-0001\r\n\r\n"));
  std::string carry;  // both answers may come in one read
  EXPECT_EQ(StatusOf(ReadResponse(fd, std::chrono::seconds(5), &carry)), 200);
  EXPECT_EQ(StatusOf(ReadResponse(fd, std::chrono::seconds(5), &carry)), 200);
  ASSERT_TRUE(carry.empty());
  ASSERT_TRUE(SendAll(fd,
                      "PATCH /_mock/v1/accounts/key-alpha-0001 HTTP/1.1\r\nHost: x\r\n"
                      "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                      "Content-Length: 14\r\n\r\n"));
  char interim[64] = {};
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(poll(&p, 1, 5000), 0) << "no 100 Continue";
  const ssize_t n = recv(fd, interim, sizeof interim - 1, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(interim, n), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(SendAll(fd, R"({"balance": 3})"));
  EXPECT_EQ(StatusOf(ReadResponse(fd)), 200);
  close(fd);
}

}  // namespace
}  // namespace ismscode::testing
