#include "mock/service.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "mock/json_fields.h"
#include "mock/route_util.h"
#include "mock/sms_templates.h"

// MockService: construction, dispatch (Handle) and the state every route shares
// (accounts, offers, numbers, purge). REST routes: rest_routes.cc; control routes:
// control_routes.cc.

namespace ismscode::mock {

using json = nlohmann::ordered_json;
using namespace route;

std::string_view HttpRequest::Query(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return {};
}

MockService::MockService(Scenario scenario, Options options)
    : options_(std::move(options)),
      clock_(options_.clock),
      random_(options_.seed),
      journal_(options_.journal_capacity) {
  MutexLock lock(mutex_);
  LoadScenario(scenario);
}

void MockService::SetDraining(bool draining) {
  MutexLock lock(mutex_);
  draining_ = draining;
}

void MockService::LoadScenario(const Scenario& scenario) {
  scenario_ = scenario;
  clock_.Reset();
  random_.Reseed(options_.seed);
  journal_.Clear();
  faults_.Clear();
  for (const FaultSpec& f : scenario_.faults) faults_.Add(f);
  accounts_.clear();
  for (const Account& a : scenario_.accounts) {
    accounts_[a.key] = AccountState{a.balance_micros, a.rate_limit};
  }
  offers_.clear();
  const TimePoint now = clock_.Now();
  for (const Offer& o : scenario_.offers) offers_[{o.country, o.service}] = {o, now};
  numbers_.clear();
  numbers_by_age_.clear();
  numbers_by_phone_.clear();
  phones_.emplace(scenario_.countries);

  json countries = json::array();
  for (const Country& c : scenario_.countries) {
    countries.push_back({{"code", c.code}, {"name", c.name}, {"prefix", c.prefix}});
  }
  countries_body_ = SafeDump({{"status", "success"}, {"countries", countries}});
  services_body_ = SafeDump({{"status", "success"}, {"services", scenario_.services}});
}

HttpResponse MockService::Json(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = SafeDump(body);
  return r;
}

HttpResponse MockService::Error(int status, std::string_view code, std::string_view message) {
  HttpResponse r = Json(status, {{"status", "error"}, {"code", code}, {"message", message}});
  r.error_code = code;
  return r;
}

HttpResponse MockService::Handle(const HttpRequest& req) {
  std::string_view endpoint_label = "unknown";
  HttpResponse res;
  if (StartsWith(req.path, kRestPrefix)) {
    JournalEntry entry;
    entry.method = req.method;
    entry.path = req.path;
    {
      MutexLock lock(mutex_);
      PurgeExpired();
      entry.at = clock_.Now();
      res = HandleRest(req, req.path.substr(kRestPrefix.size()), entry);
      entry.status = res.status_sent();
      if (entry.status != 0) entry.error_code = res.error_code;
      endpoint_label = EndpointLabel(entry.endpoint);
      journal_.Append(std::move(entry));
    }
  } else if (StartsWith(req.path, kControlPrefix)) {
    endpoint_label =
        req.path.substr(kControlPrefix.size()) == "sms" ? kEndpointCarrierSms : "control";
    MutexLock lock(mutex_);
    res = HandleControl(req, req.path.substr(kControlPrefix.size()));
  } else if ((req.path == "/healthz" || req.path == "/metrics") && req.method != "GET" &&
             req.method != "HEAD") {
    endpoint_label = req.path == "/healthz" ? "healthz" : "metrics";
    res = Error(405, "method_not_allowed", "Use GET.");
    res.headers.emplace_back("Allow", "GET");
  } else if (req.path == "/healthz") {
    endpoint_label = "healthz";
    MutexLock lock(mutex_);
    res = draining_ ? Json(503, {{"status", "draining"}})
                    : Json(200, {{"status", "ok"}, {"scenario", scenario_.name}});
  } else if (req.path == "/metrics") {
    endpoint_label = "metrics";
    {
      MutexLock lock(mutex_);
      PurgeExpired();
      metrics_.SetActiveNumbers(static_cast<double>(ActiveNumbers(clock_.Now())));
    }
    res.body = metrics_.Serialize();
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
  } else {
    res = Error(404, "not_found", "No such endpoint. The API lives under /api/v3.");
  }
  metrics_.CountRequest(endpoint_label, res.status_sent());
  res.headers.emplace_back("Date", FormatHttpDate(clock_.Now()));
  return res;
}

// ---------------------------------------------------------------------------
// The REST API of the document.

HttpResponse MockService::FaultResponse(const FaultSpec& fault) {
  HttpResponse r;
  switch (fault.kind) {
    case FaultKind::kInvalidCountry:
      return Error(400, "invalid_country", "The provided country is missing or invalid.");
    case FaultKind::kInvalidService:
      return Error(400, "invalid_service", "The provided service is missing or invalid.");
    case FaultKind::kUnauthorized:
      return Error(401, "unauthorized", "Invalid API key.");
    case FaultKind::kInsufficientBalance:
      return Error(402, "insufficient_balance", "Not enough balance to request this number.");
    case FaultKind::kNoNumbersAvailable:
      return Error(404, "no_numbers_available",
                   "Currently out of stock for the requested country/service combination.");
    case FaultKind::kNumberNotFound:
      return Error(404, "number_not_found", "No such number.");
    case FaultKind::kRateLimitExceeded:
      r = Error(429, "rate_limit_exceeded", "Too many requests.");
      r.headers.emplace_back("Retry-After", std::to_string(fault.retry_after_seconds));
      return r;
    case FaultKind::kHttp500:
      return Error(500, "internal_error", "Internal server error.");
    case FaultKind::kHttp503:
      return Error(503, "service_unavailable", "The service is temporarily unavailable.");
    case FaultKind::kHang:
      r.disruption = Disruption::kHang;
      r.disruption_seconds = fault.hang_seconds;
      return r;
    case FaultKind::kReset:
      r.disruption = Disruption::kReset;
      return r;
    case FaultKind::kMalformedJson:
      r.body = R"({"status": "success", "number": {"id": "num_)";
      return r;
    case FaultKind::kSlow:
      break;  // handled by the caller: slow answers are the real answer, late
  }
  return Error(500, "internal_error", "Internal server error.");
}

