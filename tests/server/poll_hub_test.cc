// One poll loop per number, on a scripted upstream and a manual clock.
#include "server/poll_hub.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "server/metrics.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/manual_runtime.h"

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;

// Records what it is told.
class Recorder final : public PollWatcher {
 public:
  void OnPoll(const PollReport& report) override {
    std::lock_guard lock(mu_);
    reports.push_back({report.polls, report.waiting_for_budget, report.sms ? report.sms->size() : 0,
                       report.fatal.has_value()});
  }
  struct Seen {
    int polls;
    bool waiting_for_budget;
    size_t sms;
    bool fatal;
  };
  std::vector<Seen> reports;

 private:
  std::mutex mu_;
};

class PollHubTest : public ::testing::Test {
 protected:
  PollHubTest() { upstream_.SetSms("num-1", {}); }
  WatchedNumber Number(const std::string& id = "num-1") {
    return {.id = id, .key = "k", .service = "google"};
  }

  fakes::ManualRuntime clock_;
  fakes::FakeUpstream upstream_;
  RateBudget budget_{{.limit = 3, .window = 60s, .reserve_for_acquire = 1, .burst = 3}};
  BudgetGate gate_{budget_, clock_.runtime()};
  // The loop's mechanics, on the even policy (poll_scheduler_test.cc has the other).
  PollHub hub_{
      upstream_, gate_, clock_.runtime(), {.interval = 5000ms, .policy = PollPolicy::kEven}};
};

TEST_F(PollHubTest, ManyWatchersOnePollLoop) {
  auto a = std::make_shared<Recorder>(), b = std::make_shared<Recorder>();
  hub_.Add(Number(), a);
  hub_.Add(Number(), b);
  EXPECT_EQ(upstream_.polls(), 1) << "the first watcher polls at once";
  EXPECT_EQ(b->reports.size(), 1u) << "b hears at once what the loop knows";
  clock_.Advance(5s);
  EXPECT_EQ(upstream_.polls(), 2);
  EXPECT_EQ(a->reports.size(), 2u);
  EXPECT_EQ(b->reports.size(), 2u);
}

TEST_F(PollHubTest, HeartbeatsKeepComingWhileAPollWaitsForBudget) {
  // Budget: 3 a minute, one kept for purchases: two polls, then the third waits ~50 s.
  auto w = std::make_shared<Recorder>();
  hub_.Add(Number(), w);
  clock_.Advance(5s);
  ASSERT_EQ(upstream_.polls(), 2);
  clock_.Advance(30s);
  EXPECT_EQ(upstream_.polls(), 2) << "the budget holds the third poll back";
  ASSERT_GE(w->reports.size(), 7u) << "a heartbeat every interval while waiting";
  for (size_t i = 2; i < w->reports.size(); ++i) {
    EXPECT_TRUE(w->reports[i].waiting_for_budget) << i;
    EXPECT_EQ(w->reports[i].polls, 2) << i;
  }
  clock_.Advance(25s);  // the first poll's answer (at 0 s) leaves the window
  EXPECT_EQ(upstream_.polls(), 3);
  EXPECT_FALSE(w->reports.back().waiting_for_budget);
}

TEST_F(PollHubTest, TheLoopEndsWithItsLastWatcherAndLeavesNothingQueued) {
  auto w = std::make_shared<Recorder>();
  hub_.Add(Number(), w);
  clock_.Advance(5s);  // two polls: the budget's poll share is spent
  clock_.Advance(5s);  // the third waits in the gate
  EXPECT_EQ(gate_.waiting(), 1u);
  hub_.Remove("num-1", w.get());
  EXPECT_EQ(hub_.loops(), 0u);
  EXPECT_EQ(gate_.waiting(), 0u) << "its queued poll is withdrawn";
  clock_.Advance(120s);
  EXPECT_EQ(upstream_.polls(), 2);
}

