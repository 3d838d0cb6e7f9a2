#include "server/budget_gate.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "server/metrics.h"

namespace ismscode::gateway {

namespace {

constexpr Purpose kPurposes[] = {Purpose::kAcquire, Purpose::kPoll, Purpose::kList};

}  // namespace

// The first of the waiters with the highest priority. REQUIRES: `waiters` is not empty.
std::deque<BudgetGate::Waiter>::iterator BudgetGate::Highest(std::deque<Waiter>& waiters,
                                                             Clock::time_point now) {
  auto best = waiters.begin();
  double best_priority = best->priority ? best->priority(now) : 0;
  for (auto it = std::next(best); it != waiters.end(); ++it) {
    if (!it->priority) continue;
    const double p = it->priority(now);
    if (p > best_priority) {
      best = it;
      best_priority = p;
    }
  }
  return best;
}

bool BudgetGate::Queue::empty() const {
  return std::all_of(std::begin(by_purpose), std::end(by_purpose),
                     [](const auto& q) { return q.empty(); });
}

BudgetGate::BudgetGate(KeyBudget& budget, Runtime runtime, GatewayMetrics* metrics)
    : budget_(budget), runtime_(std::move(runtime)), metrics_(metrics) {}

BudgetGate::Ticket BudgetGate::Submit(const std::string& key, Purpose purpose,
                                      Clock::time_point give_up, Work work, Refused refused,
                                      Priority priority) {
  Ticket ticket;
  bool stopping;
  {
    MutexLock lock(mutex_);
    ticket = next_ticket_++;
    stopping = stopping_;
    if (!stopping) {
      queues_[key].by_purpose[static_cast<int>(purpose)].push_back(
          Waiter{ticket, give_up, std::move(work), std::move(refused), std::move(priority)});
      waiting_.emplace(ticket, key);
    }
  }
  if (stopping) {
    refused(ShuttingDownError());
    return ticket;
  }
  Dispatch(key);
  return ticket;
}

void BudgetGate::Dispatch(const std::string& key) {
  struct Granted {
    Purpose purpose;
    KeyBudget::SlotId slot;
    Work work;
    Refused refused;
  };
  std::vector<Granted> granted;
  std::vector<std::pair<Refused, GatewayError>> refusals;
  std::vector<Purpose> throttled;
  std::optional<Clock::time_point> arm;
  {
    MutexLock lock(mutex_);
    auto q = queues_.find(key);
    if (q == queues_.end()) return;
    const auto now = runtime_.now();
    std::optional<Clock::time_point> wake;
    // Once a higher purpose waits, a lower one waits at least as long: it may not jump
    // ahead (and its higher floor means RateBudget would refuse it anyway).
    std::optional<Clock::duration> higher_wait;
    for (Purpose purpose : kPurposes) {
      auto& waiters = q->second.by_purpose[static_cast<int>(purpose)];
      if (waiters.empty()) continue;
      // A waiter that waited past its give_up (the timer ran late) is refused, never
      // granted. (A new one is granted when a slot is free: give_up bounds the wait.)
      for (auto it = waiters.begin(); it != waiters.end();) {
        if (!it->counted || now <= it->give_up) {
          ++it;
          continue;
        }
        waiting_.erase(it->ticket);
        // Why it could not go: what the budget said last time it was asked.
        refusals.emplace_back(std::move(it->refused),
                              q->second.unavailable
                                  ? StateUnavailableError()
                                  : BudgetSpentError(std::chrono::milliseconds(0)));
        it = waiters.erase(it);
      }
      Clock::duration wait{};
      while (!waiters.empty()) {
        const KeyBudget::Decision d = budget_.TryTake(key, purpose, now);
        if (d.slot) q->second.unavailable = false;
        if (d.unavailable && purpose == Purpose::kAcquire) {
          // No purchase without the fleet's guarantees: refused now, not after a wait.
          for (Waiter& w : waiters) {
            waiting_.erase(w.ticket);
            refusals.emplace_back(std::move(w.refused), StateUnavailableError());
          }
          waiters.clear();
          break;
        }
        if (d.slot && !higher_wait) {
          auto w = Highest(waiters, now);
          waiting_.erase(w->ticket);
          granted.push_back({purpose, *d.slot, std::move(w->work), std::move(w->refused)});
          waiters.erase(w);
          continue;
        }
        if (d.slot) budget_.Release(key, *d.slot, now, /*sent=*/false);
        q->second.unavailable = d.unavailable;
        wait = std::max(d.slot ? Clock::duration{} : d.wait, higher_wait.value_or(wait));
        break;
      }
      if (waiters.empty()) continue;
      higher_wait = wait;
      // Those who cannot get a slot before they give up are told now, with the wait.
      for (auto it = waiters.begin(); it != waiters.end();) {
        if (now + wait > it->give_up) {
          waiting_.erase(it->ticket);
          refusals.emplace_back(
              std::move(it->refused),
              q->second.unavailable
                  ? StateUnavailableError()
                  : BudgetSpentError(std::chrono::ceil<std::chrono::milliseconds>(wait)));
          it = waiters.erase(it);
          continue;
        }
        if (!it->counted) {
          it->counted = true;
          throttled.push_back(purpose);
        }
        ++it;
      }
      if (!waiters.empty()) wake = std::min(wake.value_or(now + wait), now + wait);
    }
    Queue& queue = q->second;
    if (wake && (!queue.timer_at || *wake < *queue.timer_at)) {
      queue.timer_at = arm = *wake;
    }
    if (queue.empty() && !queue.timer_at) queues_.erase(q);
  }
  // Armed outside the lock: a runtime may run the timer inline (tests do).
  if (arm) {
    runtime_.at(*arm, [this, key] {
      {
        MutexLock lock(mutex_);
        auto q = queues_.find(key);
        if (q == queues_.end()) return;
        if (q->second.timer_at && *q->second.timer_at <= runtime_.now()) {
          q->second.timer_at.reset();
        }
      }
      Dispatch(key);
    });
  }
  if (metrics_) {
    for (Purpose p : throttled) metrics_->Throttled("rate_budget", PurposeName(p));
  }
  for (auto& [refused, why] : refusals) refused(why);
  for (auto& g : granted) Run(key, g.purpose, g.slot, std::move(g.work), std::move(g.refused));
}

void BudgetGate::Run(const std::string& key, Purpose purpose, KeyBudget::SlotId slot, Work work,
                     Refused refused) {
  const bool posted = runtime_.run([this, key, purpose, slot, work = std::move(work)] {
    Answer answer = work();
    const auto now = runtime_.now();
    budget_.Release(key, slot, now, answer.sent);
    if (answer.rate_limited) {
      if (metrics_) metrics_->Throttled("upstream_429", PurposeName(purpose));
      budget_.PauseUntil(key, now + answer.retry_after.value_or(budget_.window()), now);
    }
    if (answer.then) answer.then();
    // Someone may be waiting on this key: a 429's pause or an answer changes its wait.
    Dispatch(key);
  });
  if (!posted) {
    budget_.Release(key, slot, runtime_.now(), /*sent=*/false);
    refused(ShuttingDownError());
  }
}

bool BudgetGate::Withdraw(Ticket ticket) {
  MutexLock lock(mutex_);
  auto w = waiting_.find(ticket);
  if (w == waiting_.end()) return false;
  auto q = queues_.find(w->second);
  waiting_.erase(w);
  if (q == queues_.end()) return false;
  for (auto& waiters : q->second.by_purpose) {
    auto it = std::find_if(waiters.begin(), waiters.end(),
                           [&](const Waiter& x) { return x.ticket == ticket; });
    if (it != waiters.end()) {
      waiters.erase(it);
      return true;
    }
  }
  return false;
}

void BudgetGate::Stop() {
  std::vector<Refused> refusals;
  {
    MutexLock lock(mutex_);
    stopping_ = true;
    for (auto& [key, queue] : queues_) {
      for (auto& waiters : queue.by_purpose) {
        for (auto& w : waiters) refusals.push_back(std::move(w.refused));
        waiters.clear();
      }
    }
    waiting_.clear();
  }
  for (auto& refused : refusals) refused(ShuttingDownError());
}

size_t BudgetGate::waiting() const {
  MutexLock lock(mutex_);
  return waiting_.size();
}

}  // namespace ismscode::gateway
