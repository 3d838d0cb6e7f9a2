#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/errors.h"

namespace httplib {
class Client;
}

namespace ismscode::gateway {

class GatewayMetrics;
using SystemTime = std::chrono::system_clock::time_point;

struct UpstreamConfig {
  // Base of the REST API: "https://ismscode.com/api/v3" or the mock's
  // "http://127.0.0.1:7700/api/v3".
  std::string base_url;
  std::string ca_file;  // HTTPS: trust this PEM file instead of the system CA store
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds read_timeout{10000};
};

struct UpstreamCountry {
  std::string code, name, prefix;
};

struct UpstreamNumber {
  std::string id, phone, country, service;
  SystemTime expires_at;  // in the upstream's clock
};

struct UpstreamSms {
  std::string from, text;
  SystemTime received_at;  // in the upstream's clock
};

// The outcome of one REST call: a value or a classified error, and the upstream's Date
// header when it sent one (to correct for clock skew when judging expiry).
template <class T>
struct UpstreamResult {
  std::optional<T> value;
  std::optional<GatewayError> error;
  std::optional<SystemTime> upstream_date;
  bool ok() const { return value.has_value(); }
};

// The iSMScode REST API as the gateway uses it: the one seam between the gateway's
// logic and the network. UpstreamPool is the real one; tests/fakes has a scripted fake.
// Every method may block (it is called on workers) and is thread-safe.
class Upstream {
 public:
  virtual ~Upstream() = default;
  virtual UpstreamResult<std::vector<UpstreamCountry>> ListCountries(const std::string& key) = 0;
  virtual UpstreamResult<std::vector<std::string>> ListServices(const std::string& key) = 0;
  // A purchase: a missing answer after the request went out is kUpstreamTimeout (the
  // outcome is unknown; never retry it blindly), unlike a failure to connect.
  virtual UpstreamResult<UpstreamNumber> RequestNumber(const std::string& key,
                                                       const std::string& country,
                                                       const std::string& service) = 0;
  virtual UpstreamResult<std::vector<UpstreamSms>> ListSms(const std::string& key,
                                                           const std::string& number_id) = 0;
  // Ends every request in progress now (they fail as if the connection dropped). For
  // shutdown, after its grace.
  virtual void Interrupt() = 0;
};

// One connection to the iSMScode REST API. Like the cpp-httplib client inside it, it
// serialises its requests: give each worker its own. The API key is passed per call,
// sent in the Authorization header and nowhere else: never logged, never in an error.
class UpstreamClient {
 public:
  // InvalidArgument when the URL is not http(s)://host[:port][/path]. `metrics`
  // (optional) counts every request by endpoint and outcome, and must outlive the client.
  static absl::StatusOr<std::unique_ptr<UpstreamClient>> Create(const UpstreamConfig& config,
                                                                GatewayMetrics* metrics = nullptr);
  ~UpstreamClient();

  UpstreamResult<std::vector<UpstreamCountry>> ListCountries(const std::string& key);
  UpstreamResult<std::vector<std::string>> ListServices(const std::string& key);
  // A purchase: a read timeout after the request went out is kUpstreamTimeout (the
  // outcome is unknown; never retry it blindly), unlike a failure to connect.
  UpstreamResult<UpstreamNumber> RequestNumber(const std::string& key, const std::string& country,
                                               const std::string& service);
  UpstreamResult<std::vector<UpstreamSms>> ListSms(const std::string& key,
                                                   const std::string& number_id);
  // Closes the connection under a request in progress on another thread, which then
  // fails at once. Thread-safe.
  void Interrupt();

 private:
  UpstreamClient(std::unique_ptr<httplib::Client> client, std::string path_prefix,
                 GatewayMetrics* metrics);
  template <class T>
  UpstreamResult<T> Observed(const char* endpoint, std::chrono::steady_clock::time_point start,
                             UpstreamResult<T> result);

  std::unique_ptr<httplib::Client> client_;
  std::string path_prefix_;  // "/api/v3"
  GatewayMetrics* metrics_;
};

}  // namespace ismscode::gateway
