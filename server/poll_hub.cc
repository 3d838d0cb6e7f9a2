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
double Seconds(Runtime::Clock::duration d) { return std::chrono::duration<double>(d).count(); }
// When a poll saw the upstream: its Date header (the upstream's clock, as received_at
// is), else our clock, uncorrected.
SystemTime SeenAt(const std::optional<SystemTime>& upstream_date) {
  return upstream_date.value_or(std::chrono::system_clock::now());
}
Runtime::Clock::duration FromSeconds(double s) {  // rounded up: never before the moment
  return std::chrono::ceil<Runtime::Clock::duration>(std::chrono::duration<double>(s));
}
// How often a service's delay is refitted at most (deliveries refit it at once).
constexpr auto kRefitEvery = std::chrono::seconds(1);
// The API document's advice: poll a number no more often than this.
constexpr auto kAdvisedInterval = std::chrono::seconds(5);
// --state: a replica that does not poll a number reads what its poller found this often
// (at most every interval).
constexpr auto kFollowerLook = std::chrono::seconds(1);
// --state: what a poller published is kept this long after the number's reservation.
constexpr auto kPublishedFor = std::chrono::minutes(10);
// A watcher's stream gets its poll this long before it ends, at the latest.
constexpr auto kLastChance = std::chrono::seconds(1);
// Ended loops' origins and last polls are kept this long, for a loop that takes over.
constexpr auto kEndedFor = std::chrono::minutes(10);
constexpr size_t kEndedKept = 10000;
// Above every plain worth: a number past its maximum gap goes before all others.
constexpr double kStarving = 1e9;
}  // namespace

PollHub::PollHub(Upstream& upstream, BudgetGate& gate, Runtime runtime, Options options,
                 GatewayMetrics* metrics)
    : upstream_(upstream),
      gate_(gate),
      runtime_(std::move(runtime)),
      options_(options),
      metrics_(metrics),
      delay_model_(options.delay_model) {}

void PollHub::Erase(Entries::iterator it, bool censored) {
  Entry& e = it->second;
  if (e.timer) runtime_.cancel(*e.timer);
  // Another replica whose watchers still wait may poll the number at once.
  if (e.leads && options_.shared) {
    runtime_.run([shared = options_.shared, id = it->first] { (void)shared->Resign(id); });
  }
  // Its watchers left with no SMS by the last poll: the service's SMS come later than
  // that, if at all. (Not so when the number failed or the gateway stops.)
  if (censored && e.sms.empty() && e.last_poll) {
    delay_model_.Abandoned(e.number.service, Seconds(*e.last_poll - e.origin));
  }
  Remember(it->first, e);
  if (auto k = loops_per_key_.find(e.number.key); k != loops_per_key_.end() && --k->second <= 0) {
    loops_per_key_.erase(k);
  }
  entries_.erase(it);
  if (metrics_) metrics_->WatchEnded();
}

void PollHub::Remember(const std::string& number_id, const Entry& e) {
  const auto now = runtime_.now();
  if (ended_.size() >= kEndedKept) {
    std::erase_if(ended_, [&](const auto& kv) { return now - kv.second.at >= kEndedFor; });
    if (ended_.size() >= kEndedKept) ended_.clear();  // a flood of numbers: start over
  }
  ended_[number_id] = {
      .origin = e.origin, .last_poll = e.last_poll, .polls = e.polls, .sms = e.sms, .at = now};
}

