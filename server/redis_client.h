#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "server/state_url.h"

struct redisContext;

namespace ismscode::gateway {

// The first lines of every script that needs the time: `now`, Redis's clock in
// milliseconds (a fleet's replicas may disagree on theirs; the shared state must not).
inline constexpr std::string_view kLuaNow =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

// How the shared state names an upstream API key, which it never stores: the first 16
// bytes of its SHA-256, in hex.
std::string StateKeyTag(const std::string& api_key);

// Times in the shared state: milliseconds since the epoch (Redis's TIME, in kLuaNow).
inline long long EpochMillis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// A reply, copied out of hiredis.
struct RedisReply {
  enum class Type { kNil, kInteger, kString, kStatus, kArray };
  Type type = Type::kNil;
  long long integer = 0;             // kInteger
  std::string text;                  // kString, kStatus
  std::vector<RedisReply> elements;  // kArray
};

// One connection to Redis (hiredis, synchronous), with a timeout on every call. After a
// failure the connection is dropped, and the next call connects again (then
// authenticates and selects the database), so a Redis that comes back is used again
// without a restart; for `retry_after` after a failed connect or a call that got no
// answer, calls fail at once rather than each waiting out a timeout of a Redis that is
// down or hung (so a hung Redis costs the callers one timeout per `retry_after`, not one
// each). Errors are UNAVAILABLE
// when Redis could not be reached or did not answer in time, and INTERNAL when it answered with an
// error; their text names the server (Describe) and never the password. Thread-safe: one call at a
// time.
class RedisClient {
 public:
  struct Options {
    StateUrl url;
    std::string password;                    // empty: no AUTH
    std::chrono::milliseconds timeout{500};  // at least 1 ms (0 would mean none)
    std::chrono::milliseconds retry_after{250};
    // Told of every call's outcome and how long it took (metrics, health); runs on the
    // caller's thread, outside the client's lock.
    std::function<void(const absl::Status&, std::chrono::steady_clock::duration)> observe;
  };

  explicit RedisClient(Options options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args) EXCLUDES(mutex_);

  // Runs a Lua script by its SHA-1 (EVALSHA), loading it first on this connection's
  // first use of it and again when Redis has lost it (a restart, SCRIPT FLUSH).
  absl::StatusOr<RedisReply> Eval(const std::string& script, const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args) EXCLUDES(mutex_);

 private:
  absl::StatusOr<RedisReply> Observed(const std::function<absl::StatusOr<RedisReply>()>& call);
  absl::StatusOr<RedisReply> EvalOnce(const std::string& script,
                                      const std::vector<std::string>& keys,
                                      const std::vector<std::string>& args) EXCLUDES(mutex_);
  absl::Status ConnectLocked() REQUIRES(mutex_);
  absl::Status ConnectNowLocked() REQUIRES(mutex_);
  absl::StatusOr<RedisReply> CommandLocked(const std::vector<std::string>& args) REQUIRES(mutex_);
  void DropLocked() REQUIRES(mutex_);
  absl::Status Unavailable(std::string_view what) const;

  const Options options_;
  Mutex mutex_;
  redisContext* context_ GUARDED_BY(mutex_) = nullptr;
  // After a failed connect: no new attempt before this; calls fail with its error.
  std::chrono::steady_clock::time_point no_connect_before_ GUARDED_BY(mutex_);
  absl::Status connect_error_ GUARDED_BY(mutex_);
  std::unordered_map<std::string, std::string> sha1_by_script_ GUARDED_BY(mutex_);
};

}  // namespace ismscode::gateway
