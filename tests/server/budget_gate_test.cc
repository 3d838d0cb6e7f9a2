// The one "wait for budget, pause on 429" component, on a manual clock: no sockets, no
// wall-clock waits.
#include "server/budget_gate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "server/metrics.h"
#include "tests/fakes/manual_runtime.h"

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;
using Answer = BudgetGate::Answer;
const auto kNever = Runtime::Clock::time_point::max();

// One sample's value in Prometheus text, or 0 when the series is absent.
double Sample(const std::string& exposition, const std::string& series) {
  const size_t at = exposition.find("\n" + series + " ");
  return at == std::string::npos ? 0 : std::stod(exposition.substr(at + series.size() + 2));
}

class BudgetGateTest : public ::testing::Test {
 protected:
  // Submits a request that logs `name` when it runs and answers `answer`.
  BudgetGate::Ticket Submit(const std::string& name, Purpose purpose, Answer answer = {},
                            Runtime::Clock::time_point give_up = kNever) {
    return gate_.Submit(
        "k", purpose, give_up,
        [this, name, answer] {
          ran_.push_back(name);
          return answer;
        },
        [this, name](const GatewayError& why) {
          refused_.push_back(name + ":" + std::string(ReasonName(why.reason)));
          if (why.retry_after) last_retry_after_ = *why.retry_after;
        });
  }
  double Throttled(const std::string& source, const std::string& purpose) {
    return Sample(metrics_.Serialize(), "ismscode_throttled_total{purpose=\"" + purpose +
                                            "\",source=\"" + source + "\"}");
  }

  fakes::ManualRuntime clock_;
  GatewayMetrics metrics_;
  // No pacing here (a bucket as large as the limit): the window's accounting alone.
  RateBudget budget_{
      {.limit = 4, .window = 60s, .reserve_for_acquire = 1, .reserve_for_polls = 1, .burst = 4}};
  BudgetGate gate_{budget_, clock_.runtime(), &metrics_};
  std::vector<std::string> ran_, refused_;
  std::chrono::milliseconds last_retry_after_{};
};

TEST_F(BudgetGateTest, WithinAPurposeTheHighestPriorityGoesFirst) {
  budget_.PauseUntil("k", clock_.now() + 10s);  // everyone queues
  auto submit = [&](const std::string& name, BudgetGate::Priority priority) {
    gate_.Submit(
        "k", Purpose::kPoll, kNever,
        [this, name] {
          ran_.push_back(name);
          return Answer{};
        },
        [](const GatewayError&) {}, std::move(priority));
  };
  submit("plain", nullptr);  // no priority: 0
  submit("low", [](auto) { return 1.0; });
  // A priority is asked at the moment a slot frees, not when the request arrived.
  const auto arrived = clock_.now();
  submit("growing", [arrived](Runtime::Clock::time_point now) {
    return std::chrono::duration<double>(now - arrived).count();  // 10 when the slots free
  });
  submit("high", [](auto) { return 5.0; });
  clock_.Advance(10s);
  // Three poll slots (one stays for purchases): the three highest, the highest first.
  EXPECT_EQ(ran_, (std::vector<std::string>{"growing", "high", "low"}));
  clock_.Advance(60s);
  EXPECT_EQ(ran_, (std::vector<std::string>{"growing", "high", "low", "plain"}));
}

TEST_F(BudgetGateTest, ASpentBudgetServesPurchasesThenPollsThenLists) {
  for (int i = 0; i < 4; ++i) Submit("early" + std::to_string(i), Purpose::kAcquire);
  // Arriving in the worst order for the purchase.
  Submit("list", Purpose::kList);
  Submit("poll-1", Purpose::kPoll);
  Submit("poll-2", Purpose::kPoll);
  Submit("purchase", Purpose::kAcquire);
  EXPECT_EQ(ran_.size(), 4u);
  EXPECT_EQ(gate_.waiting(), 4u);
  clock_.Advance(60s);
  // The window passed: 4 slots. The purchase takes one, polls two (leaving one for
  // purchases), the list waits for the next window.
  EXPECT_EQ(std::vector<std::string>(ran_.begin() + 4, ran_.end()),
            (std::vector<std::string>{"purchase", "poll-1", "poll-2"}));
  clock_.Advance(60s);
  EXPECT_EQ(ran_.back(), "list");
  EXPECT_EQ(Throttled("rate_budget", "list"), 1) << "once, however long it waited";
  EXPECT_EQ(Throttled("rate_budget", "poll"), 2);
  EXPECT_EQ(Throttled("rate_budget", "acquire"), 1);
  EXPECT_TRUE(refused_.empty());
}

