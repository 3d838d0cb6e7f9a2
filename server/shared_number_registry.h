#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <optional>
#include <string>

#include "server/poll_hub.h"
#include "server/redis_client.h"

namespace ismscode::gateway {

// NumberRegistry for a fleet (--state): the numbers any replica bought, by id, so that
// AwaitCode works on every replica, for the key that bought the number and no other. A
// number is kept until `keep_expired` after its reservation ends. What is stored is the
// number's id, service, expiry, purchase time and a SHA-256 tag of its key, never the
// key: Find() takes the caller's key, and a number is found only if the tags match (an
// unknown id and another key's number look the same). Errors are RedisClient's.
// Thread-safe.
class SharedNumberRegistry {
 public:
  SharedNumberRegistry(RedisClient& redis, std::chrono::minutes keep_expired);

  // `fresh`: a new purchase, which replaces whatever an earlier number with the same id
  // left (the upstream may re-issue ids); a replay keeps the entry it finds.
  absl::Status Remember(const WatchedNumber& number, bool fresh);
  // With `key` in the result (the caller's: it is the number's key, by the tag).
  absl::StatusOr<std::optional<WatchedNumber>> Find(const std::string& id,
                                                    const std::string& key) const;

 private:
  RedisClient& redis_;
  const std::chrono::minutes keep_expired_;
};

}  // namespace ismscode::gateway
