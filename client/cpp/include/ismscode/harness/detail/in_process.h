#pragma once

// Internal to the GoogleTest plugin (and other in-tree tools): the gateway with its
// bundled mock, in this process, on free loopback ports. Not a stable API.

#include <chrono>
#include <memory>
#include <string>

namespace ismscode::harness::detail {

class InProcessGateway {
 public:
  // `scenario`: a preset name or a scenario file. Every caller may send its own upstream
  // key (a mock account); the mock's limits apply per account. nullptr with `*error`.
  static std::unique_ptr<InProcessGateway> Start(const std::string& scenario,
                                                 std::chrono::milliseconds poll_interval,
                                                 std::string* error);
  ~InProcessGateway();  // Stop()

  const std::string& address() const;   // 127.0.0.1:PORT
  const std::string& mock_url() const;  // http://127.0.0.1:PORT
  void Stop();

 private:
  struct Impl;
  explicit InProcessGateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Creates an account on the mock at `mock_url` (its control API) with this key, a balance
// and no rate limit of the mock's own. False with `*error` when it cannot.
bool CreateMockAccount(const std::string& mock_url, const std::string& key, double balance,
                       std::string* error);

}  // namespace ismscode::harness::detail
