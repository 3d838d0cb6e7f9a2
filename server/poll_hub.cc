#include "server/poll_hub.h"

#include <algorithm>
#include <utility>

#include "server/metrics.h"

namespace ismscode::gateway {

namespace {
SystemTime WallClockIn(Runtime::Clock::duration d) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
}
}  // namespace

PollHub::PollHub(Upstream& upstream, BudgetGate& gate, Runtime runtime, Options options,
                 GatewayMetrics* metrics)
    : upstream_(upstream),
      gate_(gate),
      runtime_(std::move(runtime)),
      options_(options),
      metrics_(metrics) {}

void PollHub::Erase(Entries::iterator it) {
  if (it->second.timer) runtime_.cancel(*it->second.timer);
  entries_.erase(it);
  if (metrics_) metrics_->WatchEnded();
}

void PollHub::Add(const WatchedNumber& number, const std::shared_ptr<PollWatcher>& watcher) {
  uint64_t start = 0;
  std::optional<PollReport> known;
  std::vector<UpstreamSms> sms;
  {
    MutexLock lock(mutex_);
    auto [it, created] = entries_.try_emplace(number.id);
    Entry& e = it->second;
    if (created) {
      if (metrics_) metrics_->WatchStarted();
      e.number = number;
      e.loop = start = next_loop_++;
    } else if (e.polls > 0) {
      sms = e.sms;
      known = PollReport{.polls = e.polls,
                         .next_poll_at = e.next_poll_at,
                         .last_error = e.last_error,
                         .waiting_for_budget = e.state == Entry::State::kQueued};
    }
    e.watchers.push_back(watcher);
  }
  // The first watcher starts the loop with an immediate poll; a later one hears now
  // what the loop knows.
  if (start) return PollDue(number.id, start);
  if (known) {
    known->sms = &sms;
    watcher->OnPoll(*known);
  }
}

void PollHub::Remove(const std::string& number_id, const PollWatcher* watcher) {
  BudgetGate::Ticket withdraw = 0;
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    std::erase_if(e.watchers, [&](const auto& w) { return w.get() == watcher; });
    if (!e.watchers.empty()) return;
    // Nobody watches: the loop ends now, unless a poll is in flight (it ends after it).
    if (e.state == Entry::State::kPolling) return;
    if (e.state == Entry::State::kQueued) withdraw = e.ticket;
    Erase(it);
  }
  // A poll the gate granted meanwhile finds no entry and sends nothing.
  if (withdraw) gate_.Withdraw(withdraw);
}

size_t PollHub::loops() const {
  MutexLock lock(mutex_);
  return entries_.size();
}

void PollHub::PollDue(const std::string& number_id, uint64_t loop) {
  std::string key;
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop) return;
    if (it->second.watchers.empty()) return Erase(it);
    it->second.state = Entry::State::kQueued;
    key = it->second.number.key;
  }
  // Polls never give up on the budget: they wait, with heartbeats, until the stream ends.
  const BudgetGate::Ticket ticket = gate_.Submit(
      key, Purpose::kPoll, Runtime::Clock::time_point::max(),
      [this, number_id, loop] { return RunPoll(number_id, loop); },
      [this, number_id, loop](const GatewayError&) {  // shutting down
        MutexLock lock(mutex_);
        auto it = entries_.find(number_id);
        if (it != entries_.end() && it->second.loop == loop) Erase(it);
      });
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop ||
        it->second.state != Entry::State::kQueued) {
      return;  // granted at once (or gone)
    }
    it->second.ticket = ticket;
  }
  ArmTimer(number_id, loop, Entry::State::kQueued,
           [this, number_id, loop] { Heartbeat(number_id, loop); });
}

void PollHub::ArmTimer(const std::string& number_id, uint64_t loop, Entry::State expected,
                       Runtime::Task task) {
  const Runtime::TimerId timer = runtime_.at(runtime_.now() + options_.interval, std::move(task));
  std::optional<Runtime::TimerId> stale;
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop || it->second.state != expected) {
      // The loop ended or moved on meanwhile (a heartbeat's poll was granted, and the
      // poll armed the next one): this timer is not wanted, the loop's own stays.
      stale = timer;
    } else {
      stale = std::exchange(it->second.timer, timer);
    }
  }
  // A replaced timer has run already (it is what armed this one) or is not needed.
  if (stale) runtime_.cancel(*stale);
}