void PollHub::Add(const WatchedNumber& number, const std::shared_ptr<PollWatcher>& watcher,
                  std::optional<Runtime::Clock::time_point> sent_at,
                  std::optional<Runtime::Clock::time_point> deadline) {
  uint64_t start = 0, replan = 0;
  std::optional<PollReport> known;
  std::vector<UpstreamSms> sms;
  const auto now = runtime_.now();
  // The app cannot have sent the SMS before it had the number, nor after now.
  if (sent_at) sent_at = std::clamp(*sent_at, std::min(number.acquired_at, now), now);
  {
    MutexLock lock(mutex_);
    auto [it, created] = entries_.try_emplace(number.id);
    Entry& e = it->second;
    if (created) {
      if (metrics_) metrics_->WatchStarted();
      e.number = number;
      e.loop = start = next_loop_++;
      e.watch_started = e.origin = now;
      ++loops_per_key_[number.key];
      // A loop for a number watched a moment ago (a retry, a reconnect) goes on from
      // where that one was: its origin, its last poll (the interval still holds) and the
      // SMS it saw (a code already there comes at once).
      if (auto ended = ended_.find(number.id); ended != ended_.end()) {
        if (now - ended->second.at < kEndedFor) {
          e.origin = std::min(e.origin, ended->second.origin);
          e.last_poll = ended->second.last_poll;
          e.polls = ended->second.polls;
          e.sms = std::move(ended->second.sms);
        }
        ended_.erase(ended);
      }
    }
    if (deadline) e.deadlines.emplace(watcher.get(), *deadline);
    // The earliest word is the origin: an SMS cannot be older, and may be younger.
    if (sent_at && *sent_at < e.origin) {
      e.origin = *sent_at;
      // A put-off poll is planned again from the new origin now, not at its next look.
      if (!created && e.deferred) replan = e.loop;
    }
    // So is a watcher that must hear sooner than the plan.
    if (!created && e.deferred && deadline && *deadline - kLastChance < e.planned) {
      replan = e.loop;
    }
    // (A new loop's own first poll or plan reports soon enough, unless a code is there.)
    if (created ? !e.sms.empty() : e.polls > 0 || e.deferred) {
      sms = e.sms;
      known = Known(e, /*waiting_for_budget=*/e.state == Entry::State::kQueued ||
                           (e.deferred && e.for_budget));
    }
    e.watchers.push_back(watcher);
  }
  // A later watcher hears now what the loop knows; the first starts the loop (a poll now,
  // or a plan for one).
  if (known) {
    known->sms = &sms;
    watcher->OnPoll(*known);
  }
  if (start) return PollDue(number.id, start);
  if (replan) PollDue(number.id, replan);
}

PollReport PollHub::Known(const Entry& e, bool waiting_for_budget) const {
  return {.polls = e.polls,
          .next_poll_at = e.next_poll_at,
          .last_error = e.last_error,
          .waiting_for_budget = waiting_for_budget};
}

void PollHub::Remove(const std::string& number_id, const PollWatcher* watcher) {
  BudgetGate::Ticket withdraw = 0;
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    std::erase_if(e.watchers, [&](const auto& w) { return w.get() == watcher; });
    e.deadlines.erase(watcher);
    if (!e.watchers.empty()) return;
    // Nobody watches: the loop ends now, unless a poll is in flight (it ends after it).
    if (e.state == Entry::State::kPolling) return;
    if (e.state == Entry::State::kQueued) withdraw = e.ticket;
    Erase(it, /*censored=*/true);
  }
  // A poll the gate granted meanwhile finds no entry and sends nothing.
  if (withdraw) gate_.Withdraw(withdraw);
}

size_t PollHub::loops() const {
  MutexLock lock(mutex_);
  return entries_.size();
}

bool PollHub::HasSlack(const std::string& key, Runtime::Clock::time_point now) {
  KeyBudget& budget = gate_.budget();
  auto loops = loops_per_key_.find(key);
  // An interval under the provider's advice asks for more when the budget allows it; it
  // is no reason to hold polls back when every number could have one per advice.
  const double interval = std::max(Seconds(options_.interval), Seconds(kAdvisedInterval));
  const double every_interval = (loops == loops_per_key_.end() ? 0 : loops->second) / interval;
  return budget.RecentPurchaseRate(key, now) + every_interval <= budget.PollCapacity();
}

LogNormalDelay PollHub::DelayFor(const std::string& service, Runtime::Clock::time_point now,
                                 bool refit) {
  auto [it, fresh] = fits_.try_emplace(service);
  if (!fresh && !refit && now - it->second.at < kRefitEvery) return it->second.delay;
  std::vector<double> waiting;  // ages at their last poll, which found nothing
  for (const auto& [id, e] : entries_) {
    if (e.number.service == service && e.sms.empty() && e.last_poll) {
      waiting.push_back(Seconds(*e.last_poll - e.origin));
    }
  }
  it->second = {.delay = delay_model_.Estimate(service, waiting), .at = now};
  if (metrics_) {
    metrics_->SmsDelayEstimated(service, it->second.delay.Quantile(0.5),
                                it->second.delay.Quantile(0.95));
  }
  return it->second.delay;
}

