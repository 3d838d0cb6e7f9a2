// The mock's request handling as a hostile client reaches it: raw bytes through the
// RequestFramer (framing, limits, pipelining), then each whole request's method, path,
// headers and body into MockService::Handle (REST and control routes, JSON bodies).
#include <cstdint>
#include <string>
#include <string_view>

#include "mock/request_framer.h"
#include "mock/scenario.h"
#include "mock/service.h"

namespace {

using ismscode::mock::HttpRequest;
using ismscode::mock::MockService;
using ismscode::mock::RequestFramer;

MockService& Service() {
  static MockService* service = [] {
    auto scenario = ismscode::mock::LoadScenario("default");
    MockService::Options options;
    options.clock.frozen = true;
    options.max_numbers = 1000;
    return new MockService(*scenario, options);
  }();
  return *service;
}

std::string_view Header(std::string_view head, std::string_view name) {
  size_t at = 0;
  while ((at = head.find("\r\n", at)) != std::string_view::npos) {
    at += 2;
    const std::string_view line = head.substr(at, head.find("\r\n", at) - at);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        line.substr(0, name.size()) == name) {
      std::string_view value = line.substr(name.size() + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      return value;
    }
  }
  return {};
}

// `request` is RequestFramer output: "METHOD TARGET VERSION\r\n...\r\n\r\nbody".
void Handle(const std::string& request) {
  const size_t head_end = request.find("\r\n\r\n");
  const std::string_view head = std::string_view(request).substr(0, head_end);
  const size_t sp1 = head.find(' ');
  const size_t sp2 = head.find(' ', sp1 + 1);
  HttpRequest in;
  in.method = head.substr(0, sp1);
  const std::string_view target = head.substr(sp1 + 1, sp2 - sp1 - 1);
  const size_t question = target.find('?');
  in.path = target.substr(0, question);
  if (question != std::string_view::npos) {
    const std::string_view query = target.substr(question + 1);
    const size_t eq = query.find('=');
    in.query.emplace_back(std::string(query.substr(0, eq)),
                          eq == std::string_view::npos ? "" : std::string(query.substr(eq + 1)));
  }
  in.authorization = Header(head, "Authorization");
  in.api_key = Header(head, "API-Key");
  in.content_type = Header(head, "Content-Type");
  in.body = std::string_view(request).substr(head_end + 4);
  Service().Handle(in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ismscode::mock::FramingLimits limits;
  limits.max_head_bytes = 2048;
  limits.max_headers = 20;
  limits.max_body_bytes = 4096;
  RequestFramer framer(limits);
  // Fed in two pieces, as a network would split it; then every pipelined request.
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  framer.Feed(bytes.substr(0, size / 2));
  RequestFramer::State state = framer.Feed(bytes.substr(size / 2));
  for (int requests = 0; state == RequestFramer::State::kComplete && requests < 16; ++requests) {
    const std::string& request = framer.request();
    if (request.find("\r\n\r\n") == std::string::npos) __builtin_trap();  // framing lost
    Handle(request);
    state = framer.Reset();
  }
  if (state == RequestFramer::State::kFailed && framer.failure().status < 400) __builtin_trap();
  return 0;
}