void PollHub::Heartbeat(const std::string& number_id, uint64_t loop) {
  std::vector<std::shared_ptr<PollWatcher>> watchers;
  std::vector<UpstreamSms> sms;
  PollReport report;
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop ||
        it->second.state != Entry::State::kQueued) {
      return;  // polled meanwhile: the poll's own report went out
    }
    watchers = it->second.watchers;
    sms = it->second.sms;
    report.polls = it->second.polls;
  }
  report.sms = &sms;
  report.waiting_for_budget = true;
  report.next_poll_at = WallClockIn(options_.interval);
  for (const auto& w : watchers) w->OnPoll(report);
  ArmTimer(number_id, loop, Entry::State::kQueued,
           [this, number_id, loop] { Heartbeat(number_id, loop); });
}

BudgetGate::Answer PollHub::RunPoll(const std::string& number_id, uint64_t loop) {
  WatchedNumber number;
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop) return {.sent = false};
    if (it->second.watchers.empty()) {
      Erase(it);
      return {.sent = false};
    }
    it->second.state = Entry::State::kPolling;
    number = it->second.number;
  }
  auto result = upstream_.ListSms(number.key, number.id);
  PollReport report;
  report.next_poll_at = WallClockIn(options_.interval);
  BudgetGate::Answer answer;
  if (!result.ok()) {
    const GatewayError& e = *result.error;
    answer.rate_limited = e.reason == Reason::kRateLimitExceeded;
    answer.retry_after = e.retry_after;
    if (e.reason == Reason::kNumberNotFound || e.reason == Reason::kUnauthorized) {
      report.fatal = e;
      report.fatal->key_owner = number.key_owner;
    }
    report.last_error = std::string(ReasonName(e.reason)) + ": " + e.message;
  }
  std::vector<std::shared_ptr<PollWatcher>> watchers;
  std::vector<UpstreamSms> sms;
  size_t known = 0;  // SMS seen before this poll
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number.id);
    if (it == entries_.end() || it->second.loop != loop) return answer;
    Entry& e = it->second;
    known = e.sms.size();
    ++e.polls;
    e.state = Entry::State::kIdle;
    e.last_error = report.last_error;
    e.next_poll_at = report.next_poll_at;
    // The upstream lists every SMS the number received; keep the longest list seen, so a
    // flaky answer never makes a delivered SMS disappear.
    if (result.ok() && result.value->size() >= e.sms.size()) e.sms = std::move(*result.value);
    report.polls = e.polls;
    watchers = e.watchers;
    sms = e.sms;
    if (watchers.empty() || report.fatal) Erase(it);
  }
  if (metrics_) RecordPoll(number.service, result, sms, known);
  answer.then = [this, report, watchers = std::move(watchers), sms = std::move(sms), number_id,
                 loop]() mutable {
    report.sms = &sms;
    for (const auto& w : watchers) w->OnPoll(report);
    if (!watchers.empty() && !report.fatal) {
      ArmTimer(number_id, loop, Entry::State::kIdle,
               [this, number_id, loop] { PollDue(number_id, loop); });
    }
  };
  return answer;
}

void PollHub::RecordPoll(const std::string& service,
                         const UpstreamResult<std::vector<UpstreamSms>>& result,
                         const std::vector<UpstreamSms>& sms, size_t known) {
  if (!result.ok()) {
    metrics_->Polled(service, "error");
    return;
  }
  if (sms.size() <= known) {
    metrics_->Polled(service, "nothing");
    return;
  }
  metrics_->Polled(service, "new_sms");
  // Both times in the upstream's clock when it sent a Date header; else ours, uncorrected.
  const SystemTime found_at = result.upstream_date.value_or(std::chrono::system_clock::now());
  for (size_t i = known; i < sms.size(); ++i) {
    metrics_->SmsDetected(service, found_at - sms[i].received_at);
  }
}

}  // namespace ismscode::gateway