std::optional<int> MockService::RateLimitRetryAfter(AccountState& account) {
  const RateLimit& rl = account.rate_limit ? *account.rate_limit : scenario_.rate_limit;
  if (!rl.enabled) return std::nullopt;
  // Fixed windows of mock time: deterministic, and advancing the clock clears them.
  const double now = std::chrono::duration<double>(clock_.Now().time_since_epoch()).count();
  const int64_t index = static_cast<int64_t>(std::floor(now / rl.window_seconds));
  if (index != account.window_index) {
    account.window_index = index;
    account.window_count = 0;
  }
  if (account.window_count < rl.requests) {
    ++account.window_count;
    return std::nullopt;
  }
  const double window_end = static_cast<double>(index + 1) * rl.window_seconds;
  return std::max(1, static_cast<int>(std::ceil(window_end - now)));
}

const Country* MockService::FindCountry(const std::string& code) const {
  for (const Country& c : scenario_.countries) {
    if (c.code == code) return &c;
  }
  return nullptr;
}

bool MockService::KnownService(const std::string& service) const {
  return std::find(scenario_.services.begin(), scenario_.services.end(), service) !=
         scenario_.services.end();
}

MockService::OfferState* MockService::FindOffer(const std::string& country,
                                                const std::string& service) {
  auto it = offers_.find({country, service});
  if (it == offers_.end()) return nullptr;
  Restock(it->second);
  return &it->second;
}

void MockService::Restock(OfferState& o) {
  if (o.offer.restock.every_seconds <= 0 || o.offer.restock.amount <= 0) return;
  const Duration period = clock_.Scaled(o.offer.restock.every_seconds);
  if (period <= Duration::zero()) return;
  const int64_t periods = (clock_.Now() - o.last_restock) / period;
  if (periods <= 0) return;
  o.last_restock += periods * period;
  const int64_t room = std::max<int64_t>(0, o.offer.restock.max_stock - o.offer.stock);
  o.offer.stock += std::min(room, periods * o.offer.restock.amount);
}

