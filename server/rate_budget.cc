#include "server/rate_budget.h"

#include <algorithm>
#include <iterator>

namespace ismscode::gateway {

std::string_view PurposeName(Purpose purpose) {
  switch (purpose) {
    case Purpose::kAcquire:
      return "acquire";
    case Purpose::kPoll:
      return "poll";
    case Purpose::kList:
      return "list";
  }
  return "list";
}

namespace {
int DefaultReserve(int limit, int given) { return given >= 0 ? given : std::max(1, limit / 20); }
}  // namespace

BudgetRules::BudgetRules(Options options)
    : options_(options),
      reserve_for_acquire_(DefaultReserve(options.limit, options.reserve_for_acquire)),
      reserve_for_polls_(DefaultReserve(options.limit, options.reserve_for_polls)),
      burst_(options.burst > 0 ? options.burst : std::max(1.0, options.limit / 6.0)),
      tokens_per_second_(options.limit /
                         std::max(1e-9, std::chrono::duration<double>(options.window).count())) {}

int BudgetRules::Floor(Purpose purpose) const {
  // Never all of a small budget, or the lower purposes would starve for good.
  const int most = std::max(0, options_.limit - 1);
  switch (purpose) {
    case Purpose::kAcquire:
      return 0;
    case Purpose::kPoll:
      return std::min(reserve_for_acquire_, most);
    case Purpose::kList:
      return std::min(reserve_for_acquire_ + reserve_for_polls_, most);
  }
  return most;
}

double BudgetRules::PollCapacity() const {
  return (options_.limit - Floor(Purpose::kPoll)) /
         std::max(1e-9, std::chrono::duration<double>(options_.window).count());
}

RateBudget::RateBudget(Options options) : rules_(options) {}

RateBudget::Clock::duration RateBudget::Pace(Key& k, Clock::time_point now) const {
  if (k.tokens < 0) {
    k.tokens = rules_.burst();
    k.refilled = now;
  } else if (now > k.refilled) {
    const double elapsed = std::chrono::duration<double>(now - k.refilled).count();
    k.tokens = std::min(rules_.burst(), k.tokens + elapsed * rules_.tokens_per_second());
    k.refilled = now;
  }
  if (k.tokens >= 1) return Clock::duration::zero();
  return std::chrono::ceil<Clock::duration>(
      std::chrono::duration<double>((1 - k.tokens) / rules_.tokens_per_second()));
}

void RateBudget::Expire(Key& k, Clock::time_point now) const {
  // An answer at t counts for the interval [t, t + window).
  k.answered.erase(k.answered.begin(), k.answered.upper_bound(now - rules_.window()));
}

RateBudget::Decision RateBudget::TryTake(const std::string& key, Purpose purpose,
                                         Clock::time_point now) {
  MutexLock lock(mutex_);
  auto [it, fresh] = keys_.try_emplace(key);
  if (fresh && keys_.size() > kSweepAbove) {
    ForgetIdle(now);
    it = keys_.try_emplace(key).first;
  }
  Key& k = it->second;
  if (now < k.paused_until) return {.wait = k.paused_until - now};
  Expire(k, now);
  const int used = static_cast<int>(k.unanswered.size() + k.answered.size());
  const int allowed = rules_.limit() - rules_.Floor(purpose);
  const Clock::duration pace = Pace(k, now);
  const bool paced = purpose != Purpose::kAcquire;
  if (used < allowed && (!paced || pace == Clock::duration::zero())) {
    const SlotId slot = next_slot_++;
    const bool took_token = k.tokens >= 1;  // purchases take one only when there is one
    if (took_token) k.tokens -= 1;
    k.unanswered.emplace(slot, took_token);
    if (purpose == Purpose::kAcquire) {
      k.purchases.push_back(now);
      ForgetOldPurchases(k, now);
    }
    return {.slot = slot};
  }
  if (used < allowed) return {.wait = pace};  // the window has room: only the pacer waits
  // The oldest answers leave the window first; an unanswered request leaves it no
  // sooner than `window` from now.
  const size_t must_leave = static_cast<size_t>(used - allowed + 1);
  Clock::duration wait = rules_.window();
  if (must_leave <= k.answered.size()) {
    wait =
        *std::next(k.answered.begin(), static_cast<long>(must_leave - 1)) + rules_.window() - now;
  }
  return {.wait = paced ? std::max(wait, pace) : wait};
}

void RateBudget::Release(const std::string& key, SlotId slot, Clock::time_point now, bool sent) {
  MutexLock lock(mutex_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  Key& k = it->second;
  auto u = k.unanswered.find(slot);
  if (u == k.unanswered.end()) return;
  const bool took_token = u->second;
  k.unanswered.erase(u);
  if (sent) {
    k.answered.insert(now);
  } else if (took_token) {
    k.tokens = std::min(rules_.burst(), k.tokens + 1);  // nothing went out: the pacer gets it back
  }
}

void RateBudget::ForgetOldPurchases(Key& k, Clock::time_point now) const {
  while (!k.purchases.empty() && k.purchases.front() <= now - rules_.PurchaseHorizon()) {
    k.purchases.pop_front();
  }
}

double RateBudget::RecentPurchaseRate(const std::string& key, Clock::time_point now) {
  MutexLock lock(mutex_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return 0;
  ForgetOldPurchases(it->second, now);
  return static_cast<double>(it->second.purchases.size()) /
         std::chrono::duration<double>(rules_.PurchaseHorizon()).count();
}

void RateBudget::PauseUntil(const std::string& key, Clock::time_point until, Clock::time_point) {
  MutexLock lock(mutex_);
  Key& k = keys_[key];
  k.paused_until = std::max(k.paused_until, until);
}

void RateBudget::ForgetIdle(Clock::time_point now) {
  // A key with nothing in flight, nothing in its window and no pause is the same as no
  // key: callers' own keys come and go, and their state must not pile up.
  for (auto it = keys_.begin(); it != keys_.end();) {
    Key& k = it->second;
    Expire(k, now);
    const bool idle = k.unanswered.empty() && k.answered.empty() && now >= k.paused_until &&
                      Pace(k, now) == Clock::duration::zero() && k.tokens >= rules_.burst();
    it = idle ? keys_.erase(it) : std::next(it);
  }
}

size_t RateBudget::keys() const {
  MutexLock lock(mutex_);
  return keys_.size();
}

int RateBudget::InUse(const std::string& key, Clock::time_point now) const {
  MutexLock lock(mutex_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return 0;
  Expire(it->second, now);
  return static_cast<int>(it->second.unanswered.size() + it->second.answered.size());
}

}  // namespace ismscode::gateway
