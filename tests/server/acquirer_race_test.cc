// AcquireNumber's races against a scripted upstream on a manual clock: a caller that
// leaves while its purchase waits, pauses or is on the wire; duplicates; shutdown. No
// sockets, no waiting: these also run under ThreadSanitizer.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>

#include "server/acquirer.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/manual_runtime.h"

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;
constexpr const char* kKey = "key-alpha-0001";

class AcquirerRaceTest : public ::testing::Test {
 protected:
  explicit AcquirerRaceTest(fakes::ManualRuntime::Work work = fakes::ManualRuntime::Work::kInline)
      : clock_(work) {}

  // Starts an acquisition; its outcome lands in outcomes_[name].
  Acquirer::Ticket Start(const std::string& name, AcquireRequest request) {
    return acquirer_.Acquire(kKey, KeyOwner::kCaller, request, [this, name](AcquireOutcome out) {
      std::lock_guard lock(mu_);
      EXPECT_FALSE(outcomes_.count(name)) << name << " answered twice";
      outcomes_[name] = std::move(out);
    });
  }
  std::optional<AcquireOutcome> Outcome(const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = outcomes_.find(name);
    if (it == outcomes_.end()) return std::nullopt;
    return it->second;
  }

  fakes::ManualRuntime clock_;
  fakes::FakeUpstream upstream_;
  RateBudget budget_{{.limit = 60, .window = 60s}};
  BudgetGate gate_{budget_, clock_.runtime()};
  Acquirer acquirer_{upstream_, gate_, {.seed = 1}, clock_.runtime()};
  std::mutex mu_;
  std::map<std::string, AcquireOutcome> outcomes_;
};

TEST_F(AcquirerRaceTest, CancelledAcquireNeverBuys) {
  // Stock-out, a long max_wait; the caller leaves during the backoff; stock comes back.
  upstream_.QueuePurchase(fakes::FakeUpstream::Failure(Reason::kNoNumbersAvailable));
  const auto ticket = Start("a", {.country = "US", .service = "google", .max_wait = 30s});
  ASSERT_EQ(upstream_.purchases(), 1);
  EXPECT_TRUE(acquirer_.Cancel(ticket));
  EXPECT_EQ(acquirer_.in_progress(), 0u) << "nothing left retrying";
  clock_.Advance(60s);
  EXPECT_EQ(upstream_.purchases(), 1) << "no purchase after the caller left";
  EXPECT_FALSE(Outcome("a")) << "a cancelled caller is not answered";
  EXPECT_FALSE(acquirer_.Cancel(ticket));
}

TEST_F(AcquirerRaceTest, CancelWhileWaitingForBudgetWithdrawsThePurchase) {
  RateBudget tight({.limit = 1, .window = 60s});
  BudgetGate gate(tight, clock_.runtime());
  Acquirer acquirer(upstream_, gate, {.seed = 1}, clock_.runtime());
  acquirer.Acquire(kKey, KeyOwner::kCaller, {.country = "US", .service = "google"},
                   [](AcquireOutcome) {});
  const auto ticket = acquirer.Acquire(
      kKey, KeyOwner::kCaller, {.country = "US", .service = "google", .max_wait = 300s},
      [](AcquireOutcome) { ADD_FAILURE() << "a cancelled caller is answered"; });
  EXPECT_EQ(gate.waiting(), 1u);
  EXPECT_TRUE(acquirer.Cancel(ticket));
  EXPECT_EQ(gate.waiting(), 0u);
  clock_.Advance(300s);
  EXPECT_EQ(upstream_.purchases(), 1);
}

TEST_F(AcquirerRaceTest, StopEndsPausedAcquisitionsAtOnce) {
  upstream_.QueuePurchase(fakes::FakeUpstream::Failure(Reason::kNoNumbersAvailable));
  Start("paused", {.country = "US", .service = "google", .max_wait = 3600s});
  EXPECT_FALSE(Outcome("paused")) << "a stock-out pauses on the timer, not on a thread";
  acquirer_.Stop();
  ASSERT_TRUE(Outcome("paused"));
  EXPECT_EQ(Outcome("paused")->error->reason, Reason::kShuttingDown);
  clock_.Advance(3600s);  // a late timer finds nothing to do
  EXPECT_EQ(upstream_.purchases(), 1);
  Start("late", {.country = "US", .service = "google"});
  EXPECT_EQ(Outcome("late")->error->reason, Reason::kShuttingDown);
}

TEST_F(AcquirerRaceTest, AReplayReturnsExactlyTheFirstAnswer) {
  Start("first", {.country = "US", .service = "google", .request_id = "r"});
  clock_.Advance(30min);
  Start("replay", {.country = "US", .service = "google", .request_id = "r"});
  const auto first = Outcome("first"), replay = Outcome("replay");
  ASSERT_TRUE(first && first->number && replay && replay->number);
  EXPECT_EQ(replay->number->id, first->number->id);
  EXPECT_EQ(replay->number->expires_at, first->number->expires_at) << "computed once";
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->attempts, 0);
  EXPECT_EQ(upstream_.purchases(), 1);
}

// With purchases on threads of their own, so that one can be held on the wire.
class AcquirerWireTest : public AcquirerRaceTest {
 protected:
  AcquirerWireTest() : AcquirerRaceTest(fakes::ManualRuntime::Work::kOnThreads) {}
};

