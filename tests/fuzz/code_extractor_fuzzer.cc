// Code extraction with a caller's patterns: the input's first line is the code pattern,
// the second the sender pattern, the third byte pair the length bounds, the rest the
// SMS text. Invalid patterns must be refused with a reason; valid ones must give a code
// within the bounds, or none.
#include <cstdint>
#include <string>
#include <string_view>

#include "server/code_extractor.h"

namespace {

std::string_view TakeLine(std::string_view& rest) {
  const size_t nl = rest.find('\n');
  const std::string_view line = rest.substr(0, nl);
  rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  ismscode::gateway::ExtractorOptions options;
  options.pattern = std::string(TakeLine(rest));
  options.sender_pattern = std::string(TakeLine(rest));
  if (rest.size() >= 2) {
    options.min_length = static_cast<unsigned char>(rest[0]) % 12;
    options.max_length = static_cast<unsigned char>(rest[1]) % 12;
    rest.remove_prefix(2);
  }
  static const char* const kServices[] = {"", "google", "whatsapp", "telegram"};
  options.service = kServices[size % 4];
  auto extractor = ismscode::gateway::CodeExtractor::Create(options);
  if (!extractor.ok()) {
    // A refusal always says why, and about which field.
    if (extractor.status().message().empty()) __builtin_trap();
    if (ismscode::gateway::CodeExtractor::InvalidField(extractor.status()).empty())
      __builtin_trap();
    return 0;
  }
  extractor->FromWanted(rest.substr(0, 32));
  if (auto code = extractor->Extract(rest)) {
    const int n = static_cast<int>(code->code.size());
    if (n < options.min_length || n > options.max_length) __builtin_trap();
    if (rest.find(code->raw_match) == std::string_view::npos) __builtin_trap();
  }
  return 0;
}