TEST_F(BudgetGateTest, ListCallsNeverStarvePolls) {
  // Three numbers, each polled again 5 s after its last poll, and a list call every
  // second, on a budget of 4 a minute: every freed slot goes to a waiting poll first.
  int polls_done = 0;
  std::function<void()> poll_loop = [&] {
    gate_.Submit(
        "k", Purpose::kPoll, kNever,
        [&] {
          ++polls_done;
          return Answer{.then = [&] { clock_.runtime().at(clock_.now() + 5s, poll_loop); }};
        },
        [](const GatewayError&) {});
  };
  for (int n = 0; n < 3; ++n) poll_loop();
  for (int second = 0; second < 300; ++second) {
    Submit("list", Purpose::kList, {}, clock_.now() + 2s);
    clock_.Advance(1s);
  }
  EXPECT_EQ(std::count(ran_.begin(), ran_.end(), "list"), 0);
  EXPECT_GE(polls_done, 15) << "three slots a window went to polls";
  EXPECT_EQ(refused_.size(), 300u) << "list calls are refused with RATE_LIMIT_EXCEEDED";
  EXPECT_EQ(refused_.front(), "list:RATE_LIMIT_EXCEEDED");
  gate_.Stop();
}

TEST_F(BudgetGateTest, A429PausesTheKeyForItsRetryAfter) {
  Submit("first", Purpose::kList, {.rate_limited = true, .retry_after = 7s});
  Submit("second", Purpose::kAcquire);
  EXPECT_EQ(ran_, (std::vector<std::string>{"first"}));
  clock_.Advance(7s - 1ms);
  EXPECT_EQ(ran_.size(), 1u);
  clock_.Advance(1ms);
  EXPECT_EQ(ran_.size(), 2u);
  EXPECT_EQ(Throttled("upstream_429", "list"), 1) << "a list call's 429 counts too";
}

TEST_F(BudgetGateTest, A429WithoutRetryAfterPausesForAWholeWindow) {
  Submit("first", Purpose::kPoll, {.rate_limited = true});
  Submit("second", Purpose::kPoll);
  clock_.Advance(60s - 1ms);
  EXPECT_EQ(ran_.size(), 1u);
  clock_.Advance(1ms);
  EXPECT_EQ(ran_.size(), 2u);
}

TEST_F(BudgetGateTest, WhatCannotGetASlotBeforeItGivesUpIsRefusedAtOnce) {
  for (int i = 0; i < 4; ++i) Submit("early", Purpose::kAcquire);
  Submit("late", Purpose::kAcquire, {}, clock_.now() + 30s);
  EXPECT_EQ(refused_, (std::vector<std::string>{"late:RATE_LIMIT_EXCEEDED"}));
  EXPECT_EQ(last_retry_after_, 60s);
}

TEST_F(BudgetGateTest, AWithdrawnRequestNeverRuns) {
  for (int i = 0; i < 4; ++i) Submit("early", Purpose::kAcquire);
  const auto ticket = Submit("withdrawn", Purpose::kAcquire);
  EXPECT_TRUE(gate_.Withdraw(ticket));
  EXPECT_FALSE(gate_.Withdraw(ticket));
  clock_.Advance(120s);
  EXPECT_EQ(std::count(ran_.begin(), ran_.end(), "withdrawn"), 0);
  EXPECT_TRUE(refused_.empty());
  EXPECT_EQ(clock_.timers(), 0u) << "nothing left behind";
}

