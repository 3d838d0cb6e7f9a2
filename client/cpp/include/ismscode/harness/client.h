#pragma once

// The C++ client of the ismscode-harness gateway: a phone number and the code texted to
// it, in a few lines, with every failure as a typed Error (no exceptions).
//
//   auto client = ismscode::harness::Client::Connect();   // ISMSCODE_HARNESS_ADDR, ...
//   auto number = client->Acquire({.country = "US", .service = "whatsapp"});
//   auto code = client->AwaitCode(number->id);
//   if (!code.ok()) std::cerr << code.error().ToString();
//
// Thread-safe: one Client serves any number of threads.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ismscode::harness {

using Timestamp = std::chrono::system_clock::time_point;

// Why a call failed: the gateway's ErrorInfo reason (the README's error table), or what
// the client saw itself.
enum class Reason {
  kUnknown,  // a status without an ismscode.harness ErrorInfo
  kInvalidArgument,
  kInvalidCountry,
  kInvalidService,
  kUnauthorized,  // the upstream refused the key
  kInsufficientBalance,
  kNoNumbersAvailable,
  kRateLimitExceeded,
  kUpstreamUnavailable,
  kUpstreamTimeout,  // a purchase's outcome is unknown: retry with the same request id
  kUpstreamBadResponse,
  kNumberNotFound,
  kCodeWaitTimeout,
  kNumberExpired,
  kShuttingDown,
  kUnauthenticated,  // the gateway refused the caller's token
  kCallerKeyNotAllowed,
  // Seen by the client, not sent by the gateway:
  kGatewayUnavailable,  // the gateway cannot be reached (not running, wrong address, TLS)
  kCancelled,           // the caller cancelled
  kDeadlineExceeded,    // the call's own deadline passed without an answer
  // Sent by the gateway (last, so that the values above keep their numbers):
  kStateUnavailable,  // a fleet's shared state (--state) is unreachable: nothing was bought
};

// "NO_NUMBERS_AVAILABLE" for kNoNumbersAvailable; the client-side ones are
// "GATEWAY_UNAVAILABLE", "CANCELLED", "DEADLINE_EXCEEDED", and kUnknown is "UNKNOWN".
const char* ReasonName(Reason reason);
// The inverse; kUnknown for names it does not know.
Reason ReasonFromName(const std::string& name);

// Progress of an AwaitCode, one per gateway heartbeat (after every poll).
struct Heartbeat {
  int polls = 0;  // upstream polls for the number so far
  Timestamp next_poll_at;
  Timestamp expires_at;
  std::string last_upstream_error;  // empty when the last poll succeeded
  bool waiting_for_budget = false;  // the next poll waits for the key's rate budget
};

struct BadField {
  std::string field;  // e.g. "country"
  std::string description;
};

struct Error {
  Reason reason = Reason::kUnknown;
  std::string reason_name;  // as sent ("NO_NUMBERS_AVAILABLE"), even when not in the enum
  int grpc_code = 0;        // the gRPC status code's number (8 = RESOURCE_EXHAUSTED)
  std::string grpc_code_name;
  std::string message;
  std::optional<std::chrono::milliseconds> retry_delay;  // from RetryInfo
  std::vector<BadField> bad_fields;                      // from BadRequest
  std::map<std::string, std::string> metadata;           // ErrorInfo metadata
  std::optional<Heartbeat> last_heartbeat;               // AwaitCode: the last progress seen
  // Acquire: the request id the call sent (generated when none was given). After
  // UPSTREAM_TIMEOUT, repeat with it: nothing is bought twice.
  std::string request_id;

  // One line: "NO_NUMBERS_AVAILABLE (RESOURCE_EXHAUSTED): <message> [country=US ...]",
  // with the bad fields, the retry delay and the last heartbeat when there are some.
  std::string ToString() const;
};

// A value or an Error.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  // Only when ok().
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // Only when !ok().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct ClientOptions {
  // host:port. Empty: $ISMSCODE_HARNESS_ADDR, else 127.0.0.1:50051.
  std::string address;
  // Bearer token for a gateway run with --token-file. Empty: $ISMSCODE_HARNESS_TOKEN.
  std::string token;
  // TLS: trust this PEM CA file. Empty: $ISMSCODE_HARNESS_CA; when that is empty too,
  // plaintext unless `tls` is set (then the system's roots).
  std::string tls_ca_file;
  bool tls = false;
  // The caller's own upstream key (x-ismscode-api-key; the gateway needs
  // --allow-caller-keys). Empty: $ISMSCODE_HARNESS_CALLER_KEY.
  std::string caller_key;
  // false: empty fields above stay empty instead of coming from ISMSCODE_HARNESS_*.
  bool use_environment = true;
  // How long Connect waits for the gateway; 0: do not wait (the first call will).
  std::chrono::milliseconds connect_timeout{5000};
  // Deadline of the list calls.
  std::chrono::milliseconds list_timeout{30000};
};

