#pragma once

#include <absl/status/statusor.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "server/errors.h"
#include "server/upstream_client.h"

namespace ismscode::gateway {

class GatewayMetrics;

// The real Upstream: a fixed set of connections, one leased per request (a cpp-httplib
// client serialises its requests); a request waits until a connection is free.
// Thread-safe.
class UpstreamPool final : public Upstream {
 public:
  // `size` connections to the upstream; InvalidArgument when the config is unusable.
  static absl::StatusOr<std::unique_ptr<UpstreamPool>> Create(const UpstreamConfig& config,
                                                              size_t size,
                                                              GatewayMetrics* metrics = nullptr);

  class Lease {
   public:
    Lease(UpstreamPool& pool, std::unique_ptr<UpstreamClient> client);
    ~Lease();
    Lease(Lease&&) = default;
    UpstreamClient* operator->() { return client_.get(); }

   private:
    UpstreamPool* pool_;
    std::unique_ptr<UpstreamClient> client_;
  };
  Lease Take();

  UpstreamResult<std::vector<UpstreamCountry>> ListCountries(const std::string& key) override {
    if (closed_) return Closed<std::vector<UpstreamCountry>>();
    return Take()->ListCountries(key);
  }
  UpstreamResult<std::vector<std::string>> ListServices(const std::string& key) override {
    if (closed_) return Closed<std::vector<std::string>>();
    return Take()->ListServices(key);
  }
  UpstreamResult<UpstreamNumber> RequestNumber(const std::string& key, const std::string& country,
                                               const std::string& service) override {
    if (closed_) return Closed<UpstreamNumber>();
    return Take()->RequestNumber(key, country, service);
  }
  UpstreamResult<std::vector<UpstreamSms>> ListSms(const std::string& key,
                                                   const std::string& number_id) override {
    if (closed_) return Closed<std::vector<UpstreamSms>>();
    return Take()->ListSms(key, number_id);
  }
  // Interrupts what is in progress, and every later request fails at once without
  // being sent (UPSTREAM_UNAVAILABLE): for shutdown, after its grace.
  void Interrupt() override;

 private:
  template <class T>
  static UpstreamResult<T> Closed() {
    UpstreamResult<T> out;
    out.error = GatewayError{.reason = Reason::kUpstreamUnavailable,
                             .message = "the gateway is shutting down"};
    return out;
  }

  std::vector<UpstreamClient*> all_;  // fixed after Create
  std::atomic<bool> closed_{false};
  Mutex mutex_;
  CondVar available_;
  std::vector<std::unique_ptr<UpstreamClient>> idle_ GUARDED_BY(mutex_);
};

}  // namespace ismscode::gateway