TEST_F(PollHubTest, ANewLoopForTheSameNumberDoesNotDoubleUp) {
  RateBudget ample({.limit = 100, .window = 60s});
  BudgetGate gate(ample, clock_.runtime());
  PollHub hub(upstream_, gate, clock_.runtime(), {.interval = 5000ms});
  auto first = std::make_shared<Recorder>(), second = std::make_shared<Recorder>();
  hub.Add(Number(), first);
  hub.Remove("num-1", first.get());  // its next poll's timer is still set
  clock_.Advance(1s);
  hub.Add(Number(), second);  // a new loop (a reconnect) goes on from the old one
  EXPECT_EQ(upstream_.polls(), 1) << "its first poll waits out the interval";
  EXPECT_EQ(second->reports.size(), 1u) << "and says so at once";
  clock_.Advance(4s);
  EXPECT_EQ(upstream_.polls(), 2) << "one poll per interval: the old loop's timer is stale";
  clock_.Advance(5s);
  EXPECT_EQ(upstream_.polls(), 3);
}

TEST_F(PollHubTest, ANewLoopKnowsTheSmsTheLastOneSaw) {
  upstream_.SetSms("num-1", {{.from = "WhatsApp", .text = "Your code: 583-920"}});
  auto first = std::make_shared<Recorder>(), again = std::make_shared<Recorder>();
  hub_.Add(Number(), first);
  ASSERT_EQ(first->reports.back().sms, 1u);
  hub_.Remove("num-1", first.get());
  hub_.Add(Number(), again);  // the test awaits the same number again at once
  ASSERT_GE(again->reports.size(), 1u);
  EXPECT_EQ(again->reports[0].sms, 1u) << "the code at once";
  EXPECT_EQ(upstream_.polls(), 1) << "without a poll before the interval";
  hub_.Remove("num-1", again.get());
}

TEST_F(PollHubTest, AnUnknownNumberEndsTheLoop) {
  auto w = std::make_shared<Recorder>();
  hub_.Add(Number("num-gone"), w);
  ASSERT_EQ(w->reports.size(), 1u);
  EXPECT_TRUE(w->reports[0].fatal);
  EXPECT_EQ(hub_.loops(), 0u);
  clock_.Advance(60s);
  EXPECT_EQ(upstream_.polls(), 1);
}

TEST_F(PollHubTest, A429OnAPollPausesTheKey) {
  upstream_.QueuePollFailure(
      {.reason = Reason::kRateLimitExceeded, .message = "scripted", .retry_after = 30s});
  auto w = std::make_shared<Recorder>();
  hub_.Add(Number(), w);
  clock_.Advance(29s);
  EXPECT_EQ(upstream_.polls(), 1) << "paused for Retry-After";
  clock_.Advance(1s);
  EXPECT_EQ(upstream_.polls(), 2);
}

TEST_F(PollHubTest, ALateWatcherGetsTheSmsAlreadySeenWithoutWaiting) {
  upstream_.SetSms("num-1", {{.from = "WhatsApp", .text = "Your code: 583-920"}});
  auto first = std::make_shared<Recorder>(), late = std::make_shared<Recorder>();
  hub_.Add(Number(), first);
  hub_.Add(Number(), late);
  ASSERT_EQ(late->reports.size(), 1u);
  EXPECT_EQ(late->reports[0].sms, 1u);
  EXPECT_EQ(upstream_.polls(), 1) << "and no extra poll for it";
}

TEST_F(PollHubTest, PollsCountTheirYieldAndHowLongEachNewSmsWaitedUpstream) {
  GatewayMetrics metrics;
  PollHub hub{upstream_,
              gate_,
              clock_.runtime(),
              {.interval = 5000ms, .policy = PollPolicy::kEven},
              &metrics};
  const SystemTime t = fakes::FakeUpstream::epoch;
  upstream_.SetDate(t + 10s);
  upstream_.SetSms("num-1", {{"Acme", "code 1111", t + 7s}});
  auto watcher = std::make_shared<Recorder>();
  hub.Add(Number(), watcher);  // polls at once: a new SMS, 3 s old by the upstream's clock
  clock_.Advance(5s);          // nothing new
  const std::string m = metrics.Serialize();
  EXPECT_NE(m.find(R"(ismscode_polls_total{result="new_sms",service="google"} 1)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find(R"(ismscode_polls_total{result="nothing",service="google"} 1)"),
            std::string::npos);
  EXPECT_NE(m.find(R"(ismscode_code_detection_delay_seconds_sum{service="google"} 3)"),
            std::string::npos);
  EXPECT_NE(m.find(R"(ismscode_code_detection_delay_seconds_count{service="google"} 1)"),
            std::string::npos);
  hub.Remove("num-1", watcher.get());
}

}  // namespace
}  // namespace ismscode::gateway