struct Country {
  std::string code;  // "US"
  std::string name;  // "United States"
  std::string dial_prefix;
};

struct AcquireRequest {
  std::string country;  // "US"
  std::string service;  // "whatsapp"
  std::vector<std::string> fallback_countries;
  // Idempotency key; empty: one is generated (and returned in Number::request_id, so the
  // call can be repeated after an UPSTREAM_TIMEOUT without buying twice).
  std::string request_id;
  // Keep retrying stock-outs, rate limits and upstream failures this long (0: once).
  std::chrono::milliseconds max_wait{0};
  // The call's deadline; 0: max_wait + 30 s.
  std::chrono::milliseconds deadline{0};
};

struct Number {
  std::string id;
  std::string phone;  // E.164
  std::string country;
  std::string service;
  Timestamp expires_at;
  int attempts = 0;
  bool replayed = false;
  std::string request_id;  // the one sent (given or generated)
};

struct Sms {
  std::string from;
  std::string text;
  Timestamp received_at;
};

struct Code {
  std::string code;       // normalised: "583-920" -> "583920"
  std::string raw_match;  // as in the text
  Sms sms;
};

// Cancels an AwaitCode (or AwaitCodes) from another thread. Cheap to copy; copies share
// one state. Cancelling before the call starts makes it end at once with kCancelled.
class Cancellation {
 public:
  Cancellation();
  // Copies (and moves, which copy) share the state; one Cancel() ends every wait using
  // any of them.
  Cancellation(const Cancellation&) = default;
  Cancellation& operator=(const Cancellation&) = default;
  void Cancel() const;
  bool cancelled() const;

 private:
  friend class Client;
  struct State;
  std::shared_ptr<State> state_;
};

struct AwaitOptions {
  std::chrono::milliseconds timeout{0};  // 0: the gateway's default (120 s)
  std::string code_pattern;              // RE2; first capture group is the code
  std::string sender_pattern;            // RE2 on the sender, case-insensitive
  int min_code_length = 0;               // 0: the gateway's default (4)
  int max_code_length = 0;               // 0: the gateway's default (8)
  std::optional<Timestamp> received_after;
  // When your app sent the SMS, if you know: a busy key's polls are planned from it
  // (default: from when the wait began).
  std::optional<Timestamp> sms_sent_at;
  // Called on the calling thread for every heartbeat.
  std::function<void(const Heartbeat&)> on_heartbeat;
  std::optional<Cancellation> cancellation;
};

class Client {
 public:
  // A client for the gateway at options' address (or the environment's). Fails with
  // kGatewayUnavailable when it cannot be reached within connect_timeout, and with
  // kInvalidArgument for unusable options (an unreadable CA file).
  static Result<Client> Connect(ClientOptions options = {});

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  const std::string& address() const;

  Result<std::vector<Country>> ListCountries() const;
  Result<std::vector<std::string>> ListServices() const;
  Result<Number> Acquire(const AcquireRequest& request) const;
  // The first code. Blocks until it comes, the timeout, expiry, an error or cancellation.
  Result<Code> AwaitCode(const std::string& number_id, const AwaitOptions& options = {}) const;
  // Every code until the timeout (the gateway's `follow`), in arrival order; `on_code`
  // sees each as it comes. Ends OK at the timeout, with the codes so far.
  Result<std::vector<Code>> AwaitCodes(const std::string& number_id, const AwaitOptions& options,
                                       const std::function<void(const Code&)>& on_code = {}) const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  // One AwaitCode stream to its end: the first code, or with `follow` every code.
  Result<std::vector<Code>> Await(const std::string& number_id, const AwaitOptions& options,
                                  bool follow,
                                  const std::function<void(const Code&)>& on_code) const;
  std::unique_ptr<Impl> impl_;
};

// A fresh request id: "req-" and 32 random hex digits.
std::string NewRequestId();

}  // namespace ismscode::harness
