#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "mock/clock.h"
#include "mock/scenario.h"

namespace ismscode::mock {

class Random;

// Hands out the fictional numbers of a scenario's countries, at random, so that no
// number is held by two live reservations while a free one exists; when every number
// of a country is held, one is reused (real providers recycle numbers too). O(1) per
// number: a free list per country, refilled as reservations end. Not thread-safe.
class PhonePool {
 public:
  explicit PhonePool(const std::vector<Country>& countries);

  // A number of `country` (which must be one of the constructor's), held until `expires`.
  std::string Take(const std::string& country, TimePoint now, TimePoint expires, Random& random);

 private:
  struct CountryPool {
    std::vector<NumberRange> ranges;
    int64_t size = 0;
    std::vector<int64_t> free;  // indices into the ranges, filled on first use
    bool filled = false;
  };
  struct Held {
    TimePoint expires;
    CountryPool* pool;
    int64_t index;
  };

  void ReleaseExpired(TimePoint now);
  static std::string PhoneAt(const CountryPool& pool, int64_t index);

  std::unordered_map<std::string, CountryPool> pools_;
  std::deque<Held> held_;  // in purchase order, which is expiry order
};

}  // namespace ismscode::mock
