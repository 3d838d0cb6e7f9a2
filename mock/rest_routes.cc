#include <algorithm>
#include <charconv>
#include <cmath>

#include "mock/json_fields.h"
#include "mock/route_util.h"
#include "mock/service.h"
#include "mock/sms_templates.h"

// MockService's REST API (/api/v3): the routes the real iSMScode API has.

namespace ismscode::mock {

using json = nlohmann::ordered_json;
using namespace route;

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
  numbers_by_phone_[n.phone].push_back(n.id);
  numbers_.emplace(n.id, std::move(n));
  return r;
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

}  // namespace ismscode::mock
