#pragma once

#include <memory>
#include <string>
#include <thread>

#include "tests/support/subprocess.h"

namespace ismscode::testing {

// A real redis-server (Debian's package) for one test: in a temporary directory of its
// own, on a unix socket there (no TCP port to collide on), without persistence. Its
// config, password included, goes to its stdin, not its argv. Start() returns once the
// server's own log says it accepts connections.
class RedisServer {
 public:
  explicit RedisServer(std::string password = "");
  ~RedisServer();  // stops the server and removes its directory
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  const std::string& socket_path() const { return socket_path_; }
  std::string url() const { return "unix://" + socket_path_; }

  void Start();  // on the same socket as before (an empty Redis: nothing persists)
  void Stop();   // SIGKILL, as a crash or a pulled plug would
  // SIGSTOP / SIGCONT: a Redis that hangs (connections open, nothing answered), as a
  // long fork or a stalled disk would make it.
  void Pause();
  void Resume();

 private:
  std::string password_, dir_, socket_path_;
  std::unique_ptr<Subprocess> process_;
  // Reads the server's log after it is ready, so that a full pipe never blocks it.
  std::thread drain_;
};

}  // namespace ismscode::testing
