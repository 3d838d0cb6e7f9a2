#include "server/shared_rate_budget.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ismscode::gateway {
namespace {

using std::chrono::milliseconds;

// KEYS: slots (zset: slot id -> when it leaves the window), state (hash: paused_until,
// tokens, refilled), purchases (zset: slot id -> when), epoch (string).
// ARGV: allowed (limit - floor), window, paced, burst, tokens per ms, unanswered_for,
// purchase, purchase horizon (all ms), the new slot's id (random: unique however often
// Redis restarts, and no key outside the API key's own cluster slot), a new epoch.
// Returns {slot, wait, took_token, epoch}; slot 0: none, wait is a lower bound.
const std::string kTryTake = std::string(kLuaNow) + R"lua(
-- The key's epoch: set once, never expiring. A different one than a replica saw before
-- means Redis lost the key's state (a restart without persistence).
local epoch = redis.call('GET', KEYS[4])
if not epoch then
  epoch = ARGV[10]
  redis.call('SET', KEYS[4], epoch)
end
local allowed, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local paced, burst, rate = ARGV[3] == '1', tonumber(ARGV[4]), tonumber(ARGV[5])
local unanswered, horizon = tonumber(ARGV[6]), tonumber(ARGV[8])
local paused = tonumber(redis.call('HGET', KEYS[2], 'paused_until') or '0')
if now < paused then return {0, paused - now, 0, epoch} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local used = redis.call('ZCARD', KEYS[1])
local tokens = tonumber(redis.call('HGET', KEYS[2], 'tokens') or ARGV[4])
local refilled = tonumber(redis.call('HGET', KEYS[2], 'refilled') or now)
if now > refilled then
  tokens = math.min(burst, tokens + (now - refilled) * rate)
  refilled = now
end
local pace = 0
if tokens < 1 then pace = math.ceil((1 - tokens) / rate) end
local keep = window + unanswered
if used < allowed and (not paced or pace == 0) then
  local took = 0
  if tokens >= 1 then
    tokens = tokens - 1
    took = 1
  end
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'refilled', refilled)
  redis.call('PEXPIRE', KEYS[2], keep)
  local id = ARGV[9]
  if redis.call('ZADD', KEYS[1], 'NX', now + unanswered, id) == 0 then
    return redis.error_reply('slot id taken')
  end
  redis.call('PEXPIRE', KEYS[1], keep)
  if ARGV[7] == '1' then
    redis.call('ZADD', KEYS[3], now, id)
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - horizon)
    redis.call('PEXPIRE', KEYS[3], horizon)
  end
  return {id, 0, took, epoch}
end
redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'refilled', refilled)
redis.call('PEXPIRE', KEYS[2], keep)
if used < allowed then return {0, pace, 0, epoch} end
-- The first slots to leave the window; an unanswered one leaves no sooner than a window
-- from now (as RateBudget says).
local nth = redis.call('ZRANGE', KEYS[1], used - allowed, used - allowed, 'WITHSCORES')
local wait = window
if nth[2] then wait = math.min(math.max(0, tonumber(nth[2]) - now), window) end
if paced then wait = math.max(wait, pace) end
return {0, wait, 0, epoch}
)lua";

// KEYS: slots, state. ARGV: slot, sent, window, took_token, burst.
// An answer always counts a window from now, even when it came so late that its
// unanswered slot had left (RateBudget::Release never forgets a sent request).
const std::string kRelease = std::string(kLuaNow) + R"lua(
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
  end
  return 1
end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[4] == '1' then
  local tokens = tonumber(redis.call('HGET', KEYS[2], 'tokens') or ARGV[5])
  redis.call('HSET', KEYS[2], 'tokens', tostring(math.min(tonumber(ARGV[5]), tokens + 1)))
end
return 1
)lua";

// KEYS: state. ARGV: pause, keep (ms). A later pause wins.
const std::string kPause = std::string(kLuaNow) + R"lua(
local until_ms = now + tonumber(ARGV[1])
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused_until') or '0')
if until_ms > paused then redis.call('HSET', KEYS[1], 'paused_until', until_ms) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
)lua";

