#include "mock/connection_loop.h"

#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"

namespace ismscode::mock {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenerId = 0;
constexpr uint64_t kWakeId = 1;
constexpr size_t kReadChunk = 16 * 1024;
// After answering an error, how long and how much the loop still reads (and drops)
// before closing: closing with unread data sends a reset that can destroy the answer
// before the client reads it.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 1 << 20;
constexpr auto kSweepEvery = std::chrono::milliseconds(100);
// One readable event reads at most this much, so that a client streaming at full speed
// cannot keep the loop from everyone else (epoll is level-triggered: it comes back).
constexpr size_t kMaxReadPerEvent = 64 * 1024;
// A connection whose answers pile up unread gets no more requests answered until its
// client reads them: a worker never blocks on a client that does not read.
constexpr int kMaxUnsentBytes = 64 * 1024;

// Bytes written to the socket that the peer has not acknowledged yet.
int UnsentBytes(int fd) {
  int queued = 0;
  return ioctl(fd, SIOCOUTQ, &queued) == 0 ? queued : 0;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    default:
      return "Error";
  }
}

std::string ErrorResponse(int status, const char* code, const char* message) {
  // code and message are fixed ASCII strings of ours: no escaping needed.
  std::string body =
      std::string(R"({"status":"error","code":")") + code + R"(","message":")" + message + "\"}";
  return "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

enum class ConnectionState {
  kIdle,        // between requests (keep-alive) or just accepted: idle_timeout
  kReading,     // part of a request has come: request_timeout from its first byte
  kDispatched,  // a worker owns the connection; not in epoll
  kLingering,   // answered an error and shut down writing; draining, then closing
  kBlocked,     // a request is whole but the client has not read earlier answers
};

}  // namespace

// Owned by the loop thread, except while kDispatched: then by the worker holding it.
struct LoopConnection {
  int fd;
  RequestFramer framer;
  ConnectionState state = ConnectionState::kIdle;
  Clock::time_point deadline;
  Clock::time_point since;  // when the current state began
  size_t served = 0;
  size_t lingered = 0;
  bool peer_closed = false;  // seen by a worker
};

std::string_view ReadyRequest::bytes() const { return connection->framer.request(); }

namespace {

// Reads what the socket holds into the framer, without waiting. False when the peer
// closed or the socket failed.
bool ReadAvailable(LoopConnection& c) {
  char buf[kReadChunk];
  while (c.framer.state() == RequestFramer::State::kNeedMore) {
    const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0) return false;
    c.framer.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
  return true;
}

}  // namespace

struct ConnectionLoop::Impl {
  using State = ConnectionState;
  using Connection = LoopConnection;

  Impl(int listen, const ConnectionLimits& l, Dispatch d, Answered a)
      : listen_fd(listen), limits(l), dispatch(std::move(d)), answered(std::move(a)) {}

  ConnectionLoop* owner = nullptr;
  const int listen_fd;
  const ConnectionLimits limits;
  const Dispatch dispatch;
  const Answered answered;
  int epoll_fd = -1;
  int wake_fd = -1;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> open{0};
  std::atomic<size_t> blocked{0};  // connections in kBlocked
  std::once_flag stopped;

  // Loop thread only (and the destructor, after the thread is joined).
  std::unordered_map<uint64_t, Connection> connections;
  uint64_t next_id = 2;
  bool listener_paused = false;  // out of descriptors: accept again at the next sweep

  // Released by workers, taken by the loop.
  Mutex released_mutex;
  std::vector<std::pair<uint64_t, bool>> released GUARDED_BY(released_mutex);

