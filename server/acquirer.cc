#include "server/acquirer.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <utility>

#include "server/metrics.h"

namespace ismscode::gateway {

namespace {

bool IsCountryCode(const std::string& s) {
  return s.size() == 2 && std::isupper(static_cast<unsigned char>(s[0])) &&
         std::isupper(static_cast<unsigned char>(s[1]));
}

bool IsServiceSlug(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

bool Retryable(Reason reason) {
  return reason == Reason::kNoNumbersAvailable || reason == Reason::kRateLimitExceeded ||
         reason == Reason::kUpstreamUnavailable;
}

// How often a duplicate looks again for the outcome another replica is buying.
constexpr auto kClaimRecheck = std::chrono::milliseconds(200);

GatewayError UnknownOutcomeError() {
  return GatewayError{.reason = Reason::kUpstreamTimeout,
                      .message =
                          "a gateway replica stopped in the middle of the purchase for "
                          "this request id: whether it bought a number is not known, and "
                          "none will be bought for it"};
}

}  // namespace

std::string EncodeOutcome(const AcquireOutcome& outcome) {
  nlohmann::json j = nlohmann::json::object();
  if (outcome.number) {
    const UpstreamNumber& n = *outcome.number;
    j["number"] = {{"id", n.id},
                   {"phone", n.phone},
                   {"country", n.country},
                   {"service", n.service},
                   {"expires_at_ms", EpochMillis(n.expires_at)}};
  }
  if (outcome.error) {
    const GatewayError& e = *outcome.error;
    j["error"] = {{"reason", ReasonName(e.reason)},
                  {"message", e.message},
                  {"metadata", e.metadata},
                  {"caller_key", e.key_owner == KeyOwner::kCaller}};
  }
  return j.dump();
}

std::optional<AcquireOutcome> DecodeOutcome(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  try {
    AcquireOutcome out;
    if (auto n = j.find("number"); n != j.end()) {
      out.number = UpstreamNumber{
          .id = n->at("id").get<std::string>(),
          .phone = n->at("phone").get<std::string>(),
          .country = n->at("country").get<std::string>(),
          .service = n->at("service").get<std::string>(),
          .expires_at =
              SystemTime(std::chrono::milliseconds(n->at("expires_at_ms").get<long long>()))};
    }
    if (auto e = j.find("error"); e != j.end()) {
      const std::optional<Reason> reason = ReasonNamed(e->at("reason").get<std::string>());
      if (!reason) return std::nullopt;
      out.error = GatewayError{
          .reason = *reason,
          .message = e->at("message").get<std::string>(),
          .metadata = e->at("metadata").get<std::map<std::string, std::string>>(),
          .key_owner = e->at("caller_key").get<bool>() ? KeyOwner::kCaller : KeyOwner::kGateway};
    }
    if (out.number.has_value() == out.error.has_value()) return std::nullopt;
    return out;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

// One acquisition in progress: where it is in its countries and retries, and who waits.
struct Acquirer::Job {
  std::string key;
  KeyOwner key_owner;
  AcquireRequest request;
  std::string slot;                    // (key, request id), or "" without an id
  std::vector<std::string> countries;  // the country, then the fallbacks
  size_t next_country = 0;
  int round = 0;
  int attempts = 0;
  Clock::time_point give_up;
  std::optional<GatewayError> last_error;  // of the last attempt, for a late end
  std::string attempt;                     // --state: this job's own name for its claim
  // Guarded by mutex_:
  bool claimed = false;               // --state: it holds its request id's claim in the fleet
  Clock::time_point lease_confirmed;  // --state: when Redis last said the claim is its
  enum class State { kReady, kQueued, kSending, kPaused, kDone } state = State::kReady;
  BudgetGate::Ticket gate_ticket = 0;  // while queued; 0 while Submit is under way
  uint64_t submissions = 0;            // which Submit the ticket belongs to
  Ticket first = 0;                    // the caller who started it: the others get a replay
  std::vector<std::pair<Ticket, Done>> callers;
};

Acquirer::Acquirer(Upstream& upstream, BudgetGate& gate, Options options, Runtime runtime)
    : upstream_(upstream),
      gate_(gate),
      options_(options),
      runtime_(std::move(runtime)),
      jitter_(options.seed) {}

std::optional<GatewayError> Acquirer::Validate(const AcquireRequest& r) {
  GatewayError e{.reason = Reason::kInvalidArgument, .message = "invalid AcquireNumber request"};
  if (!IsCountryCode(r.country)) {
    e.field_violations.emplace_back("country",
                                    "must be a 2-letter upper-case ISO 3166-1 code such as \"US\"");
  }
  if (!IsServiceSlug(r.service)) {
    e.field_violations.emplace_back("service",
                                    "must be a lower-case service slug such as \"whatsapp\"");
  }
  if (r.fallback_countries.size() > 10) {
    e.field_violations.emplace_back("fallback_countries", "must hold at most 10 countries");
  }
  for (size_t i = 0; i < r.fallback_countries.size() && i < 10; ++i) {
    if (!IsCountryCode(r.fallback_countries[i])) {
      e.field_violations.emplace_back("fallback_countries[" + std::to_string(i) + "]",
                                      "must be a 2-letter upper-case ISO 3166-1 code");
    }
  }
  if (r.request_id.size() > 128)
    e.field_violations.emplace_back("request_id", "must be at most 128 characters");
  if (r.max_wait.count() < 0) e.field_violations.emplace_back("max_wait", "must not be negative");
  if (e.field_violations.empty()) return std::nullopt;
  // "invalid AcquireNumber request: country must be ...": the field, then its rule.
  e.message = "invalid AcquireNumber request: " + e.field_violations.front().first + " " +
              e.field_violations.front().second;
  return e;
}

Acquirer::Clock::duration Acquirer::Backoff(int retry) {
  // Exponential with full jitter: uniform in [0, min(max, initial * 2^retry)].
  const auto ceiling = std::min<int64_t>(options_.max_backoff.count(),
                                         options_.initial_backoff.count() << std::min(retry, 20));
  MutexLock lock(mutex_);
  return std::chrono::milliseconds(
      std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(ceiling, 1))(jitter_));
}

void Acquirer::ForgetOldRequestIds(Clock::time_point now) {
  // Amortised: one sweep per 256 new ids keeps the map bounded by the ids of one TTL.
  if (++inserts_since_sweep_ < 256) return;
  inserts_since_sweep_ = 0;
  std::erase_if(by_request_id_,
                [&](const auto& entry) { return now - entry.second.at > options_.request_id_ttl; });
}

namespace {
AcquireOutcome Replay(AcquireOutcome outcome) {
  outcome.replayed = outcome.number.has_value();
  outcome.attempts = 0;
  return outcome;
}
}  // namespace

Acquirer::Ticket Acquirer::Acquire(const std::string& key, KeyOwner key_owner,
                                   const AcquireRequest& request, Done done) {
  if (auto invalid = Validate(request)) {
    done({.error = std::move(invalid)});
    return 0;
  }
  const auto now = runtime_.now();
  auto job = std::make_shared<Job>();
  job->key = key;
  job->key_owner = key_owner;
  job->request = request;
  job->countries = {request.country};
  job->countries.insert(job->countries.end(), request.fallback_countries.begin(),
                        request.fallback_countries.end());
  job->give_up = std::min(request.deadline, now + request.max_wait);
  // The id is scoped to the key: two tenants' ids never collide.
  if (!request.request_id.empty()) job->slot = key + '\x1f' + request.request_id;

  Ticket ticket;
  std::optional<AcquireOutcome> known;
  {
    MutexLock lock(mutex_);
    ticket = next_ticket_++;
    if (stopping_) {
      known = AcquireOutcome{.error = ShuttingDownError()};
    } else if (!job->slot.empty()) {
      auto answered = by_request_id_.find(job->slot);
      if (answered != by_request_id_.end() && now - answered->second.at > options_.request_id_ttl) {
        by_request_id_.erase(answered);
        answered = by_request_id_.end();
      }
      if (answered != by_request_id_.end()) {
        // Answered before: exactly that answer again, nothing bought.
        known = Replay(answered->second.outcome);
      } else if (auto running = running_by_request_id_.find(job->slot);
                 running != running_by_request_id_.end()) {
        // A concurrent duplicate: it waits for the first one's purchase.
        running->second->callers.emplace_back(ticket, std::move(done));
        callers_.emplace(ticket, running->second);
        return ticket;
      } else {
        running_by_request_id_.emplace(job->slot, job);
      }
    }
    if (!known) {
      job->first = ticket;
      job->callers.emplace_back(ticket, std::move(done));
      callers_.emplace(ticket, job);
      jobs_.insert(job);
    }
  }
  if (known) {
    done(std::move(*known));
    return ticket;
  }
  if (options_.shared_ids && !job->slot.empty()) {
    {
      MutexLock lock(mutex_);
      job->attempt = std::to_string(jitter_()) + "-" + std::to_string(ticket);
    }
    // Redis is asked on a worker: this runs on a gRPC thread.
    if (!runtime_.run([this, job] { Claim(job); })) Finish(job, {.error = ShuttingDownError()});
    return ticket;
  }
  Step(job);
  return ticket;
}

void Acquirer::Claim(const std::shared_ptr<Job>& job) {
  bool abandoned;
  {
    MutexLock lock(mutex_);
    if (job->state == Job::State::kDone) return;  // cancelled while it waited
    abandoned = Abandoned(*job);
  }
  if (abandoned) return Finish(job, {.error = ShuttingDownError()});
  auto claim = options_.shared_ids->TryClaim(job->key, job->request.request_id, job->attempt);
  if (!claim.ok()) {
    // Redis may have run the claim and lost only its answer: settling releases it (the
    // release is the attempt's own, and a no-op otherwise).
    bool ended;
    {
      MutexLock lock(mutex_);
      ended = job->state == Job::State::kDone;  // cancelled meanwhile: Retire is past
      job->claimed = !ended;
    }
    if (ended) return Settle(job, {.error = ShuttingDownError()});
    return Finish(job, {.error = StateUnavailableError()});
  }
  switch (claim->state) {
    case SharedRequestIds::State::kClaimed: {
      bool ended;
      {
        MutexLock lock(mutex_);
        ended = job->state == Job::State::kDone;
        job->claimed = !ended;
        job->lease_confirmed = runtime_.now();
      }
      // Cancelled (or stopped) while the claim was on its way: nothing was bought, and
      // the id is free again at once.
      if (ended) return Settle(job, {.error = ShuttingDownError()});
      RenewLater(job);
      return Step(job);
    }
    case SharedRequestIds::State::kDone: {
      std::optional<AcquireOutcome> outcome = DecodeOutcome(claim->outcome);
      if (!outcome) {
        return Finish(job, {.error = GatewayError{
                                .reason = Reason::kUpstreamTimeout,
                                .message = "the outcome another replica recorded for this "
                                           "request id cannot be read; none will be bought"}});
      }
      return Finish(job, Replay(*std::move(outcome)));
    }
    case SharedRequestIds::State::kUnknown:
      return Finish(job, {.error = UnknownOutcomeError()});
    case SharedRequestIds::State::kRunning:
      break;
  }
  // Another replica buys for this id now: look again shortly, until it is done or this
  // call's callers are gone.
  {
    MutexLock lock(mutex_);
    if (job->state == Job::State::kDone) return;
    job->state = Job::State::kPaused;
  }
  runtime_.at(runtime_.now() + kClaimRecheck, [this, job] {
    {
      MutexLock lock(mutex_);
      if (job->state != Job::State::kPaused) return;  // Stop() or Cancel() ended it
      job->state = Job::State::kReady;
    }
    if (!runtime_.run([this, job] { Claim(job); })) Finish(job, {.error = ShuttingDownError()});
  });
}

void Acquirer::RenewLater(const std::shared_ptr<Job>& job) {
  runtime_.at(runtime_.now() + options_.shared_lease / 4, [this, job] {
    runtime_.run([this, job] {
      {
        MutexLock lock(mutex_);
        if (job->state == Job::State::kDone) return;
      }
      // A renewal that fails is tried again at the next quarter; the lease has three.
      auto renewed = options_.shared_ids->Renew(job->key, job->request.request_id, job->attempt);
      if (renewed.ok() && *renewed) {
        MutexLock lock(mutex_);
        job->lease_confirmed = runtime_.now();
      }
      RenewLater(job);
    });
  });
}

void Acquirer::Settle(const std::shared_ptr<Job>& job, const AcquireOutcome& outcome,
                      int tries_left) {
  SharedRequestIds& ids = *options_.shared_ids;
  // A number, or an unknown outcome, stays with the id for the fleet; anything else
  // bought nothing, and the id is free for the next try.
  const bool keep =
      outcome.number || (outcome.error && outcome.error->reason == Reason::kUpstreamTimeout);
  const absl::Status settled =
      keep ? ids.Record(job->key, job->request.request_id, job->attempt, EncodeOutcome(outcome))
                 .status()
           : ids.Release(job->key, job->request.request_id, job->attempt);
  if (settled.ok() || tries_left <= 0) return;
  // Redis is away: try again, or a number bought would be reported unknown once the
  // lease ran out (Record is taken after it), and an id that bought nothing would stay
  // unknown for good.
  runtime_.at(runtime_.now() + std::chrono::seconds(1), [this, job, outcome, tries_left] {
    runtime_.run([this, job, outcome, tries_left] { Settle(job, outcome, tries_left - 1); });
  });
}

bool Acquirer::Cancel(Ticket ticket) {
  BudgetGate::Ticket withdraw = 0;
  bool settle = false;
  std::shared_ptr<Job> settled;
  {
    MutexLock lock(mutex_);
    auto it = callers_.find(ticket);
    if (it == callers_.end()) return false;
    const std::shared_ptr<Job> job = it->second;
    callers_.erase(it);
    std::erase_if(job->callers, [&](const auto& c) { return c.first == ticket; });
    if (!job->callers.empty()) return true;  // duplicates still wait for it
    // A purchase on the wire completes, and its outcome is kept under the request id.
    if (job->state == Job::State::kSending) return true;
    // Otherwise nobody waits and nothing is bought: it ends here, in the same critical
    // section, so a duplicate arriving now starts afresh instead of joining a job that
    // is about to fail. A grant that comes later finds it done and sends nothing.
    if (job->state == Job::State::kQueued) withdraw = job->gate_ticket;
    Retire(job,
           {.error =
                GatewayError{.reason = Reason::kShuttingDown, .message = "every caller went away"}},
           &settle);
    if (settle) settled = job;
  }
  if (withdraw) gate_.Withdraw(withdraw);
  if (settled) {
    // Nothing was bought: the id is free for the fleet at once (on a worker: this may be
    // a gRPC thread).
    runtime_.run([this, settled] { Settle(settled, {.error = ShuttingDownError()}); });
  }
  return true;
}

void Acquirer::Stop() {
  std::vector<std::pair<Ticket, Done>> callers;
  std::vector<BudgetGate::Ticket> withdraw;
  std::vector<std::shared_ptr<Job>> settle;
  const AcquireOutcome stopped{.error = ShuttingDownError()};
  {
    MutexLock lock(mutex_);
    stopping_ = true;
    for (const auto& job : std::vector<std::shared_ptr<Job>>(jobs_.begin(), jobs_.end())) {
      if (job->state == Job::State::kSending) continue;  // awaited by the caller's grace
      if (job->state == Job::State::kQueued && job->gate_ticket) {
        withdraw.push_back(job->gate_ticket);
      }
      bool claimed = false;
      for (auto& c : Retire(job, stopped, &claimed)) callers.push_back(std::move(c));
      if (claimed) settle.push_back(job);
    }
  }
  for (auto t : withdraw) gate_.Withdraw(t);
  // Nothing was bought for these: their ids are free for the rest of the fleet now (once,
  // inline: the workers are stopping).
  for (const auto& job : settle) Settle(job, stopped, /*tries_left=*/0);
  for (auto& [ticket, done] : callers) done(stopped);
}

size_t Acquirer::in_progress() const {
  MutexLock lock(mutex_);
  return jobs_.size();
}

bool Acquirer::PastDeadline(const Job& job) const { return runtime_.now() > job.request.deadline; }

void Acquirer::FinishLate(const std::shared_ptr<Job>& job) {
  // The caller's deadline passed between attempts (its cancel is on its way): nothing
  // more is sent. A duplicate still waiting hears why the retries had not succeeded.
  AcquireOutcome out{.error = job->last_error.value_or(BudgetSpentError()),
                     .attempts = job->attempts};
  out.error->key_owner = job->key_owner;
  Finish(job, std::move(out));
}

bool Acquirer::Abandoned(const Job& job) const {
  return stopping_ || job.callers.empty() || job.state == Job::State::kDone;
}

std::vector<std::pair<Acquirer::Ticket, Acquirer::Done>> Acquirer::Retire(
    const std::shared_ptr<Job>& job, const AcquireOutcome& outcome, bool* settle) {
  std::vector<std::pair<Ticket, Done>> callers;
  if (job->state == Job::State::kDone) return callers;
  job->state = Job::State::kDone;
  if (settle) *settle = std::exchange(job->claimed, false);
  jobs_.erase(job);
  callers.swap(job->callers);
  for (const auto& c : callers) callers_.erase(c.first);
  if (!job->slot.empty()) {
    running_by_request_id_.erase(job->slot);
    // A number, or an unknown outcome (UPSTREAM_TIMEOUT), stays with the id: it must
    // never buy a second number. A definite failure frees the id for another try. (With
    // a fleet, an unknown outcome is kept in Redis only: a later record there must not
    // be hidden by an answer kept here. A number is final, and kept here too.)
    const bool unknown = outcome.error && outcome.error->reason == Reason::kUpstreamTimeout;
    if (outcome.number || (unknown && !options_.shared_ids)) {
      const auto now = runtime_.now();
      ForgetOldRequestIds(now);
      by_request_id_[job->slot] = Answered{.at = now, .outcome = outcome};
    }
  }
  return callers;
}

void Acquirer::Finish(const std::shared_ptr<Job>& job, AcquireOutcome outcome) {
  std::vector<std::pair<Ticket, Done>> callers;
  bool settle = false;
  {
    MutexLock lock(mutex_);
    callers = Retire(job, outcome, &settle);
  }
  // On a worker: this may be a timer's thread, which must not wait for Redis.
  if (settle && !runtime_.run([this, job, outcome] { Settle(job, outcome); })) {
    Settle(job, outcome, /*tries_left=*/0);
  }
  for (auto& [ticket, done] : callers) {
    done(ticket == job->first ? outcome : Replay(outcome));
  }
}

// Decides the next move; never blocks: a purchase waits in the gate, a pause on a timer.
void Acquirer::Step(const std::shared_ptr<Job>& job) {
  bool abandoned;
  uint64_t submission = 0;
  {
    MutexLock lock(mutex_);
    if (job->state == Job::State::kDone) return;
    abandoned = Abandoned(*job);
    if (!abandoned) {
      job->state = Job::State::kQueued;
      job->gate_ticket = 0;
      submission = ++job->submissions;
    }
  }
  if (abandoned) {
    return Finish(job, {.error = ShuttingDownError()});
  }
  if (PastDeadline(*job)) return FinishLate(job);
  const BudgetGate::Ticket ticket = gate_.Submit(
      job->key, Purpose::kAcquire, job->give_up, [this, job] { return Attempt(job); },
      [this, job](const GatewayError& refused) {
        AcquireOutcome out{.error = refused, .attempts = job->attempts};
        out.error->key_owner = job->key_owner;
        Finish(job, std::move(out));
      });
  bool ended;
  {
    MutexLock lock(mutex_);
    // Only this round's ticket, and only while it still waits (a fast round may have
    // been granted, answered and submitted again meanwhile).
    if (job->state == Job::State::kQueued && job->submissions == submission) {
      job->gate_ticket = ticket;
    }
    ended = job->state == Job::State::kDone;
  }
  if (ended) gate_.Withdraw(ticket);  // cancelled while it was being submitted
}

BudgetGate::Answer Acquirer::Attempt(const std::shared_ptr<Job>& job) {
  bool confirm_lease;
  {
    MutexLock lock(mutex_);
    if (job->state == Job::State::kDone) return {.sent = false};
    if (Abandoned(*job) || PastDeadline(*job)) {
      // Granted after its last caller left, its deadline passed or the gateway began to
      // stop: send nothing.
      job->state = Job::State::kReady;
      return {.sent = false, .then = [this, job] { Step(job); }};
    }
    job->state = Job::State::kSending;
    job->gate_ticket = 0;
    // A lease confirmed within its first quarter cannot have run out yet.
    confirm_lease =
        job->claimed && runtime_.now() - job->lease_confirmed > options_.shared_lease / 4;
  }
  if (confirm_lease) {
    // The claim must still be this job's when the purchase goes: a lease that ran out
    // (Redis was away for longer) is "unknown" to the rest of the fleet, and so it stays.
    auto held = options_.shared_ids->Renew(job->key, job->request.request_id, job->attempt);
    if (!held.ok() || !*held) {
      return {.sent = false,
              .then = [this, job] { Finish(job, {.error = StateUnavailableError()}); }};
    }
    MutexLock lock(mutex_);
    job->lease_confirmed = runtime_.now();
    if (Abandoned(*job) || PastDeadline(*job)) {  // the caller left while Redis answered
      job->state = Job::State::kReady;
      return {.sent = false, .then = [this, job] { Step(job); }};
    }
  }
  const std::string& country = job->countries[job->next_country];
  ++job->attempts;
  auto result = upstream_.RequestNumber(job->key, country, job->request.service);
  if (result.ok()) {
    // Expiry in our own clock, once: the upstream's Date tells how far its clock is off.
    UpstreamNumber number = std::move(*result.value);
    if (result.upstream_date) {
      number.expires_at =
          std::chrono::system_clock::now() + (number.expires_at - *result.upstream_date);
    }
    return {.then = [this, job, number = std::move(number)] {
      Finish(job, {.number = number, .attempts = job->attempts});
    }};
  }
  GatewayError error = std::move(*result.error);
  error.key_owner = job->key_owner;
  job->last_error = error;
  error.metadata["country"] = country;
  error.metadata["service"] = job->request.service;
  // The upstream refused a field: name it as the caller sent it.
  if (error.reason == Reason::kInvalidCountry) {
    error.field_violations.emplace_back(
        job->next_country == 0
            ? "country"
            : "fallback_countries[" + std::to_string(job->next_country - 1) + "]",
        "the upstream does not know this country");
  } else if (error.reason == Reason::kInvalidService) {
    error.field_violations.emplace_back("service", "the upstream does not know this service");
  }
  BudgetGate::Answer answer{.rate_limited = error.reason == Reason::kRateLimitExceeded,
                            .retry_after = error.retry_after};
  // The job stays "sending" until `then` has decided: a cancel or a stop in between must
  // not end it with another outcome (an unknown one must stay with the request id).
  if (!Retryable(error.reason)) {
    answer.then = [this, job, error] { Finish(job, {.error = error, .attempts = job->attempts}); };
    return answer;
  }
  // A stock-out moves on to the next country at once; other failures, and the end of a
  // round, pause first.
  if (error.reason == Reason::kNoNumbersAvailable && ++job->next_country < job->countries.size()) {
    answer.then = [this, job] { Step(job); };
    return answer;
  }
  job->next_country = 0;
  const auto pause = Backoff(job->round++);
  if (runtime_.now() + pause > job->give_up) {
    answer.then = [this, job, error] { Finish(job, {.error = error, .attempts = job->attempts}); };
    return answer;
  }
  answer.then = [this, job, pause] { Wait(job, pause); };
  return answer;
}

void Acquirer::Wait(const std::shared_ptr<Job>& job, Clock::duration how_long) {
  bool abandoned;
  {
    MutexLock lock(mutex_);
    if (job->state == Job::State::kDone) return;
    abandoned = Abandoned(*job);
    if (!abandoned) job->state = Job::State::kPaused;
  }
  if (abandoned) return Step(job);  // ends it
  runtime_.at(runtime_.now() + how_long, [this, job] {
    {
      MutexLock lock(mutex_);
      if (job->state != Job::State::kPaused) return;  // Stop() or Cancel() ended it
      job->state = Job::State::kReady;
    }
    Step(job);
  });
}

}  // namespace ismscode::gateway
