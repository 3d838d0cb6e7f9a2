#include "server/acquirer.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "server/metrics.h"

namespace ismscode::gateway {

// ---------------------------------------------------------------------------
// UpstreamPool

std::unique_ptr<UpstreamPool> UpstreamPool::Create(const UpstreamConfig& config, size_t size,
                                                   std::string* error, GatewayMetrics* metrics) {
  auto pool = std::make_unique<UpstreamPool>();
  for (size_t i = 0; i < std::max<size_t>(size, 1); ++i) {
    auto client = UpstreamClient::Create(config, error, metrics);
    if (!client) return nullptr;
    pool->idle_.push_back(std::move(client));
  }
  return pool;
}

UpstreamPool::Lease::Lease(UpstreamPool& pool, std::unique_ptr<UpstreamClient> client)
    : pool_(&pool), client_(std::move(client)) {}

UpstreamPool::Lease::~Lease() {
  if (!client_) return;  // moved from
  {
    std::lock_guard lock(pool_->mutex_);
    pool_->idle_.push_back(std::move(client_));
  }
  pool_->available_.notify_one();
}

UpstreamPool::Lease UpstreamPool::Take() {
  std::unique_lock lock(mutex_);
  available_.wait(lock, [&] { return !idle_.empty(); });
  auto client = std::move(idle_.back());
  idle_.pop_back();
  return Lease(*this, std::move(client));
}

// ---------------------------------------------------------------------------
// Acquirer

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

}  // namespace

// One AcquireNumber in progress: where it is in its countries and retries.
struct Acquirer::Job {
  std::string key;
  KeyOwner key_owner;
  AcquireRequest request;
  std::vector<std::string> countries;  // the country, then the fallbacks
  size_t next_country = 0;
  int round = 0;
  Clock::time_point give_up;
  bool throttled = false;  // counted once in the metrics
  AcquireOutcome out;
  Done done;
};

Acquirer::Acquirer(UpstreamPool& upstream, RateBudget& budget, Options options, Runtime runtime,
                   GatewayMetrics* metrics)
    : upstream_(upstream),
      budget_(budget),
      options_(options),
      runtime_(std::move(runtime)),
      metrics_(metrics),
      jitter_(options.seed) {}

std::optional<GatewayError> Acquirer::Validate(const AcquireRequest& r) {
  GatewayError e{.reason = Reason::kInvalidArgument, .message = "invalid AcquireNumber request"};
  if (!IsCountryCode(r.country)) {
    e.field_violations.emplace_back("country",
                                    "a 2-letter upper-case ISO 3166-1 code such as \"US\"");
  }
  if (!IsServiceSlug(r.service)) {
    e.field_violations.emplace_back("service", "a lower-case service slug such as \"whatsapp\"");
  }
  if (r.fallback_countries.size() > 10) {
    e.field_violations.emplace_back("fallback_countries", "at most 10");
  }
  for (size_t i = 0; i < r.fallback_countries.size() && i < 10; ++i) {
    if (!IsCountryCode(r.fallback_countries[i])) {
      e.field_violations.emplace_back("fallback_countries[" + std::to_string(i) + "]",
                                      "a 2-letter upper-case ISO 3166-1 code");
    }
  }
  if (r.request_id.size() > 128)
    e.field_violations.emplace_back("request_id", "at most 128 characters");
  if (r.max_wait.count() < 0) e.field_violations.emplace_back("max_wait", "must not be negative");
  if (e.field_violations.empty()) return std::nullopt;
  e.message = "invalid AcquireNumber request: " + e.field_violations.front().first + " must be " +
              e.field_violations.front().second;
  return e;
}

Acquirer::Clock::duration Acquirer::Backoff(int retry) {
  // Exponential with full jitter: uniform in [0, min(max, initial * 2^retry)].
  const auto ceiling = std::min<int64_t>(options_.max_backoff.count(),
                                         options_.initial_backoff.count() << std::min(retry, 20));
  std::lock_guard lock(mutex_);
  return std::chrono::milliseconds(
      std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(ceiling, 1))(jitter_));
}

void Acquirer::ForgetOldRequestIdsLocked(Clock::time_point now) {
  // Amortised: one sweep per 256 new ids keeps the map bounded by the ids of one TTL.
  if (++inserts_since_sweep_ < 256) return;
  inserts_since_sweep_ = 0;
  std::erase_if(by_request_id_, [&](const auto& entry) {
    return entry.second->done && now - entry.second->done_at > options_.request_id_ttl;
  });
}