  void Run() {
    epoll_event events[256];
    Clock::time_point next_sweep = Clock::now() + kSweepEvery;
    while (!stopping.load()) {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_sweep - Clock::now());
      const int n = epoll_wait(epoll_fd, events, 256, std::max<int>(0, wait.count()));
      for (int i = 0; i < n && !stopping.load(); ++i) {
        const uint64_t id = events[i].data.u64;
        if (id == kListenerId) {
          AcceptAll();
        } else if (id == kWakeId) {
          TakeReleased();
        } else {
          OnEvent(id, events[i].events);
        }
      }
      if (Clock::now() >= next_sweep) {
        Sweep(Clock::now());
        next_sweep = Clock::now() + kSweepEvery;
      }
    }
  }

  void Watch(uint64_t id, int fd, int op = EPOLL_CTL_ADD) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = id;
    epoll_ctl(epoll_fd, op, fd, &ev);
  }

  void Close(uint64_t id) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    if (it->second.state == State::kBlocked) blocked.fetch_sub(1);
    if (it->second.state != State::kDispatched) {
      epoll_ctl(epoll_fd, EPOLL_CTL_DEL, it->second.fd, nullptr);
    }
    close(it->second.fd);
    connections.erase(it);
    open.fetch_sub(1);
  }

  // The connection to drop when a new one would pass max_connections: one lingering
  // after an error; else one that has never completed a request (a flood's connections
  // are those), the one waiting longest; else the one waiting longest. A client that has
  // been answered keeps its idle keep-alive connection as long as strangers can go first.
  // Never one a worker is answering. 0 when every connection is being answered.
  uint64_t PickVictim() const {
    uint64_t victim = 0;
    int victim_rank = 0;
    Clock::time_point victim_since;
    for (const auto& [id, c] : connections) {
      if (c.state == State::kDispatched) continue;
      const int rank = c.state == State::kLingering ? 3 : c.served == 0 ? 2 : 1;
      if (rank > victim_rank || (rank == victim_rank && c.since < victim_since)) {
        victim = id;
        victim_rank = rank;
        victim_since = c.since;
      }
    }
    return victim;
  }

  void AcceptAll() {
    for (;;) {
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: make room, or stop accepting until the next sweep (the
          // listener would otherwise wake the loop in a busy circle).
          if (const uint64_t victim = PickVictim()) {
            Close(victim);
            continue;
          }
          PauseListener(true);
        }
        return;
      }
      if (connections.size() >= limits.max_connections) {
        const uint64_t victim = PickVictim();
        if (victim == 0) {
          close(fd);  // every connection is being answered: this one waits its turn elsewhere
          continue;
        }
        Close(victim);
      }
      int yes = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      const uint64_t id = next_id++;
      const Clock::time_point now = Clock::now();
      connections.emplace(id, Connection{fd, RequestFramer(limits.framing), State::kIdle,
                                         now + limits.idle_timeout, now});
      open.fetch_add(1);
      Watch(id, fd);
    }
  }

  void PauseListener(bool pause) {
    if (listener_paused == pause) return;
    listener_paused = pause;
    epoll_event ev{};
    ev.events = pause ? 0u : static_cast<uint32_t>(EPOLLIN);
    ev.data.u64 = kListenerId;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev);
  }

  void OnEvent(uint64_t id, uint32_t events) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    Connection& c = it->second;
    if (c.state != State::kBlocked) return OnReadable(id, c);
    // A blocked connection is watched for nothing; epoll still reports errors.
    if ((events & (EPOLLERR | EPOLLHUP)) != 0) Close(id);
  }

  // Resumes a blocked connection once its client has read enough of its answers.
  // (Checked at each sweep: EPOLLOUT would fire while any room is left in the socket,
  // long before the backlog is read, and spin the loop.)
  void Unblock(uint64_t id, Connection& c) {
    if (UnsentBytes(c.fd) > kMaxUnsentBytes) return;
    Watch(id, c.fd, EPOLL_CTL_MOD);
    c.state = State::kReading;
    blocked.fetch_sub(1);
    Advance(id, c, c.framer.state());
  }

  void OnReadable(uint64_t id, Connection& c) {
    char buf[kReadChunk];
    for (size_t taken = 0; taken < kMaxReadPerEvent;) {
      const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {  // the peer closed (or reset): whatever it half-sent is dropped
        Close(id);
        return;
      }
      taken += static_cast<size_t>(n);
      if (c.state == State::kLingering) {
        c.lingered += static_cast<size_t>(n);
        if (c.lingered > kLingerBytes) {
          Close(id);
          return;
        }
        continue;
      }
      const RequestFramer::State framed = c.framer.Feed(std::string_view(buf, n));
      // Stray CRLFs between requests start nothing: the idle deadline stands.
      if (c.state == State::kIdle && c.framer.started()) StartReading(c, Clock::now());
      if (Advance(id, c, framed)) return;
    }
  }

  void StartReading(Connection& c, Clock::time_point now) {
    c.state = State::kReading;
    c.since = now;
    c.deadline = now + limits.request_timeout;
  }

  // Acts on the framer's state. Returns true when the connection left the loop's hands
  // (dispatched or closed) or has nothing more to read for now.
  bool Advance(uint64_t id, Connection& c, RequestFramer::State framed) {
    switch (framed) {
      case RequestFramer::State::kNeedMore:
        if (c.framer.TakeContinue()) SendBestEffort(c.fd, "HTTP/1.1 100 Continue\r\n\r\n");
        return false;
      case RequestFramer::State::kFailed: {
        const RequestFramer::Failure& f = c.framer.failure();
        AnswerAndLinger(c, f.status, f.code, f.reason);
        return true;
      }
      case RequestFramer::State::kComplete: {
        if (UnsentBytes(c.fd) > kMaxUnsentBytes) {
          // Earlier answers sit unread: wait until the client reads them (or the
          // request deadline passes), rather than block a worker writing more.
          c.state = State::kBlocked;
          blocked.fetch_add(1);
          epoll_event ev{};
          ev.events = 0;
          ev.data.u64 = id;
          epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
          return true;
        }
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
        c.state = State::kDispatched;
        c.since = Clock::now();
        const bool last = ++c.served >= limits.max_requests_per_connection;
        dispatch(ReadyRequest{id, c.fd, last, &c}, *owner);
        return true;
      }
    }
    return false;
  }

  static void SendBestEffort(int fd, const std::string& bytes) {
    // Small answers fit the socket's send buffer; a client that does not read gets less.
    [[maybe_unused]] const ssize_t sent = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }

  void AnswerAndLinger(Connection& c, int status, const char* code, const char* message) {
    SendBestEffort(c.fd, ErrorResponse(status, code, message));
    Linger(c);
    answered(status);
  }

  // Stops writing and drains what the client still sends for a while before closing:
  // closing with unread data sends a reset that can destroy the last answer unread.
  void Linger(Connection& c) {
    shutdown(c.fd, SHUT_WR);
    c.state = State::kLingering;
    c.since = Clock::now();
    c.deadline = c.since + kLingerTime;
    c.framer.Release();
  }

  void TakeReleased() {
    uint64_t count;
    [[maybe_unused]] const ssize_t r = read(wake_fd, &count, sizeof count);
    std::vector<std::pair<uint64_t, bool>> batch;
    {
      MutexLock lock(released_mutex);
      batch.swap(released);
    }
    for (const auto& [id, keep_alive] : batch) {
      auto it = connections.find(id);
      if (it == connections.end()) continue;
      Connection& c = it->second;
      if (c.peer_closed || stopping.load()) {
        Close(id);
        continue;
      }
      Watch(id, c.fd);
      if (!keep_alive) {
        Linger(c);
        continue;
      }
      const Clock::time_point now = Clock::now();
      c.state = State::kIdle;
      c.since = now;
      c.deadline = now + limits.idle_timeout;
      // The worker has already started the next request (Release resets the framer):
      // it may be whole (pipelined), partial, or refused.
      if (c.framer.started()) StartReading(c, now);
      Advance(id, c, c.framer.state());
    }
  }

  void Sweep(Clock::time_point now) {
    PauseListener(false);
    std::vector<uint64_t> idle_expired, reading_expired, blocked_ids;
    for (auto& [id, c] : connections) {
      if (c.state == State::kBlocked && now < c.deadline) blocked_ids.push_back(id);
      if (c.state == State::kDispatched || now < c.deadline) continue;
      // Past its deadline: a reader gets 408; idle, lingering and blocked ones (a client
      // that never reads its answers) are closed.
      (c.state == State::kReading ? reading_expired : idle_expired).push_back(id);
    }
    for (uint64_t id : blocked_ids) Unblock(id, connections.at(id));
    for (uint64_t id : idle_expired) Close(id);
    for (uint64_t id : reading_expired) {
      AnswerAndLinger(connections.at(id), 408, "request_timeout",
                      "The request did not arrive in time.");
    }
  }
};

