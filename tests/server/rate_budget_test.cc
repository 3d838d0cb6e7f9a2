#include "server/rate_budget.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = RateBudget::Clock;
const Clock::time_point t0 = Clock::time_point{} + 1h;

// The most requests any interval of `window` holds, for arrivals sorted by time.
int MostInAnyWindow(const std::vector<Clock::time_point>& arrivals, Clock::duration window) {
  int most = 0;
  size_t first = 0;
  for (size_t last = 0; last < arrivals.size(); ++last) {
    while (arrivals[last] - arrivals[first] >= window) ++first;
    most = std::max(most, static_cast<int>(last - first + 1));
  }
  return most;
}

// The most requests any fixed window holds, for windows starting at `offset`.
int MostInAFixedWindow(const std::vector<Clock::time_point>& arrivals, Clock::duration window,
                       Clock::duration offset) {
  std::map<int64_t, int> counts;
  int most = 0;
  // Shifted by whole windows so that division floors (no window straddles zero).
  for (auto a : arrivals)
    most = std::max(most, ++counts[(a - t0 - offset + 100 * window) / window]);
  return most;
}

TEST(RateBudget, NoWindowEverCarriesMoreThanTheLimitWhateverTheLatency) {
  // Requests of every purpose, asked for at random moments, each reaching the upstream
  // at a random point between its grant and its answer (up to 3 s later): the upstream
  // must never count more than 60 in any 60 s, sliding or fixed at any alignment.
  RateBudget budget({.limit = 60, .window = 60s});
  std::mt19937_64 rng(7);
  std::vector<Clock::time_point> arrivals;
  std::multimap<Clock::time_point, RateBudget::SlotId> answers;  // when each is answered
  int granted = 0;
  for (auto now = t0; now < t0 + 10min; now += std::chrono::milliseconds(rng() % 400)) {
    while (!answers.empty() && answers.begin()->first <= now) {
      budget.Release("k", answers.begin()->second, answers.begin()->first);
      answers.erase(answers.begin());
    }
    const auto purpose = static_cast<Purpose>(rng() % 3);
    const auto d = budget.TryTake("k", purpose, now);
    if (!d.slot) {
      EXPECT_GT(d.wait, 0s);
      continue;
    }
    ++granted;
    const auto latency = std::chrono::milliseconds(rng() % 3000);
    arrivals.push_back(now + std::chrono::milliseconds(rng() % (latency.count() + 1)));
    answers.emplace(now + latency, *d.slot);
  }
  std::sort(arrivals.begin(), arrivals.end());
  EXPECT_LE(MostInAnyWindow(arrivals, 60s), 60);
  for (auto offset : {0s, 1s, 17s, 42s, 59s}) {
    EXPECT_LE(MostInAFixedWindow(arrivals, 60s, offset), 60)
        << "windows offset by " << offset.count();
  }
  // And the budget is used, not hoarded: ten minutes hold close to ten windows' worth.
  EXPECT_GE(granted, 540);
}

TEST(RateBudget, AllAtOnceThenTheOldestAnswerLeavesTheWindow) {
  RateBudget budget(
      {.limit = 3, .window = 10s, .reserve_for_acquire = 0, .reserve_for_polls = 0, .burst = 3});
  std::vector<RateBudget::SlotId> slots;
  for (int i = 0; i < 3; ++i) slots.push_back(*budget.TryTake("k", Purpose::kPoll, t0).slot);
  budget.Release("k", slots[0], t0 + 1s);
  budget.Release("k", slots[1], t0 + 2s);
  auto d = budget.TryTake("k", Purpose::kPoll, t0 + 2s);
  ASSERT_FALSE(d.slot);
  EXPECT_EQ(d.wait, 9s) << "the first answer (t0+1s) leaves the window at t0+11s";
  EXPECT_FALSE(budget.TryTake("k", Purpose::kPoll, t0 + 11s - 1ms).slot);
  EXPECT_TRUE(budget.TryTake("k", Purpose::kPoll, t0 + 11s).slot);
}

TEST(RateBudget, AnUnansweredRequestHoldsItsSlotAtLeastAWindow) {
  RateBudget budget({.limit = 1, .window = 10s});
  ASSERT_TRUE(budget.TryTake("k", Purpose::kAcquire, t0).slot);
  auto d = budget.TryTake("k", Purpose::kAcquire, t0 + 30s);
  ASSERT_FALSE(d.slot) << "still unanswered: it may reach the upstream any moment";
  EXPECT_EQ(d.wait, 10s);
}

TEST(RateBudget, ASlotNeverSentIsFreeAtOnce) {
  RateBudget budget({.limit = 1, .window = 10s});
  auto slot = budget.TryTake("k", Purpose::kAcquire, t0).slot;
  ASSERT_TRUE(slot);
  budget.Release("k", *slot, t0, /*sent=*/false);
  EXPECT_TRUE(budget.TryTake("k", Purpose::kAcquire, t0).slot);
}

TEST(RateBudget, KnowsTheRecentPurchaseRateAndWhatPollsCouldUse) {
  RateBudget budget({.limit = 60, .window = 60s, .reserve_for_acquire = 3});
  EXPECT_DOUBLE_EQ(budget.PollCapacity(), 57.0 / 60);
  EXPECT_EQ(budget.RecentPurchaseRate("k", t0), 0);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(budget.TryTake("k", Purpose::kAcquire, t0 + i * 2s).slot);
  ASSERT_TRUE(budget.TryTake("k", Purpose::kPoll, t0 + 19s).slot);  // not a purchase
  // Over the last third of the window (20 s): 10 purchases.
  EXPECT_DOUBLE_EQ(budget.RecentPurchaseRate("k", t0 + 19s), 0.5);
  EXPECT_DOUBLE_EQ(budget.RecentPurchaseRate("k", t0 + 30s), 4.0 / 20) << "those after 10 s";
  EXPECT_EQ(budget.RecentPurchaseRate("k", t0 + 40s), 0);
  EXPECT_EQ(budget.RecentPurchaseRate("other", t0 + 19s), 0);
}

