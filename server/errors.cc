#include "server/errors.h"

#include <array>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace ismscode::gateway {

namespace {

struct Row {
  Reason reason;
  std::string_view name;
  grpc::StatusCode code;
};

// DESIGN.md's error table. kUnauthorized's code depends on whose key it was (CodeFor).
constexpr std::array<Row, 17> kTable = {{
    {Reason::kInvalidArgument, "INVALID_ARGUMENT", grpc::StatusCode::INVALID_ARGUMENT},
    {Reason::kInvalidCountry, "INVALID_COUNTRY", grpc::StatusCode::INVALID_ARGUMENT},
    {Reason::kInvalidService, "INVALID_SERVICE", grpc::StatusCode::INVALID_ARGUMENT},
    {Reason::kUnauthorized, "UNAUTHORIZED", grpc::StatusCode::UNAUTHENTICATED},
    {Reason::kInsufficientBalance, "INSUFFICIENT_BALANCE", grpc::StatusCode::FAILED_PRECONDITION},
    {Reason::kNoNumbersAvailable, "NO_NUMBERS_AVAILABLE", grpc::StatusCode::RESOURCE_EXHAUSTED},
    {Reason::kRateLimitExceeded, "RATE_LIMIT_EXCEEDED", grpc::StatusCode::RESOURCE_EXHAUSTED},
    {Reason::kUpstreamUnavailable, "UPSTREAM_UNAVAILABLE", grpc::StatusCode::UNAVAILABLE},
    {Reason::kUpstreamTimeout, "UPSTREAM_TIMEOUT", grpc::StatusCode::DEADLINE_EXCEEDED},
    {Reason::kUpstreamBadResponse, "UPSTREAM_BAD_RESPONSE", grpc::StatusCode::INTERNAL},
    {Reason::kNumberNotFound, "NUMBER_NOT_FOUND", grpc::StatusCode::NOT_FOUND},
    {Reason::kCodeWaitTimeout, "CODE_WAIT_TIMEOUT", grpc::StatusCode::DEADLINE_EXCEEDED},
    {Reason::kNumberExpired, "NUMBER_EXPIRED", grpc::StatusCode::DEADLINE_EXCEEDED},
    {Reason::kShuttingDown, "SHUTTING_DOWN", grpc::StatusCode::UNAVAILABLE},
    {Reason::kUnauthenticated, "UNAUTHENTICATED", grpc::StatusCode::UNAUTHENTICATED},
    {Reason::kCallerKeyNotAllowed, "CALLER_KEY_NOT_ALLOWED", grpc::StatusCode::PERMISSION_DENIED},
    {Reason::kStateUnavailable, "STATE_UNAVAILABLE", grpc::StatusCode::UNAVAILABLE},
}};

const Row& RowFor(Reason reason) {
  for (const Row& r : kTable) {
    if (r.reason == reason) return r;
  }
  return kTable[0];  // unreachable: every Reason has a row (errors_test checks)
}

}  // namespace

GatewayError ShuttingDownError() {
  return GatewayError{.reason = Reason::kShuttingDown, .message = "the gateway is shutting down"};
}

GatewayError StateUnavailableError() {
  return GatewayError{.reason = Reason::kStateUnavailable,
                      .message = "the gateways' shared state store (--state) is unreachable",
                      .retry_after = std::chrono::milliseconds(1000)};
}

GatewayError BudgetSpentError(std::optional<std::chrono::milliseconds> retry_after) {
  return GatewayError{.reason = Reason::kRateLimitExceeded,
                      .message = "the upstream rate budget for this key is spent",
                      .retry_after = retry_after};
}

std::string Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  // Back up over continuation bytes (10xxxxxx) to the start of a character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end)) + "\u2026";
}

namespace {
// The status message and each metadata value travel in trailers, whose size is
// limited: long echoes of caller input must never turn an error into another one.
constexpr size_t kMaxMessageBytes = 512;
constexpr size_t kMaxMetadataBytes = 128;
}  // namespace

std::string_view ReasonName(Reason reason) { return RowFor(reason).name; }

std::optional<Reason> ReasonNamed(std::string_view name) {
  for (const Row& r : kTable) {
    if (r.name == name) return r.reason;
  }
  return std::nullopt;
}

grpc::StatusCode CodeFor(Reason reason, KeyOwner key_owner) {
  if (reason == Reason::kUnauthorized && key_owner == KeyOwner::kGateway) {
    return grpc::StatusCode::INTERNAL;
  }
  return RowFor(reason).code;
}

Reason ReasonForUpstream(int http_status, std::string_view error_code) {
  if (http_status >= 500) return Reason::kUpstreamUnavailable;
  switch (http_status) {
    case 400:
      if (error_code == "invalid_country") return Reason::kInvalidCountry;
      if (error_code == "invalid_service") return Reason::kInvalidService;
      break;
    case 401:
      return Reason::kUnauthorized;
    case 402:
      return Reason::kInsufficientBalance;
    case 404:
      if (error_code == "no_numbers_available") return Reason::kNoNumbersAvailable;
      if (error_code == "number_not_found") return Reason::kNumberNotFound;
      break;
    case 429:
      return Reason::kRateLimitExceeded;
    default:
      break;
  }
  // Anything else (400 invalid_json, 415, 404 not_found, ...) means we sent something
  // the upstream did not expect, or it answered outside its document.
  return Reason::kUpstreamBadResponse;
}

grpc::Status GatewayError::ToStatus() const {
  const grpc::StatusCode code = CodeFor(reason, key_owner);
  google::rpc::Status status;
  status.set_code(static_cast<int>(code));
  const std::string text = Utf8Prefix(message, kMaxMessageBytes);
  status.set_message(text);

  google::rpc::ErrorInfo info;
  info.set_reason(std::string(ReasonName(reason)));
  info.set_domain(std::string(kErrorDomain));
  for (const auto& [k, v] : metadata)
    (*info.mutable_metadata())[k] = Utf8Prefix(v, kMaxMetadataBytes);
  status.add_details()->PackFrom(info);

  if (retry_after) {
    google::rpc::RetryInfo retry;
    const auto ms = retry_after->count();
    retry.mutable_retry_delay()->set_seconds(ms / 1000);
    retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>((ms % 1000) * 1'000'000));
    status.add_details()->PackFrom(retry);
  }
  if (!field_violations.empty()) {
    google::rpc::BadRequest bad;
    for (const auto& [field, description] : field_violations) {
      auto* v = bad.add_field_violations();
      v->set_field(field);
      v->set_description(Utf8Prefix(description, kMaxMessageBytes));
    }
    status.add_details()->PackFrom(bad);
  }
  return grpc::Status(code, text, status.SerializeAsString());
}

}  // namespace ismscode::gateway
