#include <algorithm>
#include <charconv>
#include <cmath>

#include "mock/json_fields.h"
#include "mock/route_util.h"
#include "mock/service.h"
#include "mock/sms_templates.h"

// MockService's control API (/_mock/v1): accounts, offers, faults, SMS, clock,
// journal, scenario.

namespace ismscode::mock {

using json = nlohmann::ordered_json;
using namespace route;

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
    auto scenario = ScenarioFromJson(body);
    if (!scenario.ok()) {
      return Error(400, "invalid_scenario", std::string(scenario.status().message()));
    }
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
  if (p.size() == 1 && p[0] == "sms") {
    if (m != "POST") return not_allowed("POST");
    return CarrierSms(req, body);
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
                      {"due_at", FormatRfc3339Millis(pos->due)},
                      {"delivered", pos->delivered}}}});
}

namespace {

// "+1 (212) 555-0142" -> "+12125550142"; empty when it is not a phone in E.164 form.
std::string NormalizePhone(std::string_view text) {
  std::string phone;
  for (char c : text) {
    if (c == ' ' || c == '-' || c == '(' || c == ')' || c == '.') continue;
    phone += c;
  }
  if (phone.size() < 4 || phone.size() > 16 || phone[0] != '+') return "";
  for (size_t i = 1; i < phone.size(); ++i) {
    if (phone[i] < '0' || phone[i] > '9') return "";
  }
  return phone;
}

constexpr size_t kMaxCarrierText = 1600;  // ten concatenated SMS segments

}  // namespace

HttpResponse MockService::CarrierSms(const HttpRequest& req, const json& body) {
  JournalEntry entry;
  entry.at = clock_.Now();
  entry.method = req.method;
  entry.path = req.path;
  entry.endpoint = kEndpointCarrierSms;
  HttpResponse r = DeliverCarrierSms(body, entry);
  entry.status = r.status;
  entry.error_code = r.error_code;
  journal_.Append(std::move(entry));
  return r;
}

HttpResponse MockService::DeliverCarrierSms(const json& body, JournalEntry& entry) {
  std::string error;
  FieldReader r(body, "body", &error);
  r.RejectUnknown({"to", "from", "text"});
  std::string to, from, text;
  r.String("to", &to, /*required=*/true);
  r.String("from", &from);
  r.String("text", &text, /*required=*/true);
  const std::string phone = NormalizePhone(to);
  if (r.ok() && phone.empty()) {
    r.Fail("body.to", "expected a phone number in E.164 form (+12125550142)");
  }
  if (r.ok() && text.empty()) r.Fail("body.text", "must not be empty");
  if (r.ok() && text.size() > kMaxCarrierText) {
    r.Fail("body.text", "longer than " + std::to_string(kMaxCarrierText) + " bytes");
  }
  if (r.ok() && from.size() > 64) r.Fail("body.from", "longer than 64 bytes");
  if (!r.ok()) return Error(400, "invalid_request", error);

  const TimePoint now = clock_.Now();
  auto same_phone = numbers_by_phone_.find(phone);
  if (same_phone == numbers_by_phone_.end()) {
    return Error(404, "number_not_found", "No number was sold with that phone.");
  }
  std::vector<NumberState*> live;
  for (const std::string& id : same_phone->second) {
    NumberState& candidate = numbers_.at(id);
    if (candidate.expires > now) live.push_back(&candidate);
  }
  NumberState& n = live.empty() ? numbers_.at(same_phone->second.back()) : *live.front();
  entry.key = n.key;
  entry.country = n.country;
  entry.service = n.service;
  entry.number_id = n.id;
  if (live.empty()) {
    return Error(409, "number_expired", "The reservation of that phone's number has ended.");
  }
  if (live.size() > 1) {
    entry.number_id.clear();  // none of them got it
    return Error(409, "phone_shared",
                 "Several active numbers share that phone (its country ran out of free "
                 "phones); the SMS cannot go to just one of them.");
  }
  ScheduledSms s;
  s.due = now;
  s.origin = "carrier";
  s.from = from.empty() ? "SMS" : from;
  s.text = std::move(text);
  auto pos = std::upper_bound(n.sms.begin(), n.sms.end(), now,
                              [](TimePoint t, const ScheduledSms& x) { return t < x.due; });
  pos = n.sms.insert(pos, std::move(s));
  MarkDelivered(n);
  return Json(201, {{"status", "success"},
                    {"sms",
                     {{"number_id", n.id},
                      {"to", n.phone},
                      {"from", pos->from},
                      {"text", pos->text},
                      {"received_at", FormatRfc3339(pos->due)}}}});
}

}  // namespace ismscode::mock
