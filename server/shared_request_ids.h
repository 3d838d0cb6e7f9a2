#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <string>

#include "server/redis_client.h"

namespace ismscode::gateway {

// What each request id of AcquireNumber came to, across a fleet of gateways (--state),
// so that one id buys once however many replicas it reaches. The replica that claims an
// id holds its lease while it buys, renewing it while it retries; the others wait for
// the outcome it records. A lease that runs out with no outcome (its replica died in
// the middle of a purchase) leaves the outcome unknown for good: reported as such,
// never bought again. An id is kept for `keep` (the request-id TTL). The API key is never
// stored: ids live under a SHA-256 tag of it. Errors are RedisClient's. Thread-safe.
class SharedRequestIds {
 public:
  enum class State {
    kClaimed,  // this attempt buys for the id now (or still: it claimed before)
    kRunning,  // another attempt (on another replica or this one) is buying for it
    kDone,     // bought (or failed for good): `outcome` is what was recorded
    kUnknown,  // its buyer vanished mid-purchase: whether it bought is not known
  };
  struct Claim {
    State state = State::kUnknown;
    std::string outcome;  // kDone
  };

  // `owner`: this replica's name in the fleet (unique; a restart is a new owner).
  SharedRequestIds(RedisClient& redis, std::string owner, std::chrono::milliseconds lease,
                   std::chrono::milliseconds keep);

  // `attempt`: the caller's own name for its try (random, unique on this replica). Only
  // the attempt that claimed an id renews, records or releases it; the same attempt
  // claiming again (a retry after a timeout) gets its claim back.
  absl::StatusOr<Claim> TryClaim(const std::string& key, const std::string& request_id,
                                 const std::string& attempt);
  // Extends the attempt's lease; false when it is not (or no longer) the attempt's.
  absl::StatusOr<bool> Renew(const std::string& key, const std::string& request_id,
                             const std::string& attempt);
  // The purchase's outcome, for replays on every replica. Stored even after the lease ran
  // out (a replica that said "unknown" meanwhile is then contradicted for the better: a
  // retry gets the number), and when the id is gone (Redis restarted empty). False when
  // the id is another attempt's.
  absl::StatusOr<bool> Record(const std::string& key, const std::string& request_id,
                              const std::string& attempt, const std::string& outcome);
  // Nothing was sent for the id (cancelled, refused before the wire): another caller may
  // claim it at once, even when the attempt's lease had run out meanwhile (the fleet took
  // the id for unknown; its owner knows better).
  absl::Status Release(const std::string& key, const std::string& request_id,
                       const std::string& attempt);

  const std::string& owner() const { return owner_; }

 private:
  std::string RedisKey(const std::string& key, const std::string& request_id) const;
  std::string Owner(const std::string& attempt) const;  // the replica's name, "/", the attempt

  RedisClient& redis_;
  const std::string owner_;
  const std::chrono::milliseconds lease_, keep_;
};

}  // namespace ismscode::gateway
