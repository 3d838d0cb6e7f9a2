#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ismscode::mock {

class Random;

// What an injected fault does to a request. The documented errors answer exactly as the
// real API would; the rest model a misbehaving upstream.
enum class FaultKind {
  kInvalidCountry,       // 400 invalid_country
  kInvalidService,       // 400 invalid_service
  kUnauthorized,         // 401 unauthorized
  kInsufficientBalance,  // 402 insufficient_balance
  kNoNumbersAvailable,   // 404 no_numbers_available
  kNumberNotFound,       // 404 number_not_found
  kRateLimitExceeded,    // 429 rate_limit_exceeded + Retry-After
  kHttp500,              // 500 internal_error
  kHttp503,              // 503 service_unavailable
  kHang,                 // no response at all until the client gives up (or hang_seconds)
  kReset,                // TCP reset before any byte of the response
  kMalformedJson,        // 200 with a truncated JSON body
  kSlow,                 // the normal response, after delay_seconds
};

std::string_view FaultKindName(FaultKind kind);
std::optional<FaultKind> ParseFaultKind(std::string_view name);
// Every kind name, for error messages and docs.
std::string FaultKindNames();

// The REST endpoints a fault (or a journal entry, or a metric) names.
inline constexpr std::string_view kEndpointCountries = "countries";
inline constexpr std::string_view kEndpointServices = "services";
inline constexpr std::string_view kEndpointRequestNumber = "numbers.request";
inline constexpr std::string_view kEndpointListSms = "numbers.sms";

struct FaultSpec {
  FaultKind kind = FaultKind::kHttp503;
  // Match: empty means any. endpoint is one of the names above.
  std::string endpoint, key, country, service;
  std::optional<int64_t> count;  // fire this many times, then retire; none: standing
  double probability = 1.0;      // chance of firing on each matching request
  double delay_seconds = 2.0;    // kSlow: real seconds before the answer
  double hang_seconds = 300.0;   // kHang: real seconds before the connection is dropped
  int retry_after_seconds = 1;   // kRateLimitExceeded: the Retry-After header
  // "before": the request never reaches the model (nothing is bought);
  // "after": the model acts (a number is bought) but the answer is lost or mangled.
  bool after = false;
};

// Parses one fault object; on failure returns nullopt and sets `error` to
// "<path>.<field>: <what is wrong>".
std::optional<FaultSpec> ParseFaultSpec(const nlohmann::ordered_json& j, const std::string& path,
                                        std::string* error);
nlohmann::ordered_json FaultSpecToJson(const FaultSpec& spec);

// What a request looks like to fault matching.
struct FaultTarget {
  std::string_view endpoint, key, country, service;
};

// The live set of faults: scheduled through the control API or standing in a scenario.
// Not thread-safe: the owner serialises access.
class FaultSet {
 public:
  int64_t Add(FaultSpec spec);
  bool Remove(int64_t id);
  void Clear();
  // The first fault that matches and wins its probability draw; its count is consumed.
  std::optional<FaultSpec> Take(const FaultTarget& target, Random& random);
  nlohmann::ordered_json ToJson() const;

 private:
  struct Entry {
    int64_t id;
    FaultSpec spec;
    int64_t fired = 0;
  };
  std::vector<Entry> entries_;
  int64_t next_id_ = 1;
};

}  // namespace ismscode::mock