TEST_F(AcquirerWireTest, APurchaseOnTheWireIsKeptForItsRequestId) {
  upstream_.HoldPurchases();
  const auto ticket = Start("gone", {.country = "US", .service = "google", .request_id = "r"});
  ASSERT_TRUE(upstream_.AwaitPurchases(1));
  EXPECT_TRUE(acquirer_.Cancel(ticket));
  upstream_.Release();
  clock_.JoinWork();
  EXPECT_FALSE(Outcome("gone"));
  // The caller's retry with the same id gets the number already bought.
  Start("retry", {.country = "US", .service = "google", .request_id = "r"});
  const auto retry = Outcome("retry");
  ASSERT_TRUE(retry && retry->number);
  EXPECT_EQ(retry->number->id, "num-1");
  EXPECT_TRUE(retry->replayed);
  EXPECT_EQ(upstream_.purchases(), 1);
}

TEST_F(AcquirerWireTest, DuplicatesRespectTheirOwnCancels) {
  upstream_.HoldPurchases();
  const auto a = Start("a", {.country = "US", .service = "google", .request_id = "r"});
  ASSERT_TRUE(upstream_.AwaitPurchases(1));
  const auto b = Start("b", {.country = "US", .service = "google", .request_id = "r"});
  Start("c", {.country = "US", .service = "google", .request_id = "r"});
  EXPECT_TRUE(acquirer_.Cancel(b)) << "b leaves at once, the purchase goes on for a and c";
  EXPECT_TRUE(acquirer_.Cancel(a)) << "the first caller may leave too";
  upstream_.Release();
  clock_.JoinWork();
  EXPECT_FALSE(Outcome("a"));
  EXPECT_FALSE(Outcome("b"));
  ASSERT_TRUE(Outcome("c") && Outcome("c")->number);
  EXPECT_TRUE(Outcome("c")->replayed) << "c did not buy it: the first caller's purchase did";
  EXPECT_EQ(upstream_.purchases(), 1);
}

TEST_F(AcquirerWireTest, StopDropsWhatIsNotSentAndAwaitsWhatIs) {
  RateBudget tight({.limit = 1, .window = 60s});
  BudgetGate gate(tight, clock_.runtime());
  Acquirer acquirer(upstream_, gate, {.seed = 1}, clock_.runtime());
  upstream_.HoldPurchases();
  std::promise<AcquireOutcome> sent, queued;
  acquirer.Acquire(kKey, KeyOwner::kCaller, {.country = "US", .service = "google"},
                   [&](AcquireOutcome o) { sent.set_value(std::move(o)); });
  ASSERT_TRUE(upstream_.AwaitPurchases(1));
  acquirer.Acquire(kKey, KeyOwner::kCaller,
                   {.country = "GB", .service = "google", .max_wait = 300s},
                   [&](AcquireOutcome o) { queued.set_value(std::move(o)); });
  acquirer.Stop();
  gate.Stop();
  auto q = queued.get_future();
  ASSERT_EQ(q.wait_for(0s), std::future_status::ready) << "dropped at once";
  EXPECT_EQ(q.get().error->reason, Reason::kShuttingDown);
  auto s = sent.get_future();
  EXPECT_NE(s.wait_for(0s), std::future_status::ready) << "the purchase on the wire is awaited";
  upstream_.Release();
  clock_.JoinWork();
  const AcquireOutcome out = s.get();
  ASSERT_TRUE(out.number) << "its caller gets the number it arrived in time for";
  EXPECT_EQ(upstream_.purchases(), 1);
}

TEST_F(AcquirerRaceTest, ADuplicateAfterTheLastCancelStartsAfresh) {
  RateBudget tight({.limit = 1, .window = 60s});
  BudgetGate gate(tight, clock_.runtime());
  Acquirer acquirer(upstream_, gate, {.seed = 1}, clock_.runtime());
  acquirer.Acquire(kKey, KeyOwner::kCaller, {.country = "US", .service = "google"},
                   [](AcquireOutcome) {});
  const auto first =
      acquirer.Acquire(kKey, KeyOwner::kCaller,
                       {.country = "US", .service = "google", .request_id = "r", .max_wait = 300s},
                       [](AcquireOutcome) { ADD_FAILURE() << "a cancelled caller is answered"; });
  ASSERT_TRUE(acquirer.Cancel(first));
  std::optional<AcquireOutcome> second;
  acquirer.Acquire(kKey, KeyOwner::kCaller,
                   {.country = "US", .service = "google", .request_id = "r", .max_wait = 300s},
                   [&](AcquireOutcome out) { second = std::move(out); });
  EXPECT_FALSE(second) << "it waits for the budget like any new purchase";
  clock_.Advance(120s);
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->number) << second->error->message;
  EXPECT_FALSE(second->replayed);
  EXPECT_EQ(upstream_.purchases(), 2);
}

TEST_F(AcquirerWireTest, AnUnknownOutcomeStaysWithTheIdAfterTheCallerLeft) {
  upstream_.HoldPurchases();
  upstream_.QueuePurchase(fakes::FakeUpstream::Failure(Reason::kUpstreamTimeout));
  const auto ticket = Start("gone", {.country = "US", .service = "google", .request_id = "r"});
  ASSERT_TRUE(upstream_.AwaitPurchases(1));
  EXPECT_TRUE(acquirer_.Cancel(ticket));
  upstream_.Release();
  clock_.JoinWork();
  Start("retry", {.country = "US", .service = "google", .request_id = "r"});
  ASSERT_TRUE(Outcome("retry"));
  ASSERT_TRUE(Outcome("retry")->error);
  EXPECT_EQ(Outcome("retry")->error->reason, Reason::kUpstreamTimeout)
      << "it may have bought: never buy blindly again";
  EXPECT_EQ(upstream_.purchases(), 1);
}

}  // namespace
}  // namespace ismscode::gateway
