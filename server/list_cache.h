#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "server/budget_gate.h"
#include "server/errors.h"
#include "server/runtime.h"
#include "server/upstream_client.h"

namespace ismscode::gateway {

// The upstream's countries and services, per upstream key, for ListCountries and
// ListServices. They change rarely, so each list is kept for `ttl` and list calls seldom
// cost an upstream request: a miss is fetched as a list call in the BudgetGate (after
// purchases and polls), concurrent misses share one fetch, and when a refresh fails a
// stale list is served rather than an error. It also knows which country and service
// names the upstream has vouched for, so that metric labels come only from those.
// Thread-safe.
class ListCache {
 public:
  struct Options {
    std::chrono::milliseconds ttl{std::chrono::minutes(10)};
    // Called once per service name the upstream vouches for, first seen (the metrics
    // create its series at zero). May run with the cache's lock held: it must not call
    // back into the cache.
    std::function<void(const std::string& service)> on_new_service;
  };
  template <class T>
  using Done = std::function<void(const T* list, const GatewayError* error)>;
  using Countries = std::vector<UpstreamCountry>;
  using Services = std::vector<std::string>;

  ListCache(Upstream& upstream, BudgetGate& gate, Runtime runtime, Options options);

  // `done` runs once, with the list or the error, inline when cached. An upstream
  // error carries `key_owner`.
  void GetCountries(const std::string& key, KeyOwner key_owner, Runtime::Clock::time_point give_up,
                    Done<Countries> done);
  void GetServices(const std::string& key, KeyOwner key_owner, Runtime::Clock::time_point give_up,
                   Done<Services> done);

  // Fetches both lists for `key` in the background (for the metric labels).
  void Prefetch(const std::string& key);

  // `name` when an upstream list or purchase has shown it, "other" otherwise: labels
  // that callers cannot mint.
  std::string CountryLabel(std::string_view code) const;
  std::string ServiceLabel(std::string_view service) const;
  // A purchase's answer vouches for its country and service.
  void Vouch(const std::string& country, const std::string& service);

  // Upstream fetches made so far (for tests).
  int fetches() const;

 private:
  template <class T>
  struct Entry {
    std::optional<T> list;
    Runtime::Clock::time_point fetched_at;
    std::vector<Done<T>> waiting;  // non-empty while a fetch is in flight
  };
  template <class T>
  using Entries = std::unordered_map<std::string, Entry<T>>;  // by key
  template <class T>
  Entries<T>& EntriesLocked() REQUIRES(mutex_);  // countries_ or services_
  template <class T>
  void Get(const std::string& key, KeyOwner key_owner, Runtime::Clock::time_point give_up,
           Done<T> done);
  template <class T>
  UpstreamResult<T> Fetch(const std::string& key);
  void Learn(const Countries& countries) REQUIRES(mutex_);
  void Learn(const Services& services) REQUIRES(mutex_);
  void LearnService(const std::string& service) REQUIRES(mutex_);

  Upstream& upstream_;
  BudgetGate& gate_;
  const Runtime runtime_;
  const Options options_;
  mutable Mutex mutex_;
  std::unordered_map<std::string, Entry<Countries>> countries_ GUARDED_BY(mutex_);
  std::unordered_map<std::string, Entry<Services>> services_ GUARDED_BY(mutex_);
  std::set<std::string, std::less<>> known_countries_ GUARDED_BY(mutex_);
  std::set<std::string, std::less<>> known_services_ GUARDED_BY(mutex_);
  int fetches_ GUARDED_BY(mutex_) = 0;
};

}  // namespace ismscode::gateway
