#include "server/rate_budget.h"

#include <gtest/gtest.h>

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;
using Priority = RateBudget::Priority;

TEST(RateBudget, BurstThenSteadyRate) {
  RateBudget budget({.requests_per_minute = 60, .burst = 5, .reserved_for_acquire = 0});
  const auto t0 = RateBudget::Clock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(budget.TryTake("k", Priority::kPoll, t0)) << i;
  auto wait = budget.TryTake("k", Priority::kPoll, t0);
  ASSERT_TRUE(wait);
  EXPECT_EQ(std::chrono::round<std::chrono::milliseconds>(*wait), 1000ms);
  EXPECT_TRUE(budget.TryTake("k", Priority::kPoll, t0 + 999ms));
  EXPECT_FALSE(budget.TryTake("k", Priority::kPoll, t0 + 1000ms));
  // Over a minute, no more than burst + 60 requests.
  int granted = 0;
  for (auto t = t0 + 1s; t <= t0 + 61s; t += 100ms)
    granted += !budget.TryTake("k", Priority::kPoll, t);
  EXPECT_LE(granted, 61);
  EXPECT_GE(granted, 59);
}

TEST(RateBudget, KeysHaveTheirOwnBuckets) {
  RateBudget budget({.requests_per_minute = 60, .burst = 1, .reserved_for_acquire = 0});
  const auto t0 = RateBudget::Clock::time_point{} + 1h;
  EXPECT_FALSE(budget.TryTake("a", Priority::kPoll, t0));
  EXPECT_TRUE(budget.TryTake("a", Priority::kPoll, t0));
  EXPECT_FALSE(budget.TryTake("b", Priority::kPoll, t0));
}

TEST(RateBudget, PurchasesGoFirst) {
  RateBudget budget({.requests_per_minute = 60, .burst = 3, .reserved_for_acquire = 1});
  const auto t0 = RateBudget::Clock::time_point{} + 1h;
  EXPECT_FALSE(budget.TryTake("k", Priority::kPoll, t0));
  EXPECT_FALSE(budget.TryTake("k", Priority::kPoll, t0));
  EXPECT_TRUE(budget.TryTake("k", Priority::kPoll, t0)) << "the last token is the purchase's";
  EXPECT_FALSE(budget.TryTake("k", Priority::kAcquire, t0));
}

TEST(RateBudget, A429PausesTheKey) {
  RateBudget budget({.requests_per_minute = 600, .burst = 10});
  const auto t0 = RateBudget::Clock::time_point{} + 1h;
  budget.PauseUntil("k", t0 + 7s);
  auto wait = budget.TryTake("k", Priority::kAcquire, t0 + 2s);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 5s);
  budget.PauseUntil("k", t0 + 3s);  // an earlier pause does not shorten it
  EXPECT_TRUE(budget.TryTake("k", Priority::kAcquire, t0 + 6s));
  EXPECT_TRUE(budget.TryTake("k", Priority::kAcquire, t0 + 7s)) << "the bucket restarts empty";
  EXPECT_FALSE(budget.TryTake("k", Priority::kAcquire, t0 + 7s + 100ms));
  EXPECT_FALSE(budget.TryTake("other", Priority::kAcquire, t0)) << "other keys carry on";
}

TEST(RateBudget, ABucketOfOneStillLetsPollsThrough) {
  RateBudget budget({.requests_per_minute = 6, .burst = 1, .reserved_for_acquire = 1});
  const auto t0 = RateBudget::Clock::time_point{} + 1h;
  EXPECT_FALSE(budget.TryTake("k", Priority::kPoll, t0));
  EXPECT_TRUE(budget.TryTake("k", Priority::kPoll, t0 + 1s));
  EXPECT_FALSE(budget.TryTake("k", Priority::kPoll, t0 + 10s));
}

TEST(RateBudget, IdleKeysAreForgottenOnceThereAreMany) {
  RateBudget budget({.requests_per_minute = 60, .burst = 2});
  const auto t0 = RateBudget::Clock::time_point{} + 1h;
  for (int i = 0; i < 1024; ++i) budget.TryTake("caller-" + std::to_string(i), Priority::kPoll, t0);
  EXPECT_EQ(budget.keys(), 1024u);
  // Two seconds later every bucket is full again: the next new key sweeps them away.
  budget.TryTake("late", Priority::kPoll, t0 + 2s);
  EXPECT_EQ(budget.keys(), 1u);
}

}  // namespace
}  // namespace ismscode::gateway
