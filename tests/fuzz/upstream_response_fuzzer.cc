// What an upstream (or something pretending to be it) may answer: any body through every
// parser of upstream_parse.h, any header through ParseRetryAfter. Nothing may throw or
// crash, and nothing the body says may reach an error message.
#include <cstdint>
#include <string>

#include "server/upstream_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  using namespace ismscode::gateway;
  for (const absl::Status& status : {ParseCountries(body).status(), ParseServices(body).status(),
                                     ParseNumber(body).status(), ParseSmsList(body).status()}) {
    // Error messages are fixed words and field names, never the body's bytes.
    if (!status.ok() && status.message().size() > 120) __builtin_trap();
  }
  const std::string code = ParseErrorCode(body);
  if (code.size() > 40) __builtin_trap();
  const std::string header = body.substr(0, 64);
  if (auto delay = ParseRetryAfter(header, std::nullopt)) {
    if (delay->count() < 0 || *delay > std::chrono::hours(24)) __builtin_trap();
  }
  return 0;
}
