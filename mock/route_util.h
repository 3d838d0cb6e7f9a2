#pragma once

// Small text helpers for the mock's routes (service.cc, rest_routes.cc,
// control_routes.cc) and its request framing. Internal to mock/, not part of the
// library's interface.

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mock/faults.h"  // the endpoint names

namespace ismscode::mock::route {

inline constexpr std::string_view kRestPrefix = "/api/v3/";
inline constexpr std::string_view kControlPrefix = "/_mock/v1/";
// The carrier endpoint (POST /_mock/v1/sms) as the journal and the metrics name it.
// Not a REST endpoint: faults never match it.
inline constexpr std::string_view kEndpointCarrierSms = "carrier.sms";

inline bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

inline std::vector<std::string_view> SplitPath(std::string_view route) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= route.size()) {
    size_t slash = route.find('/', start);
    if (slash == std::string_view::npos) slash = route.size();
    parts.push_back(route.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "Bearer <token>" -> token; anything else -> empty.
inline std::string_view BearerToken(std::string_view authorization) {
  authorization = Trim(authorization);
  if (authorization.size() < 7 || !EqualsIgnoreCase(authorization.substr(0, 7), "bearer ")) {
    return {};
  }
  return Trim(authorization.substr(7));
}

inline bool IsJsonContentType(std::string_view content_type) {
  content_type = Trim(content_type.substr(0, content_type.find(';')));
  return content_type.empty() || EqualsIgnoreCase(content_type, "application/json");
}

inline bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

inline int64_t ToInt(std::string_view s, int64_t fallback) {
  int64_t v = fallback;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size() ? v : fallback;
}

// The metric label for an endpoint name: a static string, as labels outlive requests.
inline std::string_view EndpointLabel(std::string_view endpoint) {
  for (std::string_view known :
       {kEndpointCountries, kEndpointServices, kEndpointRequestNumber, kEndpointListSms}) {
    if (endpoint == known) return known;
  }
  return "unknown";
}

}  // namespace ismscode::mock::route
