// Many streams against a tight upstream limit: the gateway's rate budget, not the
// upstream, says no, so no client ever sees a 429 and every code arrives.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/server/gateway_fixture.h"

namespace ismscode::gateway {
namespace {

namespace v1 = ismscode::harness::v1;
using namespace std::chrono_literals;

TEST(GatewayLoad, FiftyStreamsOnOneKeyUnderATightLimitSeeNo429) {
  // The mock runs on a real-time clock here: its limit is 1500 requests per 60 s window
  // for the key. The gateway's budget (40 in any 2 s) can send at most 1200 in any 60 s,
  // so the upstream never has a reason to say 429, however slow this machine is.
  // Polling 50 numbers every 20 ms would want 2500/s; the budget allows 20/s.
  mock::MockService::Options live = testing::FrozenOptions();
  live.clock.frozen = false;
  testing::MockFixture mock(testing::TestScenario(), live);
  mock.Control("PATCH", "accounts/key-alpha-0001",
               {{"rate_limit", {{"requests", 1500}, {"window_seconds", 60}}}, {"balance", 100}});
  // Only the SMS this test injects: the offers' own SMS would come after 10 real seconds.
  for (const char* offer : {"offers/US/google", "offers/GB/google"}) {
    mock.Control("PATCH", offer, {{"sms", {{"delay", {{"kind", "fixed"}, {"seconds", 1000}}}}}});
  }
  auto started = Gateway::Start({.upstream = {.base_url = mock.base_url() + "/api/v3"},
                                 .upstream_key = "key-alpha-0001",
                                 .poll_interval = 20ms,
                                 .rate_limit = 40,
                                 .rate_window = 2s,
                                 .prefetch_lists = false,
                                 .workers = 4,
                                 .metrics_listen = "127.0.0.1:0"});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<Gateway> gateway = *std::move(started);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(gateway->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::VerificationService::NewStub(channel);

  constexpr int kStreams = 50;
  std::vector<std::string> ids;
  for (int i = 0; i < kStreams; ++i) {
    grpc::ClientContext ctx;
    v1::AcquireNumberRequest req;
    req.set_country(i % 2 ? "US" : "GB");
    req.set_service("google");
    req.mutable_max_wait()->set_seconds(30);  // 50 purchases span two budget windows
    ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    v1::AcquireNumberResponse resp;
    const grpc::Status s = stub->AcquireNumber(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ids.push_back(resp.number().id());
  }

  std::vector<std::string> codes(kStreams), upstream_errors(kStreams);
  std::vector<grpc::Status> statuses(kStreams);
  std::vector<std::thread> watchers;
  std::mutex mutex;
  std::condition_variable polling;
  int streams_polling = 0;
  for (int i = 0; i < kStreams; ++i) {
    watchers.emplace_back([&, i] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
      v1::AwaitCodeRequest req;
      req.set_number_id(ids[i]);
      req.mutable_timeout()->set_seconds(60);
      auto stream = stub->AwaitCode(&ctx, req);
      v1::AwaitCodeEvent event;
      bool counted = false;
      while (stream->Read(&event)) {
        // Two polls of every number (100 requests, plus the 50 purchases: more than a
        // window's 40) before any SMS exists: the budget is spent for sure.
        if (!counted && event.has_waiting() && event.waiting().polls() >= 2) {
          counted = true;
          std::lock_guard lock(mutex);
          ++streams_polling;
          polling.notify_one();
        }
        if (event.has_waiting() && !event.waiting().last_upstream_error().empty()) {
          upstream_errors[i] = event.waiting().last_upstream_error();
        }
        if (event.has_code_received()) codes[i] = event.code_received().code();
      }
      statuses[i] = stream->Finish();
      if (!counted) {  // ended early: let the test go on and report it
        std::lock_guard lock(mutex);
        ++streams_polling;
        polling.notify_one();
      }
    });
  }
  // Each number gets an SMS with a known code once every number was polled twice:
  // from then on the budget paces the polls.
  {
    std::unique_lock lock(mutex);
    polling.wait(lock, [&] { return streams_polling == kStreams; });
  }
  for (int i = 0; i < kStreams; ++i) {
    mock.Control("POST", "numbers/" + ids[i] + "/sms",
                 {{"text", "Your verification code is " + std::to_string(700000 + i)}});
  }
  for (auto& t : watchers) t.join();

  for (int i = 0; i < kStreams; ++i) {
    SCOPED_TRACE(ids[i]);
    EXPECT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(codes[i], std::to_string(700000 + i));
    EXPECT_EQ(upstream_errors[i], "") << "no upstream error, 429 or other, reached a client";
  }
  const std::string m = Scrape(gateway->metrics_port());
  EXPECT_GT(
      Sample(m, R"(ismscode_throttled_total{purpose="poll",source="rate_budget"})").value_or(0), 0)
      << "the budget, not the upstream, held polls back";
  EXPECT_EQ(Sample(m, R"(ismscode_throttled_total{purpose="poll",source="upstream_429"})"), 0);
  auto r = mock.NewClient()->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.find("status=\"429\""), std::string::npos) << "the mock never said 429";
}

}  // namespace
}  // namespace ismscode::gateway