// KEYS: purchases. ARGV: horizon (ms). Purchases within the horizon.
const std::string kRecentPurchases = std::string(kLuaNow) + R"lua(
return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
)lua";

// KEYS: slots. Requests still in the window.
const std::string kInUse = std::string(kLuaNow) + R"lua(
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
)lua";

std::string Ms(std::chrono::steady_clock::duration d) {  // rounded up: never a shorter window
  return std::to_string(std::chrono::ceil<milliseconds>(d).count());
}

std::string Number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", x);
  return text;
}

absl::Status ShapeError(const std::string& what) {
  return absl::InternalError("state store: unexpected answer to " + what);
}

}  // namespace

SharedRateBudget::SharedRateBudget(RedisClient& redis, BudgetRules rules,
                                   std::chrono::milliseconds unanswered_for)
    : redis_(redis),
      rules_(rules),
      unanswered_for_(std::max(unanswered_for, std::chrono::ceil<milliseconds>(rules.window()))),
      random_(std::random_device{}()) {}

std::string SharedRateBudget::KeyPrefix(const std::string& key) {
  return "ismscode:budget:{" + StateKeyTag(key) + "}:";
}

absl::StatusOr<SharedRateBudget::Decision> SharedRateBudget::TryTake(const std::string& key,
                                                                     Purpose purpose) {
  const std::string prefix = KeyPrefix(key);
  uint64_t id, epoch;
  {
    MutexLock lock(mutex_);
    id = (random_() >> 1) | 1;  // non-zero; it travels as a string, so exactly
    epoch = random_();
  }
  auto reply = redis_.Eval(
      kTryTake, {prefix + "slots", prefix + "state", prefix + "purchases", prefix + "epoch"},
      {std::to_string(rules_.limit() - rules_.Floor(purpose)), Ms(rules_.window()),
       purpose == Purpose::kAcquire ? "0" : "1", Number(rules_.burst()),
       Number(rules_.tokens_per_second() / 1000), std::to_string(unanswered_for_.count()),
       purpose == Purpose::kAcquire ? "1" : "0", Ms(rules_.PurchaseHorizon()), std::to_string(id),
       std::to_string(epoch)});
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kArray || reply->elements.size() != 4 ||
      reply->elements[3].type != RedisReply::Type::kString) {
    return ShapeError("a slot");
  }
  Decision d;
  if (reply->elements[0].type == RedisReply::Type::kString) d.slot = id;
  d.wait = milliseconds(reply->elements[1].integer);
  d.took_token = reply->elements[2].integer == 1;
  d.epoch = reply->elements[3].text;
  return d;
}

absl::Status SharedRateBudget::Release(const std::string& key, const Decision& taken, bool sent) {
  if (!taken.slot) return absl::OkStatus();
  const std::string prefix = KeyPrefix(key);
  auto reply = redis_.Eval(kRelease, {prefix + "slots", prefix + "state"},
                           {std::to_string(*taken.slot), sent ? "1" : "0", Ms(rules_.window()),
                            taken.took_token ? "1" : "0", Number(rules_.burst())});
  return reply.status();
}

absl::Status SharedRateBudget::PauseFor(const std::string& key, milliseconds pause) {
  const std::string prefix = KeyPrefix(key);
  auto reply = redis_.Eval(kPause, {prefix + "state"},
                           {std::to_string(pause.count()),
                            std::to_string((pause + rules_.window() + unanswered_for_).count())});
  return reply.status();
}

absl::StatusOr<double> SharedRateBudget::RecentPurchaseRate(const std::string& key) {
  auto reply =
      redis_.Eval(kRecentPurchases, {KeyPrefix(key) + "purchases"}, {Ms(rules_.PurchaseHorizon())});
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kInteger) return ShapeError("recent purchases");
  return static_cast<double>(reply->integer) /
         std::chrono::duration<double>(rules_.PurchaseHorizon()).count();
}

absl::StatusOr<int> SharedRateBudget::InUse(const std::string& key) {
  auto reply = redis_.Eval(kInUse, {KeyPrefix(key) + "slots"}, {});
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kInteger) return ShapeError("the slots in use");
  return static_cast<int>(reply->integer);
}

}  // namespace ismscode::gateway
