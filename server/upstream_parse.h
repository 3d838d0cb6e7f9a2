#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/upstream_client.h"

namespace ismscode::gateway {

// Reading the upstream's answers (the API document's shapes), apart from the HTTP that
// carries them, so that they can be tested and fuzzed alone. Pure functions.

// 2xx bodies: {"status": "success", ...}. InvalidArgument saying what does not follow
// the document (never echoing the body: it may hold a key).
absl::StatusOr<std::vector<UpstreamCountry>> ParseCountries(std::string_view body);
absl::StatusOr<std::vector<std::string>> ParseServices(std::string_view body);
absl::StatusOr<UpstreamNumber> ParseNumber(std::string_view body);
absl::StatusOr<std::vector<UpstreamSms>> ParseSmsList(std::string_view body);

// An error body's "code" when it has the document's shape (a short snake_case word),
// else empty: the upstream's own words never reach a caller.
std::string ParseErrorCode(std::string_view body);

// Retry-After as delay-seconds or as an HTTP-date (RFC 9110 10.2.3), judged against the
// answer's own Date (its clock) when it sent one; clamped to [0, 24 h]. nullopt when
// absent or unreadable.
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& header,
                                                         std::optional<SystemTime> date);

}  // namespace ismscode::gateway
