#include "mock/service.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "mock/json_fields.h"
#include "mock/sms_templates.h"

namespace ismscode::mock {

using json = nlohmann::ordered_json;

namespace {

constexpr std::string_view kRestPrefix = "/api/v3/";
constexpr std::string_view kControlPrefix = "/_mock/v1/";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::vector<std::string_view> SplitPath(std::string_view route) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= route.size()) {
    size_t slash = route.find('/', start);
    if (slash == std::string_view::npos) slash = route.size();
    parts.push_back(route.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "Bearer <token>" -> token; anything else -> empty.
std::string_view BearerToken(std::string_view authorization) {
  authorization = Trim(authorization);
  if (authorization.size() < 7 || !EqualsIgnoreCase(authorization.substr(0, 7), "bearer ")) {
    return {};
  }
  return Trim(authorization.substr(7));
}

bool IsJsonContentType(std::string_view content_type) {
  content_type = Trim(content_type.substr(0, content_type.find(';')));
  return content_type.empty() || EqualsIgnoreCase(content_type, "application/json");
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

int64_t ToInt(std::string_view s, int64_t fallback) {
  int64_t v = fallback;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size() ? v : fallback;
}

// The metric label for an endpoint name: a static string, as labels outlive requests.
std::string_view EndpointLabel(std::string_view endpoint) {
  for (std::string_view known :
       {kEndpointCountries, kEndpointServices, kEndpointRequestNumber, kEndpointListSms}) {
    if (endpoint == known) return known;
  }
  return "unknown";
}

}  // namespace

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
    endpoint_label = "control";
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

HttpResponse MockService::HandleRest(const HttpRequest& req, std::string_view route,
                                     JournalEntry& entry) {
  const auto parts = SplitPath(route);
  std::string_view allowed;
  if (parts.size() == 1 && parts[0] == "countries") {
    entry.endpoint = kEndpointCountries;
    allowed = "GET";
  } else if (parts.size() == 1 && parts[0] == "services") {
    entry.endpoint = kEndpointServices;
    allowed = "GET";
  } else if (parts.size() == 2 && parts[0] == "numbers" && parts[1] == "request") {
    entry.endpoint = kEndpointRequestNumber;
    allowed = "POST";
  } else if (parts.size() == 3 && parts[0] == "numbers" && !parts[1].empty() && parts[2] == "sms") {
    entry.endpoint = kEndpointListSms;
    entry.number_id = parts[1];
    allowed = "GET";
  } else {
    return Error(404, "not_found", "No such endpoint.");
  }
  const bool method_ok = req.method == allowed || (allowed == "GET" && req.method == "HEAD");
  if (!method_ok) {
    HttpResponse r = Error(405, "method_not_allowed", "Use " + std::string(allowed) + ".");
    r.headers.emplace_back("Allow", std::string(allowed));
    return r;
  }

  // Authentication: either header of the document.
  std::string key(BearerToken(req.authorization));
  if (key.empty()) key = Trim(req.api_key);
  if (key.empty()) {
    return Error(401, "unauthorized",
                 "No API key provided. Send 'Authorization: Bearer <key>' or 'API-Key: <key>'.");
  }
  auto account = accounts_.find(key);
  if (account == accounts_.end()) return Error(401, "unauthorized", "Invalid API key.");
  entry.key = key;

  if (auto retry_after = RateLimitRetryAfter(account->second)) {
    HttpResponse r =
        Error(429, "rate_limit_exceeded",
              "Too many requests. Retry after " + std::to_string(*retry_after) + " seconds.");
    r.headers.emplace_back("Retry-After", std::to_string(*retry_after));
    return r;
  }

  // Parse what fault matching needs to see.
  std::string country, service;
  std::optional<HttpResponse> bad_body;
  if (entry.endpoint == kEndpointRequestNumber) {
    if (!IsJsonContentType(req.content_type)) {
      bad_body = Error(415, "unsupported_media_type",
                       "Send the body as JSON with 'Content-Type: application/json'.");
    } else {
      const json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (body.is_discarded()) {
        bad_body = Error(400, "invalid_json",
                         req.body.empty() ? "The request body is empty; expected JSON such as "
                                            "{\"country\": \"US\", \"service\": \"whatsapp\"}."
                                          : "The request body is not valid JSON.");
      } else if (!body.is_object()) {
        bad_body = Error(400, "invalid_json", "The request body must be a JSON object.");
      } else {
        if (body.contains("country") && body["country"].is_string()) country = body["country"];
        if (body.contains("service") && body["service"].is_string()) service = body["service"];
      }
    }
  } else if (entry.endpoint == kEndpointListSms) {
    auto n = numbers_.find(entry.number_id);
    if (n != numbers_.end() && n->second.key == key) {
      country = n->second.country;
      service = n->second.service;
    }
  }
  entry.country = country;
  entry.service = service;

  std::optional<FaultSpec> fault = faults_.Take({entry.endpoint, key, country, service}, random_);
  if (fault) {
    entry.fault = FaultKindName(fault->kind);
    metrics_.CountFault(entry.fault);
    if (!fault->after && fault->kind != FaultKind::kSlow) return FaultResponse(*fault);
  }
  if (bad_body) return *bad_body;

  HttpResponse res;
  if (entry.endpoint == kEndpointCountries) {
    res = ListCountries();
  } else if (entry.endpoint == kEndpointServices) {
    res = ListServices();
  } else if (entry.endpoint == kEndpointRequestNumber) {
    res = RequestNumber(key, country, service, entry);
  } else {
    res = ListSms(key, entry.number_id);
  }
  if (!fault) return res;
  if (fault->kind == FaultKind::kSlow) {
    res.disruption = Disruption::kSlow;
    res.disruption_seconds = fault->delay_seconds;
    return res;
  }
  if (fault->kind == FaultKind::kMalformedJson) {
    // The real answer, cut off mid-way: the model acted, the client cannot tell.
    res.body.resize(res.body.size() / 2);
    return res;
  }
  return FaultResponse(*fault);
}

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

HttpResponse MockService::ListCountries() {
  HttpResponse r;
  r.body = countries_body_;
  return r;
}

HttpResponse MockService::ListServices() {
  HttpResponse r;
  r.body = services_body_;
  return r;
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

HttpResponse MockService::RequestNumber(const std::string& key, const std::string& country,
                                        const std::string& service, JournalEntry& entry) {
  const Country* c = country.empty() ? nullptr : FindCountry(country);
  if (!c) {
    return Error(400, "invalid_country",
                 country.empty() ? "The 'country' field is required: a 2-letter ISO code such "
                                   "as \"US\"."
                                 : "Unknown country '" + country + "'. See GET /countries.");
  }
  if (service.empty() || !KnownService(service)) {
    return Error(400, "invalid_service",
                 service.empty() ? "The 'service' field is required: a lower-case slug such "
                                   "as \"whatsapp\"."
                                 : "Unknown service '" + service + "'. See GET /services.");
  }
  OfferState* offer = FindOffer(country, service);
  AccountState& account = accounts_[key];
  const int64_t price = offer ? offer->offer.price_micros : 0;
  if (account.balance_micros < price) {
    return Error(402, "insufficient_balance", "Not enough balance to request this number.");
  }
  if (!offer || offer->offer.stock <= 0) {
    return Error(404, "no_numbers_available",
                 "Currently out of stock for the requested country/service combination.");
  }
  PurgeExpired(/*room=*/1);
  account.balance_micros -= price;
  --offer->offer.stock;

  NumberState n;
  do {
    n.id = "num_" + random_.Chars(12, "abcdefghijklmnopqrstuvwxyz0123456789");
  } while (numbers_.contains(n.id));
  n.country = country;
  n.service = service;
  n.key = key;
  n.created = clock_.Now();
  n.expires = n.created + clock_.Scaled(scenario_.reservation_seconds);
  n.phone = phones_->Take(country, n.created, n.expires, random_);
  ScheduleSms(n, offer->offer.sms);
  metrics_.CountNumberIssued(country, service);
  entry.number_id = n.id;

  // Built by hand (a hot path); every field is a validated code, slug or generated id.
  HttpResponse r;
  r.body.reserve(160);
  r.body += R"({"status":"success","number":{"id":")";
  r.body += n.id;
  r.body += R"(","phone":")";
  r.body += n.phone;
  r.body += R"(","country":")";
  r.body += n.country;
  r.body += R"(","service":")";
  r.body += n.service;
  r.body += R"(","expires_at":")";
  r.body += FormatRfc3339(n.expires);
  r.body += R"("}})";
  numbers_by_age_.push_back({n.id, n.expires});
  numbers_.emplace(n.id, std::move(n));
  return r;
}

