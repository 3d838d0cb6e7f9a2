#include "server/acquirer.h"

#include <algorithm>
#include <cctype>

namespace ismscode::gateway {

// ---------------------------------------------------------------------------
// UpstreamPool

std::unique_ptr<UpstreamPool> UpstreamPool::Create(const UpstreamConfig& config, size_t size,
                                                   std::string* error) {
  auto pool = std::make_unique<UpstreamPool>();
  for (size_t i = 0; i < std::max<size_t>(size, 1); ++i) {
    auto client = UpstreamClient::Create(config, error);
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

Acquirer::Acquirer(UpstreamPool& upstream, RateBudget& budget, Options options, Sleep sleep,
                   Now now)
    : upstream_(upstream),
      budget_(budget),
      options_(options),
      sleep_(std::move(sleep)),
      now_(std::move(now)),
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

std::chrono::steady_clock::duration Acquirer::Backoff(int retry) {
  // Exponential with full jitter: uniform in [0, min(max, initial * 2^retry)].
  const auto ceiling = std::min<int64_t>(options_.max_backoff.count(),
                                         options_.initial_backoff.count() << std::min(retry, 20));
  std::lock_guard lock(mutex_);
  return std::chrono::milliseconds(
      std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(ceiling, 1))(jitter_));
}

AcquireOutcome Acquirer::Acquire(const std::string& key, KeyOwner key_owner,
                                 const AcquireRequest& request) {
  if (auto invalid = Validate(request)) return {.error = std::move(invalid)};
  if (request.request_id.empty()) return AcquireOnce(key, key_owner, request);

  // The id is scoped to the key: two tenants' ids never collide.
  const std::string slot = key + '\x1f' + request.request_id;
  std::shared_ptr<Pending> pending;
  bool first = false;
  {
    std::unique_lock lock(mutex_);
    auto [it, inserted] = by_request_id_.try_emplace(slot, nullptr);
    if (inserted) it->second = std::make_shared<Pending>();
    pending = it->second;
    first = inserted;
    if (!first) {
      pending->cv.wait(lock, [&] { return pending->done; });
      AcquireOutcome replay = pending->outcome;
      replay.replayed = replay.number.has_value();
      replay.attempts = 0;
      return replay;
    }
  }
  AcquireOutcome outcome = AcquireOnce(key, key_owner, request);
  {
    std::lock_guard lock(mutex_);
    pending->outcome = outcome;
    pending->done = true;
    // A definite failure frees the id for another try; a number, or an unknown outcome
    // (UPSTREAM_TIMEOUT), stays: the same id must never buy a second number.
    const bool keep = outcome.number.has_value() ||
                      (outcome.error && outcome.error->reason == Reason::kUpstreamTimeout);
    if (!keep) by_request_id_.erase(slot);
  }
  pending->cv.notify_all();
  return outcome;
}

AcquireOutcome Acquirer::AcquireOnce(const std::string& key, KeyOwner key_owner,
                                     const AcquireRequest& request) {
  std::vector<std::string> countries = {request.country};
  countries.insert(countries.end(), request.fallback_countries.begin(),
                   request.fallback_countries.end());
  const auto start = now_();
  const auto give_up = std::min(request.deadline, start + request.max_wait);
  AcquireOutcome out;
  for (int round = 0;; ++round) {
    for (const std::string& country : countries) {
      // Wait for a purchase token, within the deadline.
      while (auto wait = budget_.TryTake(key, RateBudget::Priority::kAcquire, now_())) {
        if (now_() + *wait > give_up) {
          out.error =
              GatewayError{.reason = Reason::kRateLimitExceeded,
                           .message = "the upstream rate budget for this key is spent",
                           .retry_after = std::chrono::ceil<std::chrono::milliseconds>(*wait)};
          out.error->key_owner = key_owner;
          return out;
        }
        sleep_(*wait);
      }
      ++out.attempts;
      auto result = upstream_.Take()->RequestNumber(key, country, request.service);
      if (result.ok()) {
        out.number = std::move(result.value);
        out.upstream_date = result.upstream_date;
        out.error.reset();
        return out;
      }
      out.error = std::move(result.error);
      out.error->key_owner = key_owner;
      out.error->metadata["country"] = country;
      out.error->metadata["service"] = request.service;
      if (out.error->reason == Reason::kRateLimitExceeded) {
        budget_.PauseUntil(key, now_() + out.error->retry_after.value_or(std::chrono::seconds(1)));
      }
      if (!Retryable(out.error->reason)) return out;
      // Stock-outs move on to the next country; other failures retry after a pause.
      if (out.error->reason != Reason::kNoNumbersAvailable) break;
    }
    const auto pause = Backoff(round);
    if (now_() + pause > give_up) return out;
    sleep_(pause);
  }
}

}  // namespace ismscode::gateway