PollHub::Plan PollHub::PlanPoll(const Entry& e, Runtime::Clock::time_point now) {
  if (e.last_poll && now < *e.last_poll + options_.interval) {
    return {.poll_now = false, .not_before = *e.last_poll + options_.interval};
  }
  if (options_.policy == PollPolicy::kEven) return {};
  const LogNormalDelay delay = DelayFor(e.number.service, now);
  const auto origin = e.origin;
  const double last = e.last_poll ? std::max(0.0, Seconds(*e.last_poll - origin)) : 0;
  const auto gap_from = e.last_poll.value_or(e.watch_started);
  auto starving_at = gap_from + options_.max_gap;
  // A watcher whose stream ends first gets its poll before it ends, whatever the odds.
  for (const auto& [watcher, deadline] : e.deadlines) {
    starving_at = std::min(starving_at, deadline - kLastChance);
  }
  // The purchase counts as the number's first look: no SMS can come before the number
  // exists, so a poll within an interval of it would almost always find nothing, and it
  // would still hold a slot of the key's window for a whole window. (A stream that ends
  // sooner still gets its poll.)
  const auto earliest =
      e.last_poll ? now : std::min(e.number.acquired_at + options_.interval, starving_at);
  Plan plan;
  plan.priority = [delay, origin, last, starving_at](Runtime::Clock::time_point at) {
    if (at >= starving_at) return kStarving + Seconds(at - starving_at);
    return delay.WaitingSeconds(last, Seconds(at - origin));
  };
  if (HasSlack(e.number.key, now) || now >= starving_at ||
      delay.WaitingSeconds(last, Seconds(now - origin)) >= options_.worth_seconds) {
    plan.poll_now = now >= earliest;
    plan.not_before = earliest;
    return plan;
  }
  plan.poll_now = false;
  plan.for_budget = true;
  plan.not_before = origin + FromSeconds(delay.WhenWaitingReaches(last, options_.worth_seconds,
                                                                  Seconds(now - origin),
                                                                  Seconds(starving_at - origin)));
  plan.not_before = std::max(std::clamp(plan.not_before, now, starving_at), earliest);
  return plan;
}

void PollHub::PollDue(const std::string& number_id, uint64_t loop) {
  if (!options_.shared) return PlanAndPoll(number_id, loop);
  // Redis is asked on a worker: this may run on a timer or a gRPC thread.
  runtime_.run([this, number_id, loop] { FleetTurn(number_id, loop); });
}

void PollHub::PublishedElsewhere(const std::string& number_id) {
  uint64_t loop;
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    // This replica's own poll (it leads) or a poll under way report by themselves.
    if (it == entries_.end() || it->second.leads || it->second.state != Entry::State::kIdle) {
      return;
    }
    loop = it->second.loop;
  }
  runtime_.run([this, number_id, loop] { FleetTurn(number_id, loop); });
}

void PollHub::PublishedElsewhereMaybe() {
  std::vector<std::string> followed;
  {
    MutexLock lock(mutex_);
    for (const auto& [id, e] : entries_) {
      if (!e.leads) followed.push_back(id);
    }
  }
  for (const std::string& id : followed) PublishedElsewhere(id);
}

