#pragma once

#include <prometheus/family.h>

#include <initializer_list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "common/mutex.h"

namespace ismscode {

// Finds a metric family's child for a set of label values, fast: Family::Add hashes a
// label map under the family's lock on every call, so children are cached by (family,
// values) in a map whose key is built in a reused per-thread buffer (no allocation once
// warm). Used by the mock's and the gateway's metrics. Thread-safe.
class MetricChildren {
 public:
  using Labels = std::initializer_list<std::pair<const char*, std::string_view>>;

  // `extra` goes to Family::Add the first time (a histogram's buckets).
  template <class Metric, class... Extra>
  Metric& Get(prometheus::Family<Metric>& family, Labels labels, const Extra&... extra) {
    thread_local std::string key;
    // The family's address (not its bytes) tells families with equal labels apart.
    const void* family_id = &family;
    key.assign(reinterpret_cast<const char*>(&family_id), sizeof family_id);
    for (const auto& [name, value] : labels) {
      key += '\x1f';
      key += value;
    }
    MutexLock lock(mutex_);
    auto it = children_.find(std::string_view(key));
    if (it == children_.end()) {
      std::map<std::string, std::string> label_map;
      for (const auto& [name, value] : labels) label_map.emplace(name, value);
      it = children_.emplace(key, &family.Add(label_map, extra...)).first;
    }
    return *static_cast<Metric*>(it->second);
  }

 private:
  Mutex mutex_;
  std::map<std::string, void*, std::less<>> children_ GUARDED_BY(mutex_);
};

}  // namespace ismscode
