#include "mock/phone_pool.h"

#include <numeric>

#include "mock/random.h"

namespace ismscode::mock {

PhonePool::PhonePool(const std::vector<Country>& countries) {
  for (const Country& c : countries) {
    CountryPool& pool = pools_[c.code];
    pool.ranges = c.ranges;
    for (const NumberRange& r : c.ranges) pool.size += r.last - r.first + 1;
  }
}

std::string PhonePool::PhoneAt(const CountryPool& pool, int64_t index) {
  for (const NumberRange& r : pool.ranges) {
    const int64_t size = r.last - r.first + 1;
    if (index >= size) {
      index -= size;
      continue;
    }
    std::string suffix = std::to_string(r.first + index);
    if (static_cast<int>(suffix.size()) < r.width) suffix.insert(0, r.width - suffix.size(), '0');
    return r.prefix + suffix;
  }
  return {};
}

void PhonePool::ReleaseExpired(TimePoint now) {
  while (!held_.empty() && held_.front().expires <= now) {
    held_.front().pool->free.push_back(held_.front().index);
    held_.pop_front();
  }
}

std::string PhonePool::Take(const std::string& country, TimePoint now, TimePoint expires,
                            Random& random) {
  ReleaseExpired(now);
  CountryPool& pool = pools_.at(country);
  if (!pool.filled) {
    pool.free.resize(static_cast<size_t>(pool.size));
    std::iota(pool.free.begin(), pool.free.end(), 0);
    pool.filled = true;
  }
  int64_t index;
  if (pool.free.empty()) {
    index = static_cast<int64_t>(random.Below(static_cast<uint64_t>(pool.size)));
  } else {
    const size_t pick = random.Below(pool.free.size());
    index = pool.free[pick];
    pool.free[pick] = pool.free.back();
    pool.free.pop_back();
    held_.push_back({expires, &pool, index});
  }
  return PhoneAt(pool, index);
}

}  // namespace ismscode::mock
