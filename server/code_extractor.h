#pragma once

#include <absl/status/statusor.h>

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
  // Caller's RE2 for the SMS's sender ("WhatsApp", "+1555..."), matched anywhere in it,
  // case-insensitively; empty: any sender.
  std::string sender_pattern;
};

// Finds the verification code in an SMS text. Without a caller's pattern it looks at
// every run of letters and digits, drops those inside phone numbers, times, dates,
// prices, percentages, card masks and last digits, reply short codes, and numbers after
// a reference word (ref, order, booking, Bestellung, commande, заказ, 订单, ...), and keeps
// only candidates something marks as a code: a code word near it ("code", "OTP", "PIN",
// "verify", "код", "验证码", ... but not "promo code"), a brand prefix ("G-123456"), or a
// text that is nothing but the code. Rented numbers receive strangers' SMS: with no such
// cue it finds nothing, since a false code is worse than none. Among the candidates it
// prefers digits, six of them, a cue before the code, and never a year. Linear in the
// text: every pattern is RE2, including the caller's (no ReDoS).
class CodeExtractor {
 public:
  // InvalidArgument when a pattern does not compile or the bounds make no sense. Its
  // message reads after the field's name ("must be ..."); InvalidField(status) names
  // the request field ("min_code_length", "code_pattern" or "sender_pattern").
  static absl::StatusOr<CodeExtractor> Create(const ExtractorOptions& options);

  // The request field a Create error is about, or "" (a payload of the status).
  static std::string InvalidField(const absl::Status& status);

  std::optional<ExtractedCode> Extract(std::string_view text) const;
  // Whether an SMS from `sender` is one the caller waits for (sender_pattern).
  bool FromWanted(std::string_view sender) const;

 private:
  explicit CodeExtractor(ExtractorOptions options);

  ExtractorOptions options_;
  std::shared_ptr<const re2::RE2> custom_;
  std::shared_ptr<const re2::RE2> sender_;
};

}  // namespace ismscode::gateway
