// The poll scheduler (PollHub's kLikely policy), on a scripted upstream and a manual
// clock: which number a key's scarce polls go to, and when.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/metrics.h"
#include "server/poll_hub.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/manual_runtime.h"

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = Runtime::Clock;

class Recorder final : public PollWatcher {
 public:
  void OnPoll(const PollReport& report) override {
    std::lock_guard lock(mu_);
    ++reports;
    waiting_for_budget = report.waiting_for_budget;
    next_poll_at = report.next_poll_at;
    sms = report.sms ? report.sms->size() : 0;
  }
  int reports = 0;
  bool waiting_for_budget = false;
  SystemTime next_poll_at;
  size_t sms = 0;

 private:
  std::mutex mu_;
};

const PollHub::Options kLikely{
    .interval = 5000ms, .policy = PollPolicy::kLikely, .max_gap = 30000ms, .worth_seconds = 4};
const LogNormalDelay kPrior = SmsDelayModel({}).Prior();

// When a fresh number's first poll is worth it under contention, on the prior.
Clock::duration FirstPollOnThePrior() {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(kPrior.WhenWaitingReaches(0, 4, 0, 30)));
}

class PollSchedulerTest : public ::testing::Test {
 protected:
  PollSchedulerTest() {
    for (const char* id : {"a", "b", "c", "g", "s"}) upstream_.SetSms(id, {});
  }
  WatchedNumber Number(const std::string& id, const std::string& service = "google",
                       Clock::duration bought_ago = 0s) {
    return {.id = id, .key = "k", .service = service, .acquired_at = clock_.now() - bought_ago};
  }
  std::shared_ptr<Recorder> Watch(PollHub& hub, const WatchedNumber& number,
                                  std::optional<Clock::time_point> sent_at = {},
                                  std::optional<Clock::time_point> deadline = {}) {
    auto w = std::make_shared<Recorder>();
    hub.Add(number, w, sent_at, deadline);
    return w;
  }

  fakes::ManualRuntime clock_;
  fakes::FakeUpstream upstream_;
  // 6 requests a minute, one kept for purchases: polls get 5 a minute, less than a
  // single number polled every 5 s wants. Contention from the first number on.
  RateBudget tight_{{.limit = 6, .window = 60s, .reserve_for_acquire = 1, .burst = 6}};
  BudgetGate tight_gate_{tight_, clock_.runtime()};
  // Each test's hub is its own and ends with it (its loops, and their timers unrun).
};

TEST_F(PollSchedulerTest, WithSlackEveryNumberIsPolledEveryInterval) {
  RateBudget ample({.limit = 600, .window = 60s});
  BudgetGate gate(ample, clock_.runtime());
  PollHub hub(upstream_, gate, clock_.runtime(), kLikely);
  for (const char* id : {"a", "b", "c"}) Watch(hub, Number(id, "google", 30s));
  for (const char* id : {"a", "b", "c"}) EXPECT_EQ(upstream_.polls_of(id), 1) << "at once";
  clock_.Advance(5s);
  for (const char* id : {"a", "b", "c"}) EXPECT_EQ(upstream_.polls_of(id), 2);
  clock_.Advance(5s);
  for (const char* id : {"a", "b", "c"}) EXPECT_EQ(upstream_.polls_of(id), 3);
}

TEST_F(PollSchedulerTest, ANumberIsFirstPolledAnIntervalAfterItsPurchase) {
  RateBudget ample({.limit = 600, .window = 60s});
  BudgetGate gate(ample, clock_.runtime());
  PollHub hub(upstream_, gate, clock_.runtime(), kLikely);
  const auto fresh = Watch(hub, Number("a"));
  const auto older = Watch(hub, Number("b", "google", 2s));
  EXPECT_EQ(upstream_.polls(), 0) << "no SMS comes before its number exists";
  EXPECT_EQ(fresh->reports, 1) << "the watcher hears when the first poll is";
  EXPECT_FALSE(fresh->waiting_for_budget) << "the key has room: it waits for the interval";
  EXPECT_NEAR(
      std::chrono::duration<double>(fresh->next_poll_at - std::chrono::system_clock::now()).count(),
      5, 0.5);
  clock_.Advance(3s - 1ms);
  EXPECT_EQ(upstream_.polls_of("b"), 0);
  clock_.Advance(1ms);
  EXPECT_EQ(upstream_.polls_of("b"), 1) << "an interval after its purchase";
  clock_.Advance(2s);
  EXPECT_EQ(upstream_.polls_of("a"), 1);
  clock_.Advance(5s);
  EXPECT_EQ(upstream_.polls_of("a"), 2) << "then every interval";
  // A stream that ends within the first interval still gets its poll.
  Watch(hub, Number("c"), {}, clock_.now() + 3s);
  clock_.Advance(2s);
  EXPECT_EQ(upstream_.polls_of("c"), 1);
}