void Acquirer::Acquire(const std::string& key, KeyOwner key_owner, const AcquireRequest& request,
                       Done done) {
  if (auto invalid = Validate(request)) return done({.error = std::move(invalid)});
  auto job = std::make_shared<Job>();
  job->key = key;
  job->key_owner = key_owner;
  job->request = request;
  job->countries = {request.country};
  job->countries.insert(job->countries.end(), request.fallback_countries.begin(),
                        request.fallback_countries.end());
  const auto now = runtime_.now();
  job->give_up = std::min(request.deadline, now + request.max_wait);
  if (request.request_id.empty()) {
    job->done = std::move(done);
    return Step(job);
  }

  // The id is scoped to the key: two tenants' ids never collide.
  const std::string slot = key + '\x1f' + request.request_id;
  std::shared_ptr<Pending> pending;
  {
    std::lock_guard lock(mutex_);
    auto it = by_request_id_.find(slot);
    if (it != by_request_id_.end() && it->second->done &&
        now - it->second->done_at > options_.request_id_ttl) {
      by_request_id_.erase(it);
      it = by_request_id_.end();
    }
    if (it != by_request_id_.end()) {
      pending = it->second;
      if (!pending->done) {
        pending->waiters.push_back(std::move(done));
        return;
      }
    } else {
      ForgetOldRequestIdsLocked(now);
      pending = std::make_shared<Pending>();
      by_request_id_.emplace(slot, pending);
    }
  }
  if (pending->done) {  // answered before: the same number again, nothing bought
    AcquireOutcome replay = pending->outcome;
    replay.replayed = replay.number.has_value();
    replay.attempts = 0;
    return done(std::move(replay));
  }
  job->done = [this, slot, pending, done = std::move(done)](AcquireOutcome outcome) {
    std::vector<Done> waiters;
    {
      std::lock_guard lock(mutex_);
      pending->outcome = outcome;
      pending->done = true;
      pending->done_at = runtime_.now();
      waiters.swap(pending->waiters);
      // A definite failure frees the id for another try; a number, or an unknown outcome
      // (UPSTREAM_TIMEOUT), stays: the same id must never buy a second number.
      const bool keep = outcome.number.has_value() ||
                        (outcome.error && outcome.error->reason == Reason::kUpstreamTimeout);
      if (!keep) by_request_id_.erase(slot);
    }
    for (auto& waiter : waiters) {
      AcquireOutcome replay = outcome;
      replay.replayed = replay.number.has_value();
      replay.attempts = 0;
      waiter(std::move(replay));
    }
    done(std::move(outcome));
  };
  Step(job);
}

void Acquirer::Stop() {
  std::set<std::shared_ptr<Job>> waiting;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    waiting.swap(waiting_);
  }
  for (const auto& job : waiting) {
    job->out.error =
        GatewayError{.reason = Reason::kShuttingDown, .message = "the gateway is shutting down"};
    Finish(job);
  }
}

void Acquirer::Finish(const std::shared_ptr<Job>& job) {
  Done done = std::exchange(job->done, nullptr);
  done(std::move(job->out));
}

// Decides the next move; never blocks: a purchase goes to a worker, a wait to a timer.
void Acquirer::Step(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      job->out.error =
          GatewayError{.reason = Reason::kShuttingDown, .message = "the gateway is shutting down"};
    }
  }
  if (job->out.error && job->out.error->reason == Reason::kShuttingDown) return Finish(job);
  const auto now = runtime_.now();
  if (auto wait = budget_.TryTake(job->key, RateBudget::Priority::kAcquire, now)) {
    if (now + *wait > job->give_up) {
      job->out.error =
          GatewayError{.reason = Reason::kRateLimitExceeded,
                       .message = "the upstream rate budget for this key is spent",
                       .retry_after = std::chrono::ceil<std::chrono::milliseconds>(*wait)};
      job->out.error->key_owner = job->key_owner;
      return Finish(job);
    }
    if (!job->throttled && metrics_) metrics_->Throttled("rate_budget", "acquire");
    job->throttled = true;
    return Wait(job, *wait);
  }
  runtime_.run([this, job] { Attempt(job); });
}

void Acquirer::Attempt(const std::shared_ptr<Job>& job) {
  const std::string& country = job->countries[job->next_country];
  ++job->out.attempts;
  auto result = upstream_.Take()->RequestNumber(job->key, country, job->request.service);
  if (result.ok()) {
    job->out.number = std::move(result.value);
    job->out.upstream_date = result.upstream_date;
    job->out.error.reset();
    return Finish(job);
  }
  GatewayError& error = job->out.error.emplace(std::move(*result.error));
  error.key_owner = job->key_owner;
  error.metadata["country"] = country;
  error.metadata["service"] = job->request.service;
  // The upstream refused a field: name it as the caller sent it.
  if (error.reason == Reason::kInvalidCountry) {
    error.field_violations.emplace_back(
        job->next_country == 0
            ? "country"
            : "fallback_countries[" + std::to_string(job->next_country - 1) + "]",
        "the upstream does not know country \"" + country + "\"");
  } else if (error.reason == Reason::kInvalidService) {
    error.field_violations.emplace_back(
        "service", "the upstream does not know service \"" + job->request.service + "\"");
  }
  if (error.reason == Reason::kRateLimitExceeded) {
    if (metrics_) metrics_->Throttled("upstream_429", "acquire");
    budget_.PauseUntil(job->key,
                       runtime_.now() + error.retry_after.value_or(std::chrono::seconds(1)));
  }
  if (!Retryable(error.reason)) return Finish(job);
  // A stock-out moves on to the next country at once; other failures, and the end of a
  // round, pause first.
  if (error.reason == Reason::kNoNumbersAvailable && ++job->next_country < job->countries.size()) {
    return Step(job);
  }
  job->next_country = 0;
  const auto pause = Backoff(job->round++);
  if (runtime_.now() + pause > job->give_up) return Finish(job);
  Wait(job, pause);
}

void Acquirer::Wait(const std::shared_ptr<Job>& job, Clock::duration how_long) {
  bool stopping;
  {
    std::lock_guard lock(mutex_);
    stopping = stopping_;
    if (!stopping) waiting_.insert(job);
  }
  if (stopping) return Step(job);  // ends it with SHUTTING_DOWN
  runtime_.after(how_long, [this, job] {
    {
      std::lock_guard lock(mutex_);
      if (waiting_.erase(job) == 0) return;  // Stop() ended it already
    }
    Step(job);
  });
}

}  // namespace ismscode::gateway
