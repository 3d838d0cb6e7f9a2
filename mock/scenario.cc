#include "mock/scenario.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "mock/json_fields.h"
#include "mock/random.h"

namespace ismscode::mock {

using json = nlohmann::ordered_json;

// Defined in the generated presets.cc (see mock/CMakeLists.txt).
struct PresetEntry {
  const char* name;
  const char* text;
};
extern const PresetEntry kPresets[];
extern const size_t kPresetCount;

namespace {

// Ranges reserved for fiction, used when a scenario names these countries without
// ranges of its own. NANP reserves 555-0100..0199 in every area code; Ofcom reserves
// 07700 900000..900999 for drama.
std::vector<NumberRange> FictionRanges(const std::string& country) {
  std::vector<NumberRange> out;
  auto nanp = [&](std::initializer_list<const char*> area_codes) {
    for (const char* npa : area_codes)
      out.push_back({std::string("+1") + npa + "555", 100, 199, 4});
  };
  if (country == "US") {
    nanp({"202", "212", "213", "305", "312", "415", "512", "617", "702", "718", "206", "303"});
  } else if (country == "CA") {
    nanp({"416", "514", "604", "613", "403", "780"});
  } else if (country == "GB") {
    out.push_back({"+447700900", 0, 999, 3});
  }
  return out;
}

bool ParseDelay(const json& j, const std::string& path, DelaySpec* d, std::string* error) {
  FieldReader r(j, path, error);
  r.RejectUnknown({"kind", "seconds", "min_seconds", "max_seconds", "median_seconds", "sigma"});
  std::string kind;
  r.String("kind", &kind, true);
  if (!r.ok()) return false;
  constexpr double kMax = 7 * 24 * 3600;
  if (kind == "fixed") {
    d->kind = DelaySpec::Kind::kFixed;
    r.Number("seconds", &d->seconds, 0, kMax, true);
  } else if (kind == "uniform") {
    d->kind = DelaySpec::Kind::kUniform;
    r.Number("min_seconds", &d->min_seconds, 0, kMax, true);
    r.Number("max_seconds", &d->max_seconds, 0, kMax, true);
    if (r.ok() && d->max_seconds < d->min_seconds) {
      r.Fail(r.PathOf("max_seconds"), "must not be less than min_seconds");
    }
  } else if (kind == "lognormal") {
    d->kind = DelaySpec::Kind::kLogNormal;
    d->max_seconds = 600;
    r.Number("median_seconds", &d->median_seconds, 0, kMax, true);
    r.Number("sigma", &d->sigma, 0, 5);
    r.Number("max_seconds", &d->max_seconds, 0, kMax);
  } else {
    r.Fail(r.PathOf("kind"), "expected one of fixed, uniform, lognormal");
  }
  return r.ok();
}

bool ParseSms(const json& j, const std::string& path, SmsSpec* s, std::string* error) {
  FieldReader r(j, path, error);
  r.RejectUnknown({"send", "delay", "loss_probability", "resends", "resend_interval_seconds",
                   "resend_same_code"});
  r.Bool("send", &s->send);
  if (r.Has("delay") && !ParseDelay(j["delay"], r.PathOf("delay"), &s->delay, error)) return false;
  r.Number("loss_probability", &s->loss_probability, 0, 1);
  r.Integer("resends", &s->resends, 0, 20);
  r.Number("resend_interval_seconds", &s->resend_interval_seconds, 0, 86400);
  r.Bool("resend_same_code", &s->resend_same_code);
  return r.ok();
}

json SmsToJson(const SmsSpec& s) {
  json delay;
  switch (s.delay.kind) {
    case DelaySpec::Kind::kFixed:
      delay = {{"kind", "fixed"}, {"seconds", s.delay.seconds}};
      break;
    case DelaySpec::Kind::kUniform:
      delay = {{"kind", "uniform"},
               {"min_seconds", s.delay.min_seconds},
               {"max_seconds", s.delay.max_seconds}};
      break;
    case DelaySpec::Kind::kLogNormal:
      delay = {{"kind", "lognormal"},
               {"median_seconds", s.delay.median_seconds},
               {"sigma", s.delay.sigma},
               {"max_seconds", s.delay.max_seconds}};
      break;
  }
  return {{"send", s.send},
          {"delay", delay},
          {"loss_probability", s.loss_probability},
          {"resends", s.resends},
          {"resend_interval_seconds", s.resend_interval_seconds},
          {"resend_same_code", s.resend_same_code}};
}

}  // namespace

bool ParseRateLimit(const json& j, const std::string& path, RateLimit* rl, std::string* error) {
  if (j.is_string() && j.get<std::string>() == "off") {
    rl->enabled = false;
    return true;
  }
  FieldReader r(j, path, error);
  r.RejectUnknown({"requests", "window_seconds"});
  rl->enabled = true;
  r.Integer("requests", &rl->requests, 1, 1'000'000'000, true);
  r.Number("window_seconds", &rl->window_seconds, 0.001, 86400);
  if (!r.ok() && error->find("expected an object") != std::string::npos) {
    *error = path + ": expected {\"requests\": N, \"window_seconds\": S} or \"off\"";
  }
  return r.ok();
}

json RateLimitToJson(const RateLimit& rl) {
  if (!rl.enabled) return "off";
  return {{"requests", rl.requests}, {"window_seconds", rl.window_seconds}};
}

bool ApplyOfferFields(const json& j, const std::string& path, Offer* offer, std::string* error) {
  FieldReader r(j, path, error);
  double price = MicrosToMoney(offer->price_micros);
  r.Number("price", &price, 0, 1e9);
  offer->price_micros = MoneyToMicros(price);
  r.Integer("stock", &offer->stock, 0, INT64_MAX / 2);
  if (r.ok() && r.Has("sms") && !ParseSms(j["sms"], r.PathOf("sms"), &offer->sms, error)) {
    return false;
  }
  if (r.ok() && r.Has("restock")) {
    FieldReader rr(j["restock"], r.PathOf("restock"), error);
    rr.RejectUnknown({"every_seconds", "amount", "max_stock"});
    rr.Number("every_seconds", &offer->restock.every_seconds, 0, 86400 * 365, true);
    rr.Integer("amount", &offer->restock.amount, 0, INT64_MAX / 4, true);
    rr.Integer("max_stock", &offer->restock.max_stock, 0, INT64_MAX / 2);
  }
  return r.ok();
}

double DelaySpec::Draw(Random& random) const {
  switch (kind) {
    case Kind::kFixed:
      return seconds;
    case Kind::kUniform:
      return random.Uniform(min_seconds, max_seconds);
    case Kind::kLogNormal:
      return std::min(random.LogNormal(median_seconds, sigma), max_seconds);
  }
  return seconds;
}

int64_t MoneyToMicros(double units) { return std::llround(units * 1e6); }
double MicrosToMoney(int64_t micros) { return static_cast<double>(micros) / 1e6; }

const Offer* Scenario::FindOffer(const std::string& country, const std::string& service) const {
  for (const Offer& o : offers) {
    if (o.country == country && o.service == service) return &o;
  }
  return nullptr;
}

namespace {
std::optional<Scenario> ScenarioFromJsonImpl(const json& j, std::string* error) {
  error->clear();
  Scenario s;
  FieldReader r(j, "scenario", error);
  r.RejectUnknown({"name", "description", "reservation_seconds", "rate_limit", "countries",
                   "services", "offer_defaults", "offers", "accounts", "faults"});
  r.String("name", &s.name);
  r.String("description", &s.description);
  r.Number("reservation_seconds", &s.reservation_seconds, 1, 86400 * 30);
  if (r.ok() && r.Has("rate_limit") &&
      !ParseRateLimit(j["rate_limit"], r.PathOf("rate_limit"), &s.rate_limit, error)) {
    return std::nullopt;
  }

  // Countries.
  if (r.ok() && (!r.Has("countries") || !j["countries"].is_array() || j["countries"].empty())) {
    r.Fail(r.PathOf("countries"), "expected a non-empty array");
  }
  std::set<std::string> seen;
  for (size_t i = 0; r.ok() && i < j["countries"].size(); ++i) {
    const std::string path = "scenario.countries[" + std::to_string(i) + "]";
    const json& cj = j["countries"][i];
    Country c;
    FieldReader cr(cj, path, error);
    cr.RejectUnknown({"code", "name", "prefix", "ranges"});
    cr.String("code", &c.code, true);
    cr.String("name", &c.name, true);
    cr.String("prefix", &c.prefix, true);
    if (!cr.ok()) return std::nullopt;
    if (c.code.size() != 2 || !std::isupper(static_cast<unsigned char>(c.code[0])) ||
        !std::isupper(static_cast<unsigned char>(c.code[1]))) {
      cr.Fail(cr.PathOf("code"), "expected a 2-letter upper-case ISO code, e.g. \"US\"");
      return std::nullopt;
    }
    if (!seen.insert(c.code).second) {
      cr.Fail(cr.PathOf("code"), "duplicate country " + c.code);
      return std::nullopt;
    }
    if (cr.Has("ranges")) {
      if (!cj["ranges"].is_array() || cj["ranges"].empty()) {
        cr.Fail(cr.PathOf("ranges"), "expected a non-empty array");
        return std::nullopt;
      }
      for (size_t k = 0; k < cj["ranges"].size(); ++k) {
        NumberRange nr;
        FieldReader rr(cj["ranges"][k], cr.PathOf("ranges") + "[" + std::to_string(k) + "]", error);
        rr.RejectUnknown({"prefix", "first", "last", "width"});
        rr.String("prefix", &nr.prefix, true);
        rr.Integer("first", &nr.first, 0, 999'999'999, true);
        rr.Integer("last", &nr.last, 0, 999'999'999, true);
        rr.Integer("width", &nr.width, 1, 9);
        if (rr.ok() && nr.last < nr.first)
          rr.Fail(rr.PathOf("last"), "must not be less than first");
        if (!rr.ok()) return std::nullopt;
        c.ranges.push_back(nr);
      }
    } else {
      c.ranges = FictionRanges(c.code);
      if (c.ranges.empty()) {
        cr.Fail(cr.PathOf("ranges"),
                "is required for " + c.code + " (built-in fictional ranges exist for US, CA, GB)");
        return std::nullopt;
      }
    }
    int64_t pool = 0;
    for (const NumberRange& nr : c.ranges) pool += nr.last - nr.first + 1;
    if (pool > kMaxNumbersPerCountry) {
      cr.Fail(cr.PathOf("ranges"),
              "at most " + std::to_string(kMaxNumbersPerCountry) + " numbers per country");
      return std::nullopt;
    }
    s.countries.push_back(std::move(c));
  }

  // Services.
  if (r.ok() && (!r.Has("services") || !j["services"].is_array() || j["services"].empty())) {
    r.Fail(r.PathOf("services"), "expected a non-empty array of service slugs");
  }
  seen.clear();
  for (size_t i = 0; r.ok() && i < j["services"].size(); ++i) {
    const json& sj = j["services"][i];
    const std::string path = "scenario.services[" + std::to_string(i) + "]";
    if (!sj.is_string() || sj.get<std::string>().empty()) {
      r.Fail(path, "expected a non-empty string");
      break;
    }
    const std::string slug = sj.get<std::string>();
    for (char ch : slug) {
      if (!std::islower(static_cast<unsigned char>(ch)) &&
          !std::isdigit(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') {
        r.Fail(path, "service slugs are lower-case letters, digits, '-' and '_'");
        break;
      }
    }
    if (r.ok() && !seen.insert(slug).second) r.Fail(path, "duplicate service " + slug);
    s.services.push_back(slug);
  }
  if (!r.ok()) return std::nullopt;

  // Offers: defaults for every pair, then explicit entries in order.
  Offer defaults;
  const bool have_defaults = r.Has("offer_defaults");
  if (have_defaults &&
      !ApplyOfferFields(j["offer_defaults"], "scenario.offer_defaults", &defaults, error)) {
    return std::nullopt;
  }
  if (have_defaults) {
    FieldReader dr(j["offer_defaults"], "scenario.offer_defaults", error);
    dr.RejectUnknown({"price", "stock", "sms", "restock"});
    if (!dr.ok()) return std::nullopt;
  } else {
    defaults.stock = 0;
  }
  for (const Country& c : s.countries) {
    for (const std::string& svc : s.services) {
      Offer o = defaults;
      o.country = c.code;
      o.service = svc;
      s.offers.push_back(std::move(o));
    }
  }
  if (r.Has("offers") && !j["offers"].is_array()) r.Fail(r.PathOf("offers"), "expected an array");
  for (size_t i = 0; r.ok() && r.Has("offers") && i < j["offers"].size(); ++i) {
    const std::string path = "scenario.offers[" + std::to_string(i) + "]";
    const json& oj = j["offers"][i];
    FieldReader orr(oj, path, error);
    orr.RejectUnknown({"country", "service", "price", "stock", "sms", "restock"});
    std::string country, service;
    orr.String("country", &country, true);
    orr.String("service", &service, true);
    if (!orr.ok()) return std::nullopt;
    if (country != "*" && !std::any_of(s.countries.begin(), s.countries.end(),
                                       [&](const Country& c) { return c.code == country; })) {
      orr.Fail(orr.PathOf("country"), "unknown country " + country + " (not in countries)");
      return std::nullopt;
    }
    if (service != "*" &&
        std::find(s.services.begin(), s.services.end(), service) == s.services.end()) {
      orr.Fail(orr.PathOf("service"), "unknown service " + service + " (not in services)");
      return std::nullopt;
    }
    for (Offer& o : s.offers) {
      if ((country == "*" || o.country == country) && (service == "*" || o.service == service)) {
        if (!ApplyOfferFields(oj, path, &o, error)) return std::nullopt;
      }
    }
  }

  // Accounts.
  if (r.ok() && r.Has("accounts") && !j["accounts"].is_array()) {
    r.Fail(r.PathOf("accounts"), "expected an array");
  }
  seen.clear();
  for (size_t i = 0; r.ok() && r.Has("accounts") && i < j["accounts"].size(); ++i) {
    const std::string path = "scenario.accounts[" + std::to_string(i) + "]";
    const json& aj = j["accounts"][i];
    Account a;
    FieldReader ar(aj, path, error);
    ar.RejectUnknown({"key", "balance", "rate_limit"});
    ar.String("key", &a.key, true);
    double balance = 0;
    ar.Number("balance", &balance, 0, 1e12);
    a.balance_micros = MoneyToMicros(balance);
    if (ar.ok() && a.key.empty()) ar.Fail(ar.PathOf("key"), "must not be empty");
    if (ar.ok() && !seen.insert(a.key).second) ar.Fail(ar.PathOf("key"), "duplicate key");
    if (ar.ok() && ar.Has("rate_limit")) {
      RateLimit rl;
      if (!ParseRateLimit(aj["rate_limit"], ar.PathOf("rate_limit"), &rl, error))
        return std::nullopt;
      a.rate_limit = rl;
    }
    if (!ar.ok()) return std::nullopt;
    s.accounts.push_back(std::move(a));
  }

  // Standing faults.
  if (r.ok() && r.Has("faults") && !j["faults"].is_array())
    r.Fail(r.PathOf("faults"), "expected an array");
  for (size_t i = 0; r.ok() && r.Has("faults") && i < j["faults"].size(); ++i) {
    auto f = ParseFaultSpec(j["faults"][i], "scenario.faults[" + std::to_string(i) + "]", error);
    if (!f) return std::nullopt;
    s.faults.push_back(std::move(*f));
  }
  if (!r.ok()) return std::nullopt;
  return s;
}
}  // namespace

absl::StatusOr<Scenario> ScenarioFromJson(const json& j) {
  std::string error;
  auto s = ScenarioFromJsonImpl(j, &error);
  if (!s) return absl::InvalidArgumentError(error);
  return *std::move(s);
}

absl::StatusOr<Scenario> ParseScenario(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return absl::InvalidArgumentError(DescribeParseError(text, e));
  } catch (const json::out_of_range&) {  // a number beyond a double: 1e999
    return absl::InvalidArgumentError("a number is out of range");
  }
  return ScenarioFromJson(j);
}

json ScenarioToJson(const Scenario& s) {
  json countries = json::array();
  for (const Country& c : s.countries) {
    json ranges = json::array();
    for (const NumberRange& nr : c.ranges) {
      ranges.push_back(
          {{"prefix", nr.prefix}, {"first", nr.first}, {"last", nr.last}, {"width", nr.width}});
    }
    countries.push_back(
        {{"code", c.code}, {"name", c.name}, {"prefix", c.prefix}, {"ranges", ranges}});
  }
  json offers = json::array();
  for (const Offer& o : s.offers) {
    json oj = {{"country", o.country},
               {"service", o.service},
               {"price", MicrosToMoney(o.price_micros)},
               {"stock", o.stock},
               {"sms", SmsToJson(o.sms)}};
    if (o.restock.every_seconds > 0) {
      oj["restock"] = {{"every_seconds", o.restock.every_seconds},
                       {"amount", o.restock.amount},
                       {"max_stock", o.restock.max_stock}};
    }
    offers.push_back(std::move(oj));
  }
  json accounts = json::array();
  for (const Account& a : s.accounts) {
    json aj = {{"key", a.key}, {"balance", MicrosToMoney(a.balance_micros)}};
    if (a.rate_limit) aj["rate_limit"] = RateLimitToJson(*a.rate_limit);
    accounts.push_back(std::move(aj));
  }
  json faults = json::array();
  for (const FaultSpec& f : s.faults) {
    json fj = FaultSpecToJson(f);
    if (fj["count"].is_null()) fj.erase("count");
    faults.push_back(std::move(fj));
  }
  return {{"name", s.name},
          {"description", s.description},
          {"reservation_seconds", s.reservation_seconds},
          {"rate_limit", RateLimitToJson(s.rate_limit)},
          {"countries", countries},
          {"services", s.services},
          {"offers", offers},
          {"accounts", accounts},
          {"faults", faults}};
}

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (size_t i = 0; i < kPresetCount; ++i) names.emplace_back(kPresets[i].name);
  return names;
}

std::optional<std::string> PresetText(const std::string& name) {
  for (size_t i = 0; i < kPresetCount; ++i) {
    if (name == kPresets[i].name) return std::string(kPresets[i].text);
  }
  return std::nullopt;
}

absl::StatusOr<Scenario> LoadScenario(const std::string& name_or_path) {
  std::string text;
  std::string origin;
  if (auto preset = PresetText(name_or_path)) {
    text = *preset;
    origin = "preset " + name_or_path;
  } else {
    std::ifstream in(name_or_path, std::ios::binary);
    if (!in) {
      std::string names;
      for (const auto& n : PresetNames()) names += (names.empty() ? "" : ", ") + n;
      return absl::InvalidArgumentError("scenario '" + name_or_path + "' is neither a preset (" +
                                        names + ") nor a readable file");
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    text = buf.str();
    origin = name_or_path;
  }
  auto scenario = ParseScenario(text);
  if (!scenario.ok()) {
    return absl::InvalidArgumentError(origin + ": " + std::string(scenario.status().message()));
  }
  return scenario;
}

}  // namespace ismscode::mock
