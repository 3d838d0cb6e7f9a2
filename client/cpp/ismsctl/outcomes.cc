#include "outcomes.h"

namespace ismscode::ismsctl {

using harness::Reason;

ExitCode ExitCodeFor(Reason reason) {
  switch (reason) {
    case Reason::kInvalidArgument:
    case Reason::kInvalidCountry:
    case Reason::kInvalidService:
      return kUsage;
    case Reason::kCodeWaitTimeout:
    case Reason::kDeadlineExceeded:
      return kTimeout;
    case Reason::kNumberExpired:
      return kExpired;
    case Reason::kNoNumbersAvailable:
      return kNoNumbers;
    case Reason::kInsufficientBalance:
      return kBalance;
    case Reason::kRateLimitExceeded:
      return kRateLimited;
    case Reason::kUpstreamUnavailable:
    case Reason::kGatewayUnavailable:
    case Reason::kShuttingDown:
    case Reason::kStateUnavailable:
      return kUnavailable;
    case Reason::kUpstreamTimeout:
      return kOutcomeUnknown;
    case Reason::kNumberNotFound:
      return kNotFound;
    case Reason::kUnauthorized:
    case Reason::kUnauthenticated:
    case Reason::kCallerKeyNotAllowed:
      return kAuth;
    case Reason::kCancelled:
      return kCancelled;
    case Reason::kUnknown:
    case Reason::kUpstreamBadResponse:
      return kFailure;
  }
  return kFailure;
}

namespace {

const char* Hint(Reason reason) {
  switch (reason) {
    case Reason::kInvalidArgument:
      return "fix the argument named above (see --help)";
    case Reason::kInvalidCountry:
      return "see `ismsctl countries` for the codes";
    case Reason::kInvalidService:
      return "see `ismsctl services` for the slugs";
    case Reason::kCodeWaitTimeout:
    case Reason::kDeadlineExceeded:
      return "did the app send the SMS? wait longer with --timeout, or check --pattern";
    case Reason::kNumberExpired:
      return "the reservation ended; acquire a new number";
    case Reason::kNoNumbersAvailable:
      return "try other countries with --fallback, or keep trying with --max-wait 60s";
    case Reason::kInsufficientBalance:
      return "top up the upstream account (against the mock: ismsctl mock balance KEY AMOUNT)";
    case Reason::kRateLimitExceeded:
      return "the key's rate budget is spent; retry after the delay shown";
    case Reason::kUpstreamUnavailable:
      return "the SMS provider is failing; retry later or with --max-wait";
    case Reason::kGatewayUnavailable:
      return "start the gateway (scripts/run) or point --addr / ISMSCODE_HARNESS_ADDR at it";
    case Reason::kShuttingDown:
      return "the gateway is stopping; retry against a running one";
    case Reason::kStateUnavailable:
      return "the gateway fleet's Redis (--state) is unreachable; nothing was bought, retry "
             "once it is back";
    case Reason::kUpstreamTimeout:
      return "the purchase may have gone through: repeat with the same --request-id, never "
             "without";
    case Reason::kNumberNotFound:
      return "use an id from `ismsctl acquire` on this gateway, with the same caller key";
    case Reason::kUnauthorized:
      return "the upstream refused the key; check the gateway's key or --caller-key-file";
    case Reason::kUnauthenticated:
      return "pass the gateway's token with --token-file or ISMSCODE_HARNESS_TOKEN";
    case Reason::kCallerKeyNotAllowed:
      return "this gateway takes no caller keys (--allow-caller-keys); drop --caller-key-file";
    case Reason::kCancelled:
      return "interrupted";
    case Reason::kUnknown:
    case Reason::kUpstreamBadResponse:
      return "see the gateway's log";
  }
  return "";
}

}  // namespace

std::string Advice(const harness::Error& error) {
  std::string line = error.reason_name + ": " + error.message;
  for (const auto& [k, v] : error.metadata) line += " [" + k + "=" + v + "]";
  for (const auto& f : error.bad_fields) line += " [" + f.field + ": " + f.description + "]";
  if (error.retry_delay) {
    line += " [retry after " + std::to_string((error.retry_delay->count() + 999) / 1000) + " s]";
  }
  const char* hint = Hint(error.reason);
  if (*hint) line += std::string(" — ") + hint;
  return line;
}

}  // namespace ismscode::ismsctl