void MockService::ScheduleSms(NumberState& n, const SmsSpec& spec) {
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
    numbers_.erase(numbers_by_age_.front().id);
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

HttpResponse MockService::ListSms(const std::string& key, const std::string& number_id) {
  auto it = numbers_.find(number_id);
  // Another account's number is as unknown as a made-up id: nothing leaks across keys.
  if (it == numbers_.end() || it->second.key != key) {
    return Error(404, "number_not_found", "No number with id '" + number_id + "'.");
  }
  NumberState& n = it->second;
  MarkDelivered(n);
  // Built by hand (the hottest path): {"status":"success","sms":[{from,text,received_at}]}
  HttpResponse r;
  r.body.reserve(64 + 160 * n.sms.size());
  r.body += R"({"status":"success","sms":[)";
  bool first = true;
  for (const ScheduledSms& s : n.sms) {
    if (!s.delivered) continue;
    r.body += first ? R"({"from":)" : R"(,{"from":)";
    first = false;
    AppendJsonString(r.body, s.from);
    r.body += R"(,"text":)";
    AppendJsonString(r.body, s.text);
    r.body += R"(,"received_at":")";
    r.body += FormatRfc3339(s.due);
    r.body += R"("})";
  }
  r.body += "]}";
  return r;
}

// ---------------------------------------------------------------------------
// The control API.

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
                   {"due_at", FormatRfc3339(s.due)},
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

