#include "server/redis_client.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>

namespace ismscode::gateway {
namespace {

timeval ToTimeval(std::chrono::milliseconds d) {
  return {.tv_sec = static_cast<time_t>(d.count() / 1000),
          .tv_usec = static_cast<suseconds_t>(d.count() % 1000 * 1000)};
}

RedisReply Copy(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(Copy(*r.element[i]));
      break;
    default:
      break;  // nil
  }
  return out;
}

}  // namespace

std::string StateKeyTag(const std::string& api_key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(api_key.data(), api_key.size(), digest, &length, EVP_sha256(), nullptr);
  std::string tag;
  char hex[3];
  for (unsigned int i = 0; i < 16 && i < length; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", digest[i]);
    tag += hex;
  }
  return tag;
}

RedisClient::RedisClient(Options options) : options_(std::move(options)) {
  // hiredis writes with write(2): a Redis that went away would raise SIGPIPE and kill
  // the gateway, where it must be an error (UNAVAILABLE) and a reconnect.
  std::signal(SIGPIPE, SIG_IGN);
}

RedisClient::~RedisClient() {
  MutexLock lock(mutex_);
  DropLocked();
}

absl::Status RedisClient::Unavailable(std::string_view what) const {
  return absl::UnavailableError("state store " + Describe(options_.url) + ": " + std::string(what));
}

void RedisClient::DropLocked() {
  if (context_) redisFree(context_);
  context_ = nullptr;
  sha1_by_script_.clear();  // a new connection may reach a Redis that lost its scripts
}

absl::Status RedisClient::ConnectLocked() {
  if (context_) return absl::OkStatus();
  const auto now = std::chrono::steady_clock::now();
  if (now < no_connect_before_) return connect_error_;
  absl::Status status = ConnectNowLocked();
  if (!status.ok()) {
    no_connect_before_ = now + options_.retry_after;
    connect_error_ = status;
  }
  return status;
}

absl::Status RedisClient::ConnectNowLocked() {
  const timeval timeout = ToTimeval(std::max(options_.timeout, std::chrono::milliseconds(1)));
  const StateUrl& url = options_.url;
  redisContext* c = url.unix_path.empty()
                        ? redisConnectWithTimeout(url.host.c_str(), url.port, timeout)
                        : redisConnectUnixWithTimeout(url.unix_path.c_str(), timeout);
  if (!c) return Unavailable("out of memory for a connection");
  if (c->err) {
    const absl::Status status = Unavailable(std::string("connect: ") + c->errstr);
    redisFree(c);
    return status;
  }
  redisSetTimeout(c, timeout);
  context_ = c;
  if (!options_.password.empty()) {
    auto auth = CommandLocked({"AUTH", options_.password});
    if (!auth.ok()) {
      DropLocked();
      // Redis's own words (WRONGPASS, or AUTH without a password set); never the password.
      return absl::Status(auth.status().code(),
                          std::string(auth.status().message()) + " (authenticating)");
    }
  }
  if (url.db != 0) {
    auto select = CommandLocked({"SELECT", std::to_string(url.db)});
    if (!select.ok()) {
      DropLocked();
      return select.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisReply> RedisClient::CommandLocked(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (!reply) {
    // The connection is unusable after an I/O error or a timeout: drop it.
    const absl::Status status = Unavailable(context_->err == REDIS_ERR_IO && errno == EAGAIN
                                                ? std::string("no answer in time")
                                                : std::string(context_->errstr));
    DropLocked();
    // A Redis that hangs would otherwise cost every caller a timeout in turn (one
    // connection, one call at a time): the next ones fail at once for retry_after.
    no_connect_before_ = std::chrono::steady_clock::now() + options_.retry_after;
    connect_error_ = status;
    return status;
  }
  absl::StatusOr<RedisReply> out;
  if (reply->type == REDIS_REPLY_ERROR) {
    out = absl::InternalError("state store " + Describe(options_.url) +
                              " replied: " + std::string(reply->str, reply->len));
  } else {
    out = Copy(*reply);
  }
  freeReplyObject(reply);
  return out;
}

absl::StatusOr<RedisReply> RedisClient::Observed(
    const std::function<absl::StatusOr<RedisReply>()>& call) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<RedisReply> reply = call();
  if (options_.observe) options_.observe(reply.status(), std::chrono::steady_clock::now() - start);
  return reply;
}

absl::StatusOr<RedisReply> RedisClient::Command(const std::vector<std::string>& args) {
  return Observed([&]() -> absl::StatusOr<RedisReply> {
    MutexLock lock(mutex_);
    if (absl::Status s = ConnectLocked(); !s.ok()) return s;
    return CommandLocked(args);
  });
}

absl::StatusOr<RedisReply> RedisClient::Eval(const std::string& script,
                                             const std::vector<std::string>& keys,
                                             const std::vector<std::string>& args) {
  return Observed([&] { return EvalOnce(script, keys, args); });
}

absl::StatusOr<RedisReply> RedisClient::EvalOnce(const std::string& script,
                                                 const std::vector<std::string>& keys,
                                                 const std::vector<std::string>& args) {
  MutexLock lock(mutex_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (absl::Status s = ConnectLocked(); !s.ok()) return s;
    auto known = sha1_by_script_.find(script);
    if (known == sha1_by_script_.end()) {
      auto loaded = CommandLocked({"SCRIPT", "LOAD", script});
      if (!loaded.ok()) return loaded.status();
      known = sha1_by_script_.emplace(script, loaded->text).first;
    }
    std::vector<std::string> command = {"EVALSHA", known->second, std::to_string(keys.size())};
    command.insert(command.end(), keys.begin(), keys.end());
    command.insert(command.end(), args.begin(), args.end());
    auto reply = CommandLocked(command);
    // Redis lost the script (restarted, flushed): load it again, once.
    if (!reply.ok() && reply.status().message().find("NOSCRIPT") != std::string_view::npos) {
      sha1_by_script_.erase(script);
      continue;
    }
    return reply;
  }
  return absl::InternalError("state store " + Describe(options_.url) +
                             " keeps losing the gateway's scripts");
}

}  // namespace ismscode::gateway
