#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "common/mutex.h"
#include "server/redis_client.h"

namespace ismscode::gateway {

// Listens to one Redis pub/sub channel on a connection and a thread of its own (a
// subscribed connection can do nothing else), and hands each message to `on_message`.
// Reconnects after any failure (Redis restarted, the network dropped), waiting a little
// longer each time up to a second; `on_connect` runs after every (re)subscription, so
// that the owner can catch up on what it missed while disconnected. Both callbacks run
// on the subscriber's thread and must not block. Never logs the password. Thread-safe.
class RedisSubscriber {
 public:
  struct Options {
    RedisClient::Options connection;  // url, password, timeout (db does not matter)
    std::string channel;
    std::function<void(const std::string& message)> on_message;
    std::function<void()> on_connect;
  };

  explicit RedisSubscriber(Options options);
  ~RedisSubscriber();  // Stop()
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  // Ends the subscription and joins the thread: no callback runs after it returns.
  // Idempotent.
  void Stop();
  // Subscribed now (for tests and health).
  bool subscribed() const { return subscribed_.load(); }

 private:
  void Run();
  // One connection's life: connect, subscribe, read until an error or Stop().
  void Session();

  const Options options_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> subscribed_{false};
  Mutex mutex_;
  CondVar stopped_;  // wakes a reconnect wait early
  std::thread thread_;
};

}  // namespace ismscode::gateway
