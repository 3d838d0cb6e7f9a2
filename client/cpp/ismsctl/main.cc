// ismsctl: the gateway from a terminal (countries, services, acquire, await, verify) and
// the mock's control API for manual QA (ismsctl mock ...). Exit codes: outcomes.h.
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/percent_encode.h"
#include "common/time_format.h"
#include "ismscode/harness/client.h"
#include "outcomes.h"
#include "progress.h"

namespace ismscode::ismsctl {
namespace {

using json = nlohmann::ordered_json;
using harness::Client;
using harness::Reason;
using std::chrono::milliseconds;

struct Globals {
  std::string addr, token_file, ca_file, caller_key_file;
  bool tls = false, json = false;
  std::string progress = "auto";  // auto, on, off
  std::string mock_url, mock_token_file;
};

// --- Small helpers ------------------------------------------------------------------

// "90s", "2m", "500ms", "1h", or plain seconds; nullopt when it is none of those.
std::optional<milliseconds> ParseDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::string unit = text.substr(used);
  double scale;
  if (unit.empty() || unit == "s")
    scale = 1000;
  else if (unit == "ms")
    scale = 1;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else
    return std::nullopt;
  if (!(value >= 0) || value * scale > 1e13) return std::nullopt;
  return milliseconds(static_cast<int64_t>(value * scale));
}

const CLI::Validator kDuration(
    [](std::string& text) -> std::string {
      return ParseDuration(text) ? "" : "expected a duration like 90s, 2m, 500ms or 1h";
    },
    "DURATION");

const CLI::Validator kTime(
    [](std::string& text) -> std::string {
      return ParseRfc3339(text) ? "" : "expected an RFC 3339 UTC time like 2026-11-28T14:03:05Z";
    },
    "TIME");

// A secret from a file: the first line, trimmed. Empty when the flag is not given.
std::optional<std::string> ReadSecret(const std::string& flag, const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    std::cerr << "ismsctl: " << flag << ": cannot read " << path << "\n";
    return std::nullopt;
  }
  while (!line.empty() && isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

json NumberJson(const harness::Number& n) {
  return {{"id", n.id},
          {"phone", n.phone},
          {"country", n.country},
          {"service", n.service},
          {"expires_at", FormatRfc3339(n.expires_at)},
          {"attempts", n.attempts},
          {"replayed", n.replayed},
          {"request_id", n.request_id}};
}

json CodeJson(const harness::Code& c) {
  return {{"code", c.code},
          {"raw_match", c.raw_match},
          {"from", c.sms.from},
          {"text", c.sms.text},
          {"received_at", FormatRfc3339(c.sms.received_at)}};
}

// --- Ctrl-C: cancels a wait in progress (exit 130), or ends the process. ------------

// Static, so the signal thread never reaches a destroyed object. A cancel that lands
// before a wait starts ends that wait at once.
const harness::Cancellation g_cancel;
std::atomic<bool> g_waiting{false};

void WatchSignals(sigset_t set) {
  for (int received = 0;; ++received) {
    int signal = 0;
    sigwait(&set, &signal);
    if (g_waiting.load() && received == 0) {
      g_cancel.Cancel();  // the wait returns kCancelled; main exits with 130
      continue;
    }
    fprintf(stderr, "\r\033[K");  // a progress line, if any
    _exit(kCancelled);
  }
}

// --- Commands ----------------------------------------------------------------------

class Cli {
 public:
  explicit Cli(const Globals& g) : g_(g) {}

  int Fail(const harness::Error& error) const {
    if (g_.json) {
      json e = {{"event", "error"},
                {"reason", error.reason_name},
                {"grpc_code", error.grpc_code_name},
                {"message", error.message}};
      if (error.retry_delay) e["retry_after_ms"] = error.retry_delay->count();
      if (!error.metadata.empty()) e["metadata"] = error.metadata;
      if (!error.bad_fields.empty()) {
        e["bad_fields"] = json::array();
        for (const auto& f : error.bad_fields) e["bad_fields"].push_back(f.field);
      }
      std::cout << e.dump() << std::endl;
    }
    std::cerr << "ismsctl: " << Advice(error) << "\n";
    return ExitCodeFor(error.reason);
  }

  std::optional<Client> Connect() const {
    auto token = ReadSecret("--token-file", g_.token_file);
    auto key = ReadSecret("--caller-key-file", g_.caller_key_file);
    if (!token || !key) {
      exit_code_ = kUsage;
      return std::nullopt;
    }
    harness::ClientOptions o;
    o.address = g_.addr;
    o.token = *token;
    o.caller_key = *key;
    o.tls_ca_file = g_.ca_file;
    o.tls = g_.tls;
    auto client = Client::Connect(o);
    if (!client.ok()) {
      exit_code_ = Fail(client.error());
      return std::nullopt;
    }
    return std::move(*client);
  }

  int exit_code() const { return exit_code_; }

  int Countries() const {
    auto client = Connect();
    if (!client) return exit_code_;
    auto r = client->ListCountries();
    if (!r.ok()) return Fail(r.error());
    if (g_.json) {
      json list = json::array();
      for (const auto& c : *r) {
        list.push_back({{"code", c.code}, {"name", c.name}, {"dial_prefix", c.dial_prefix}});
      }
      std::cout << json{{"countries", list}}.dump() << "\n";
    } else {
      for (const auto& c : *r)
        std::cout << c.code << "  " << c.dial_prefix << "  " << c.name << "\n";
    }
    return kOk;
  }

  int Services() const {
    auto client = Connect();
    if (!client) return exit_code_;
    auto r = client->ListServices();
    if (!r.ok()) return Fail(r.error());
    if (g_.json) {
      std::cout << json{{"services", *r}}.dump() << "\n";
    } else {
      for (const auto& s : *r) std::cout << s << "\n";
    }
    return kOk;
  }

  std::optional<harness::Number> Acquire(const Client& client,
                                         harness::AcquireRequest request) const {
    // Ours, so that an unknown outcome can name the id to repeat the call with.
    if (request.request_id.empty()) request.request_id = harness::NewRequestId();
    auto r = client.Acquire(request);
    if (!r.ok()) {
      harness::Error e = r.error();
      if (e.reason == Reason::kDeadlineExceeded) {
        // The call's own deadline passed: a purchase may be on the wire.
        e.reason = Reason::kUpstreamTimeout;
        e.reason_name = harness::ReasonName(e.reason);
      }
      if (e.reason == Reason::kUpstreamTimeout) e.metadata["request_id"] = request.request_id;
      exit_code_ = Fail(e);
      return std::nullopt;
    }
    return *r;
  }

  void PrintNumber(const harness::Number& n, bool verify) const {
    if (g_.json) {
      json j = {{"event", "number"}};
      j.update(NumberJson(n));
      std::cout << j.dump() << std::endl;
      return;
    }
    if (verify) {
      // The number first and alone, so a person can type it into the app at once.
      std::cout << n.phone << std::endl;
      std::cerr << "ismsctl: " << n.country << " " << n.service << " number " << n.id
                << ", expires " << FormatRfc3339(n.expires_at)
                << ". Type it into the app under test; waiting for the code…\n";
      return;
    }
    std::cout << n.phone << "\t" << n.id << "\t" << n.country << "\t" << n.service << "\t"
              << FormatRfc3339(n.expires_at) << (n.replayed ? "\treplayed" : "") << "\n";
  }

  int AcquireCommand(const harness::AcquireRequest& request) const {
    auto client = Connect();
    if (!client) return exit_code_;
    auto n = Acquire(*client, request);
    if (!n) return exit_code_;
    PrintNumber(*n, false);
    return kOk;
  }

  Progress::Mode ProgressMode() const {
    if (g_.progress == "off" || g_.json) return Progress::Mode::kOff;
    if (g_.progress == "on") return Progress::Mode::kTerminal;
    return isatty(STDERR_FILENO) ? Progress::Mode::kTerminal : Progress::Mode::kLines;
  }

  int Await(const Client& client, const std::string& number_id, const std::string& phone,
            harness::AwaitOptions options, bool follow) const {
    Progress progress(ProgressMode(), phone.empty() ? number_id : phone);
    options.cancellation = g_cancel;
    options.on_heartbeat = [&](const harness::Heartbeat& h) {
      progress.OnHeartbeat(h);
      if (g_.json) {
        std::cout << json{{"event", "waiting"},
                          {"polls", h.polls},
                          {"next_poll_at", FormatRfc3339(h.next_poll_at)},
                          {"expires_at", FormatRfc3339(h.expires_at)},
                          {"last_upstream_error", h.last_upstream_error},
                          {"waiting_for_budget", h.waiting_for_budget}}
                         .dump()
                  << std::endl;
      }
    };
    auto print = [&](const harness::Code& c) {
      progress.Finish();
      if (g_.json) {
        json j = {{"event", "code"}};
        j.update(CodeJson(c));
        std::cout << j.dump() << std::endl;
      } else {
        std::cout << c.code << std::endl;
        std::cerr << "ismsctl: from " << Printable(c.sms.from) << ": " << Printable(c.sms.text)
                  << "\n";
      }
    };
    g_waiting = true;
    int rc = kOk;
    if (follow) {
      auto r = client.AwaitCodes(number_id, options, print);
      if (!r.ok()) rc = (progress.Finish(), Fail(r.error()));
    } else {
      auto r = client.AwaitCode(number_id, options);
      if (r.ok())
        print(*r);
      else
        rc = (progress.Finish(), Fail(r.error()));
    }
    g_waiting = false;
    return rc;
  }

  int AwaitCommand(const std::string& number_id, const harness::AwaitOptions& options,
                   bool follow) const {
    auto client = Connect();
    if (!client) return exit_code_;
    return Await(*client, number_id, "", options, follow);
  }

  int Verify(const harness::AcquireRequest& request, const harness::AwaitOptions& options) const {
    auto client = Connect();
    if (!client) return exit_code_;
    auto n = Acquire(*client, request);
    if (!n) return exit_code_;
    PrintNumber(*n, true);
    return Await(*client, n->id, n->phone, options, false);
  }

  // --- ismsctl mock ... : the mock's control API. ---
  int Mock(const std::string& method, const std::string& path, const json& body) const {
    std::string url = g_.mock_url;
    if (url.empty()) url = "http://127.0.0.1:7700";
    auto token = ReadSecret("--mock-token-file", g_.mock_token_file);
    if (!token) return kUsage;
    if (token->empty() && std::getenv("ISMSCODE_MOCK_ADMIN_TOKEN")) {
      *token = std::getenv("ISMSCODE_MOCK_ADMIN_TOKEN");
    }
    httplib::Client mock(url);
    mock.set_connection_timeout(5);
    mock.set_read_timeout(30);
    httplib::Headers headers;
    if (!token->empty()) headers.emplace("Authorization", "Bearer " + *token);
    const std::string full = "/_mock/v1/" + path;
    const std::string payload = body.is_null() ? "" : body.dump();
    httplib::Result r = method == "GET"      ? mock.Get(full, headers)
                        : method == "DELETE" ? mock.Delete(full, headers)
                        : method == "PATCH" ? mock.Patch(full, headers, payload, "application/json")
                                            : mock.Post(full, headers, payload, "application/json");
    if (!r) {
      std::cerr << "ismsctl: cannot reach the mock at " << url << " ("
                << httplib::to_string(r.error())
                << ") — start it (build/mock/ismscode-mock) or set --mock-url / "
                   "ISMSCODE_MOCK_URL\n";
      return kUnavailable;
    }
    const json answer = json::parse(r->body, nullptr, false);
    if (r->status / 100 != 2) {
      std::cerr << "ismsctl: mock answered " << r->status << " "
                << (answer.is_object()
                        ? answer.value("code", "") + ": " + answer.value("message", "")
                        : r->body)
                << "\n";
      return r->status == 400 ? kUsage : r->status == 404 ? kNotFound : kFailure;
    }
    std::cout << (g_.json ? answer.dump() : answer.dump(2)) << "\n";
    return kOk;
  }

 private:
  const Globals& g_;
  mutable int exit_code_ = kFailure;
};

void AddAcquireOptions(CLI::App* cmd, harness::AcquireRequest& r, std::string& max_wait) {
  cmd->add_option("-c,--country", r.country, "ISO country code, e.g. US")->required();
  cmd->add_option("-s,--service", r.service, "service slug, e.g. whatsapp")->required();
  cmd->add_option("--fallback", r.fallback_countries,
                  "countries to try next when out of stock (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--request-id", r.request_id,
                  "idempotency key: the same id never buys twice (default: a fresh one)");
  cmd->add_option("--max-wait", max_wait, "keep retrying stock-outs and failures this long")
      ->check(kDuration);
}

void AddAwaitOptions(CLI::App* cmd, harness::AwaitOptions& o, std::string& timeout,
                     std::string& received_after, std::string& sms_sent_at) {
  cmd->add_option("-t,--timeout", timeout, "how long to wait (default 120s)")->check(kDuration);
  cmd->add_option("-p,--pattern", o.code_pattern, "RE2 whose first group is the code");
  cmd->add_option("--sender", o.sender_pattern, "RE2 the sender must match");
  cmd->add_option("--min-length", o.min_code_length, "shortest code (default 4)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--max-length", o.max_code_length, "longest code (default 8)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--received-after", received_after, "ignore SMS received at or before TIME")
      ->check(kTime);
  cmd->add_option("--sent-at", sms_sent_at,
                  "your app sent the SMS at TIME (a busy key's polls are planned from it)")
      ->check(kTime);
}

}  // namespace

int Main(int argc, char** argv) {
  // Ctrl-C and SIGTERM go to one thread (blocked here, before any other thread starts).
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::thread(WatchSignals, stop).detach();

  Globals g;
  CLI::App app(
      "ismsctl: phone numbers and their SMS codes through the ismscode-harness "
      "gateway, and the mock's control API.\nExit codes: 0 ok, 1 failure, 2 usage, "
      "3 timeout, 4 expired, 5 no numbers, 6 balance, 7 rate limited, 8 unavailable, "
      "9 purchase outcome unknown, 10 not found, 11 auth, 130 interrupted.");
  app.require_subcommand(1);
  app.fallthrough();  // global options work after the command too (`await ID --json`)
  app.set_help_all_flag("--help-all", "help for every command");
  // A flag given twice takes its last value (a wrapper's default, then the user's).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  if (const char* a = std::getenv("ISMSCODE_HARNESS_ADDR")) g.addr = a;
  if (const char* m = std::getenv("ISMSCODE_MOCK_URL")) g.mock_url = m;
  app.add_option("--addr", g.addr,
                 "gateway HOST:PORT (env ISMSCODE_HARNESS_ADDR; default "
                 "127.0.0.1:50051)");
  app.add_option("--token-file", g.token_file,
                 "the gateway's caller token (else env ISMSCODE_HARNESS_TOKEN)");
  app.add_option("--ca-file", g.ca_file, "TLS: trust this PEM CA (else env ISMSCODE_HARNESS_CA)");
  app.add_flag("--tls", g.tls, "TLS with the system's roots");
  app.add_option("--caller-key-file", g.caller_key_file,
                 "your own upstream key (else env ISMSCODE_HARNESS_CALLER_KEY)");
  app.add_flag("--json", g.json, "one JSON object per line on stdout, for machines");
  app.add_option("--progress", g.progress, "live progress: auto (on a terminal), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option("--mock-url", g.mock_url,
                 "the mock for `ismsctl mock` (env ISMSCODE_MOCK_URL; default "
                 "http://127.0.0.1:7700)");
  app.add_option("--mock-token-file", g.mock_token_file,
                 "the mock's admin token (else env ISMSCODE_MOCK_ADMIN_TOKEN)");

  Cli cli(g);
  int rc = kOk;

  app.add_subcommand("countries", "countries numbers can be rented in")->callback([&] {
    rc = cli.Countries();
  });
  app.add_subcommand("services", "services numbers can be rented for")->callback([&] {
    rc = cli.Services();
  });

  harness::AcquireRequest acquire;
  std::string max_wait, timeout, received_after, sms_sent_at;
  harness::AwaitOptions await;
  auto to_request = [&] {
    harness::AcquireRequest r = acquire;
    if (!max_wait.empty()) r.max_wait = *ParseDuration(max_wait);
    return r;
  };
  auto to_await = [&] {
    harness::AwaitOptions o = await;
    if (!timeout.empty()) o.timeout = *ParseDuration(timeout);
    if (o.timeout.count() == 0 && !timeout.empty()) o.timeout = milliseconds(1);
    if (!received_after.empty()) o.received_after = ParseRfc3339(received_after);
    if (!sms_sent_at.empty()) o.sms_sent_at = ParseRfc3339(sms_sent_at);
    return o;
  };

  auto* acq = app.add_subcommand("acquire",
                                 "rent a number; prints phone, id, country, "
                                 "service, expiry (tab-separated)");
  AddAcquireOptions(acq, acquire, max_wait);
  acq->callback([&] { rc = cli.AcquireCommand(to_request()); });

  std::string number_id;
  bool follow = false;
  auto* aw = app.add_subcommand("await", "wait for a number's code; prints the code");
  aw->add_option("number_id", number_id, "the id from `ismsctl acquire`")->required();
  AddAwaitOptions(aw, await, timeout, received_after, sms_sent_at);
  aw->add_flag("--follow", follow, "print every code until the timeout");
  aw->callback([&] { rc = cli.AwaitCommand(number_id, to_await(), follow); });

  auto* ver =
      app.add_subcommand("verify",
                         "rent a number, print it at once (type it into the app under test), then "
                         "wait for its code and print it");
  AddAcquireOptions(ver, acquire, max_wait);
  AddAwaitOptions(ver, await, timeout, received_after, sms_sent_at);
  ver->callback([&] { rc = cli.Verify(to_request(), to_await()); });

  // ismsctl mock ...
  auto* mock = app.add_subcommand("mock", "the mock's control API, for manual QA");
  mock->require_subcommand(1);
  std::string key, country, service, to, text, from, kind, endpoint, phase;
  double amount = 0, seconds = 0;
  int64_t stock = 0, count = 0, limit = 100;
  mock->add_subcommand("accounts", "list the accounts")->callback([&] {
    rc = cli.Mock("GET", "accounts", nullptr);
  });
  auto* account = mock->add_subcommand("account", "create an account (a fresh key unless --key)");
  account->add_option("--key", key, "the key");
  account->add_option("--balance", amount, "its balance")->check(CLI::NonNegativeNumber);
  account->callback([&] {
    json body = json::object();
    if (!key.empty()) body["key"] = key;
    if (account->count("--balance")) body["balance"] = amount;
    rc = cli.Mock("POST", "accounts", body);
  });
  auto* balance = mock->add_subcommand("balance", "set an account's balance");
  balance->add_option("key", key, "the account's key")->required();
  balance->add_option("amount", amount, "the new balance")
      ->required()
      ->check(CLI::NonNegativeNumber);
  balance->callback([&] { rc = cli.Mock("PATCH", "accounts/" + key, {{"balance", amount}}); });
  auto* stock_cmd = mock->add_subcommand("stock", "set the stock of a country's service");
  stock_cmd->add_option("country", country, "e.g. US")->required();
  stock_cmd->add_option("service", service, "e.g. whatsapp")->required();
  stock_cmd->add_option("count", stock, "numbers in stock")
      ->required()
      ->check(CLI::NonNegativeNumber);
  stock_cmd->callback([&] {
    rc = cli.Mock("PATCH", "offers/" + country + "/" + service, {{"stock", stock}});
  });
  auto* sms =
      mock->add_subcommand("sms", "send an SMS to a phone (as a carrier) or to a number id");
  auto* to_opt = sms->add_option("--to", to, "a phone, E.164 (+12125550142)");
  sms->add_option("--number", number_id, "a number id")->excludes(to_opt);
  sms->add_option("--text", text, "the text")->required();
  sms->add_option("--from", from, "the sender");
  sms->callback([&] {
    if (!to.empty()) {
      json body = {{"to", to}, {"text", text}};
      if (!from.empty()) body["from"] = from;
      rc = cli.Mock("POST", "sms", body);
    } else if (!number_id.empty()) {
      json body = {{"text", text}};
      if (!from.empty()) body["from"] = from;
      rc = cli.Mock("POST", "numbers/" + number_id + "/sms", body);
    } else {
      throw CLI::ValidationError("--to or --number", "one of them is required");
    }
  });
  auto* fault = mock->add_subcommand("fault", "schedule a fault (see the README's fault kinds)");
  fault->add_option("kind", kind, "e.g. http_503, no_numbers_available, rate_limit_exceeded")
      ->required();
  fault->add_option("--endpoint", endpoint, "countries, services, numbers.request, numbers.sms");
  fault->add_option("--count", count, "how many times (default: for ever)")
      ->check(CLI::PositiveNumber);
  fault->add_option("--key", key, "only for this key");
  fault->add_option("--country", country, "only for this country");
  fault->add_option("--service", service, "only for this service");
  fault->add_option("--phase", phase, "after: act first, then fail the answer")
      ->check(CLI::IsMember({"before", "after"}));
  fault->callback([&] {
    json body = {{"kind", kind}};
    if (!endpoint.empty()) body["endpoint"] = endpoint;
    if (count > 0) body["count"] = count;
    if (!key.empty()) body["key"] = key;
    if (!country.empty()) body["country"] = country;
    if (!service.empty()) body["service"] = service;
    if (!phase.empty()) body["phase"] = phase;
    rc = cli.Mock("POST", "faults", body);
  });
  mock->add_subcommand("faults", "list the faults")->callback([&] {
    rc = cli.Mock("GET", "faults", nullptr);
  });
  mock->add_subcommand("clear-faults", "remove every fault")->callback([&] {
    rc = cli.Mock("DELETE", "faults", nullptr);
  });
  auto* advance = mock->add_subcommand("advance", "move the mock's clock forward");
  advance->add_option("seconds", seconds, "how far")->required()->check(CLI::PositiveNumber);
  advance->callback([&] { rc = cli.Mock("POST", "clock/advance", {{"seconds", seconds}}); });
  mock->add_subcommand("clock", "the mock's time")->callback([&] {
    rc = cli.Mock("GET", "clock", nullptr);
  });
  auto* journal = mock->add_subcommand("journal", "the requests the mock saw");
  journal->add_option("--key", key, "only this key's");
  journal->add_option("--limit", limit, "at most this many")->check(CLI::Range(1, 100000));
  journal->callback([&] {
    std::string q = "journal?limit=" + std::to_string(limit);
    if (!key.empty()) q += "&key=" + PercentEncode(key);
    rc = cli.Mock("GET", q, nullptr);
  });
  auto* number = mock->add_subcommand("number", "a number with its whole SMS schedule");
  number->add_option("number_id", number_id, "its id")->required();
  number->callback([&] { rc = cli.Mock("GET", "numbers/" + number_id, nullptr); });
  mock->add_subcommand("reset", "back to the scenario's start")->callback([&] {
    rc = cli.Mock("POST", "reset", nullptr);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ismsctl: " << e.what() << " (see ismsctl --help)\n";
    return kUsage;
  } catch (const std::exception& e) {  // e.g. a --mock-url httplib cannot use
    std::cerr << "ismsctl: " << e.what() << "\n";
    return kFailure;
  }
  return rc;
}

}  // namespace ismscode::ismsctl

int main(int argc, char** argv) { return ismscode::ismsctl::Main(argc, argv); }