void PollHub::FleetTurn(const std::string& number_id, uint64_t loop) {
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop) return;
    if (it->second.watchers.empty()) return Erase(it, /*censored=*/true);
    if (it->second.state != Entry::State::kIdle) return;  // already queued or polling
  }
  auto lead = options_.shared->Lead(number_id);
  if (lead.ok() && *lead) {
    std::string key;
    bool ended = false;
    {
      MutexLock lock(mutex_);
      auto it = entries_.find(number_id);
      ended = it == entries_.end() || it->second.loop != loop;
      if (!ended) {
        it->second.leads = true;
        it->second.led_at = runtime_.now();
        key = it->second.number.key;
      }
    }
    if (ended) {
      // The loop ended while Redis answered: the lease is nobody's here.
      (void)options_.shared->Resign(number_id);
      return;
    }
    // Read here, on a worker and outside the hub's lock, so that the plan finds it fresh.
    gate_.budget().RecentPurchaseRate(key, runtime_.now());
    return PlanAndPoll(number_id, loop);
  }
  // Another replica polls the number: what it found so far, for this replica's watchers.
  absl::StatusOr<std::vector<UpstreamSms>> published =
      lead.ok() ? options_.shared->Read(number_id) : lead.status();
  std::vector<std::shared_ptr<PollWatcher>> watchers;
  std::vector<UpstreamSms> sms;
  PollReport report;
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop) return;
    Entry& e = it->second;
    // Another turn of the loop (a pub/sub announcement's) led and queued a poll meanwhile:
    // it reports.
    if (e.state != Entry::State::kIdle) return;
    e.leads = false;
    if (published.ok()) e.published = std::max(e.published, published->size());
    // Lists only grow (the upstream lists every SMS of a number each time).
    if (published.ok() && published->size() > e.sms.size()) e.sms = *std::move(published);
    watchers = e.watchers;
    sms = e.sms;
    report = Known(e, /*waiting_for_budget=*/false);
  }
  const auto look_again = std::min<Runtime::Clock::duration>(options_.interval, kFollowerLook);
  report.sms = &sms;
  report.next_poll_at = WallClockIn(look_again);
  if (!published.ok() && options_.waiting_reason) report.last_error = options_.waiting_reason();
  for (const auto& w : watchers) w->OnPoll(report);
  ArmTimer(
      number_id, loop, Entry::State::kIdle, [this, number_id, loop] { PollDue(number_id, loop); },
      runtime_.now() + look_again);
}

void PollHub::PlanAndPoll(const std::string& number_id, uint64_t loop) {
  std::string key;
  Plan plan;
  // When the poll is put off: a heartbeat now, and a look again by the next interval.
  std::vector<std::shared_ptr<PollWatcher>> watchers;
  std::vector<UpstreamSms> sms;
  PollReport report;
  Runtime::Clock::time_point look_again;
  uint64_t plan_id = 0;
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop) return;
    if (it->second.watchers.empty()) return Erase(it, /*censored=*/true);
    Entry& e = it->second;
    if (e.state != Entry::State::kIdle) return;  // already queued or polling
    const auto now = runtime_.now();
    plan = PlanPoll(e, now);
    e.deferred = !plan.poll_now;
    e.for_budget = plan.for_budget;
    plan_id = ++e.plan;
    if (plan.poll_now) {
      e.state = Entry::State::kQueued;
      key = e.number.key;
    } else {
      e.planned = plan.not_before;
      e.next_poll_at = WallClockIn(plan.not_before - now);
      look_again = std::min(plan.not_before, now + options_.interval);
      watchers = e.watchers;
      sms = e.sms;
      report = Known(e, plan.for_budget);
    }
  }
  if (!plan.poll_now) {
    report.sms = &sms;
    for (const auto& w : watchers) w->OnPoll(report);
    ArmTimer(
        number_id, loop, Entry::State::kIdle, [this, number_id, loop] { PollDue(number_id, loop); },
        look_again, plan_id);
    return;
  }
  // Polls never give up on the budget: they wait, with heartbeats, until the stream ends.
  const BudgetGate::Ticket ticket = gate_.Submit(
      key, Purpose::kPoll, Runtime::Clock::time_point::max(),
      [this, number_id, loop] { return RunPoll(number_id, loop); },
      [this, number_id, loop](const GatewayError&) {  // shutting down
        MutexLock lock(mutex_);
        auto it = entries_.find(number_id);
        if (it != entries_.end() && it->second.loop == loop) Erase(it, /*censored=*/false);
      },
      std::move(plan.priority));
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
                       Runtime::Task task, std::optional<Runtime::Clock::time_point> when,
                       std::optional<uint64_t> plan) {
  const Runtime::TimerId timer =
      runtime_.at(when.value_or(runtime_.now() + options_.interval), std::move(task));
  std::optional<Runtime::TimerId> stale;
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop || it->second.state != expected ||
        (plan && it->second.plan != *plan)) {
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
    report = Known(it->second, /*waiting_for_budget=*/true);
    // A poll that waits long for the key's budget keeps the number's lease meanwhile.
    if (it->second.leads && options_.shared) {
      runtime_.run([shared = options_.shared, number_id] { (void)shared->Lead(number_id); });
    }
  }
  report.sms = &sms;
  report.next_poll_at = WallClockIn(options_.interval);
  if (options_.waiting_reason) {
    if (std::string why = options_.waiting_reason(); !why.empty()) report.last_error = why;
  }
  for (const auto& w : watchers) w->OnPoll(report);
  ArmTimer(number_id, loop, Entry::State::kQueued,
           [this, number_id, loop] { Heartbeat(number_id, loop); });
}

