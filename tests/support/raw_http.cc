#include "tests/support/raw_http.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ismscode::testing {

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

namespace {

// The length of the first whole response in `bytes` (an interim 100 dropped first), or 0.
size_t WholeResponse(std::string& bytes) {
  for (;;) {
    const size_t head_end = bytes.find("\r\n\r\n");
    if (head_end == std::string::npos) return 0;
    if (bytes.rfind("HTTP/1.1 100 ", 0) == 0) {  // an interim answer: the real one follows
      bytes.erase(0, head_end + 4);
      continue;
    }
    size_t length = 0;
    if (const size_t cl = bytes.find("Content-Length: ");
        cl != std::string::npos && cl < head_end) {
      length = std::stoul(bytes.substr(cl + 16));
    }
    return bytes.size() >= head_end + 4 + length ? head_end + 4 + length : 0;
  }
}

}  // namespace

std::string ReadResponse(int fd, std::chrono::milliseconds timeout, std::string* carry) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string out;
  if (carry) out.swap(*carry);
  char buf[4096];
  for (size_t whole; (whole = WholeResponse(out)) == 0;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  if (const size_t whole = WholeResponse(out); whole > 0 && carry) {
    carry->assign(out, whole);
    out.resize(whole);
  }
  return out;
}

std::string RawExchange(int port, const std::string& request) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  SendAll(fd, request);  // the server may answer before taking everything
  std::string out = ReadResponse(fd);
  close(fd);
  return out;
}

int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

std::string BodyOf(const std::string& response) {
  const size_t head_end = response.find("\r\n\r\n");
  return head_end == std::string::npos ? "" : response.substr(head_end + 4);
}

}  // namespace ismscode::testing