TEST_F(BudgetGateTest, StopRefusesWhatWaitsAndWhatComesLater) {
  for (int i = 0; i < 4; ++i) Submit("early", Purpose::kAcquire);
  Submit("waiting", Purpose::kPoll);
  gate_.Stop();
  Submit("later", Purpose::kAcquire);
  EXPECT_EQ(refused_, (std::vector<std::string>{"waiting:SHUTTING_DOWN", "later:SHUTTING_DOWN"}));
  clock_.Advance(120s);
  EXPECT_EQ(ran_.size(), 4u);
}

TEST_F(BudgetGateTest, WorkThatCannotBePostedIsRefusedAndItsSlotFreed) {
  clock_.StopWorkers();
  Submit("nowhere", Purpose::kAcquire);
  EXPECT_EQ(refused_, (std::vector<std::string>{"nowhere:SHUTTING_DOWN"}));
  EXPECT_EQ(budget_.InUse("k", clock_.now()), 0);
}

TEST_F(BudgetGateTest, AWaiterWhoseGiveUpPassedIsRefusedNeverGranted) {
  // The slot frees exactly at the waiter's give_up, but the timer thread runs late: the
  // request must not go out after its caller's deadline.
  for (int i = 0; i < 4; ++i) Submit("early", Purpose::kAcquire);
  Submit("late", Purpose::kAcquire, {}, clock_.now() + 60s);
  clock_.set_lateness(10ms);
  clock_.Advance(61s);
  EXPECT_EQ(std::count(ran_.begin(), ran_.end(), "late"), 0);
  EXPECT_EQ(refused_, (std::vector<std::string>{"late:RATE_LIMIT_EXCEEDED"}));
}

// --state with Redis down: a budget whose state cannot be read. Purchases are refused at
// once (none without the fleet's guarantees); polls wait and go when it answers again; a
// list call that cannot wait that long hears why.
class UnreadableBudget final : public KeyBudget {
 public:
  explicit UnreadableBudget(KeyBudget& inner) : inner_(inner) {}
  bool down = true;
  Decision TryTake(const std::string& key, Purpose purpose, Clock::time_point now) override {
    if (down) return {.wait = 1s, .unavailable = true};
    return inner_.TryTake(key, purpose, now);
  }
  void Release(const std::string& key, SlotId slot, Clock::time_point now, bool sent) override {
    inner_.Release(key, slot, now, sent);
  }
  void PauseUntil(const std::string& key, Clock::time_point until, Clock::time_point now) override {
    inner_.PauseUntil(key, until, now);
  }
  double RecentPurchaseRate(const std::string& key, Clock::time_point now) override {
    return inner_.RecentPurchaseRate(key, now);
  }
  const BudgetRules& rules() const override { return inner_.rules(); }

 private:
  KeyBudget& inner_;
};

TEST_F(BudgetGateTest, WhileTheBudgetCannotBeReadPurchasesAreRefusedAndPollsWait) {
  UnreadableBudget unreadable(budget_);
  BudgetGate gate(unreadable, clock_.runtime(), &metrics_);
  auto submit = [&](const std::string& name, Purpose purpose, Runtime::Clock::time_point give_up) {
    gate.Submit(
        "k", purpose, give_up,
        [this, name] {
          ran_.push_back(name);
          return Answer{};
        },
        [this, name](const GatewayError& why) {
          refused_.push_back(name + ":" + std::string(ReasonName(why.reason)));
        });
  };
  submit("purchase", Purpose::kAcquire, clock_.now() + 30s);
  submit("poll", Purpose::kPoll, kNever);
  submit("list", Purpose::kList, clock_.now() + 500ms);
  submit("patient list", Purpose::kList, clock_.now() + 2s);  // it waits, then hears why
  EXPECT_EQ(refused_,
            (std::vector<std::string>{"purchase:STATE_UNAVAILABLE", "list:STATE_UNAVAILABLE"}));
  clock_.Advance(5s);
  EXPECT_EQ(refused_.back(), "patient list:STATE_UNAVAILABLE");
  EXPECT_TRUE(ran_.empty()) << "nothing goes while the budget cannot be read";
  EXPECT_EQ(gate.waiting(), 1u);
  unreadable.down = false;
  clock_.Advance(1s);
  EXPECT_EQ(ran_, (std::vector<std::string>{"poll"})) << "the poll goes once it answers";
}

}  // namespace
}  // namespace ismscode::gateway