HttpResponse MockService::HandleControl(const HttpRequest& req, std::string_view route) {
  if (!options_.admin_token.empty() &&
      !ConstantTimeEquals(BearerToken(req.authorization), options_.admin_token)) {
    return Error(401, "unauthorized",
                 "The control API needs 'Authorization: Bearer <admin token>'.");
  }
  const auto p = SplitPath(route);
  const std::string_view m = req.method;

  // Parse a JSON body once for the routes that take one.
  json body = json::object();
  if (m == "POST" || m == "PUT" || m == "PATCH") {
    if (!IsJsonContentType(req.content_type)) {
      return Error(415, "unsupported_media_type",
                   "Send JSON with 'Content-Type: application/json'.");
    }
    if (!req.body.empty()) {
      try {
        body = json::parse(req.body);
      } catch (const json::parse_error& e) {
        return Error(400, "invalid_json", DescribeParseError(std::string(req.body), e));
      } catch (const json::out_of_range&) {  // a number beyond a double: 1e999
        return Error(400, "invalid_json", "A number in the request body is out of range.");
      }
    }
  }
  auto not_allowed = [&](std::string_view allow) {
    HttpResponse r = Error(405, "method_not_allowed", "Use " + std::string(allow) + ".");
    r.headers.emplace_back("Allow", std::string(allow));
    return r;
  };

  if (p.size() == 1 && p[0] == "scenario") {
    if (m == "GET") return Json(200, ScenarioToJson(scenario_));
    if (m != "PUT") return not_allowed("GET, PUT");
    std::string error;
    auto scenario = ScenarioFromJson(body, &error);
    if (!scenario) return Error(400, "invalid_scenario", error);
    LoadScenario(*scenario);
    return Json(200, {{"status", "success"}, {"scenario", scenario_.name}});
  }
  if (p.size() == 1 && p[0] == "reset") {
    if (m != "POST") return not_allowed("POST");
    LoadScenario(Scenario(scenario_));
    return Json(200, {{"status", "success"}, {"scenario", scenario_.name}});
  }
  if (p.size() == 1 && p[0] == "accounts") {
    if (m == "GET") {
      json list = json::array();
      std::vector<std::string> keys;
      for (const auto& [k, a] : accounts_) keys.push_back(k);
      std::sort(keys.begin(), keys.end());
      for (const auto& k : keys) list.push_back(AccountJson(k, accounts_[k]));
      return Json(200, {{"status", "success"}, {"accounts", list}});
    }
    if (m != "POST") return not_allowed("GET, POST");
    return CreateAccount(body);
  }
  if (p.size() == 2 && p[0] == "accounts") {
    const std::string key(p[1]);
    auto it = accounts_.find(key);
    if (it == accounts_.end()) return Error(404, "account_not_found", "No such account.");
    if (m == "GET")
      return Json(200, {{"status", "success"}, {"account", AccountJson(key, it->second)}});
    if (m == "PATCH") return UpdateAccount(key, body);
    if (m == "DELETE") {
      accounts_.erase(it);
      return Json(200, {{"status", "success"}});
    }
    return not_allowed("GET, PATCH, DELETE");
  }
  if (p.size() == 1 && p[0] == "offers") {
    if (m != "GET") return not_allowed("GET");
    json list = json::array();
    for (auto& [k, o] : offers_) {
      Restock(o);
      list.push_back({{"country", o.offer.country},
                      {"service", o.offer.service},
                      {"price", MicrosToMoney(o.offer.price_micros)},
                      {"stock", o.offer.stock}});
    }
    return Json(200, {{"status", "success"}, {"offers", list}});
  }
  if (p.size() == 3 && p[0] == "offers") {
    if (m != "PATCH") return not_allowed("PATCH");
    return UpdateOffer(std::string(p[1]), std::string(p[2]), body);
  }
  if ((p.size() == 2 || p.size() == 3) && p[0] == "numbers") {
    auto it = numbers_.find(std::string(p[1]));
    if (it == numbers_.end()) return Error(404, "number_not_found", "No such number.");
    if (p.size() == 2) {
      if (m != "GET") return not_allowed("GET");
      return Json(200, {{"status", "success"}, {"number", NumberJson(it->second)}});
    }
    if (p[2] != "sms") return Error(404, "not_found", "No such control endpoint.");
    if (m != "POST") return not_allowed("POST");
    return InjectSms(it->first, body);
  }
  if (p.size() == 1 && p[0] == "faults") {
    if (m == "GET") return Json(200, {{"status", "success"}, {"faults", faults_.ToJson()}});
    if (m == "DELETE") {
      faults_.Clear();
      return Json(200, {{"status", "success"}});
    }
    if (m != "POST") return not_allowed("GET, POST, DELETE");
    std::string error;
    auto spec = ParseFaultSpec(body, "fault", &error);
    if (!spec) return Error(400, "invalid_fault", error);
    const int64_t id = faults_.Add(*spec);
    json j = FaultSpecToJson(*spec);
    j["id"] = id;
    return Json(201, {{"status", "success"}, {"fault", j}});
  }
  if (p.size() == 2 && p[0] == "faults") {
    if (m != "DELETE") return not_allowed("DELETE");
    const int64_t id = ToInt(p[1], -1);
    if (!faults_.Remove(id)) return Error(404, "fault_not_found", "No such fault.");
    return Json(200, {{"status", "success"}});
  }
  if (p.size() == 1 && p[0] == "clock") {
    if (m != "GET") return not_allowed("GET");
    return Json(200,
                {{"status", "success"},
                 {"now", FormatRfc3339(clock_.Now())},
                 {"time_scale", clock_.time_scale()},
                 {"frozen", clock_.frozen()},
                 {"advanced_seconds", std::chrono::duration<double>(clock_.advanced()).count()}});
  }
  if (p.size() == 2 && p[0] == "clock" && p[1] == "advance") {
    if (m != "POST") return not_allowed("POST");
    double seconds = 0;
    std::string error;
    FieldReader r(body, "body", &error);
    r.RejectUnknown({"seconds"});
    r.Number("seconds", &seconds, 0, 86400.0 * 365, true);
    if (!r.ok()) return Error(400, "invalid_request", error);
    clock_.Advance(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds)));
    return Json(200, {{"status", "success"}, {"now", FormatRfc3339(clock_.Now())}});
  }
  if (p.size() == 1 && p[0] == "journal") {
    if (m == "DELETE") {
      journal_.Clear();
      return Json(200, {{"status", "success"}});
    }
    if (m != "GET") return not_allowed("GET, DELETE");
    const int64_t after = ToInt(req.Query("after"), 0);
    const int64_t limit = std::clamp<int64_t>(ToInt(req.Query("limit"), 100), 1, 10000);
    return Json(200, {{"status", "success"},
                      {"last_seq", journal_.last_seq()},
                      {"entries", journal_.Query(after, std::string(req.Query("key")),
                                                 static_cast<size_t>(limit))}});
  }
  return Error(404, "not_found", "No such control endpoint.");
}

