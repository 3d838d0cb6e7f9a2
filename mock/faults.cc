#include "mock/faults.h"

#include <array>
#include <utility>

#include "mock/json_fields.h"
#include "mock/random.h"

namespace ismscode::mock {

using json = nlohmann::ordered_json;

namespace {
constexpr std::array<std::pair<FaultKind, std::string_view>, 13> kKindNames = {{
    {FaultKind::kInvalidCountry, "invalid_country"},
    {FaultKind::kInvalidService, "invalid_service"},
    {FaultKind::kUnauthorized, "unauthorized"},
    {FaultKind::kInsufficientBalance, "insufficient_balance"},
    {FaultKind::kNoNumbersAvailable, "no_numbers_available"},
    {FaultKind::kNumberNotFound, "number_not_found"},
    {FaultKind::kRateLimitExceeded, "rate_limit_exceeded"},
    {FaultKind::kHttp500, "http_500"},
    {FaultKind::kHttp503, "http_503"},
    {FaultKind::kHang, "hang"},
    {FaultKind::kReset, "reset"},
    {FaultKind::kMalformedJson, "malformed_json"},
    {FaultKind::kSlow, "slow"},
}};

bool IsEndpointName(std::string_view name) {
  return name == kEndpointCountries || name == kEndpointServices ||
         name == kEndpointRequestNumber || name == kEndpointListSms;
}

bool Matches(const std::string& want, std::string_view have) {
  return want.empty() || want == "*" || want == have;
}
}  // namespace

std::string_view FaultKindName(FaultKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::optional<FaultKind> ParseFaultKind(std::string_view name) {
  for (const auto& [k, n] : kKindNames) {
    if (n == name) return k;
  }
  return std::nullopt;
}

std::string FaultKindNames() {
  std::string out;
  for (const auto& [k, name] : kKindNames) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::optional<FaultSpec> ParseFaultSpec(const json& j, const std::string& path,
                                        std::string* error) {
  FaultSpec spec;
  FieldReader r(j, path, error);
  r.RejectUnknown({"kind", "endpoint", "key", "country", "service", "count", "probability",
                   "delay_seconds", "hang_seconds", "retry_after_seconds", "phase"});
  std::string kind;
  r.String("kind", &kind, /*required=*/true);
  if (r.ok()) {
    auto parsed = ParseFaultKind(kind);
    if (!parsed)
      r.Fail(r.PathOf("kind"), "expected one of " + FaultKindNames());
    else
      spec.kind = *parsed;
  }
  r.String("endpoint", &spec.endpoint);
  if (r.ok() && !spec.endpoint.empty() && spec.endpoint != "*" && !IsEndpointName(spec.endpoint)) {
    r.Fail(r.PathOf("endpoint"),
           "expected one of countries, services, numbers.request, "
           "numbers.sms, *");
  }
  r.String("key", &spec.key);
  r.String("country", &spec.country);
  r.String("service", &spec.service);
  if (r.Has("count")) {
    int64_t count = 0;
    r.Integer("count", &count, 1, INT64_MAX);
    spec.count = count;
  }
  r.Number("probability", &spec.probability, 0.0, 1.0);
  r.Number("delay_seconds", &spec.delay_seconds, 0.0, 3600.0);
  r.Number("hang_seconds", &spec.hang_seconds, 0.0, 86400.0);
  r.Integer("retry_after_seconds", &spec.retry_after_seconds, 0, 86400);
  std::string phase = "before";
  r.String("phase", &phase);
  if (r.ok() && phase != "before" && phase != "after") {
    r.Fail(r.PathOf("phase"), "expected \"before\" or \"after\"");
  }
  spec.after = phase == "after";
  if (!r.ok()) return std::nullopt;
  return spec;
}

json FaultSpecToJson(const FaultSpec& spec) {
  json j = {{"kind", FaultKindName(spec.kind)},
            {"endpoint", spec.endpoint.empty() ? "*" : spec.endpoint},
            {"probability", spec.probability},
            {"phase", spec.after ? "after" : "before"}};
  if (!spec.key.empty()) j["key"] = spec.key;
  if (!spec.country.empty()) j["country"] = spec.country;
  if (!spec.service.empty()) j["service"] = spec.service;
  j["count"] = spec.count ? json(*spec.count) : json(nullptr);
  if (spec.kind == FaultKind::kSlow) j["delay_seconds"] = spec.delay_seconds;
  if (spec.kind == FaultKind::kHang) j["hang_seconds"] = spec.hang_seconds;
  if (spec.kind == FaultKind::kRateLimitExceeded) {
    j["retry_after_seconds"] = spec.retry_after_seconds;
  }
  return j;
}

int64_t FaultSet::Add(FaultSpec spec) {
  entries_.push_back({next_id_, std::move(spec)});
  return next_id_++;
}

bool FaultSet::Remove(int64_t id) {
  return std::erase_if(entries_, [id](const Entry& e) { return e.id == id; }) > 0;
}

void FaultSet::Clear() { entries_.clear(); }

std::optional<FaultSpec> FaultSet::Take(const FaultTarget& t, Random& random) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const FaultSpec& s = it->spec;
    if (!Matches(s.endpoint, t.endpoint) || !Matches(s.key, t.key) ||
        !Matches(s.country, t.country) || !Matches(s.service, t.service)) {
      continue;
    }
    // Draw only for fractional probabilities, so certain faults leave the seeded
    // sequence of everything else untouched.
    if (s.probability < 1.0 && !random.Chance(s.probability)) continue;
    FaultSpec fired = s;
    ++it->fired;
    if (s.count && it->fired >= *s.count) entries_.erase(it);
    return fired;
  }
  return std::nullopt;
}

json FaultSet::ToJson() const {
  json list = json::array();
  for (const Entry& e : entries_) {
    json j = FaultSpecToJson(e.spec);
    j["id"] = e.id;
    j["fired"] = e.fired;
    if (e.spec.count) j["remaining"] = *e.spec.count - e.fired;
    list.push_back(std::move(j));
  }
  return list;
}

}  // namespace ismscode::mock