TEST(RateBudget, KeysHaveTheirOwnBudgets) {
  RateBudget budget({.limit = 1, .window = 60s});
  EXPECT_TRUE(budget.TryTake("a", Purpose::kAcquire, t0).slot);
  EXPECT_FALSE(budget.TryTake("a", Purpose::kAcquire, t0).slot);
  EXPECT_TRUE(budget.TryTake("b", Purpose::kAcquire, t0).slot);
}

TEST(RateBudget, PurchasesThenPollsThenLists) {
  // 10 slots; polls leave 2 for purchases, lists leave 3 more for polls.
  RateBudget budget(
      {.limit = 10, .window = 60s, .reserve_for_acquire = 2, .reserve_for_polls = 3, .burst = 10});
  int lists = 0, polls = 0, purchases = 0;
  while (budget.TryTake("k", Purpose::kList, t0).slot) ++lists;
  while (budget.TryTake("k", Purpose::kPoll, t0).slot) ++polls;
  while (budget.TryTake("k", Purpose::kAcquire, t0).slot) ++purchases;
  EXPECT_EQ(lists, 5);
  EXPECT_EQ(polls, 3);
  EXPECT_EQ(purchases, 2);
  EXPECT_EQ(budget.InUse("k", t0), 10);
}

TEST(RateBudget, ABudgetOfOneStillServesEveryPurpose) {
  RateBudget budget({.limit = 1, .window = 10s});
  auto slot = budget.TryTake("k", Purpose::kList, t0).slot;
  ASSERT_TRUE(slot) << "reserves never take all of a small budget";
  budget.Release("k", *slot, t0);
  EXPECT_TRUE(budget.TryTake("k", Purpose::kPoll, t0 + 10s).slot);
}

TEST(RateBudget, A429PausesTheKey) {
  RateBudget budget({.limit = 100, .window = 60s});
  budget.PauseUntil("k", t0 + 7s);
  auto d = budget.TryTake("k", Purpose::kAcquire, t0 + 2s);
  ASSERT_FALSE(d.slot);
  EXPECT_EQ(d.wait, 5s);
  budget.PauseUntil("k", t0 + 3s);  // an earlier pause does not shorten it
  EXPECT_FALSE(budget.TryTake("k", Purpose::kAcquire, t0 + 6s).slot);
  EXPECT_TRUE(budget.TryTake("k", Purpose::kAcquire, t0 + 7s).slot);
  EXPECT_TRUE(budget.TryTake("other", Purpose::kAcquire, t0).slot) << "other keys carry on";
}

TEST(RateBudget, IdleKeysAreForgottenOnceThereAreMany) {
  RateBudget budget({.limit = 60, .window = 1s});
  for (int i = 0; i < 1024; ++i) {
    auto slot = budget.TryTake("caller-" + std::to_string(i), Purpose::kPoll, t0).slot;
    budget.Release("caller-" + std::to_string(i), *slot, t0);
  }
  EXPECT_EQ(budget.keys(), 1024u);
  // A window later every answer has left: the next new key sweeps them away.
  budget.TryTake("late", Purpose::kPoll, t0 + 2s);
  EXPECT_EQ(budget.keys(), 1u);
}

TEST(RateBudget, PollsAndListsAreSpreadOverTheWindowPurchasesAreNot) {
  // 60 a minute: a burst of 10 polls, then one a second; a purchase goes at once.
  RateBudget budget({.limit = 60, .window = 60s});
  int burst = 0;
  for (std::optional<RateBudget::SlotId> slot;
       (slot = budget.TryTake("k", Purpose::kPoll, t0).slot); ++burst) {
    budget.Release("k", *slot, t0);
  }
  EXPECT_EQ(burst, 10);
  auto d = budget.TryTake("k", Purpose::kPoll, t0);
  ASSERT_FALSE(d.slot);
  EXPECT_EQ(d.wait, 1s);
  auto purchase = budget.TryTake("k", Purpose::kAcquire, t0).slot;
  ASSERT_TRUE(purchase) << "purchases are not paced";
  budget.Release("k", *purchase, t0);
  EXPECT_FALSE(budget.TryTake("k", Purpose::kList, t0 + 999ms).slot);
  auto list = budget.TryTake("k", Purpose::kList, t0 + 1s).slot;
  ASSERT_TRUE(list);
  budget.Release("k", *list, t0 + 1s);
  // Over ten minutes of polls asked for every 100 ms: about one a second, never more
  // than the window allows.
  int polls = 0;
  for (auto t = t0 + 1s; t < t0 + 601s; t += 100ms) {
    if (auto slot = budget.TryTake("k", Purpose::kPoll, t).slot) {
      budget.Release("k", *slot, t);
      ++polls;
    }
  }
  EXPECT_GE(polls, 560);
  EXPECT_LE(polls, 600);
}

TEST(RateBudget, AnUnsentRequestGivesItsPacerTokenBack) {
  RateBudget budget({.limit = 60, .window = 60s, .burst = 1});
  auto slot = budget.TryTake("k", Purpose::kPoll, t0).slot;
  ASSERT_TRUE(slot);
  EXPECT_FALSE(budget.TryTake("k", Purpose::kPoll, t0).slot);
  budget.Release("k", *slot, t0, /*sent=*/false);
  EXPECT_TRUE(budget.TryTake("k", Purpose::kPoll, t0).slot);
}

}  // namespace
}  // namespace ismscode::gateway