HttpResponse MockService::CreateAccount(const json& body) {
  std::string error;
  FieldReader r(body, "body", &error);
  r.RejectUnknown({"key", "balance", "rate_limit"});
  std::string key;
  double balance = 100;
  r.String("key", &key);
  r.Number("balance", &balance, 0, 1e12);
  std::optional<RateLimit> rate_limit;
  if (r.ok() && r.Has("rate_limit")) {
    RateLimit rl;
    if (ParseRateLimit(body["rate_limit"], "body.rate_limit", &rl, &error)) rate_limit = rl;
  }
  if (!r.ok() || !error.empty()) return Error(400, "invalid_request", error);
  if (key.empty()) {
    // Generated keys come from the seeded generator too: a rerun yields the same keys.
    do {
      key = "test_" + random_.Chars(24, "abcdefghijklmnopqrstuvwxyz0123456789");
    } while (accounts_.contains(key));
  } else if (accounts_.contains(key)) {
    return Error(409, "account_exists", "An account with that key exists.");
  }
  AccountState& a = accounts_[key];
  a.balance_micros = MoneyToMicros(balance);
  a.rate_limit = rate_limit;
  return Json(201, {{"status", "success"}, {"account", AccountJson(key, a)}});
}

HttpResponse MockService::UpdateAccount(const std::string& key, const json& body) {
  std::string error;
  FieldReader r(body, "body", &error);
  r.RejectUnknown({"balance", "rate_limit"});
  AccountState updated = accounts_[key];
  double balance = MicrosToMoney(updated.balance_micros);
  r.Number("balance", &balance, 0, 1e12);
  updated.balance_micros = MoneyToMicros(balance);
  if (r.ok() && body.contains("rate_limit")) {
    if (body["rate_limit"].is_null()) {
      updated.rate_limit.reset();  // back to the scenario's
    } else {
      RateLimit rl;
      if (ParseRateLimit(body["rate_limit"], "body.rate_limit", &rl, &error))
        updated.rate_limit = rl;
    }
  }
  if (!error.empty()) return Error(400, "invalid_request", error);
  updated.window_index = -1;  // a new limit starts a fresh window
  accounts_[key] = updated;
  return Json(200, {{"status", "success"}, {"account", AccountJson(key, updated)}});
}

