#include "server/upstream_client.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/percent_encode.h"
#include "common/time_format.h"
#include "server/metrics.h"
#include "server/upstream_parse.h"

namespace ismscode::gateway {

using json = nlohmann::json;

namespace {

GatewayError Error(Reason reason, std::string message) {
  return GatewayError{.reason = reason, .message = std::move(message)};
}

// Turns a transport failure or a non-2xx answer into the error table's terms.
template <class T>
bool Failed(const httplib::Result& r, bool purchase, UpstreamResult<T>& out) {
  if (!r) {
    const httplib::Error e = r.error();
    // Once a purchase is on the wire, a missing answer leaves its outcome unknown.
    if (purchase && (e == httplib::Error::Read)) {
      out.error = Error(Reason::kUpstreamTimeout,
                        "the upstream did not answer the purchase (timeout or dropped "
                        "connection); it may or may not have bought a number");
    } else {
      out.error = Error(Reason::kUpstreamUnavailable,
                        "cannot reach the upstream: " + httplib::to_string(e));
    }
    return true;
  }
  if (r->has_header("Date")) out.upstream_date = ParseHttpDate(r->get_header_value("Date"));
  if (r->status >= 200 && r->status < 300) return false;
  // The upstream's own words never reach a caller: its message may echo the key. Only
  // an error code of the document's shape (a short snake_case word) is repeated.
  const std::string code = ParseErrorCode(r->body);
  const Reason reason = ReasonForUpstream(r->status, code);
  GatewayError e = Error(
      reason, "upstream answered " + std::to_string(r->status) + (code.empty() ? "" : " " + code));
  if (!code.empty()) e.metadata["upstream_code"] = code;
  e.metadata["upstream_status"] = std::to_string(r->status);
  if (reason == Reason::kRateLimitExceeded) {
    e.retry_after = ParseRetryAfter(r->get_header_value("Retry-After"), out.upstream_date);
  }
  out.error = std::move(e);
  return true;
}

// Parses a 2xx body with `parse` (upstream_parse.h); a body that is not the documented
// shape is kUpstreamBadResponse.
template <class T>
UpstreamResult<T> Decode(const httplib::Result& r, bool purchase,
                         absl::StatusOr<T> (*parse)(std::string_view)) {
  UpstreamResult<T> out;
  if (Failed(r, purchase, out)) return out;
  absl::StatusOr<T> parsed = parse(r->body);
  if (parsed.ok()) {
    out.value = *std::move(parsed);
  } else {
    out.error = Error(Reason::kUpstreamBadResponse,
                      "the upstream's answer does not follow its API document: " +
                          std::string(parsed.status().message()));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<UpstreamClient>> UpstreamClient::Create(const UpstreamConfig& config,
                                                                       GatewayMetrics* metrics) {
  const std::string& url = config.base_url;
  const size_t scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return absl::InvalidArgumentError("upstream URL must start with http:// or https:// (got '" +
                                      url + "')");
  }
  const size_t path_start = url.find('/', scheme_end + 3);
  const std::string host_port = url.substr(0, path_start);
  std::string prefix = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (host_port.size() <= scheme_end + 3) {
    return absl::InvalidArgumentError("upstream URL has no host (got '" + url + "')");
  }
  auto client = std::make_unique<httplib::Client>(host_port);
  if (!client->is_valid()) {
    return absl::InvalidArgumentError("cannot use upstream URL '" + url + "'");
  }
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);  // small requests: no 40 ms Nagle stalls
  client->set_connection_timeout(config.connect_timeout);
  client->set_read_timeout(config.read_timeout);
  client->set_write_timeout(config.read_timeout);
  if (scheme == "https") {
    client->enable_server_certificate_verification(true);
    if (!config.ca_file.empty()) client->set_ca_cert_path(config.ca_file);
  }
  return std::unique_ptr<UpstreamClient>(new UpstreamClient(std::move(client), prefix, metrics));
}

UpstreamClient::UpstreamClient(std::unique_ptr<httplib::Client> client, std::string path_prefix,
                               GatewayMetrics* metrics)
    : client_(std::move(client)), path_prefix_(std::move(path_prefix)), metrics_(metrics) {}

template <class T>
UpstreamResult<T> UpstreamClient::Observed(const char* endpoint,
                                           std::chrono::steady_clock::time_point start,
                                           UpstreamResult<T> result) {
  if (metrics_) {
    metrics_->UpstreamRequest(endpoint, result.ok() ? "ok" : ReasonName(result.error->reason),
                              std::chrono::steady_clock::now() - start);
  }
  return result;
}

UpstreamClient::~UpstreamClient() = default;

void UpstreamClient::Interrupt() { client_->stop(); }

namespace {
httplib::Headers Auth(const std::string& key);

httplib::Headers Auth(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }
}  // namespace

UpstreamResult<std::vector<UpstreamCountry>> UpstreamClient::ListCountries(const std::string& key) {
  const auto start = std::chrono::steady_clock::now();
  return Observed("countries", start,
                  Decode<std::vector<UpstreamCountry>>(
                      client_->Get(path_prefix_ + "/countries", Auth(key)), false, ParseCountries));
}

UpstreamResult<std::vector<std::string>> UpstreamClient::ListServices(const std::string& key) {
  const auto start = std::chrono::steady_clock::now();
  return Observed("services", start,
                  Decode<std::vector<std::string>>(
                      client_->Get(path_prefix_ + "/services", Auth(key)), false, ParseServices));
}

UpstreamResult<UpstreamNumber> UpstreamClient::RequestNumber(const std::string& key,
                                                             const std::string& country,
                                                             const std::string& service) {
  const std::string body = json{{"country", country}, {"service", service}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  const auto start = std::chrono::steady_clock::now();
  return Observed("numbers.request", start,
                  Decode<UpstreamNumber>(client_->Post(path_prefix_ + "/numbers/request", Auth(key),
                                                       body, "application/json"),
                                         true, ParseNumber));
}

UpstreamResult<std::vector<UpstreamSms>> UpstreamClient::ListSms(const std::string& key,
                                                                 const std::string& number_id) {
  // Ids are opaque: escape them so that "../" or "?" cannot change the request.
  const std::string path = path_prefix_ + "/numbers/" + PercentEncode(number_id) + "/sms";
  const auto start = std::chrono::steady_clock::now();
  return Observed(
      "numbers.sms", start,
      Decode<std::vector<UpstreamSms>>(client_->Get(path, Auth(key)), false, ParseSmsList));
}

}  // namespace ismscode::gateway
