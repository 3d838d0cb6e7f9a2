#pragma once

#include <chrono>
#include <string>

namespace ismscode::testing {

// Raw HTTP over loopback, for tests that must send what no well-behaved client would.

// A connected TCP socket to 127.0.0.1:port (blocking), or -1.
int ConnectLoopback(int port);
// Sends all of `bytes`; false when the peer stopped taking them (it may answer early).
bool SendAll(int fd, const std::string& bytes);
// Reads one response: its head and a Content-Length body, or what came before the peer
// closed or `timeout` passed. Bytes read past it (the next pipelined response) are kept
// in `*carry` when given, and read first by the next call that passes the same carry.
std::string ReadResponse(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5),
                         std::string* carry = nullptr);
// Connects, sends `request`, reads one response, closes.
std::string RawExchange(int port, const std::string& request);
// The status code of a response ("HTTP/1.1 413 ..." -> 413), or 0.
int StatusOf(const std::string& response);
// The response's body (after the blank line).
std::string BodyOf(const std::string& response);

}  // namespace ismscode::testing
