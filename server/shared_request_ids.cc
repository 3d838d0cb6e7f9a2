#include "server/shared_request_ids.h"

namespace ismscode::gateway {
namespace {

// KEYS: the id's hash (state, owner, lease_until, outcome). ARGV: owner (the replica and
// the caller's attempt), lease, keep (ms). The same attempt claiming again (its first
// call timed out after Redis ran it) gets its claim back.
const std::string kClaim = std::string(kLuaNow) + R"lua(
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[1],
             'lease_until', now + tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'claimed', ''}
end
if state == 'done' then return {'done', redis.call('HGET', KEYS[1], 'outcome')} end
if state == 'running' and tonumber(redis.call('HGET', KEYS[1], 'lease_until')) < now then
  redis.call('HSET', KEYS[1], 'state', 'unknown')
  state = 'unknown'
end
if state == 'running' and redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  return {'claimed', ''}
end
return {state, ''}
)lua";

// KEYS: the id's hash. ARGV: owner, lease, keep (ms). The id is kept `keep` past its
// last renewal: a long purchase never outlives its own record.
const std::string kRenew = std::string(kLuaNow) + R"lua(
if redis.call('HGET', KEYS[1], 'state') ~= 'running' or
   redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or
   tonumber(redis.call('HGET', KEYS[1], 'lease_until')) < now then
  return 0
end
redis.call('HSET', KEYS[1], 'lease_until', now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]))
return 1
)lua";

// KEYS: the id's hash. ARGV: owner, outcome, keep (ms). Written when the id is the
// owner's, or gone (Redis restarted empty: what was bought must still be replayed).
constexpr char kRecord[] = R"lua(
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'done', 'outcome', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
)lua";

// KEYS: the id's hash. ARGV: owner. The owner knows nothing was sent: its id is free
// again, even once its lease ran out and the rest of the fleet took it for unknown.
constexpr char kRelease[] = R"lua(
local state = redis.call('HGET', KEYS[1], 'state')
if (state == 'running' or state == 'unknown') and
   redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1
)lua";

}  // namespace

SharedRequestIds::SharedRequestIds(RedisClient& redis, std::string owner,
                                   std::chrono::milliseconds lease, std::chrono::milliseconds keep)
    : redis_(redis), owner_(std::move(owner)), lease_(lease), keep_(keep) {}

std::string SharedRequestIds::RedisKey(const std::string& key,
                                       const std::string& request_id) const {
  return "ismscode:request:{" + StateKeyTag(key) + "}:" + request_id;
}

std::string SharedRequestIds::Owner(const std::string& attempt) const {
  return owner_ + "/" + attempt;
}

absl::StatusOr<SharedRequestIds::Claim> SharedRequestIds::TryClaim(const std::string& key,
                                                                   const std::string& request_id,
                                                                   const std::string& attempt) {
  auto reply =
      redis_.Eval(kClaim, {RedisKey(key, request_id)},
                  {Owner(attempt), std::to_string(lease_.count()), std::to_string(keep_.count())});
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kArray || reply->elements.size() != 2) {
    return absl::InternalError("state store: unexpected answer to a request id's claim");
  }
  const std::string& state = reply->elements[0].text;
  Claim claim;
  claim.state = state == "claimed"   ? State::kClaimed
                : state == "running" ? State::kRunning
                : state == "done"    ? State::kDone
                                     : State::kUnknown;
  claim.outcome = reply->elements[1].text;
  return claim;
}

absl::StatusOr<bool> SharedRequestIds::Renew(const std::string& key, const std::string& request_id,
                                             const std::string& attempt) {
  auto reply =
      redis_.Eval(kRenew, {RedisKey(key, request_id)},
                  {Owner(attempt), std::to_string(lease_.count()), std::to_string(keep_.count())});
  if (!reply.ok()) return reply.status();
  return reply->integer == 1;
}

absl::StatusOr<bool> SharedRequestIds::Record(const std::string& key, const std::string& request_id,
                                              const std::string& attempt,
                                              const std::string& outcome) {
  auto reply = redis_.Eval(kRecord, {RedisKey(key, request_id)},
                           {Owner(attempt), outcome, std::to_string(keep_.count())});
  if (!reply.ok()) return reply.status();
  return reply->integer == 1;
}

absl::Status SharedRequestIds::Release(const std::string& key, const std::string& request_id,
                                       const std::string& attempt) {
  return redis_.Eval(kRelease, {RedisKey(key, request_id)}, {Owner(attempt)}).status();
}

}  // namespace ismscode::gateway