TEST_F(PollSchedulerTest, AnIntervalUnderFiveSecondsDoesNotMakeAFewNumbersContend) {
  // 60 a minute; polls every 250 ms would want 4 a second, but every 5 s fits.
  RateBudget sixty({.limit = 60, .window = 60s});
  BudgetGate gate(sixty, clock_.runtime());
  PollHub::Options fast = kLikely;
  fast.interval = 250ms;
  PollHub hub(upstream_, gate, clock_.runtime(), fast);
  for (const char* id : {"a", "b", "c", "g"}) Watch(hub, Number(id, "google", 1s));
  for (const char* id : {"a", "b", "c", "g"}) EXPECT_EQ(upstream_.polls_of(id), 1) << "at once";
  clock_.Advance(250ms);
  EXPECT_EQ(upstream_.polls(), 8) << "every 250 ms while the pacer has tokens";
  Watch(hub, Number("s", "google", 1s));  // five every 5 s is the whole budget: contention
  EXPECT_EQ(upstream_.polls_of("s"), 0);
}

TEST_F(PollSchedulerTest, UnderContentionAFreshNumberIsFirstPolledWhenItsCodeIsLikely) {
  PollHub hub(upstream_, tight_gate_, clock_.runtime(), kLikely);
  const auto first = FirstPollOnThePrior();
  ASSERT_GT(first, 5s);
  ASSERT_LT(first, 20s);
  const auto w = Watch(hub, Number("a"));
  EXPECT_EQ(upstream_.polls(), 0) << "an SMS sent just now is not there yet";
  EXPECT_EQ(w->reports, 1) << "the watcher hears when its poll is planned";
  EXPECT_TRUE(w->waiting_for_budget);
  const auto planned = w->next_poll_at - std::chrono::system_clock::now();
  EXPECT_NEAR(std::chrono::duration<double>(planned).count(),
              std::chrono::duration<double>(first).count(), 0.5);
  clock_.Advance(first - 100ms);
  EXPECT_EQ(upstream_.polls(), 0);
  EXPECT_GE(w->reports, 2) << "heartbeats every interval meanwhile";
  clock_.Advance(200ms);
  EXPECT_EQ(upstream_.polls(), 1);
  EXPECT_FALSE(w->waiting_for_budget);
}

TEST_F(PollSchedulerTest, TheFreeSlotGoesToTheNumberWhoseCodeIsMostLikelyThere) {
  // One poll slot a minute, and the key paused (a 429): both numbers queue for it.
  RateBudget one({.limit = 2, .window = 60s, .reserve_for_acquire = 1, .burst = 1});
  BudgetGate gate(one, clock_.runtime());
  PollHub hub(upstream_, gate, clock_.runtime(), kLikely);
  one.PauseUntil("k", clock_.now() + 10s);
  ASSERT_GE(kPrior.WaitingSeconds(0, 20), 4);
  // "b" arrives first; "a"'s app sent its SMS earlier, so its code is likelier there.
  Watch(hub, Number("b", "google", 60s), clock_.now() - 20s);
  Watch(hub, Number("a", "google", 60s), clock_.now() - 40s);
  EXPECT_EQ(gate.waiting(), 2u);
  clock_.Advance(10s);
  EXPECT_EQ(upstream_.polls_of("a"), 1);
  EXPECT_EQ(upstream_.polls_of("b"), 0) << "not first come, first served";
  clock_.Advance(60s);
  EXPECT_EQ(upstream_.polls_of("b"), 1);
}

