#include "server/upstream_parse.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/time_format.h"

namespace ismscode::gateway {

using json = nlohmann::json;

namespace {

// The helpers throw std::runtime_error with what is wrong; Decode turns that (and any
// nlohmann error) into the returned status.
std::string Text(const json& j, const char* field) {
  if (!j.contains(field) || !j[field].is_string()) {
    throw std::runtime_error(std::string("missing string field '") + field + "'");
  }
  return j[field];
}

SystemTime Time(const json& j, const char* field) {
  // Times as the API writes them: 2026-03-21T20:15:00Z.
  auto t = ParseRfc3339(Text(j, field));
  if (!t) throw std::runtime_error(std::string("field '") + field + "' is not an RFC 3339 time");
  return *t;
}

const json& Array(const json& j, const char* field) {
  if (!j.contains(field) || !j[field].is_array()) {
    throw std::runtime_error(std::string("missing array '") + field + "'");
  }
  return j[field];
}

template <class Parse>
auto Decode(std::string_view text, Parse parse) -> absl::StatusOr<decltype(parse(json()))> {
  try {
    const json body = json::parse(text);
    if (!body.is_object() || body.value("status", "") != "success") {
      throw std::runtime_error("status is not \"success\"");
    }
    return parse(body);
  } catch (const json::exception&) {
    // nlohmann's message quotes the offending bytes: say only that it is not JSON.
    return absl::InvalidArgumentError("the body is not the JSON the document describes");
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
}

}  // namespace

absl::StatusOr<std::vector<UpstreamCountry>> ParseCountries(std::string_view body) {
  return Decode(body, [](const json& body) {
    std::vector<UpstreamCountry> out;
    for (const json& c : Array(body, "countries")) {
      out.push_back({Text(c, "code"), Text(c, "name"), Text(c, "prefix")});
    }
    return out;
  });
}

absl::StatusOr<std::vector<std::string>> ParseServices(std::string_view body) {
  return Decode(body, [](const json& body) {
    std::vector<std::string> out;
    for (const json& s : Array(body, "services")) {
      if (!s.is_string()) throw std::runtime_error("a service is not a string");
      out.push_back(s);
    }
    return out;
  });
}

absl::StatusOr<UpstreamNumber> ParseNumber(std::string_view body) {
  return Decode(body, [](const json& body) {
    if (!body.contains("number") || !body["number"].is_object()) {
      throw std::runtime_error("missing object 'number'");
    }
    const json& n = body["number"];
    return UpstreamNumber{Text(n, "id"), Text(n, "phone"), Text(n, "country"), Text(n, "service"),
                          Time(n, "expires_at")};
  });
}

absl::StatusOr<std::vector<UpstreamSms>> ParseSmsList(std::string_view body) {
  return Decode(body, [](const json& body) {
    std::vector<UpstreamSms> out;
    for (const json& s : Array(body, "sms")) {
      out.push_back({Text(s, "from"), Text(s, "text"), Time(s, "received_at")});
    }
    return out;
  });
}

std::string ParseErrorCode(std::string_view text) {
  const json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::string code;
  if (body.is_object() && body.contains("code") && body["code"].is_string()) code = body["code"];
  const bool documented_shape =
      !code.empty() && code.size() <= 40 && std::all_of(code.begin(), code.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || c == '_';
      });
  return documented_shape ? code : "";
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& header,
                                                         std::optional<SystemTime> date) {
  if (header.empty()) return std::nullopt;
  if (std::all_of(header.begin(), header.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // Absurd values (a misconfigured upstream) would pause the key for years: a day at
    // most. (Found by upstream_response_fuzzer: "88884" was not clamped.)
    if (header.size() > 9) return std::chrono::hours(24);
    return std::min<std::chrono::milliseconds>(std::chrono::seconds(std::stol(header)),
                                               std::chrono::hours(24));
  }
  const auto when = ParseHttpDate(header);
  if (!when) return std::nullopt;
  const SystemTime now = date.value_or(std::chrono::system_clock::now());
  const auto delay = std::chrono::ceil<std::chrono::milliseconds>(*when - now);
  return std::clamp<std::chrono::milliseconds>(delay, std::chrono::milliseconds(0),
                                               std::chrono::hours(24));
}

}  // namespace ismscode::gateway
