#include "server/shared_number_registry.h"

#include <charconv>

namespace ismscode::gateway {
namespace {

using std::chrono::milliseconds;

// KEYS: the number's hash. ARGV: fresh, forget at (ms since the epoch), then the fields
// as name, value pairs.
constexpr char kRemember[] = R"lua(
if ARGV[1] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
)lua";

std::string RedisKey(const std::string& id) { return "ismscode:number:" + id; }

bool ParseLong(const std::string& text, long long* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

}  // namespace

SharedNumberRegistry::SharedNumberRegistry(RedisClient& redis, std::chrono::minutes keep_expired)
    : redis_(redis), keep_expired_(keep_expired) {}

absl::Status SharedNumberRegistry::Remember(const WatchedNumber& number, bool fresh) {
  // The purchase time crosses machines as wall-clock time; each replica turns it back
  // into its own steady clock.
  const auto acquired_at = std::chrono::system_clock::now() -
                           std::chrono::duration_cast<std::chrono::system_clock::duration>(
                               std::chrono::steady_clock::now() - number.acquired_at);
  const long long forget_at =
      EpochMillis(number.expires_at + std::chrono::duration_cast<milliseconds>(keep_expired_));
  return redis_
      .Eval(kRemember, {RedisKey(number.id)},
            {fresh ? "1" : "0", std::to_string(forget_at), "key_tag", StateKeyTag(number.key),
             "key_owner", number.key_owner == KeyOwner::kCaller ? "caller" : "gateway", "service",
             number.service, "expires_at", std::to_string(EpochMillis(number.expires_at)),
             "acquired_at", std::to_string(EpochMillis(acquired_at))})
      .status();
}

absl::StatusOr<std::optional<WatchedNumber>> SharedNumberRegistry::Find(
    const std::string& id, const std::string& key) const {
  auto reply = redis_.Command(
      {"HMGET", RedisKey(id), "key_tag", "key_owner", "service", "expires_at", "acquired_at"});
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kArray || reply->elements.size() != 5) {
    return absl::InternalError("state store: unexpected answer to a number's lookup");
  }
  const auto& f = reply->elements;
  if (f[0].type != RedisReply::Type::kString || f[0].text != StateKeyTag(key)) return std::nullopt;
  long long expires_ms = 0, acquired_ms = 0;
  if (!ParseLong(f[3].text, &expires_ms) || !ParseLong(f[4].text, &acquired_ms)) {
    return absl::InternalError("state store: a number's entry is damaged");
  }
  const auto acquired_system = std::chrono::system_clock::time_point(milliseconds(acquired_ms));
  WatchedNumber number{
      .id = id,
      .key = key,
      .service = f[2].text,
      .key_owner = f[1].text == "caller" ? KeyOwner::kCaller : KeyOwner::kGateway,
      .expires_at = SystemTime(milliseconds(expires_ms)),
      .acquired_at = std::chrono::steady_clock::now() -
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::system_clock::now() - acquired_system)};
  return number;
}

}  // namespace ismscode::gateway