TEST_F(PollSchedulerTest, NoNumberGoesLongerThanTheMaxGapWithoutAPoll) {
  PollHub::Options never_worth = kLikely;
  never_worth.worth_seconds = 1e9;
  PollHub hub(upstream_, tight_gate_, clock_.runtime(), never_worth);
  Watch(hub, Number("a"));
  clock_.Advance(30s - 1ms);
  EXPECT_EQ(upstream_.polls(), 0);
  clock_.Advance(2ms);
  EXPECT_EQ(upstream_.polls(), 1) << "30 s after the watch began";
  clock_.Advance(30s - 2ms);
  EXPECT_EQ(upstream_.polls(), 1);
  clock_.Advance(2ms);
  EXPECT_EQ(upstream_.polls(), 2) << "and 30 s after each poll";
}

TEST_F(PollSchedulerTest, PurchasesKeepTheirPriority) {
  // One poll slot; a purchase (which may use the last slot too) and a poll both wait.
  RateBudget one({.limit = 2, .window = 60s, .reserve_for_acquire = 1, .burst = 2});
  BudgetGate gate(one, clock_.runtime());
  PollHub hub(upstream_, gate, clock_.runtime(), kLikely);
  one.PauseUntil("k", clock_.now() + 10s);
  Watch(hub, Number("a", "google", 60s), clock_.now() - 40s);  // a poll worth sending
  std::vector<int> polls_when_the_purchase_ran;
  gate.Submit(
      "k", Purpose::kAcquire, Clock::time_point::max(),
      [&] {
        polls_when_the_purchase_ran.push_back(upstream_.polls());
        return BudgetGate::Answer{};
      },
      [](const GatewayError&) {});
  clock_.Advance(10s);
  ASSERT_EQ(polls_when_the_purchase_ran, std::vector<int>{0}) << "the purchase went first";
  EXPECT_EQ(upstream_.polls(), 0) << "and took the slot the poll could have had";
  clock_.Advance(60s);
  EXPECT_EQ(upstream_.polls(), 1);
}

TEST_F(PollSchedulerTest, TheCallersSentAtIsTheOrigin) {
  PollHub hub(upstream_, tight_gate_, clock_.runtime(), kLikely);
  Watch(hub, Number("a", "google", 60s), clock_.now() - 20s);
  EXPECT_EQ(upstream_.polls_of("a"), 1) << "sent 20 s ago: its code is likely there";
  // A sent_at before the purchase is taken as the purchase: 2 s ago.
  Watch(hub, Number("b", "google", 2s), clock_.now() - 1h);
  EXPECT_EQ(upstream_.polls_of("b"), 0);
  // A later watcher's earlier word moves a running loop's origin back, and its put-off
  // poll is planned again at once.
  Watch(hub, Number("c", "google", 60s));
  EXPECT_EQ(upstream_.polls_of("c"), 0);
  clock_.Advance(1s);
  Watch(hub, Number("c", "google", 60s), clock_.now() - 30s);
  EXPECT_EQ(upstream_.polls_of("c"), 1);
  EXPECT_EQ(upstream_.polls_of("b"), 0);
}

TEST_F(PollSchedulerTest, AStreamThatEndsSoonGetsItsPollBeforeItEnds) {
  PollHub hub(upstream_, tight_gate_, clock_.runtime(), kLikely);
  ASSERT_GT(FirstPollOnThePrior(), 9s);
  Watch(hub, Number("a"), {}, clock_.now() + 8s);  // an 8 s AwaitCode
  clock_.Advance(7s - 1ms);
  EXPECT_EQ(upstream_.polls(), 0);
  clock_.Advance(2ms);
  EXPECT_EQ(upstream_.polls(), 1) << "a second before the stream ends";
  // A watcher joining with a shorter stream than the plan is planned for at once.
  Watch(hub, Number("b"));
  clock_.Advance(1s);
  Watch(hub, Number("b"), {}, clock_.now() + 3s);
  clock_.Advance(2s - 1ms);
  EXPECT_EQ(upstream_.polls_of("b"), 0);
  clock_.Advance(2ms);
  EXPECT_EQ(upstream_.polls_of("b"), 1);
}

