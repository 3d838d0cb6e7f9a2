#include "server/state_store.h"

#include <algorithm>

#include "common/log.h"
#include "server/metrics.h"

namespace ismscode::gateway {

namespace {
// How soon a budget that could not reach Redis is asked again.
constexpr auto kRetryUnavailable = std::chrono::seconds(1);
constexpr auto kRateFresh = std::chrono::milliseconds(250);
constexpr size_t kKeysKept = 1024;
// A number is kept this long after its reservation ends (NUMBER_EXPIRED, not NOT_FOUND).
constexpr auto kKeepExpired = std::chrono::minutes(10);
}  // namespace

KeyBudget::Decision FleetBudget::TryTake(const std::string& key, Purpose purpose,
                                         Clock::time_point now) {
  {
    // A 429 this replica saw holds here even if Redis never heard of it.
    MutexLock lock(mutex_);
    if (auto p = paused_until_.find(key); p != paused_until_.end()) {
      if (now < p->second) return {.wait = p->second - now};
      paused_until_.erase(p);
    }
  }
  auto taken = shared_.TryTake(key, purpose);
  if (!taken.ok()) return {.wait = kRetryUnavailable, .unavailable = true};
  bool lost = false;
  {
    MutexLock lock(mutex_);
    // Many caller keys: start over (not noticing one restart is what a new replica risks).
    if (epochs_.size() > kKeysKept) epochs_.clear();
    auto [seen, first] = epochs_.try_emplace(key, taken->epoch);
    if (!first && seen->second != taken->epoch) {
      // Redis lost the key's state (restarted empty): the requests of the last window
      // are forgotten there, but the upstream still counts them. Nothing goes for this
      // key from this replica for a window, so that the fleet never exceeds the limit.
      seen->second = taken->epoch;
      paused_until_[key] = now + rules().window();
      lost = true;
    }
    if (!lost && taken->slot) took_token_[*taken->slot] = taken->took_token;
  }
  if (lost) {
    LogLine("warning",
            "the state store lost a key's rate window (Redis restarted without persistence?): "
            "the key waits one window on this replica",
            {{"window_seconds", std::chrono::duration<double>(rules().window()).count()}});
    if (taken->slot) (void)shared_.Release(key, *taken, /*sent=*/false);
    return {.wait = rules().window()};
  }
  if (!taken->slot) return {.wait = taken->wait};
  return {.slot = *taken->slot};
}

void FleetBudget::Release(const std::string& key, SlotId slot, Clock::time_point, bool sent) {
  SharedRateBudget::Decision taken{.slot = slot};
  {
    MutexLock lock(mutex_);
    auto it = took_token_.find(slot);
    if (it != took_token_.end()) {
      taken.took_token = it->second;
      took_token_.erase(it);
    }
  }
  // Unreachable: the slot counts in Redis until unanswered_for, longer than a window
  // after any answer; never less than it should.
  (void)shared_.Release(key, taken, sent);
}

void FleetBudget::PauseUntil(const std::string& key, Clock::time_point until,
                             Clock::time_point now) {
  {
    MutexLock lock(mutex_);
    Clock::time_point& paused = paused_until_[key];
    paused = std::max(paused, until);
  }
  // For the rest of the fleet. Unreachable: this replica still keeps the pause itself.
  (void)shared_.PauseFor(key, std::chrono::ceil<std::chrono::milliseconds>(
                                  std::max(until - now, Clock::duration::zero())));
}

double FleetBudget::RecentPurchaseRate(const std::string& key, Clock::time_point now) {
  {
    MutexLock lock(mutex_);
    auto it = rates_.find(key);
    if (it != rates_.end() && now - it->second.read_at < kRateFresh) return it->second.per_second;
  }
  auto rate = shared_.RecentPurchaseRate(key);
  MutexLock lock(mutex_);
  if (rates_.size() > kKeysKept) {  // many caller keys: forget the stale ones
    std::erase_if(rates_, [&](const auto& kv) { return now - kv.second.read_at > kRateFresh; });
  }
  Rate& r = rates_[key];
  if (rate.ok()) r.per_second = *rate;
  r.read_at = now;
  return r.per_second;
}

StateStore::StateStore(Options options, GatewayMetrics* metrics)
    : options_(std::move(options)),
      metrics_(metrics),
      purchase_lease_(std::max(options_.upstream_timeout * 2, std::chrono::milliseconds(10000))),
      redis_(
          {.url = options_.url,
           .password = options_.password,
           .timeout = options_.timeout,
           .retry_after = std::chrono::milliseconds(1000),
           .observe = [this](const absl::Status& status,
                             std::chrono::steady_clock::duration took) { Observe(status, took); }}),
      // A slot unanswered for that long was answered, at the latest, just then: it
      // counts a window more.
      shared_budget_(redis_, BudgetRules(options_.budget),
                     options_.upstream_timeout +
                         std::chrono::ceil<std::chrono::milliseconds>(options_.budget.window)),
      budget_(shared_budget_),
      request_ids_(redis_, options_.replica, purchase_lease_, options_.request_id_ttl),
      numbers_(redis_, std::chrono::duration_cast<std::chrono::minutes>(kKeepExpired)),
      poll_loops_(redis_, options_.replica, options_.poll_lease) {
  if (metrics_) metrics_->InitializeStateStore();
}

void StateStore::Observe(const absl::Status& status, std::chrono::steady_clock::duration took) {
  // Down at once when unreachable; up again on a call that worked. An error Redis
  // answered with (a script's, or LOADING, or a wrong password) changes nothing here:
  // the health check (PING) decides then.
  if (status.ok()) up_.store(true, std::memory_order_relaxed);
  if (status.code() == absl::StatusCode::kUnavailable) up_.store(false, std::memory_order_relaxed);
  if (!metrics_) return;
  metrics_->StateStoreRequest(status.ok()                                       ? "ok"
                              : status.code() == absl::StatusCode::kUnavailable ? "unavailable"
                                                                                : "error",
                              took);
}

void StateStore::Listen(std::function<void(const std::string&)> published,
                        std::function<void()> resync) {
  listener_ = std::make_unique<RedisSubscriber>(
      RedisSubscriber::Options{.connection = {.url = options_.url,
                                              .password = options_.password,
                                              .timeout = options_.timeout},
                               .channel = std::string(SharedPollLoops::kChannel),
                               .on_message = std::move(published),
                               .on_connect = std::move(resync)});
}

void StateStore::StopListening() {
  if (listener_) listener_->Stop();
}

absl::Status StateStore::Check() {
  auto pong = redis_.Command({"PING"});
  up_.store(pong.ok(), std::memory_order_relaxed);
  if (metrics_) metrics_->StateStoreUp(pong.ok());
  return pong.status();
}

std::string StateStore::Describe() const { return ::ismscode::gateway::Describe(options_.url); }

}  // namespace ismscode::gateway
