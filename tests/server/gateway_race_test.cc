// The stream's races over real gRPC, repeated so that each interleaving gets its chance:
// a drain while streams are being admitted, a client cancel while a write is in flight,
// a deadline against a code. Whatever the interleaving, every stream ends exactly once
// with a status that matches what it was sent, and nothing is left behind.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/server/gateway_fixture.h"

namespace ismscode::gateway {
namespace {

namespace v1 = ismscode::harness::v1;
using namespace std::chrono_literals;

class GatewayRaceTest : public GatewayTest {
 protected:
  // Waits (bounded) until no AwaitCode stream is open at the gateway.
  void AwaitNoStreams() { AwaitMetric("ismscode_awaits_in_flight", 0); }
};

TEST_F(GatewayRaceTest, ADrainDuringAdmissionLeavesNoStreamBehind) {
  constexpr int kThreads = 4, kPerThread = 40;
  mock_.Control("PATCH", "offers/US/google", {{"stock", 1000}});
  std::vector<std::string> ids;
  for (int i = 0; i < kThreads * kPerThread; ++i) ids.push_back(Acquire().id());
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> problems(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Opens streams one after another, each kept open, until the gateway refuses or
      // is gone; then reads each to its end.
      struct Open {
        std::string id;
        std::unique_ptr<grpc::ClientContext> ctx;
        std::unique_ptr<grpc::ClientReader<v1::AwaitCodeEvent>> stream;
        bool got_event = false;
      };
      std::vector<Open> open;
      for (int i = 0; i < kPerThread; ++i) {
        Open o{.id = ids[t * kPerThread + i], .ctx = std::make_unique<grpc::ClientContext>()};
        o.ctx->set_deadline(std::chrono::system_clock::now() + 20s);
        v1::AwaitCodeRequest req;
        req.set_number_id(o.id);
        o.stream = stub_->AwaitCode(o.ctx.get(), req);
        v1::AwaitCodeEvent event;
        o.got_event = o.stream->Read(&event);  // the first poll's heartbeat, or the end
        if (o.got_event) ++admitted;
        open.push_back(std::move(o));
        if (!open.back().got_event) break;  // refused or gone: stop opening
      }
      for (Open& o : open) {
        v1::AwaitCodeEvent event;
        while (o.stream->Read(&event)) {
        }
        const grpc::Status s = o.stream->Finish();
        // An admitted stream is ended by the drain, with its reason. One that came later
        // is refused with it, or finds the server gone (UNAVAILABLE, no reason), or,
        // arriving in the instant the server itself stops, is cancelled by it.
        if (o.got_event && ReasonOf(s) != "SHUTTING_DOWN") {
          problems[t].push_back(o.id + " (admitted): " + s.error_message());
        }
        const bool refused_or_gone =
            s.error_code() == grpc::StatusCode::UNAVAILABLE ||
            (!o.got_event && s.error_code() == grpc::StatusCode::CANCELLED);
        if (!refused_or_gone) {
          problems[t].push_back(o.id + " ended " + std::to_string(s.error_code()) + ": " +
                                s.error_message());
        }
      }
    });
  }
  bool opened = false;
  for (int i = 0; i < 5000 && !(opened = admitted >= kThreads * 5); ++i) {
    std::this_thread::sleep_for(1ms);  // polling a condition, bounded
  }
  gateway_->Shutdown(1s);  // while the threads keep opening streams
  for (auto& t : threads) t.join();
  EXPECT_TRUE(opened) << "streams never opened";
  for (const auto& p : problems) {
    for (const auto& problem : p) ADD_FAILURE() << problem;
  }
}

TEST_F(GatewayRaceTest, ACancelWhileWritesAreInFlightEndsCleanly) {
  GatewayOptions o = DefaultOptions();
  o.poll_interval = 10ms;  // a heartbeat every 10 ms: writes are always in flight
  Restart(o);
  const std::string id = Acquire().id();
  for (int round = 0; round < 30; ++round) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    v1::AwaitCodeRequest req;
    req.set_number_id(id);
    req.set_follow(true);
    auto stream = stub_->AwaitCode(&ctx, req);
    v1::AwaitCodeEvent event;
    for (int read = 0; read < round % 5 && stream->Read(&event); ++read) {
    }
    ctx.TryCancel();
    while (stream->Read(&event)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  AwaitNoStreams();
  // And the gateway still answers.
  EXPECT_FALSE(Acquire().id().empty());
}

TEST_F(GatewayRaceTest, ADeadlineAgainstACodeEndsOneWayOrTheOther) {
  GatewayOptions o = DefaultOptions();
  o.poll_interval = 5ms;
  Restart(o);
  mock_.Control("PATCH", "offers/US/whatsapp", {{"stock", 1000}});
  int codes = 0, timeouts = 0;
  for (int round = 0; round < 40; ++round) {
    const std::string id = Acquire("US", "whatsapp").id();
    mock_.Control("POST", "numbers/" + id + "/sms",
                  {{"from", "WhatsApp"}, {"text", "Your WhatsApp code: 583-920"}});
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    v1::AwaitCodeRequest req;
    req.set_number_id(id);
    req.mutable_timeout()->set_nanos((round % 4 + 1) * 1'000'000);  // 1 to 4 ms
    auto stream = stub_->AwaitCode(&ctx, req);
    v1::AwaitCodeEvent event;
    int got = 0;
    while (stream->Read(&event)) got += event.has_code_received();
    const grpc::Status s = stream->Finish();
    if (s.ok()) {
      EXPECT_EQ(got, 1) << "OK means exactly one code";
      ++codes;
    } else {
      EXPECT_EQ(ReasonOf(s), "CODE_WAIT_TIMEOUT") << s.error_message();
      EXPECT_EQ(got, 0) << "a code, then a timeout";
      ++timeouts;
    }
  }
  EXPECT_EQ(codes + timeouts, 40);
  AwaitNoStreams();
}

}  // namespace
}  // namespace ismscode::gateway