TEST_F(PollSchedulerTest, ALaterHintNeverMovesTheOriginLater) {
  PollHub hub(upstream_, tight_gate_, clock_.runtime(), kLikely);
  Watch(hub, Number("a"));
  clock_.Advance(5s);
  Watch(hub, Number("a"), clock_.now());  // "sent now": the first watcher began earlier
  clock_.Advance(FirstPollOnThePrior() - 5s + 100ms);
  EXPECT_EQ(upstream_.polls(), 1) << "planned from the first watcher's start";
}

TEST_F(PollSchedulerTest, ARetryGoesOnFromTheLoopThatEnded) {
  PollHub hub(upstream_, tight_gate_, clock_.runtime(), kLikely);
  auto first = std::make_shared<Recorder>();
  hub.Add(Number("a"), first);
  clock_.Advance(6s);
  hub.Remove("a", first.get());  // the test's first AwaitCode gave up
  clock_.Advance(1s);
  Watch(hub, Number("a"));  // and it tries again
  clock_.Advance(FirstPollOnThePrior() - 7s + 100ms);
  EXPECT_EQ(upstream_.polls(), 1) << "the SMS's origin is still the first watcher's start";
}

TEST_F(PollSchedulerTest, AWatcherJoiningAPutOffLoopHearsItsPlanAtOnce) {
  PollHub hub(upstream_, tight_gate_, clock_.runtime(), kLikely);
  const auto first = Watch(hub, Number("a"));
  clock_.Advance(1s);
  const auto late = Watch(hub, Number("a"));
  ASSERT_EQ(late->reports, 1);
  EXPECT_TRUE(late->waiting_for_budget);
  EXPECT_EQ(late->next_poll_at, first->next_poll_at);
  EXPECT_EQ(upstream_.polls(), 0);
}

TEST_F(PollSchedulerTest, EachServiceIsPolledOnTheDelayLearnedFromItsDeliveries) {
  // Ample budget: every number polled every 5 s while "slow" SMS arrive at 40 s.
  RateBudget ample({.limit = 600, .window = 60s});
  BudgetGate gate(ample, clock_.runtime());
  GatewayMetrics metrics;
  PollHub hub(upstream_, gate, clock_.runtime(), kLikely, &metrics);
  for (int round = 0; round < 8; ++round) {
    const std::string id = "slow-" + std::to_string(round);
    upstream_.SetSms(id, {});
    auto w = Watch(hub, Number(id, "slow"));
    clock_.Advance(39s);
    const SystemTime arrived = fakes::FakeUpstream::epoch + std::chrono::minutes(round);
    upstream_.SetSms(id, {{"Slow", "code 1234", arrived}});
    upstream_.SetDate(arrived);  // found the moment it arrived: 40 s after the origin
    clock_.Advance(1s);
    ASSERT_EQ(w->sms, 1u) << round;
    hub.Remove(id, w.get());
  }
  const std::string m = metrics.Serialize();
  const std::string median =
      R"(ismscode_sms_delay_estimate_seconds{quantile="0.5",service="slow"} )";
  const size_t at = m.find(median);
  ASSERT_NE(at, std::string::npos) << m;
  EXPECT_GT(std::stod(m.substr(at + median.size())), 25) << "from 10 s, toward 40 s";

  // A burst of purchases leaves polls too little of the key: contention.
  for (int i = 0; i < 200; ++i) {
    const auto slot = ample.TryTake("k", Purpose::kAcquire, clock_.now());
    ASSERT_TRUE(slot.slot);
    ample.Release("k", *slot.slot, clock_.now());
  }
  auto fast = Watch(hub, Number("g", "google"));
  auto slow = Watch(hub, Number("s", "slow"));
  EXPECT_EQ(upstream_.polls_of("g") + upstream_.polls_of("s"), 0);
  EXPECT_GT(slow->next_poll_at - fast->next_poll_at, 10s)
      << "the slow service's first poll is planned later";
  clock_.Advance(FirstPollOnThePrior() + 100ms);
  EXPECT_EQ(upstream_.polls_of("g"), 1);
  EXPECT_EQ(upstream_.polls_of("s"), 0);
}

}  // namespace
}  // namespace ismscode::gateway