absl::StatusOr<std::unique_ptr<ConnectionLoop>> ConnectionLoop::Start(
    int listen_fd, const ConnectionLimits& limits, Dispatch dispatch, Answered answered) {
  auto impl = std::make_unique<Impl>(listen_fd, limits, std::move(dispatch), std::move(answered));
  impl->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  impl->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->epoll_fd < 0 || impl->wake_fd < 0) {
    const std::string why = std::strerror(errno);
    if (impl->epoll_fd >= 0) close(impl->epoll_fd);
    if (impl->wake_fd >= 0) close(impl->wake_fd);
    close(listen_fd);
    return absl::ResourceExhaustedError("cannot start the connection loop: " + why);
  }
  impl->Watch(kListenerId, listen_fd);
  impl->Watch(kWakeId, impl->wake_fd);
  Impl* raw = impl.get();
  std::unique_ptr<ConnectionLoop> loop(new ConnectionLoop(std::move(impl)));
  raw->owner = loop.get();
  raw->thread = std::thread([raw] { raw->Run(); });
  return loop;
}

ConnectionLoop::ConnectionLoop(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConnectionLoop::~ConnectionLoop() {
  Stop();
  for (auto& [id, c] : impl_->connections) close(c.fd);
  close(impl_->epoll_fd);
  close(impl_->wake_fd);
}

bool ConnectionLoop::TakeNextOnWorker(ReadyRequest& request, std::chrono::milliseconds wait) {
  LoopConnection& c = *request.connection;
  c.framer.Reset();
  // Stopping, or the client is not reading its answers: the loop decides what is next.
  if (impl_->stopping.load() || UnsentBytes(c.fd) > kMaxUnsentBytes) return false;
  // A client may send a request's head and body in separate writes: wait for the whole
  // request, within `wait` in all.
  const Clock::time_point deadline = Clock::now() + wait;
  while (c.framer.state() == RequestFramer::State::kNeedMore) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{c.fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    if (!ReadAvailable(c)) {
      c.peer_closed = true;
      return false;
    }
  }
  if (c.framer.state() != RequestFramer::State::kComplete) return false;
  request.last = ++c.served >= impl_->limits.max_requests_per_connection;
  return true;
}

void ConnectionLoop::Release(const ReadyRequest& request, bool keep_alive) {
  LoopConnection& c = *request.connection;
  if (keep_alive && c.framer.state() == RequestFramer::State::kComplete) {
    // The request just answered: what follows it is the next one's beginning.
    c.framer.Reset();
  }
  {
    MutexLock lock(impl_->released_mutex);
    impl_->released.emplace_back(request.id, keep_alive && !impl_->stopping.load());
  }
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t w = write(impl_->wake_fd, &one, sizeof one);
}

void ConnectionLoop::Stop() {
  std::call_once(impl_->stopped, [this] {
    impl_->stopping = true;
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t w = write(impl_->wake_fd, &one, sizeof one);
    impl_->thread.join();
    close(impl_->listen_fd);
    // Connections a worker holds are closed when released (below) or at destruction.
    std::vector<uint64_t> idle;
    for (const auto& [id, c] : impl_->connections) {
      if (c.state != Impl::State::kDispatched) idle.push_back(id);
    }
    for (uint64_t id : idle) impl_->Close(id);
  });
}

size_t ConnectionLoop::open_connections() const { return impl_->open.load(); }

size_t ConnectionLoop::blocked_connections() const { return impl_->blocked.load(); }

absl::StatusOr<int> ListenTcp(const std::string& host, int port, int backlog) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError("cannot resolve '" + host + "': " + gai_strerror(rc));
  }
  std::string why = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
      freeaddrinfo(found);
      return fd;
    }
    why = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(found);
  return absl::UnavailableError("cannot listen on " + host + ":" + service + ": " + why);
}

int LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return -1;
}

}  // namespace ismscode::mock
