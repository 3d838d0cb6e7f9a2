#include "mock/flags.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "mock/scenario.h"

namespace ismscode::mock {

namespace {

template <class T>
bool ParseNumber(const std::string& text, T* out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::optional<std::string> ReadSecretFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "--admin-token-file: cannot read " + path;
    return std::nullopt;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string token = buf.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (token.empty()) {
    *error = "--admin-token-file: " + path + " is empty";
    return std::nullopt;
  }
  return token;
}

}  // namespace

std::string MockUsage() {
  std::string presets;
  for (const auto& n : PresetNames()) presets += (presets.empty() ? "" : ", ") + n;
  return "Usage: ismscode-mock [flags]\n"
         "A faithful, deterministic mock of the iSMScode REST API (/api/v3) with a control\n"
         "API under /_mock/v1, /healthz and /metrics.\n\n"
         "  --host HOST            address to listen on (default 127.0.0.1)\n"
         "  --port N               port, 0 for any free one (default 7700)\n"
         "  --port-file FILE       write the bound port to FILE once listening\n"
         "  --scenario NAME|FILE   a preset (" +
         presets +
         ")\n"
         "                         or a scenario JSON file (default: default)\n"
         "  --seed N               seed of the one random generator (default 1)\n"
         "  --time-scale X         multiply every simulated duration by X (default 1;\n"
         "                         0.01 makes a 20-minute reservation last 12 s)\n"
         "  --start-time T         mock time at start, RFC 3339 (default: now)\n"
         "  --frozen-clock         mock time moves only through POST /_mock/v1/clock/advance\n"
         "  --tls-cert FILE        serve HTTPS with this PEM certificate ...\n"
         "  --tls-key FILE         ... and this PEM private key\n"
         "  --admin-token-file F   require 'Authorization: Bearer <token>' on /_mock/v1\n"
         "                         (or set ISMSCODE_MOCK_ADMIN_TOKEN; --admin-token T works\n"
         "                         too but shows the token to anyone running ps)\n"
         "  --journal-size N       REST requests kept in the journal (default 1000)\n"
         "  --max-body-bytes N     larger request bodies get 413 (default 1048576)\n"
         "  --max-numbers N        numbers kept; past it the oldest are forgotten\n"
         "                         (default 200000)\n"
         "  --max-threads N        requests answered at once, a worker each (default 1024)\n"
         "  --max-connections N    connections open at once; past it the one waiting\n"
         "                         longest is dropped, strangers (no request completed)\n"
         "                         first (default 4096)\n"
         "  --request-timeout S    seconds from a request's first byte to its last; slower\n"
         "                         clients get 408 (default 10)\n"
         "  --list-scenarios       print the preset names and exit\n"
         "  --print-scenario NAME  print a preset (materialised) as JSON and exit\n"
         "  --help                 this text\n";
}

std::optional<MockConfig> ParseMockFlags(int argc, const char* const* argv, const EnvLookup& env,
                                         std::string* error) {
  MockConfig c;
  c.server.port = kDefaultPort;
  if (auto token = env("ISMSCODE_MOCK_ADMIN_TOKEN")) c.service.admin_token = *token;

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto take = [&]() -> bool {
      if (has_value) return true;
      if (i + 1 >= argc) {
        *error = arg + " needs a value";
        return false;
      }
      value = argv[++i];
      return true;
    };
    auto bad = [&](const std::string& what) {
      *error = arg + ": " + what + " (got '" + value + "')";
      return std::nullopt;
    };

    if (arg == "--help" || arg == "-h") {
      c.action = MockConfig::Action::kHelp;
    } else if (arg == "--list-scenarios") {
      c.action = MockConfig::Action::kListScenarios;
    } else if (arg == "--print-scenario") {
      if (!take()) return std::nullopt;
      c.action = MockConfig::Action::kPrintScenario;
      c.scenario = value;
    } else if (arg == "--frozen-clock") {
      c.service.clock.frozen = true;
    } else if (arg == "--host") {
      if (!take()) return std::nullopt;
      if (value.empty()) return bad("expected an address");
      c.server.host = value;
    } else if (arg == "--port") {
      if (!take()) return std::nullopt;
      if (!ParseNumber(value, &c.server.port) || c.server.port < 0 || c.server.port > 65535) {
        return bad("expected a port number 0-65535");
      }
    } else if (arg == "--port-file") {
      if (!take()) return std::nullopt;
      c.port_file = value;
    } else if (arg == "--scenario") {
      if (!take()) return std::nullopt;
      c.scenario = value;
    } else if (arg == "--seed") {
      if (!take()) return std::nullopt;
      if (!ParseNumber(value, &c.service.seed)) return bad("expected a non-negative integer");
    } else if (arg == "--time-scale") {
      if (!take()) return std::nullopt;
      double scale = 0;
      if (!ParseNumber(value, &scale) || !std::isfinite(scale) || scale <= 0 || scale > 1000) {
        return bad("expected a number > 0 and <= 1000");
      }
      c.service.clock.time_scale = scale;
    } else if (arg == "--start-time") {
      if (!take()) return std::nullopt;
      auto t = ParseRfc3339(value);
      if (!t) return bad("expected an RFC 3339 UTC time such as 2026-01-01T00:00:00Z");
      c.service.clock.start_time = *t;
    } else if (arg == "--tls-cert") {
      if (!take()) return std::nullopt;
      c.server.tls_cert_file = value;
    } else if (arg == "--tls-key") {
      if (!take()) return std::nullopt;
      c.server.tls_key_file = value;
    } else if (arg == "--admin-token-file") {
      if (!take()) return std::nullopt;
      auto token = ReadSecretFile(value, error);
      if (!token) return std::nullopt;
      c.service.admin_token = *token;
    } else if (arg == "--admin-token") {
      if (!take()) return std::nullopt;
      if (value.empty()) {
        *error = "--admin-token needs a non-empty value";
        return std::nullopt;
      }
      c.service.admin_token = value;
      c.admin_token_on_argv = true;
    } else if (arg == "--journal-size") {
      if (!take()) return std::nullopt;
      if (!ParseNumber(value, &c.service.journal_capacity) ||
          c.service.journal_capacity > 1'000'000) {
        return bad("expected an integer 0-1000000");
      }
    } else if (arg == "--max-numbers") {
      if (!take()) return std::nullopt;
      if (!ParseNumber(value, &c.service.max_numbers) || c.service.max_numbers < 1 ||
          c.service.max_numbers > 100'000'000) {
        return bad("expected an integer 1-100000000");
      }
    } else if (arg == "--max-body-bytes") {
      if (!take()) return std::nullopt;
      if (!ParseNumber(value, &c.server.max_body_bytes) || c.server.max_body_bytes < 1024) {
        return bad("expected an integer >= 1024");
      }
    } else if (arg == "--max-threads") {
      if (!take()) return std::nullopt;
      if (!ParseNumber(value, &c.server.max_threads) || c.server.max_threads < 1 ||
          c.server.max_threads > 65536) {
        return bad("expected an integer 1-65536");
      }
    } else if (arg == "--max-connections") {
      if (!take()) return std::nullopt;
      if (!ParseNumber(value, &c.server.max_connections) || c.server.max_connections < 1 ||
          c.server.max_connections > 1'000'000) {
        return bad("expected an integer 1-1000000");
      }
    } else if (arg == "--request-timeout") {
      if (!take()) return std::nullopt;
      if (!ParseNumber(value, &c.server.request_timeout_seconds) ||
          !(c.server.request_timeout_seconds >= 0.1 && c.server.request_timeout_seconds <= 3600)) {
        return bad("expected seconds, 0.1-3600");
      }
    } else {
      *error = "unknown flag '" + arg + "' (see --help)";
      return std::nullopt;
    }
  }
  if (c.server.tls_cert_file.empty() != c.server.tls_key_file.empty()) {
    *error = "--tls-cert and --tls-key go together";
    return std::nullopt;
  }
  return c;
}

}  // namespace ismscode::mock
