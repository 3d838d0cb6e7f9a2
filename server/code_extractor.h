#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace ismscode::gateway {

struct ExtractedCode {
  std::string code;       // normalised: separators removed ("583-920" -> "583920")
  std::string raw_match;  // as it appears in the text
};

struct ExtractorOptions {
  std::string service;  // per-service rules first (e.g. "google": G-123456)
  std::string pattern;  // caller's RE2; its first capture group (or whole match) wins
  int min_length = 4;   // bounds on the normalised code
  int max_length = 8;
};

// Finds the verification code in an SMS text. Without a caller's pattern it looks at
// every run of letters and digits, drops those inside phone numbers, times, dates,
// prices and reference numbers, and scores the rest: digits over alphanumerics, near a
// word meaning "code" (in several languages), not year-like. Linear in the text: every
// pattern is RE2, including the caller's (no ReDoS).
class CodeExtractor {
 public:
  // nullopt with `error` set when the caller's pattern does not compile or the bounds
  // make no sense.
  static std::optional<CodeExtractor> Create(const ExtractorOptions& options, std::string* error);

  std::optional<ExtractedCode> Extract(std::string_view text) const;

 private:
  explicit CodeExtractor(ExtractorOptions options);

  ExtractorOptions options_;
  std::shared_ptr<const re2::RE2> custom_;
};

}  // namespace ismscode::gateway
