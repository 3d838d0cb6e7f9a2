#include "server/state_url.h"

#include <cctype>
#include <charconv>
#include <string>

namespace ismscode::gateway {
namespace {

constexpr std::string_view kForms =
    "expected redis://HOST[:PORT][/DB] or unix:///PATH[?db=N] (the password goes in "
    "--state-password-file or ISMSCODE_STATE_PASSWORD, never in the URL)";

absl::Status Invalid(std::string_view what) {
  return absl::InvalidArgumentError("--state: " + std::string(what) + "; " + std::string(kForms));
}

// A database number: 0..15 is Redis's default range; more is allowed by its config, so
// anything up to 1000 is accepted and Redis itself says if it has no such database.
bool ParseInt(std::string_view text, int* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

bool ParseDb(std::string_view text, int* db) {
  return ParseInt(text, db) && *db >= 0 && *db <= 1000;
}

}  // namespace

absl::StatusOr<StateUrl> ParseStateUrl(std::string_view url) {
  StateUrl out;
  if (url.starts_with("unix://")) {
    std::string_view rest = url.substr(7);
    if (const size_t q = rest.find('?'); q != std::string_view::npos) {
      std::string_view query = rest.substr(q + 1);
      rest = rest.substr(0, q);
      if (!query.starts_with("db=") || !ParseDb(query.substr(3), &out.db)) {
        return Invalid("the only query is ?db=N, a database number");
      }
    }
    if (!rest.starts_with("/")) return Invalid("a unix socket needs an absolute path");
    out.unix_path = std::string(rest);
    return out;
  }
  if (!url.starts_with("redis://")) return Invalid("unknown scheme");
  std::string_view rest = url.substr(8);
  if (rest.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        "--state: the URL holds a user or password (not repeated here); " + std::string(kForms));
  }
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    if (!ParseDb(rest.substr(slash + 1), &out.db)) {
      return Invalid("after the host, /DB is a database number");
    }
    rest = rest.substr(0, slash);
  }
  if (rest.starts_with("[")) {  // [::1]:6379
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return Invalid("an IPv6 host needs its closing ]");
    out.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
  } else {
    const size_t colon = rest.find(':');
    out.host = std::string(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon);
  }
  if (out.host.empty()) return Invalid("no host");
  // A host name, an IPv4 or (in brackets) an IPv6 address: nothing that could carry
  // something else (a query, a password) into the messages that name the server.
  for (char c : out.host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' &&
        c != ':') {
      return Invalid(
          "the host may hold only letters, digits, '.', '-' and '_' (or an IPv6 "
          "address in brackets)");
    }
  }
  if (!rest.empty()) {
    if (!rest.starts_with(":") || !ParseInt(rest.substr(1), &out.port) || out.port < 1 ||
        out.port > 65535) {
      return Invalid("the port is a number from 1 to 65535");
    }
  }
  return out;
}

std::string Describe(const StateUrl& url) {
  const std::string db = " db " + std::to_string(url.db);
  if (!url.unix_path.empty()) return "redis unix:" + url.unix_path + db;
  const bool v6 = url.host.find(':') != std::string::npos;
  const std::string host = v6 ? "[" + url.host + "]" : url.host;
  return "redis " + host + ":" + std::to_string(url.port) + db;
}

}  // namespace ismscode::gateway
