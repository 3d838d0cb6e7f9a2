#include "tests/support/redis_server.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

namespace ismscode::testing {

RedisServer::RedisServer(std::string password) : password_(std::move(password)) {
  char dir[] = "/tmp/ismscode-redis-XXXXXX";
  if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp");
  dir_ = dir;
  socket_path_ = dir_ + "/redis.sock";
  if (password_.find_first_of("\"\\\n\r") != std::string::npos) {
    throw std::invalid_argument("RedisServer: a password without quotes, backslashes or newlines");
  }
  try {
    Start();
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

RedisServer::~RedisServer() {
  Stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void RedisServer::Start() {
  Stop();
  // "-": the config comes from stdin.
  process_ = std::make_unique<Subprocess>(std::vector<std::string>{"/usr/bin/redis-server", "-"},
                                          /*pipe_stdin=*/true);
  std::string config = "port 0\nunixsocket " + socket_path_ +
                       "\nunixsocketperm 700\nsave \"\"\nappendonly no\ndir " + dir_ +
                       "\nlogfile \"\"\n";
  if (!password_.empty()) config += "requirepass \"" + password_ + "\"\n";
  process_->WriteStdin(config);
  process_->CloseStdin();
  for (;;) {
    const auto line = process_->ReadStdoutLine(30);
    if (!line) throw std::runtime_error("redis-server did not start (is it installed?)");
    // "Ready to accept connections" (TCP), "The server is now ready to accept connections
    // at PATH" (a unix socket alone).
    if (line->find("eady to accept connections") == std::string::npos) continue;
    drain_ = std::thread([process = process_.get()] {
      while (process->ReadStdoutLine(3600)) {
      }
    });
    return;
  }
}

void RedisServer::Pause() {
  if (process_) process_->Signal(SIGSTOP);
}

void RedisServer::Resume() {
  if (process_) process_->Signal(SIGCONT);
}

void RedisServer::Stop() {
  if (!process_) return;
  process_->Signal(SIGKILL);
  process_->Wait();
  if (drain_.joinable()) drain_.join();  // it reads to the end of the log: the child is gone
  process_.reset();
  unlink(socket_path_.c_str());
}

}  // namespace ismscode::testing