BudgetGate::Answer PollHub::RunPoll(const std::string& number_id, uint64_t loop) {
  // The lease may have gone to another replica while the poll waited for its slot: then
  // that one polls, and this one sends nothing and follows.
  bool confirm_lead = false;
  if (options_.shared) {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop) return {.sent = false};
    // The lease lasts at least three intervals: one confirmed within the last is still
    // this replica's.
    confirm_lead = runtime_.now() - it->second.led_at > options_.interval;
  }
  if (confirm_lead) {
    auto lead = options_.shared->Lead(number_id);
    if (!lead.ok() || !*lead) {
      {
        MutexLock lock(mutex_);
        auto it = entries_.find(number_id);
        if (it == entries_.end() || it->second.loop != loop) return {.sent = false};
        it->second.state = Entry::State::kIdle;
        it->second.leads = false;
      }
      return {.sent = false, .then = [this, number_id, loop] {
                ArmTimer(
                    number_id, loop, Entry::State::kIdle,
                    [this, number_id, loop] { PollDue(number_id, loop); }, runtime_.now());
              }};
    }
  }
  WatchedNumber number;
  size_t published = 0;  // --state: SMS the fleet's store is known to hold
  {
    MutexLock lock(mutex_);
    auto it = entries_.find(number_id);
    if (it == entries_.end() || it->second.loop != loop) return {.sent = false};
    if (it->second.watchers.empty()) {
      Erase(it, /*censored=*/true);
      return {.sent = false};
    }
    it->second.state = Entry::State::kPolling;
    it->second.last_poll = runtime_.now();
    number = it->second.number;
    published = it->second.published;
  }
  auto result = upstream_.ListSms(number.key, number.id);
  // Only a list longer than the store's is news for the other replicas (it never
  // shrinks). Unreachable: it goes with the next poll, which finds the store behind.
  if (options_.shared && result.ok() && result.value->size() > published) {
    const auto keep = std::chrono::ceil<std::chrono::milliseconds>(
        number.expires_at - std::chrono::system_clock::now() + kPublishedFor);
    if (options_.shared
            ->Publish(number.id, *result.value, std::max(keep, std::chrono::milliseconds(60000)))
            .ok()) {
      MutexLock lock(mutex_);
      if (auto it = entries_.find(number.id); it != entries_.end() && it->second.loop == loop) {
        it->second.published = std::max(it->second.published, result.value->size());
      }
    }
  }
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
    if (known == 0 && !e.sms.empty()) LearnDelay(e, result.upstream_date);
    report.polls = e.polls;
    watchers = e.watchers;
    sms = e.sms;
    if (watchers.empty() || report.fatal) Erase(it, /*censored=*/!report.fatal);
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

void PollHub::LearnDelay(const Entry& e, std::optional<SystemTime> upstream_date) {
  // The poll's age of the number minus how long its first SMS had been visible upstream
  // (both upstream times, so the clocks' skew cancels out).
  SystemTime first = e.sms.front().received_at;
  for (const UpstreamSms& s : e.sms) first = std::min(first, s.received_at);
  const auto now = runtime_.now();
  const double visible_for = Seconds(SeenAt(upstream_date) - first);
  const double delay = Seconds(now - e.origin) - std::max(0.0, visible_for);
  // Negative: the SMS predates the origin (the test awaited long after its app sent it,
  // and did not say when): it says nothing about the delay.
  if (delay < 0) return;
  delay_model_.Delivered(e.number.service, delay);
  DelayFor(e.number.service, now, /*refit=*/true);
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
  const SystemTime found_at = SeenAt(result.upstream_date);
  for (size_t i = known; i < sms.size(); ++i) {
    metrics_->SmsDetected(service, found_at - sms[i].received_at);
  }
}

}  // namespace ismscode::gateway
