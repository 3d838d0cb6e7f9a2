#pragma once

// What several benchmark programs share: the mock they run against and how they read
// the metrics they report.
#include <cstdlib>
#include <string>

namespace ismscode::bench {

// The key of kUnlimitedScenario's one account.
inline constexpr const char* kBenchKey = "bench-key-000000";

// A mock that never runs out, never limits and charges nothing; SMS only when injected
// (the offers' own come after a day).
inline constexpr const char* kUnlimitedScenario = R"({
  "name": "bench",
  "rate_limit": "off",
  "countries": [{"code": "US", "name": "United States", "prefix": "+1"}],
  "services": ["whatsapp"],
  "offer_defaults": {"price": 0, "stock": 1000000000,
                     "sms": {"delay": {"kind": "fixed", "seconds": 86000}}},
  "accounts": [{"key": "bench-key-000000", "balance": 0}]
})";

// The sum of the samples on every line of Prometheus text that starts with `prefix` (a
// name, or a name and the start of its labels).
inline double Sum(const std::string& exposition, const std::string& prefix) {
  double total = 0;
  size_t pos = 0;
  while ((pos = exposition.find("\n" + prefix, pos)) != std::string::npos) {
    const size_t line_end = exposition.find('\n', pos + 1);
    const std::string line = exposition.substr(pos + 1, line_end - pos - 1);
    total += std::atof(line.c_str() + line.rfind(' ') + 1);
    pos = line_end;
  }
  return total;
}

}  // namespace ismscode::bench
