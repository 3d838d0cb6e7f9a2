#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "mock/clock.h"
#include "mock/faults.h"
#include "mock/journal.h"
#include "mock/metrics.h"
#include "mock/phone_pool.h"
#include "mock/random.h"
#include "mock/scenario.h"

namespace ismscode::mock {

// A request as the service needs it, independent of the HTTP library.
struct HttpRequest {
  std::string_view method;  // GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS
  std::string_view path;    // decoded, without the query
  std::string_view authorization, api_key, content_type;
  std::string_view body;
  std::vector<std::pair<std::string, std::string>> query;

  std::string_view Query(std::string_view name) const;
};

// What the HTTP layer does to the connection instead of (or before) answering.
enum class Disruption { kNone, kSlow, kHang, kReset };

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error_code;  // the body's "code" for errors (for the journal)
  Disruption disruption = Disruption::kNone;
  double disruption_seconds = 0;  // kSlow: delay before answering; kHang: before dropping

  // The status the client sees: 0 when a hang or reset sends no response at all.
  int status_sent() const {
    return disruption == Disruption::kHang || disruption == Disruption::kReset ? 0 : status;
  }
};

// The whole mock, minus the sockets: the REST API of the document under /api/v3, the
// control API under /_mock/v1, /healthz and /metrics. Every request is answered from
// in-memory state guarded by one mutex; nothing here blocks or sleeps (a delayed SMS is
// state with a due time). Thread-safe.
class MockService {
 public:
  struct Options {
    uint64_t seed = 1;
    Clock::Options clock;
    size_t journal_capacity = 1000;
    // Numbers kept: past it the oldest are forgotten (the expired first: numbers expire
    // in the order they are bought). Expired numbers are forgotten an hour (scaled)
    // after expiry anyway.
    size_t max_numbers = 200'000;
    std::string admin_token;  // empty: the control API is open
  };

  MockService(Scenario scenario, Options options);

  HttpResponse Handle(const HttpRequest& request);

  // While draining, /healthz answers 503 so that load balancers and tests stop sending.
  void SetDraining(bool draining);

  const Clock& clock() const { return clock_; }
  MockMetrics& metrics() { return metrics_; }

 private:
  struct ScheduledSms {
    TimePoint due;
    std::string from, text, code, raw_code;
    const char* origin;  // "scheduled", "resend", "injected", "carrier"
    bool lost = false;
    bool delivered = false;  // became visible (counted once)
  };
  struct NumberState {
    std::string id, phone, country, service, key;
    TimePoint created, expires;
    std::vector<ScheduledSms> sms;  // ordered by due time
  };
  struct AccountState {
    int64_t balance_micros = 0;
    std::optional<RateLimit> rate_limit;
    int64_t window_index = -1;
    int64_t window_count = 0;
  };
  struct OfferState {
    Offer offer;
    TimePoint last_restock;
  };

  // Routing.
  HttpResponse HandleRest(const HttpRequest& req, std::string_view route, JournalEntry& entry)
      REQUIRES(mutex_);
  HttpResponse HandleControl(const HttpRequest& req, std::string_view route) REQUIRES(mutex_);

  // REST endpoints (mutex held).
  HttpResponse ListCountries() REQUIRES(mutex_);
  HttpResponse ListServices() REQUIRES(mutex_);
  HttpResponse RequestNumber(const std::string& key, const std::string& country,
                             const std::string& service, JournalEntry& entry) REQUIRES(mutex_);
  HttpResponse ListSms(const std::string& key, const std::string& number_id) REQUIRES(mutex_);

  // Control endpoints (mutex held).
  HttpResponse CreateAccount(const nlohmann::ordered_json& body) REQUIRES(mutex_);
  HttpResponse UpdateAccount(const std::string& key, const nlohmann::ordered_json& body)
      REQUIRES(mutex_);
  HttpResponse UpdateOffer(const std::string& country, const std::string& service,
                           const nlohmann::ordered_json& body) REQUIRES(mutex_);
  HttpResponse InjectSms(const std::string& number_id, const nlohmann::ordered_json& body)
      REQUIRES(mutex_);
  // The carrier endpoint: an app under test "sends" an SMS to a phone; it reaches the
  // active number with that phone. Journaled like a REST request.
  HttpResponse CarrierSms(const HttpRequest& req, const nlohmann::ordered_json& body)
      REQUIRES(mutex_);
  // The delivery itself; fills the journal entry's number fields.
  HttpResponse DeliverCarrierSms(const nlohmann::ordered_json& body, JournalEntry& entry)
      REQUIRES(mutex_);
  nlohmann::ordered_json AccountJson(const std::string& key, const AccountState& a) const
      REQUIRES(mutex_);
  nlohmann::ordered_json NumberJson(NumberState& n) REQUIRES(mutex_);

  // State helpers (mutex held).
  void LoadScenario(const Scenario& scenario) REQUIRES(mutex_);
  std::optional<int> RateLimitRetryAfter(AccountState& account) REQUIRES(mutex_);
  OfferState* FindOffer(const std::string& country, const std::string& service) REQUIRES(mutex_);
  void Restock(OfferState& offer) REQUIRES(mutex_);
  void ScheduleSms(NumberState& number, const SmsSpec& spec) REQUIRES(mutex_);
  void MarkDelivered(NumberState& number) REQUIRES(mutex_);
  // Forgets numbers past their retention, and the oldest past max_numbers less `room`.
  // O(1) when there is nothing to forget.
  void PurgeExpired(size_t room = 0) REQUIRES(mutex_);
  size_t ActiveNumbers(TimePoint now) const REQUIRES(mutex_);
  const Country* FindCountry(const std::string& code) const REQUIRES(mutex_);
  bool KnownService(const std::string& service) const REQUIRES(mutex_);

  HttpResponse Error(int status, std::string_view code, std::string_view message);
  HttpResponse Json(int status, const nlohmann::ordered_json& body);
  HttpResponse FaultResponse(const FaultSpec& fault);

  mutable Mutex mutex_;
  const Options options_;
  Clock clock_;  // thread-safe
  Random random_ GUARDED_BY(mutex_);
  MockMetrics metrics_;  // thread-safe
  Journal journal_ GUARDED_BY(mutex_);
  FaultSet faults_ GUARDED_BY(mutex_);
  Scenario scenario_ GUARDED_BY(mutex_);
  bool draining_ GUARDED_BY(mutex_) = false;

  std::unordered_map<std::string, AccountState> accounts_ GUARDED_BY(mutex_);
  std::map<std::pair<std::string, std::string>, OfferState> offers_ GUARDED_BY(mutex_);
  std::unordered_map<std::string, NumberState> numbers_ GUARDED_BY(mutex_);
  struct AgedNumber {
    std::string id;
    TimePoint expires;
  };
  // Oldest first, which is also soonest to expire: every reservation lasts the same.
  std::deque<AgedNumber> numbers_by_age_ GUARDED_BY(mutex_);
  // Phone -> the numbers sold with it and not yet forgotten, oldest first. A phone is
  // sold again after its reservation ends, or while it lasts when a country has no free
  // phone left (then two live numbers share it, and a carrier SMS cannot tell which).
  std::unordered_map<std::string, std::vector<std::string>> numbers_by_phone_ GUARDED_BY(mutex_);
  std::optional<PhonePool> phones_;                // rebuilt with each scenario
  std::string countries_body_ GUARDED_BY(mutex_);  // fixed per scenario
  std::string services_body_ GUARDED_BY(mutex_);
};

}  // namespace ismscode::mock
