#include "server/redis_subscriber.h"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <memory>

namespace ismscode::gateway {
namespace {

// How often the reading thread looks at stopping_ while no message comes.
constexpr int kPollMillis = 200;

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

timeval ToTimeval(std::chrono::milliseconds d) {
  return {.tv_sec = static_cast<time_t>(d.count() / 1000),
          .tv_usec = static_cast<suseconds_t>(d.count() % 1000 * 1000)};
}

// A blocking command on a fresh connection; false on any failure.
bool Ok(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  Reply reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data())));
  return reply && reply->type != REDIS_REPLY_ERROR;
}

}  // namespace

RedisSubscriber::RedisSubscriber(Options options) : options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

RedisSubscriber::~RedisSubscriber() { Stop(); }

void RedisSubscriber::Stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  stopped_.NotifyAll();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void RedisSubscriber::Run() {
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping_) {
    const auto started = std::chrono::steady_clock::now();
    Session();
    subscribed_ = false;
    // A session that lasted resets the wait; one that failed at once doubles it.
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(5)) {
      backoff = std::chrono::milliseconds(100);
    }
    MutexLock lock(mutex_);
    const auto until = std::chrono::steady_clock::now() + backoff;
    while (!stopping_ && stopped_.WaitUntil(mutex_, until)) {
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

void RedisSubscriber::Session() {
  const RedisClient::Options& o = options_.connection;
  const timeval timeout = ToTimeval(std::max(o.timeout, std::chrono::milliseconds(1)));
  Context c(o.url.unix_path.empty()
                ? redisConnectWithTimeout(o.url.host.c_str(), o.url.port, timeout)
                : redisConnectUnixWithTimeout(o.url.unix_path.c_str(), timeout));
  if (!c || c->err) return;
  redisSetTimeout(c.get(), timeout);
  // A peer that vanished without a reset (a NAT's idle timeout, a lost host) is noticed.
  if (o.url.unix_path.empty()) redisEnableKeepAlive(c.get());
  if (!o.password.empty() && !Ok(c.get(), {"AUTH", o.password})) return;
  if (!Ok(c.get(), {"SUBSCRIBE", options_.channel})) return;
  subscribed_ = true;
  if (options_.on_connect) options_.on_connect();
  while (!stopping_) {
    pollfd p{.fd = c->fd, .events = POLLIN, .revents = 0};
    const int ready = poll(&p, 1, kPollMillis);
    if (ready < 0 && errno != EINTR) return;
    if (ready <= 0) continue;
    if (redisBufferRead(c.get()) != REDIS_OK) return;  // closed or failed: reconnect
    for (;;) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c.get(), &raw) != REDIS_OK) return;
      if (!raw) break;  // no whole reply buffered yet
      Reply reply(static_cast<redisReply*>(raw));
      // ["message", channel, payload]
      if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
          reply->element[0]->type == REDIS_REPLY_STRING &&
          std::string(reply->element[0]->str, reply->element[0]->len) == "message" &&
          reply->element[2]->type == REDIS_REPLY_STRING && options_.on_message) {
        options_.on_message(std::string(reply->element[2]->str, reply->element[2]->len));
      }
    }
  }
}

}  // namespace ismscode::gateway