void MockService::ScheduleSms(NumberState& n, const SmsSpec& spec) {
  if (!spec.send) return;
  // Every draw happens here, in a fixed order, so a seed fixes the whole schedule.
  const bool lost = random_.Chance(spec.loss_probability);
  const double delay = spec.delay.Draw(random_);
  GeneratedSms first = GenerateSms(n.service, random_);
  TimePoint due = n.created + clock_.Scaled(delay);
  n.sms.push_back({due, first.from, first.text, first.code, first.raw_code, "scheduled", lost});
  for (int i = 0; i < spec.resends; ++i) {
    due += clock_.Scaled(spec.resend_interval_seconds);
    GeneratedSms again = spec.resend_same_code
                             ? GenerateSmsWithCode(n.service, first.raw_code, random_)
                             : GenerateSms(n.service, random_);
    n.sms.push_back({due, again.from, again.text, again.code, again.raw_code, "resend", false});
  }
}

void MockService::MarkDelivered(NumberState& n) {
  const TimePoint now = clock_.Now();
  for (ScheduledSms& s : n.sms) {
    if (!s.delivered && !s.lost && s.due <= now && s.due < n.expires) {
      s.delivered = true;
      metrics_.CountSmsDelivered(n.service);
    }
  }
}

void MockService::PurgeExpired(size_t room) {
  // Runs on every request, not only purchases, so that the table lets go of memory once
  // buying stops; it looks at the oldest number only unless there is work. Numbers are
  // forgotten an hour (scaled) after their reservation ends, and the oldest beyond
  // max_numbers less `room` (for numbers about to be bought).
  const TimePoint horizon = clock_.Now() - clock_.Scaled(3600);
  const size_t keep = options_.max_numbers > room ? options_.max_numbers - room : 0;
  while (!numbers_by_age_.empty() &&
         (numbers_by_age_.front().expires <= horizon || numbers_.size() > keep)) {
    const std::string& id = numbers_by_age_.front().id;
    auto it = numbers_.find(id);
    if (it != numbers_.end()) {
      auto same_phone = numbers_by_phone_.find(it->second.phone);
      if (same_phone != numbers_by_phone_.end()) {
        std::erase(same_phone->second, id);
        if (same_phone->second.empty()) numbers_by_phone_.erase(same_phone);
      }
      numbers_.erase(it);
    }
    numbers_by_age_.pop_front();
  }
}

size_t MockService::ActiveNumbers(TimePoint now) const {
  // Expiries rise along numbers_by_age_: the active ones are a suffix.
  const auto first_active =
      std::partition_point(numbers_by_age_.begin(), numbers_by_age_.end(),
                           [now](const AgedNumber& n) { return n.expires <= now; });
  return static_cast<size_t>(numbers_by_age_.end() - first_active);
}

json MockService::AccountJson(const std::string& key, const AccountState& a) const {
  json j = {{"key", key}, {"balance", MicrosToMoney(a.balance_micros)}};
  j["rate_limit"] = RateLimitToJson(a.rate_limit ? *a.rate_limit : scenario_.rate_limit);
  return j;
}

json MockService::NumberJson(NumberState& n) {
  MarkDelivered(n);
  json sms = json::array();
  for (const ScheduledSms& s : n.sms) {
    sms.push_back({{"from", s.from},
                   {"text", s.text},
                   {"code", s.code},
                   {"raw_code", s.raw_code},
                   {"due_at", FormatRfc3339Millis(s.due)},
                   {"origin", s.origin},
                   {"lost", s.lost},
                   {"after_expiry", s.due >= n.expires},
                   {"delivered", s.delivered}});
  }
  return {{"id", n.id},
          {"phone", n.phone},
          {"country", n.country},
          {"service", n.service},
          {"key", MaskKey(n.key)},
          {"created_at", FormatRfc3339(n.created)},
          {"expires_at", FormatRfc3339(n.expires)},
          {"expired", n.expires <= clock_.Now()},
          {"sms", std::move(sms)}};
}

}  // namespace ismscode::mock
