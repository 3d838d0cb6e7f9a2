#include "server/poll_hub.h"

#include <algorithm>

#include "server/metrics.h"

namespace ismscode::gateway {

PollHub::PollHub(UpstreamPool& upstream, RateBudget& budget, Scheduler& scheduler,
                 WorkerPool& workers, Options options, GatewayMetrics* metrics)
    : upstream_(upstream),
      budget_(budget),
      scheduler_(scheduler),
      workers_(workers),
      options_(options),
      metrics_(metrics) {}

void PollHub::EraseLocked(std::unordered_map<std::string, Entry>::iterator it) {
  entries_.erase(it);
  if (metrics_) metrics_->WatchEnded();
}

void PollHub::Add(const WatchedNumber& number, const std::shared_ptr<PollWatcher>& watcher) {
  bool start = false;
  {
    std::lock_guard lock(mutex_);
    auto [it, created] = entries_.try_emplace(number.id);
    if (created && metrics_) metrics_->WatchStarted();
    Entry& e = it->second;
    if (e.watchers.empty() && !e.scheduled) e.number = number;
    e.watchers.push_back(watcher);
    start = !e.scheduled;
    e.scheduled = true;
  }
  // The first watcher starts the loop with an immediate poll.
  if (start) scheduler_.At(Scheduler::Clock::now(), [this, id = number.id] { PollDue(id); });
}

void PollHub::Remove(const std::string& number_id, const PollWatcher* watcher) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(number_id);
  if (it == entries_.end()) return;
  std::erase_if(it->second.watchers, [&](const auto& w) { return w.get() == watcher; });
  // The entry goes when its pending poll comes due and finds nobody watching.
}

void PollHub::PollDue(const std::string& number_id) {
  WatchedNumber number;
  bool poll_now = false;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end()) return;
    if (it->second.watchers.empty()) {
      EraseLocked(it);
      return;
    }
    number = it->second.number;
    // Polls that find the budget spent queue up per key and go in turn, so that every
    // number gets its share instead of the luckiest timers taking every token. A
    // non-empty queue always has one timer that drains it.
    auto queue = queues_.find(number.key);
    if (queue == queues_.end()) {
      const auto now = Scheduler::Clock::now();
      const auto wait = budget_.TryTake(number.key, RateBudget::Priority::kPoll, now);
      poll_now = !wait;
      if (wait) {
        queue = queues_.try_emplace(number.key).first;
        scheduler_.At(now + *wait, [this, key = number.key] { DrainQueue(key); });
      }
    }
    if (!poll_now) {
      queue->second.push_back(number_id);
      if (!it->second.throttled) {
        it->second.throttled = true;
        if (metrics_) metrics_->Throttled("rate_budget", "poll");
      }
    }
  }
  if (poll_now) workers_.Post([this, number] { RunPoll(number); });
}

void PollHub::DrainQueue(const std::string& key) {
  std::vector<WatchedNumber> ready;
  {
    std::lock_guard lock(mutex_);
    auto q = queues_.find(key);
    if (q == queues_.end()) return;
    std::deque<std::string>& queue = q->second;
    while (!queue.empty()) {
      auto it = entries_.find(queue.front());
      if (it == entries_.end() || it->second.watchers.empty()) {
        if (it != entries_.end()) EraseLocked(it);
        queue.pop_front();
        continue;
      }
      const auto now = Scheduler::Clock::now();
      if (const auto wait = budget_.TryTake(key, RateBudget::Priority::kPoll, now)) {
        scheduler_.At(now + *wait, [this, key] { DrainQueue(key); });
        break;
      }
      ready.push_back(it->second.number);
      queue.pop_front();
    }
    if (queue.empty()) queues_.erase(q);
  }
  for (auto& number : ready) {
    workers_.Post([this, number = std::move(number)] { RunPoll(number); });
  }
}

void PollHub::RunPoll(const WatchedNumber& number) {
  auto result = upstream_.Take()->ListSms(number.key, number.id);
  const auto next = Scheduler::Clock::now() + options_.interval;
  PollReport report;
  report.next_poll_at = std::chrono::system_clock::now() + options_.interval;
  if (!result.ok()) {
    const GatewayError& e = *result.error;
    if (e.reason == Reason::kRateLimitExceeded) {
      if (metrics_) metrics_->Throttled("upstream_429", "poll");
      budget_.PauseUntil(number.key,
                         Scheduler::Clock::now() + e.retry_after.value_or(std::chrono::seconds(1)));
    }
    if (e.reason == Reason::kNumberNotFound || e.reason == Reason::kUnauthorized) {
      report.fatal = e;
      report.fatal->key_owner = number.key_owner;
    }
    report.last_error = std::string(ReasonName(e.reason)) + ": " + e.message;
  }
  std::vector<std::shared_ptr<PollWatcher>> watchers;
  std::vector<UpstreamSms> sms;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(number.id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    ++e.polls;
    e.throttled = false;
    // The upstream lists every SMS the number received; keep the longest list seen, so a
    // flaky answer never makes a delivered SMS disappear.
    if (result.ok() && result.value->size() >= e.sms.size()) e.sms = std::move(*result.value);
    report.polls = e.polls;
    watchers = e.watchers;
    sms = e.sms;
    if (watchers.empty() || report.fatal) EraseLocked(it);
  }
  report.sms = &sms;
  for (const auto& w : watchers) w->OnPoll(report);
  if (!watchers.empty() && !report.fatal) {
    scheduler_.At(next, [this, id = number.id] { PollDue(id); });
  }
}

}  // namespace ismscode::gateway
