#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mock/request_framer.h"

namespace ismscode::mock {

struct ConnectionLimits {
  size_t max_connections = 4096;  // open at once; past it one is dropped (PickVictim)
  // From a request's first byte to its last: a client that trickles a request slower
  // than this gets 408, however often it sends a byte.
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds idle_timeout{5'000};  // keep-alive wait for the next request
  size_t max_requests_per_connection = 100'000;
  FramingLimits framing;
};

struct LoopConnection;  // the loop's state of one connection; opaque to workers

// A whole request, read and framed, handed to a worker. The worker answers on `fd`
// (non-blocking), may take the connection's next request itself (TakeNextOnWorker), and
// then calls ConnectionLoop::Release(request, ...) exactly once; until then the loop
// does not touch the connection.
struct ReadyRequest {
  uint64_t id;
  int fd;
  bool last;  // the connection's last allowed request: answer "Connection: close"
  LoopConnection* connection;
  // RequestFramer::request(): Content-Length framing, no Expect. Valid until the next
  // TakeNextOnWorker() or Release().
  std::string_view bytes() const;
};

// Reads requests for a listening socket on one thread (epoll), so that a connection
// costs a buffer and a descriptor, never a thread, until its request is complete: a
// flood of slow clients cannot take the workers a fast client needs. Enforces
// ConnectionLimits and FramingLimits, answers framing errors and timeouts itself
// (JSON bodies, "Connection: close", then a short lingering close so the client reads
// the answer), and hands complete requests to `dispatch`.
class ConnectionLoop {
 public:
  // Called on the loop thread; must not block (post to a worker, which later calls
  // loop.Release()).
  using Dispatch = std::function<void(ReadyRequest request, ConnectionLoop& loop)>;
  // Called on the loop thread for every answer the loop gives itself (400, 408, 413,
  // 414, 431, 501): for metrics.
  using Answered = std::function<void(int status)>;

  // Takes ownership of `listen_fd` (a bound, listening TCP socket) and starts the loop.
  static absl::StatusOr<std::unique_ptr<ConnectionLoop>> Start(int listen_fd,
                                                               const ConnectionLimits& limits,
                                                               Dispatch dispatch,
                                                               Answered answered);
  // Stop(), then closes every connection still open (released or not).
  ~ConnectionLoop();

  // On the worker that holds `request`, after answering it with keep-alive: when the
  // client's next request is whole within `wait` (a busy client sends it within
  // microseconds), frames it into `request` and returns true, saving two thread
  // hand-offs. False hands the connection back: call Release(request, true).
  bool TakeNextOnWorker(ReadyRequest& request, std::chrono::milliseconds wait);

  // Thread-safe. The worker is done with a dispatched request: keep the connection for
  // its next request, or close it. Released after Stop(), a connection is closed.
  void Release(const ReadyRequest& request, bool keep_alive);

  // Stops accepting and reading, closes the listener and every connection not handed
  // to a worker, and joins the loop thread. Idempotent; not from the loop thread.
  void Stop();

  // Connections open right now (for tests and benchmarks). Thread-safe.
  size_t open_connections() const;
  // Connections with a whole request waiting until their client reads earlier answers.
  size_t blocked_connections() const;

 private:
  struct Impl;
  explicit ConnectionLoop(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A listening TCP socket on host:port (port 0: any free one), non-blocking, with
// SO_REUSEADDR (not SO_REUSEPORT: a second server must not share the port).
absl::StatusOr<int> ListenTcp(const std::string& host, int port, int backlog);
// The port a bound socket listens on.
int LocalPort(int fd);

}  // namespace ismscode::mock
