#include "server/shared_poll_loops.h"

#include <nlohmann/json.hpp>

namespace ismscode::gateway {
namespace {

using std::chrono::milliseconds;

// KEYS: the number's lease. ARGV: owner, lease (ms).
constexpr char kLead[] = R"lua(
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
)lua";

// KEYS: the number's lease. ARGV: owner.
constexpr char kResign[] = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
)lua";

// KEYS: the number's SMS (hash: count, list). ARGV: count, list (JSON), keep (ms),
// channel, number id. New SMS are announced on the channel, with the number's id.
constexpr char kPublish[] = R"lua(
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if tonumber(ARGV[1]) <= count then return 0 end
redis.call('HSET', KEYS[1], 'count', ARGV[1], 'list', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
)lua";

std::string LeaseKey(const std::string& id) { return "ismscode:poll:{" + id + "}:lease"; }
std::string SmsKey(const std::string& id) { return "ismscode:poll:{" + id + "}:sms"; }

}  // namespace

SharedPollLoops::SharedPollLoops(RedisClient& redis, std::string owner, milliseconds lease)
    : redis_(redis), owner_(std::move(owner)), lease_(lease) {}

absl::StatusOr<bool> SharedPollLoops::Lead(const std::string& number_id) {
  auto reply = redis_.Eval(kLead, {LeaseKey(number_id)}, {owner_, std::to_string(lease_.count())});
  if (!reply.ok()) return reply.status();
  return reply->integer == 1;
}

absl::Status SharedPollLoops::Resign(const std::string& number_id) {
  return redis_.Eval(kResign, {LeaseKey(number_id)}, {owner_}).status();
}

absl::StatusOr<bool> SharedPollLoops::Publish(const std::string& number_id,
                                              const std::vector<UpstreamSms>& sms,
                                              milliseconds keep) {
  nlohmann::json list = nlohmann::json::array();
  for (const UpstreamSms& s : sms) {
    list.push_back(
        {{"from", s.from}, {"text", s.text}, {"received_at", EpochMillis(s.received_at)}});
  }
  auto reply = redis_.Eval(kPublish, {SmsKey(number_id)},
                           {std::to_string(sms.size()), list.dump(), std::to_string(keep.count()),
                            std::string(kChannel), number_id});
  if (!reply.ok()) return reply.status();
  return reply->integer == 1;
}

absl::StatusOr<std::vector<UpstreamSms>> SharedPollLoops::Read(const std::string& number_id) {
  auto reply = redis_.Command({"HGET", SmsKey(number_id), "list"});
  if (!reply.ok()) return reply.status();
  std::vector<UpstreamSms> out;
  if (reply->type != RedisReply::Type::kString) return out;
  const auto list = nlohmann::json::parse(reply->text, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) return absl::InternalError("state store: a number's SMS are damaged");
  for (const auto& s : list) {
    if (!s.is_object() || !s.contains("from") || !s["from"].is_string() || !s.contains("text") ||
        !s["text"].is_string() || !s.contains("received_at") ||
        !s["received_at"].is_number_integer()) {
      return absl::InternalError("state store: a number's SMS are damaged");
    }
    out.push_back({.from = s["from"].get<std::string>(),
                   .text = s["text"].get<std::string>(),
                   .received_at = SystemTime(milliseconds(s["received_at"].get<long long>()))});
  }
  return out;
}

}  // namespace ismscode::gateway
