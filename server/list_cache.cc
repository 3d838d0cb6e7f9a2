#include "server/list_cache.h"

namespace ismscode::gateway {

namespace {
// Bounds what upstream lists can add to the label sets (a hostile upstream must not
// grow the metrics either).
constexpr size_t kMaxKnown = 2000;
// Keys with a cached list beyond which expired lists are swept.
constexpr size_t kMaxKeys = 1024;
}  // namespace

ListCache::ListCache(Upstream& upstream, BudgetGate& gate, Runtime runtime, Options options)
    : upstream_(upstream),
      gate_(gate),
      runtime_(std::move(runtime)),
      options_(std::move(options)) {}

void ListCache::GetCountries(const std::string& key, KeyOwner key_owner,
                             Runtime::Clock::time_point give_up, Done<Countries> done) {
  Get<Countries>(key, key_owner, give_up, std::move(done));
}

void ListCache::GetServices(const std::string& key, KeyOwner key_owner,
                            Runtime::Clock::time_point give_up, Done<Services> done) {
  Get<Services>(key, key_owner, give_up, std::move(done));
}

template <>
UpstreamResult<ListCache::Countries> ListCache::Fetch(const std::string& key) {
  return upstream_.ListCountries(key);
}

template <>
UpstreamResult<ListCache::Services> ListCache::Fetch(const std::string& key) {
  return upstream_.ListServices(key);
}

void ListCache::Learn(const Countries& countries) {
  for (const auto& c : countries) {
    if (known_countries_.size() < kMaxKnown) known_countries_.insert(c.code);
  }
}

void ListCache::Learn(const Services& services) {
  for (const auto& s : services) LearnService(s);
}

void ListCache::LearnService(const std::string& service) {
  if (known_services_.size() >= kMaxKnown) return;
  if (known_services_.insert(service).second && options_.on_new_service) {
    options_.on_new_service(service);
  }
}

template <>
ListCache::Entries<ListCache::Countries>& ListCache::EntriesLocked() {
  return countries_;
}

template <>
ListCache::Entries<ListCache::Services>& ListCache::EntriesLocked() {
  return services_;
}

template <class T>
void ListCache::Get(const std::string& key, KeyOwner key_owner, Runtime::Clock::time_point give_up,
                    Done<T> done) {
  std::optional<T> fresh;
  {
    MutexLock lock(mutex_);
    Entries<T>& entries = EntriesLocked<T>();
    if (entries.size() >= kMaxKeys && !entries.count(key)) {
      // Callers' own keys come and go: forget lists nobody asked for within a TTL.
      const auto now = runtime_.now();
      std::erase_if(entries, [&](const auto& entry) {
        return entry.second.waiting.empty() && now - entry.second.fetched_at >= options_.ttl;
      });
    }
    Entry<T>& e = entries[key];
    if (e.list && runtime_.now() - e.fetched_at < options_.ttl) {
      fresh = e.list;
    } else {
      e.waiting.push_back(std::move(done));
      if (e.waiting.size() > 1) return;  // a fetch is on its way
    }
  }
  if (fresh) return done(&*fresh, nullptr);

  // Hands the outcome to everyone who waited. A refresh that failed for a passing
  // reason (budget, upstream down) serves the stale list; a refused key gets the error.
  auto settle = [this, key, key_owner](const T* list, const GatewayError* error) {
    std::vector<Done<T>> waiting;
    std::optional<T> serve;
    {
      MutexLock lock(mutex_);
      Entry<T>& e = EntriesLocked<T>()[key];
      waiting.swap(e.waiting);
      if (list) {
        e.list = *list;
        e.fetched_at = runtime_.now();
        Learn(*list);
      }
      const bool passing = error && (error->reason == Reason::kRateLimitExceeded ||
                                     error->reason == Reason::kUpstreamUnavailable);
      if (list || passing) serve = e.list;
    }
    std::optional<GatewayError> failure;
    if (!serve && error) {
      failure = *error;
      failure->key_owner = key_owner;
    }
    for (auto& w : waiting) w(serve ? &*serve : nullptr, failure ? &*failure : nullptr);
  };
  gate_.Submit(
      key, Purpose::kList, give_up,
      [this, key, settle] {
        {
          MutexLock lock(mutex_);
          ++fetches_;
        }
        auto result = Fetch<T>(key);
        const GatewayError* error = result.ok() ? nullptr : &*result.error;
        BudgetGate::Answer answer{
            .rate_limited = error && error->reason == Reason::kRateLimitExceeded,
            .retry_after = error ? error->retry_after : std::nullopt};
        answer.then = [settle, result = std::move(result)] {
          settle(result.ok() ? &*result.value : nullptr, result.ok() ? nullptr : &*result.error);
        };
        return answer;
      },
      [settle](const GatewayError& refused) { settle(nullptr, &refused); });
}

void ListCache::Prefetch(const std::string& key) {
  const auto give_up = runtime_.now() + std::chrono::minutes(10);
  GetCountries(key, KeyOwner::kGateway, give_up, [](const Countries*, const GatewayError*) {});
  GetServices(key, KeyOwner::kGateway, give_up, [](const Services*, const GatewayError*) {});
}

std::string ListCache::CountryLabel(std::string_view code) const {
  MutexLock lock(mutex_);
  return known_countries_.count(code) ? std::string(code) : "other";
}

std::string ListCache::ServiceLabel(std::string_view service) const {
  MutexLock lock(mutex_);
  return known_services_.count(service) ? std::string(service) : "other";
}

void ListCache::Vouch(const std::string& country, const std::string& service) {
  MutexLock lock(mutex_);
  if (known_countries_.size() < kMaxKnown) known_countries_.insert(country);
  LearnService(service);
}

int ListCache::fetches() const {
  MutexLock lock(mutex_);
  return fetches_;
}

}  // namespace ismscode::gateway
