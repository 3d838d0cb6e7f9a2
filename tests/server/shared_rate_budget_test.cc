// SharedRateBudget against a real redis-server: two replicas (two budgets, two
// connections) spending one key's budget as one, by RateBudget's rules. No test waits
// for time to pass: each fills the window and reads what the budget answers.
#include "server/shared_rate_budget.h"

#include <gtest/gtest.h>

#include <memory>

#include "server/state_store.h"
#include "tests/server/redis_test_client.h"

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;

class SharedRateBudgetTest : public ::testing::Test {
 protected:
  // A replica: its own connection and budget object, on the shared Redis.
  struct Replica {
    std::unique_ptr<RedisClient> redis;
    std::unique_ptr<SharedRateBudget> budget;
  };
  Replica NewReplica(BudgetRules::Options rules = {.limit = 10, .window = 60s}) {
    Replica r{.redis = ConnectTo(server_)};
    r.budget = std::make_unique<SharedRateBudget>(*r.redis, BudgetRules(rules), 120s);
    return r;
  }
  // Takes slots for `purpose` until one is refused; the slots taken.
  static int TakeAll(SharedRateBudget& a, SharedRateBudget& b, const std::string& key,
                     Purpose purpose, std::vector<SharedRateBudget::Decision>* taken = nullptr) {
    for (int n = 0;; ++n) {
      auto d = (n % 2 ? b : a).TryTake(key, purpose);
      EXPECT_TRUE(d.ok()) << d.status();
      if (!d.ok() || !d->slot) return n;
      if (taken) taken->push_back(*d);
    }
  }

  testing::RedisServer server_;
};

TEST_F(SharedRateBudgetTest, TwoReplicasTogetherNeverExceedTheLimit) {
  Replica a = NewReplica(), b = NewReplica();
  EXPECT_EQ(TakeAll(*a.budget, *b.budget, "key-1", Purpose::kAcquire), 10);
  auto refused = b.budget->TryTake("key-1", Purpose::kAcquire);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->slot);
  EXPECT_GT(refused->wait, 0ms);
  EXPECT_LE(refused->wait, 60s);
  EXPECT_EQ(*a.budget->InUse("key-1"), 10);
  // Another key has its own budget.
  EXPECT_TRUE(b.budget->TryTake("key-2", Purpose::kAcquire)->slot);
}

TEST_F(SharedRateBudgetTest, ThePacerIsTheFleetsAndPurchasesAreNotPaced) {
  // 60 a minute: polls leave 3 to purchases, lists 3 more; the pacer lets 10 go at once.
  Replica a = NewReplica({.limit = 60, .window = 60s}), b = NewReplica({.limit = 60});
  EXPECT_EQ(TakeAll(*a.budget, *b.budget, "k", Purpose::kList), 10) << "the pacer's burst";
  auto paced = a.budget->TryTake("k", Purpose::kPoll);
  ASSERT_TRUE(paced.ok());
  EXPECT_FALSE(paced->slot);
  EXPECT_GT(paced->wait, 0ms);
  EXPECT_LE(paced->wait, 1s) << "one token a second";
  // Purchases are not paced: they fill the window up to the limit.
  EXPECT_EQ(TakeAll(*a.budget, *b.budget, "k", Purpose::kAcquire), 50);
  EXPECT_EQ(*b.budget->InUse("k"), 60);
}

TEST_F(SharedRateBudgetTest, PollsLeaveTheReserveToPurchases) {
  // No pacing in the way: a burst as large as the limit.
  BudgetRules::Options rules{.limit = 20, .window = 60s, .burst = 20};
  Replica a = NewReplica(rules), b = NewReplica(rules);
  EXPECT_EQ(TakeAll(*a.budget, *b.budget, "k", Purpose::kPoll), 19) << "one left to purchases";
  EXPECT_FALSE(a.budget->TryTake("k", Purpose::kList)->slot);
  EXPECT_TRUE(b.budget->TryTake("k", Purpose::kAcquire)->slot);
  EXPECT_NEAR(*a.budget->RecentPurchaseRate("k"), 1 / 20.0, 1e-9) << "1 in 20 s, fleet-wide";
}

