#pragma once

#include <absl/status/statusor.h>

#include <string>
#include <string_view>

namespace ismscode::gateway {

// Where replicas share their state (--state): a Redis server over TCP or a unix socket.
//   redis://HOST[:PORT][/DB]           port 6379, database 0 by default
//   unix:///path/to/redis.sock[?db=N]
// A password never goes in the URL (argv is readable by every user of the machine): it
// comes from a file or the environment, apart from this.
struct StateUrl {
  std::string host;  // TCP; empty for a unix socket
  int port = 6379;
  std::string unix_path;  // a unix socket; empty for TCP
  int db = 0;
};

// InvalidArgument saying what is wrong and what the forms are; a URL with a password in
// it is refused without repeating the URL.
absl::StatusOr<StateUrl> ParseStateUrl(std::string_view url);

// For logs and errors: "redis 127.0.0.1:6379 db 0" or "redis unix:/run/redis.sock db 2".
std::string Describe(const StateUrl& url);

}  // namespace ismscode::gateway
