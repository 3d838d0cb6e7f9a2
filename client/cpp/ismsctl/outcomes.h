#pragma once

// What ismsctl's exit code and one-line advice are for each way a command can end. The
// table lives in outcomes.cc and in the README ("ismsctl"), nowhere else.

#include <string>

#include "ismscode/harness/client.h"

namespace ismscode::ismsctl {

enum ExitCode {
  kOk = 0,              // done (a code received, a list printed, a number bought)
  kFailure = 1,         // anything not below (an upstream answer off its document, ...)
  kUsage = 2,           // bad command line or arguments (also INVALID_COUNTRY/SERVICE)
  kTimeout = 3,         // no code before the timeout
  kExpired = 4,         // the number's reservation ended first
  kNoNumbers = 5,       // out of stock
  kBalance = 6,         // the account's balance is too low
  kRateLimited = 7,     // the upstream key's rate limit
  kUnavailable = 8,     // gateway or upstream unreachable, or shutting down
  kOutcomeUnknown = 9,  // a purchase's answer was lost: retry with the same --request-id
  kNotFound = 10,       // no such number id (or another key's)
  kAuth = 11,           // token or key refused
  kCancelled = 130,     // interrupted (Ctrl-C)
};

ExitCode ExitCodeFor(harness::Reason reason);

// One line for people: what happened and what to do about it.
std::string Advice(const harness::Error& error);

}  // namespace ismscode::ismsctl
