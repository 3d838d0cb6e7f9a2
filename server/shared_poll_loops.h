#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "server/redis_client.h"
#include "server/upstream_client.h"

namespace ismscode::gateway {

// The fleet's side of polling (--state): one replica polls each number, the one holding
// the number's lease (renewed with each Lead() while it polls); what its polls found is
// kept in Redis, where every replica's watchers read it. A lease that is not renewed (its
// replica died) runs out, and the next replica to ask leads from then on: a number is
// taken over within one lease period. SMS lists only grow (the upstream lists every SMS
// of a number each time), so a late or repeated Publish never takes an SMS away. Errors
// are RedisClient's. Thread-safe.
class SharedPollLoops {
 public:
  // `owner`: this replica's name in the fleet (unique; a restart is a new owner).
  SharedPollLoops(RedisClient& redis, std::string owner, std::chrono::milliseconds lease);

  // True: this replica polls the number now (it took the lease, or renewed its own).
  absl::StatusOr<bool> Lead(const std::string& number_id);
  // This replica stops polling the number (its last watcher left): another may lead at
  // once.
  absl::Status Resign(const std::string& number_id);
  // The pub/sub channel on which Publish announces new SMS: the message is the number's id.
  static constexpr std::string_view kChannel = "ismscode:poll:published";

  // What the leader's last poll listed, kept until `keep` from now (the number's
  // reservation and a margin). True when it holds SMS the store did not have (and then
  // it is announced on kChannel).
  absl::StatusOr<bool> Publish(const std::string& number_id, const std::vector<UpstreamSms>& sms,
                               std::chrono::milliseconds keep);
  // Every SMS any leader published for the number, in the upstream's order.
  absl::StatusOr<std::vector<UpstreamSms>> Read(const std::string& number_id);

 private:
  RedisClient& redis_;
  const std::string owner_;
  const std::chrono::milliseconds lease_;
};

}  // namespace ismscode::gateway