HttpResponse MockService::UpdateOffer(const std::string& country, const std::string& service,
                                      const json& body) {
  OfferState* o = FindOffer(country, service);
  if (!o) return Error(404, "offer_not_found", "No offer for " + country + "/" + service + ".");
  std::string error;
  FieldReader r(body, "body", &error);
  r.RejectUnknown({"price", "stock", "sms", "restock"});
  if (!r.ok()) return Error(400, "invalid_request", error);
  Offer updated = o->offer;
  if (!ApplyOfferFields(body, "body", &updated, &error)) {
    return Error(400, "invalid_request", error);
  }
  o->offer = std::move(updated);
  if (body.contains("restock")) o->last_restock = clock_.Now();
  return Json(200, {{"status", "success"},
                    {"offer",
                     {{"country", country},
                      {"service", service},
                      {"price", MicrosToMoney(o->offer.price_micros)},
                      {"stock", o->offer.stock}}}});
}

HttpResponse MockService::InjectSms(const std::string& number_id, const json& body) {
  NumberState& n = numbers_[number_id];
  std::string error;
  FieldReader r(body, "body", &error);
  r.RejectUnknown({"text", "from", "code", "delay_seconds"});
  std::string text, from, code;
  double delay = 0;
  r.String("text", &text);
  r.String("from", &from);
  r.String("code", &code);
  r.Number("delay_seconds", &delay, 0, 86400.0 * 30);
  if (!r.ok()) return Error(400, "invalid_request", error);
  const TimePoint now = clock_.Now();
  const TimePoint due = now + clock_.Scaled(delay);
  if (due >= n.expires) {
    return Error(409, "number_expired",
                 "The number's reservation ends before that SMS would arrive.");
  }
  ScheduledSms s;
  s.due = due;
  s.origin = "injected";
  if (text.empty()) {
    GeneratedSms g = code.empty() ? GenerateSms(n.service, random_)
                                  : GenerateSmsWithCode(n.service, code, random_);
    s.text = g.text;
    s.from = g.from;
    s.code = g.code;
    s.raw_code = g.raw_code;
  } else {
    s.text = text;
    s.code = code;
    s.raw_code = code;
  }
  if (!from.empty()) s.from = from;
  if (s.from.empty()) s.from = "Verify";
  // Keep the list ordered by due time: the API lists SMS in arrival order.
  auto pos = std::upper_bound(n.sms.begin(), n.sms.end(), due,
                              [](TimePoint t, const ScheduledSms& x) { return t < x.due; });
  pos = n.sms.insert(pos, std::move(s));
  MarkDelivered(n);
  return Json(201, {{"status", "success"},
                    {"sms",
                     {{"from", pos->from},
                      {"text", pos->text},
                      {"code", pos->code},
                      {"due_at", FormatRfc3339(pos->due)},
                      {"delivered", pos->delivered}}}});
}

}  // namespace ismscode::mock
