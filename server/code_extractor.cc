#include "server/code_extractor.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "server/errors.h"

namespace ismscode::gateway {

namespace {

bool IsAsciiAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

std::string Normalise(std::string_view raw) {
  std::string out;
  for (char c : raw) {
    if (c != '-' && c != ' ') out += c;
  }
  return out;
}

// Spans of text that look like numbers but are not codes. Compiled once and kept for
// the life of the process (reachable, so not a leak).
const std::vector<std::unique_ptr<const RE2>>& NoisePatterns() {
  static const auto* const patterns = [] {
    auto* p = new std::vector<std::unique_ptr<const RE2>>;
    // Phone numbers: "+1 (212) 555-0198", "1-206-555-0142", "+447700900123".
    p->push_back(std::make_unique<RE2>(R"((?:\+|\b)\(?\d{1,4}\)?(?:[ .-]\(?\d{2,4}\)?){2,5}\b)"));
    p->push_back(std::make_unique<RE2>(R"(\+\d{8,15}\b)"));
    // Times: "14:32", "09:15:00".
    p->push_back(std::make_unique<RE2>(R"(\b\d{1,2}:\d{2}(?::\d{2})?\b)"));
    // Dates: "12/03/2026", "2026-03-21", "21.03.2026".
    p->push_back(std::make_unique<RE2>(R"(\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b)"));
    // Prices: "$49.99", "€5", "49,99 €".
    p->push_back(std::make_unique<RE2>(R"([$€£¥]\s?\d[\d,.]*|\d[\d,.]*\s?(?:€|USD|EUR|GBP|руб))"));
    // Reference numbers: "Ref #2026-0321", "#12345".
    p->push_back(std::make_unique<RE2>(R"(#[\w-]+)"));
    return p;
  }();
  return *patterns;
}

// Words that announce a code, lower-case (ASCII lower-cased; others as written).
constexpr std::string_view kKeywords[] = {
    "code",        "codice",   "código",       "codigo",       "код",
    "kod",         "otp",      "pin",          "passcode",     "password",
    "kennwort",    "passwort", "mot de passe", "verification", "confirmation",
    "bestätigung", "验证码",   "인증",         "senha",        "clave",
};

struct Candidate {
  size_t begin, end;  // byte offsets of the raw match
  int score;
};

}  // namespace

CodeExtractor::CodeExtractor(ExtractorOptions options) : options_(std::move(options)) {}

std::optional<CodeExtractor> CodeExtractor::Create(const ExtractorOptions& options,
                                                   std::string* error) {
  if (options.min_length < 1 || options.max_length < options.min_length ||
      options.max_length > 64) {
    *error = "must be from 1 to 64, and at most the maximum length";
    return std::nullopt;
  }
  CodeExtractor extractor(options);
  if (!options.pattern.empty()) {
    RE2::Options re_options;
    re_options.set_log_errors(false);
    re_options.set_max_mem(1 << 20);
    auto re = std::make_shared<RE2>(options.pattern, re_options);
    if (!re->ok()) {
      // RE2's message quotes the pattern: keep the echo short.
      *error = "must be a valid RE2 expression (" + Utf8Prefix(re->error(), 120) + ")";
      return std::nullopt;
    }
    extractor.custom_ = std::move(re);
  }
  return extractor;
}

std::optional<ExtractedCode> CodeExtractor::Extract(std::string_view text) const {
  if (custom_) {
    re2::StringPiece groups[2];
    const int n = std::min(2, custom_->NumberOfCapturingGroups() + 1);
    if (!custom_->Match(text, 0, text.size(), RE2::UNANCHORED, groups, n)) return std::nullopt;
    const re2::StringPiece raw = n == 2 && groups[1].data() ? groups[1] : groups[0];
    ExtractedCode out{Normalise(std::string_view(raw.data(), raw.size())),
                      std::string(raw.data(), raw.size())};
    if (out.code.empty()) return std::nullopt;
    return out;
  }

  // Mask the noise so that no candidate starts inside it.
  std::vector<bool> masked(text.size(), false);
  const auto& noise = NoisePatterns();
  for (size_t p = 0; p < noise.size(); ++p) {
    const RE2* re = noise[p].get();
    re2::StringPiece match;
    size_t pos = 0;
    while (pos <= text.size()) {
      if (!re->Match(text, pos, text.size(), RE2::UNANCHORED, &match, 1)) break;
      const size_t begin = static_cast<size_t>(match.data() - text.data());
      const size_t end = begin + match.size();
      // A phone-shaped run must carry at least 8 digits to count as a phone number.
      const bool is_phone_pattern = p == 0;
      const auto digits = std::count_if(match.begin(), match.end(), IsDigit);
      if (!is_phone_pattern || digits >= 8) {
        std::fill(masked.begin() + begin, masked.begin() + end, true);
      }
      pos = end > pos ? end : pos + 1;
    }
  }

  // Lower-case ASCII copy for keyword search.
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<size_t> keyword_at;
  for (std::string_view k : kKeywords) {
    for (size_t p = lower.find(k); p != std::string::npos; p = lower.find(k, p + 1)) {
      keyword_at.push_back(p);
    }
  }

  // Tokens: maximal runs of ASCII letters and digits.
  struct Token {
    size_t begin, end;
  };
  std::vector<Token> tokens;
  for (size_t i = 0; i < text.size();) {
    if (!IsAsciiAlnum(text[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && IsAsciiAlnum(text[j])) ++j;
    tokens.push_back({i, j});
    i = j;
  }

  auto all_digits = [&](size_t b, size_t e) {
    return std::all_of(text.begin() + b, text.begin() + e, IsDigit);
  };
  auto is_masked = [&](size_t b, size_t e) {
    return std::any_of(masked.begin() + b, masked.begin() + e, [](bool m) { return m; });
  };
  auto score = [&](size_t b, size_t e, bool split) {
    const std::string code = Normalise(text.substr(b, e - b));
    const int len = static_cast<int>(code.size());
    if (len < options_.min_length || len > options_.max_length) return -100;
    const bool digits = all_digits(b, e) || split;
    int s = 0;
    if (digits) {
      s += 3;
      if (len == 6) s += 1;
      if (len == 4 && (code.rfind("19", 0) == 0 || code.rfind("20", 0) == 0)) s -= 4;  // a year
    } else {
      const bool has_digit = std::any_of(code.begin(), code.end(), IsDigit);
      const bool has_alpha = std::any_of(code.begin(), code.end(), [](char c) {
        return std::isalpha(static_cast<unsigned char>(c)) != 0;
      });
      if (!has_digit || !has_alpha) return -100;  // a word, not a code
      s += 1;
    }
    if (split) s += 1;
    for (size_t k : keyword_at) {
      if (k < b && b - k <= 40) s += 3;
      if (k >= e && k - e <= 25) s += 2;
    }
    // "G-123456", "FB-12345": a brand prefix right before the digits.
    if (b >= 2 && text[b - 1] == '-' && std::isupper(static_cast<unsigned char>(text[b - 2]))) {
      s += 2;
    }
    // Part of a URL path or host ("t.me/login/58392"): the same code, but weaker.
    if (b >= 1 && (text[b - 1] == '/' || text[b - 1] == '.')) s -= 1;
    return s;
  };

  std::optional<Candidate> best;
  auto consider = [&](size_t b, size_t e, bool split) {
    if (is_masked(b, e)) return;
    const int s = score(b, e, split);
    if (s < 0) return;
    if (!best || s > best->score) best = Candidate{b, e, s};
  };
  for (size_t t = 0; t < tokens.size(); ++t) {
    const Token& tok = tokens[t];
    // "583-920", "583 920": two digit groups of 3-4 joined by one separator.
    if (t + 1 < tokens.size()) {
      const Token& next = tokens[t + 1];
      const size_t a = tok.end - tok.begin, c = next.end - next.begin;
      if (next.begin == tok.end + 1 && (text[tok.end] == '-' || text[tok.end] == ' ') && a >= 3 &&
          a <= 4 && c >= 3 && c <= 4 && all_digits(tok.begin, tok.end) &&
          all_digits(next.begin, next.end)) {
        consider(tok.begin, next.end, true);
      }
    }
    consider(tok.begin, tok.end, false);
  }
  if (!best) return std::nullopt;
  const std::string_view raw = text.substr(best->begin, best->end - best->begin);
  return ExtractedCode{Normalise(raw), std::string(raw)};
}

}  // namespace ismscode::gateway
