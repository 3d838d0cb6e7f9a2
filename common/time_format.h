#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace ismscode {

// The project's one set of time formats, shared by the mock (which writes them) and the
// gateway (which reads the upstream's). Pure functions, thread-safe.

// RFC 3339 UTC with whole seconds, as the API document writes times: 2026-03-21T20:15:00Z
std::string FormatRfc3339(std::chrono::system_clock::time_point t);
// The same with milliseconds when the time has any (2026-03-21T20:15:00.250Z), for the
// mock's control API, whose times are exact; the provider's API has whole seconds.
std::string FormatRfc3339Millis(std::chrono::system_clock::time_point t);
// Parses the form above (a fractional part and a 'Z' or '+00:00' suffix are accepted);
// nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text);
// IMF-fixdate for the HTTP Date header: Sun, 06 Nov 1994 08:49:37 GMT
std::string FormatHttpDate(std::chrono::system_clock::time_point t);
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(const std::string& text);

}  // namespace ismscode
