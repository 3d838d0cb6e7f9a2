#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ismscode::gateway {

// Every way a gateway call can fail, one per row of DESIGN.md's error table. The gRPC
// code, the ErrorInfo reason and the details for each live in errors.cc and nowhere else.
enum class Reason {
  kInvalidArgument,      // local validation; INVALID_ARGUMENT + BadRequest
  kInvalidCountry,       // upstream 400 invalid_country; INVALID_ARGUMENT + BadRequest
  kInvalidService,       // upstream 400 invalid_service; INVALID_ARGUMENT + BadRequest
  kUnauthorized,         // upstream 401; UNAUTHENTICATED (caller's key) or INTERNAL (ours)
  kInsufficientBalance,  // upstream 402; FAILED_PRECONDITION
  kNoNumbersAvailable,   // upstream 404 no_numbers_available; RESOURCE_EXHAUSTED
  kRateLimitExceeded,    // upstream 429; RESOURCE_EXHAUSTED + RetryInfo
  kUpstreamUnavailable,  // upstream 5xx or connect failure; UNAVAILABLE
  kUpstreamTimeout,      // read timeout after a purchase was sent; DEADLINE_EXCEEDED
  kUpstreamBadResponse,  // unparseable or unexpected upstream answer; INTERNAL
  kNumberNotFound,       // unknown number id; NOT_FOUND
  kCodeWaitTimeout,      // no code before the timeout; DEADLINE_EXCEEDED
  kNumberExpired,        // the reservation ended first; DEADLINE_EXCEEDED
  kShuttingDown,         // the gateway is draining; UNAVAILABLE
  kUnauthenticated,      // a caller token is required and was missing or wrong; UNAUTHENTICATED
  kCallerKeyNotAllowed,  // a per-call upstream key was sent but is not allowed; PERMISSION_DENIED
  kStateUnavailable,     // --state: the fleet's shared state (Redis) is unreachable; UNAVAILABLE
};

// Whose upstream key an error concerns: a 401 on the caller's own key is the caller's
// problem, on the gateway's configured key it is a misconfiguration.
enum class KeyOwner { kGateway, kCaller };

inline constexpr std::string_view kErrorDomain = "ismscode.harness";

struct GatewayError {
  Reason reason;
  std::string message;                          // for people; never a key or token
  std::map<std::string, std::string> metadata;  // ErrorInfo metadata (country, service, ...)
  std::optional<std::chrono::milliseconds> retry_after;               // RetryInfo
  std::vector<std::pair<std::string, std::string>> field_violations;  // BadRequest
  KeyOwner key_owner = KeyOwner::kGateway;

  // The status a client receives, with google.rpc.Status details in the trailer.
  grpc::Status ToStatus() const;
};

// The gateway is draining: UNAVAILABLE / SHUTTING_DOWN.
GatewayError ShuttingDownError();
// The fleet's shared state (--state) cannot be reached, so nothing that needs its
// guarantees (a purchase) may go: UNAVAILABLE / STATE_UNAVAILABLE.
GatewayError StateUnavailableError();
// No upstream request slot for the key before the caller gives up: RESOURCE_EXHAUSTED /
// RATE_LIMIT_EXCEEDED, with RetryInfo when `retry_after` is known.
GatewayError BudgetSpentError(std::optional<std::chrono::milliseconds> retry_after = std::nullopt);

// At most `max_bytes` of `text`, cut on a UTF-8 character boundary, with "…" when cut:
// for echoing caller or upstream input in messages and metadata.
std::string Utf8Prefix(std::string_view text, size_t max_bytes);

// "INVALID_COUNTRY", ...: the ErrorInfo reason.
std::string_view ReasonName(Reason reason);
// The reason named `name` (ReasonName's inverse), if any.
std::optional<Reason> ReasonNamed(std::string_view name);
grpc::StatusCode CodeFor(Reason reason, KeyOwner key_owner);

// Classifies an upstream HTTP answer that was not a success. `error_code` is the body's
// "code" field when the body parsed ("" otherwise).
Reason ReasonForUpstream(int http_status, std::string_view error_code);

}  // namespace ismscode::gateway
