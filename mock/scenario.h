#pragma once

#include <absl/status/statusor.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mock/faults.h"

namespace ismscode::mock {

class Random;

// How long after a purchase an SMS becomes visible, in simulated seconds.
struct DelaySpec {
  enum class Kind { kFixed, kUniform, kLogNormal };
  Kind kind = Kind::kFixed;
  double seconds = 5;                        // kFixed
  double min_seconds = 0, max_seconds = 30;  // kUniform; max_seconds also caps kLogNormal
  double median_seconds = 8, sigma = 0.5;    // kLogNormal

  double Draw(Random& random) const;
};

struct SmsSpec {
  // false: numbers get no SMS of their own, only what the control API injects or an app
  // sends through the carrier endpoint (POST /_mock/v1/sms).
  bool send = true;
  DelaySpec delay;
  double loss_probability = 0;  // chance that the first SMS never arrives
  int resends = 0;              // further SMS after the first (each with a new code)
  double resend_interval_seconds = 30;
  bool resend_same_code = false;
};

// Requests allowed per key in each fixed window of mock time; disabled means no limit.
struct RateLimit {
  bool enabled = true;
  int64_t requests = 60;
  double window_seconds = 60;
};

// A block of fictional numbers: prefix + a zero-padded suffix in [first, last].
// "+1202555" with 100..199 and width 4 gives +12025550100 ... +12025550199.
struct NumberRange {
  std::string prefix;
  int64_t first = 0, last = 0;
  int width = 4;
};

// The mock keeps a free list per country; fictional ranges are far smaller anyway.
inline constexpr int64_t kMaxNumbersPerCountry = 1'000'000;

struct Country {
  std::string code, name, prefix;
  std::vector<NumberRange> ranges;
};

struct Restock {
  double every_seconds = 0;  // 0: never
  int64_t amount = 0;
  int64_t max_stock = INT64_MAX;
};

struct Offer {
  std::string country, service;
  int64_t price_micros = 0;  // money is kept in millionths to stay exact
  int64_t stock = 0;
  SmsSpec sms;
  Restock restock;
};

struct Account {
  std::string key;
  int64_t balance_micros = 0;
  std::optional<RateLimit> rate_limit;  // none: the scenario's
};

// Everything the mock serves, as loaded from a scenario file or a preset. Offers are
// materialised for every country x service pair: explicit entries override
// `offer_defaults`; without defaults a missing pair has no stock.
struct Scenario {
  std::string name = "custom";
  std::string description;
  double reservation_seconds = 1200;
  RateLimit rate_limit;
  std::vector<Country> countries;
  std::vector<std::string> services;
  std::vector<Offer> offers;
  std::vector<Account> accounts;
  std::vector<FaultSpec> faults;  // standing faults, active from the start

  const Offer* FindOffer(const std::string& country, const std::string& service) const;
};

// Parses a scenario document. InvalidArgument naming the line and column (bad JSON) or
// the field path (bad value) at fault.
absl::StatusOr<Scenario> ParseScenario(const std::string& text);
absl::StatusOr<Scenario> ScenarioFromJson(const nlohmann::ordered_json& j);
nlohmann::ordered_json ScenarioToJson(const Scenario& scenario);

// Shipped presets, compiled into the binary from mock/scenarios/*.json.
std::vector<std::string> PresetNames();
std::optional<std::string> PresetText(const std::string& name);
// A preset name or a file path. InvalidArgument saying which was tried and why it
// failed.
absl::StatusOr<Scenario> LoadScenario(const std::string& name_or_path);

// Applies the fields present in `j` (price, stock, sms, restock) on top of `offer`; the
// rules and messages are the scenario file's, with `path` naming the object.
bool ApplyOfferFields(const nlohmann::ordered_json& j, const std::string& path, Offer* offer,
                      std::string* error);
// {"requests": N, "window_seconds": S} or "off".
bool ParseRateLimit(const nlohmann::ordered_json& j, const std::string& path, RateLimit* out,
                    std::string* error);
nlohmann::ordered_json RateLimitToJson(const RateLimit& rate_limit);

// Money in the JSON documents is a decimal number of currency units.
int64_t MoneyToMicros(double units);
double MicrosToMoney(int64_t micros);

}  // namespace ismscode::mock
