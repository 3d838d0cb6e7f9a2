#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>

#include "server/upstream_client.h"

namespace ismscode::gateway {

// Conversions between the contract's well-known types and std::chrono. Pure, inline.

inline google::protobuf::Timestamp ToProto(SystemTime t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// A caller's timestamp past year 2255 (or before 1685) would overflow 64-bit
// nanoseconds: it is taken as the nearest one that does not.
inline SystemTime FromProto(const google::protobuf::Timestamp& t) {
  constexpr int64_t kFarthest = 9'000'000'000;  // seconds from the epoch
  const int64_t seconds = std::clamp<int64_t>(t.seconds(), -kFarthest, kFarthest);
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::seconds(seconds) + std::chrono::nanoseconds(t.nanos())));
}

// Durations beyond this mean "as long as allowed": a number's reservation and a call's
// deadline bound every wait long before it, and clock arithmetic stays far from overflow.
inline constexpr auto kLongestWait = std::chrono::hours(24 * 365);

inline std::chrono::milliseconds FromProto(const google::protobuf::Duration& d) {
  return std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(google::protobuf::util::TimeUtil::DurationToMilliseconds(d)),
      kLongestWait);
}

}  // namespace ismscode::gateway