TEST_F(SharedRateBudgetTest, ASlotNeverSentIsFreeAtOnceAndAnAnsweredOneStaysAWindow) {
  Replica a = NewReplica(), b = NewReplica();
  std::vector<SharedRateBudget::Decision> taken;
  ASSERT_EQ(TakeAll(*a.budget, *b.budget, "k", Purpose::kAcquire, &taken), 10);
  ASSERT_TRUE(b.budget->Release("k", taken[0], /*sent=*/false).ok());
  EXPECT_TRUE(a.budget->TryTake("k", Purpose::kAcquire)->slot) << "nothing went out";
  // An unanswered slot counts for 120 s (this fixture's unanswered_for); its answer makes
  // it count a window from the answer instead.
  const std::string slots = SharedRateBudget::KeyPrefix("k") + "slots";
  const std::string member = std::to_string(*taken[1].slot);
  auto time = [&] {
    auto t = a.redis->Command({"TIME"});
    return std::stoll(t->elements[0].text) * 1000 + std::stoll(t->elements[1].text) / 1000;
  };
  const long long before = time();
  EXPECT_GT(std::stoll(a.redis->Command({"ZSCORE", slots, member})->text), before + 119'000);
  ASSERT_TRUE(a.budget->Release("k", taken[1], /*sent=*/true).ok());
  const long long leaves = std::stoll(a.redis->Command({"ZSCORE", slots, member})->text);
  EXPECT_GE(leaves, before + 60'000);
  EXPECT_LE(leaves, time() + 60'000);
  auto refused = b.budget->TryTake("k", Purpose::kAcquire);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->slot) << "an answered request counts a window after its answer";
  // An answer that comes after its unanswered slot left still counts.
  ASSERT_TRUE(a.redis->Command({"ZREM", slots, std::to_string(*taken[2].slot)}).ok());
  ASSERT_TRUE(a.budget->Release("k", taken[2], /*sent=*/true).ok());
  EXPECT_EQ(*a.budget->InUse("k"), 10);
}

TEST_F(SharedRateBudgetTest, ATokenComesBackWhenNothingWasSent) {
  Replica a = NewReplica({.limit = 60, .window = 60s}), b = NewReplica({.limit = 60});
  std::vector<SharedRateBudget::Decision> taken;
  ASSERT_EQ(TakeAll(*a.budget, *b.budget, "k", Purpose::kPoll, &taken), 10) << "the burst";
  ASSERT_TRUE(taken[0].took_token);
  ASSERT_TRUE(a.budget->Release("k", taken[0], /*sent=*/false).ok());
  EXPECT_TRUE(b.budget->TryTake("k", Purpose::kPoll)->slot) << "its token, and its slot";
}

TEST_F(SharedRateBudgetTest, A429SeenByOneReplicaPausesTheKeyForAll) {
  Replica a = NewReplica(), b = NewReplica();
  ASSERT_TRUE(a.budget->PauseFor("k", 30s).ok());
  ASSERT_TRUE(a.budget->PauseFor("k", 5s).ok()) << "a later, shorter pause changes nothing";
  auto paused = b.budget->TryTake("k", Purpose::kAcquire);
  ASSERT_TRUE(paused.ok());
  EXPECT_FALSE(paused->slot);
  EXPECT_GT(paused->wait, 29s);
  EXPECT_LE(paused->wait, 30s);
  EXPECT_TRUE(b.budget->TryTake("other", Purpose::kAcquire)->slot);
}

TEST_F(SharedRateBudgetTest, TheApiKeyIsNeverStored) {
  Replica a = NewReplica();
  ASSERT_TRUE(a.budget->TryTake("sk-live-very-secret", Purpose::kAcquire)->slot);
  ASSERT_TRUE(a.budget->PauseFor("sk-live-very-secret", 1s).ok());
  auto keys = a.redis->Command({"KEYS", "*"});
  ASSERT_TRUE(keys.ok());
  ASSERT_FALSE(keys->elements.empty());
  for (const RedisReply& k : keys->elements) {
    EXPECT_EQ(k.text.find("secret"), std::string::npos) << k.text;
    EXPECT_EQ(k.text.rfind("ismscode:budget:", 0), 0u) << k.text;
  }
  EXPECT_EQ(SharedRateBudget::KeyPrefix("sk-live-very-secret"),
            SharedRateBudget::KeyPrefix("sk-live-very-secret"));
  EXPECT_NE(SharedRateBudget::KeyPrefix("a"), SharedRateBudget::KeyPrefix("b"));
}

TEST_F(SharedRateBudgetTest, AKeysEpochChangesOnlyWhenRedisLosesItsState) {
  Replica a = NewReplica(), b = NewReplica();
  const std::string first = a.budget->TryTake("key-1", Purpose::kAcquire)->epoch;
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(b.budget->TryTake("key-1", Purpose::kPoll)->epoch, first) << "one epoch per key";
  EXPECT_NE(a.budget->TryTake("key-2", Purpose::kAcquire)->epoch, first) << "its own per key";
  server_.Stop();
  server_.Start();  // empty: no persistence
  auto again = a.budget->TryTake("key-1", Purpose::kAcquire);
  if (!again.ok()) again = a.budget->TryTake("key-1", Purpose::kAcquire);  // its connection died
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->epoch, first);
}

// When Redis comes back empty, the requests of its last window are forgotten there but
// not by the upstream: a replica that had used the key holds it for a window.
TEST_F(SharedRateBudgetTest, AReplicaHoldsAKeyAWindowWhenRedisForgotIt) {
  Replica a = NewReplica({.limit = 10, .window = 30s});
  FleetBudget fleet(*a.budget);
  const auto now = KeyBudget::Clock::now();
  const KeyBudget::Decision before = fleet.TryTake("used", Purpose::kAcquire, now);
  ASSERT_TRUE(before.slot);
  fleet.Release("used", *before.slot, now, /*sent=*/true);
  server_.Stop();
  server_.Start();
  KeyBudget::Decision after = fleet.TryTake("used", Purpose::kAcquire, now);
  if (after.unavailable) after = fleet.TryTake("used", Purpose::kAcquire, now);
  EXPECT_FALSE(after.slot);
  EXPECT_FALSE(after.unavailable);
  EXPECT_EQ(after.wait, 30s);
  EXPECT_FALSE(fleet.TryTake("used", Purpose::kAcquire, now + 29s).slot);
  EXPECT_TRUE(fleet.TryTake("used", Purpose::kAcquire, now + 30s).slot) << "after one window";
  EXPECT_TRUE(fleet.TryTake("never-used", Purpose::kAcquire, now).slot)
      << "a key this replica had not used sent nothing in that window";
}

TEST_F(SharedRateBudgetTest, WithRedisDownEveryStepIsUnavailable) {
  Replica a = NewReplica();
  server_.Stop();
  auto d = a.budget->TryTake("k", Purpose::kAcquire);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.budget->PauseFor("k", 1s).code(), absl::StatusCode::kUnavailable);
  server_.Start();
  EXPECT_TRUE(a.budget->TryTake("k", Purpose::kAcquire)->slot) << "and it works again";
}

}  // namespace
}  // namespace ismscode::gateway
