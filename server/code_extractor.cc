#include "server/code_extractor.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <vector>

#include "server/errors.h"

namespace ismscode::gateway {

namespace {

bool IsAsciiAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsAsciiAlpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

std::string Normalise(std::string_view raw) {
  std::string out;
  for (char c : raw) {
    if (c != '-' && c != ' ') out += c;
  }
  return out;
}

// Spans whose digits are never a code. Each pattern is RE2 (linear time); compiled once
// and kept for the life of the process (reachable, so not a leak). `group` 0 masks the
// whole match, 1 only its first capture (the identifier after a cue word).
struct Noise {
  const RE2* re;
  int group;
  int min_digits;  // a match with fewer digits is not this kind of noise
};

const std::vector<Noise>& NoisePatterns() {
  static const auto* const patterns = [] {
    auto* p = new std::vector<Noise>;
    auto add = [p](const char* pattern, int group = 0, int min_digits = 0) {
      p->push_back({new RE2(pattern), group, min_digits});
    };
    // Phone numbers: "+1 (212) 555-0198", "1-206-555-0142", "+447700900123".
    add(R"((?:\+|\b)\(?\d{1,4}\)?(?:[ .-]\(?\d{2,4}\)?){2,5}\b)", 0, 8);
    add(R"(\+\d{8,15}\b)");
    // Times: "14:32", "09:15:00", "3:30 PM".
    add(R"(\b\d{1,2}:\d{2}(?::\d{2})?\b)");
    // Dates: "12/03/2026", "2026-03-21", "21.03.2026", "12/04".
    add(R"(\b\d{1,4}[/.-]\d{1,2}(?:[/.-]\d{1,4})?\b)");
    // Prices, amounts and percentages: "$49.99", "€5", "49,99 €", "1234.56 USD", "20%".
    add(R"((?i)[$€£¥₹]\s?\d[\d,.]*|\b\d[\d,.]*\s?(?:€|\$|£|₽|%|(?:usd|eur|gbp|rub)\b|руб))");
    // Card masks: "****1234", "xx4821", "•••• 4492".
    add(R"((?i)(?:\*{2,}|x{2,}|•{2,}|\.{3}|…)\s?\d{2,6}\b)");
    // A card's or account's last digits: "card ending in 4821", "Karte endet auf 1234".
    add(R"((?i)(?:\b(?:card|karte|carte|tarjeta|cart[aã]o)|карт\p{L}*)(?:\s+(?:number|no\.?|nr\.?|ending(?:\s+in)?|ends\s+(?:in|with)|endet\s+auf|terminada\s+en|termin[ée]e?\s+par))*[\s:#.*x•-]{0,6}(\d{4})\b)",
        1);
    add(R"((?i)\b(?:ending|ends)\s+(?:in|with)\s+(\d{4})\b)", 1);
    // Reply short codes: "Reply STOP to 12345", "Text YES to 55555", "SMS an 7726".
    add(R"((?i)\b(?:reply|text|txt|send|sms|antworte\w*|r[ée]pond\w*|responde\w*|env[ií]\w*)\b[^.!?\n]{0,40}?\s(?:to|an|au|al|a)\s+(\d{3,6})\b)",
        1);
    add(R"((?i)отправ\p{L}*[^.!?\n]{0,40}?\sна\s+(\d{3,6})\b)", 1);
    // Identifiers after a cue word: "Ref K-7788", "Order #123456", "Bestellung 448812",
    // "commande n° 55123", "заказ №776512", "订单号 552301".
    add(R"((?i)(?:\b(?:ref(?:erence)?|order|invoice|booking|ticket|tracking|parcel|package|shipment|acct|account|case|claim|policy|member(?:ship)?|customer|flight|gate|seat|room|table|bestell\w*|rechnung\w*|auftrag\w*|kunden\w*|nummer|sendung\w*|commande|facture|r[ée]servation|pedido|factura|reserva|encomenda|ordine|prenotazione|fattura)\b|(?:заказ|сч[её]т|номер)\p{L}*|订单号?|单号)[\s.:#№°ºnNoOrR-]{0,6}([A-Za-z]{0,3}-?\d[\w-]*))",
        1);
    // Anything tagged with '#': "#12345", "#2026-0321".
    add(R"(#[\w-]+)");
    return p;
  }();
  return *patterns;
}

// Words that announce a verification code, lower-case (ASCII lower-cased; others listed
// in their common casings). An ASCII word counts only at a word start ("pin", not
// "shipping").
constexpr std::string_view kCodeWords[] = {
    "code",        "codice",       "código",    "codigo",      "kod",       "kode",      "код",
    "Код",         "КОД",          "otp",       "pin",         "passcode",  "password",  "passwort",
    "kennwort",    "mot de passe", "senha",     "clave",       "verif",     "vérif",     "confirm",
    "bestätigung", "bestätigen",   "подтвержд", "Подтвержд",   "验证码",    "校验码",    "인증",
    "認証",        "token",        "login",     "log in",      "sign in",   "sign-in",   "one-time",
    "einmal",      "2fa",          "security",  "sicherheits", "weryfikac", "doğrulama", "xác nhận",
};

// Words before "code" that make it something else: a promotion, a post code.
constexpr std::string_view kNotACode[] = {
    "promo",  "discount",  "coupon",  "voucher",   "referral",  "gift",  "zip",
    "post",   "area",      "dial",    "bar",       "qr",        "sort",  "swift",
    "rabatt", "gutschein", "cupón",   "descuento", "réduction", "промо", "Промо",
    "скидк",  "invite",    "booking", "tracking",  "country",
};

// A code word within this many bytes before a candidate, or after it, cues it.
constexpr size_t kCueBefore = 60;
constexpr size_t kCueAfter = 30;

struct Candidate {
  size_t begin, end;  // byte offsets of the raw match
  int score;
};

// Offsets of the cue words in `text`: ASCII ones matched case-insensitively at word
// starts, others as listed; those right after a "not a code" word do not count.
// Linear: one pass per word over the text.
std::vector<size_t> CueWords(std::string_view text, const std::string& lower) {
  std::vector<bool> vetoed(text.size() + 1, false);
  for (std::string_view w : kNotACode) {
    for (size_t p = lower.find(w); p != std::string::npos; p = lower.find(w, p + 1)) {
      // The veto covers a short stretch after the word: "promo code", "Promo-Code".
      for (size_t k = p; k < std::min(text.size(), p + w.size() + 3); ++k) vetoed[k] = true;
    }
  }
  std::vector<size_t> at;
  for (std::string_view w : kCodeWords) {
    const bool ascii = IsAsciiAlpha(w.front()) || IsDigit(w.front());
    for (size_t p = lower.find(w); p != std::string::npos; p = lower.find(w, p + 1)) {
      if (ascii && p > 0 && IsAsciiAlnum(text[p - 1])) continue;  // inside a word
      if (vetoed[p]) continue;
      // "промокод": a code word glued to a veto word just before it.
      if (p >= 1 && vetoed[p - 1]) continue;
      at.push_back(p);
    }
  }
  std::sort(at.begin(), at.end());
  return at;
}

}  // namespace

CodeExtractor::CodeExtractor(ExtractorOptions options) : options_(std::move(options)) {}

namespace {
constexpr char kFieldPayload[] = "type.ismscode.dev/invalid-field";
}  // namespace

std::string CodeExtractor::InvalidField(const absl::Status& status) {
  const auto field = status.GetPayload(kFieldPayload);
  return field ? std::string(*field) : "";
}

absl::StatusOr<CodeExtractor> CodeExtractor::Create(const ExtractorOptions& options) {
  auto fail = [](const char* name, const std::string& why) {
    absl::Status status = absl::InvalidArgumentError(why);
    status.SetPayload(kFieldPayload, absl::Cord(name));
    return status;
  };
  if (options.min_length < 1 || options.max_length < options.min_length ||
      options.max_length > 64) {
    return fail("min_code_length", "must be from 1 to 64, and at most the maximum length");
  }
  CodeExtractor extractor(options);
  if (!options.pattern.empty()) {
    RE2::Options re_options;
    re_options.set_log_errors(false);
    re_options.set_max_mem(1 << 20);
    auto re = std::make_shared<RE2>(options.pattern, re_options);
    if (!re->ok()) {
      // RE2's message quotes the pattern: keep the echo short.
      return fail("code_pattern",
                  "must be a valid RE2 expression (" + Utf8Prefix(re->error(), 120) + ")");
    }
    extractor.custom_ = std::move(re);
  }
  if (!options.sender_pattern.empty()) {
    RE2::Options re_options;
    re_options.set_log_errors(false);
    re_options.set_max_mem(1 << 20);
    re_options.set_case_sensitive(false);
    auto re = std::make_shared<RE2>(options.sender_pattern, re_options);
    if (!re->ok()) {
      return fail("sender_pattern",
                  "must be a valid RE2 expression (" + Utf8Prefix(re->error(), 120) + ")");
    }
    extractor.sender_ = std::move(re);
  }
  return extractor;
}

bool CodeExtractor::FromWanted(std::string_view sender) const {
  return !sender_ || RE2::PartialMatch(sender, *sender_);
}

std::optional<ExtractedCode> CodeExtractor::Extract(std::string_view text) const {
  if (custom_) {
    // The first match whose code is within the length bounds (they hold for a caller's
    // pattern too: "\\d+" must not hand back a 10-digit order number as a 6-digit code;
    // found by code_extractor_fuzzer). A few dozen matches at most, so that the scan
    // stays linear in the text.
    constexpr int kMaxMatches = 32;
    re2::StringPiece groups[2];
    const int n = std::min(2, custom_->NumberOfCapturingGroups() + 1);
    size_t pos = 0;
    for (int tries = 0; tries < kMaxMatches && pos <= text.size(); ++tries) {
      if (!custom_->Match(text, pos, text.size(), RE2::UNANCHORED, groups, n)) break;
      const re2::StringPiece raw = n == 2 && groups[1].data() ? groups[1] : groups[0];
      ExtractedCode out{Normalise(std::string_view(raw.data(), raw.size())),
                        std::string(raw.data(), raw.size())};
      const int len = static_cast<int>(out.code.size());
      if (len >= options_.min_length && len <= options_.max_length) return out;
      // The next match starts after this one (an empty match moves one byte on).
      pos = static_cast<size_t>(groups[0].data() - text.data()) +
            std::max<size_t>(1, groups[0].size());
    }
    return std::nullopt;
  }

  // 1. Mask the noise: no candidate may touch it. masked_before[i]: masked bytes < i.
  std::vector<bool> masked(text.size(), false);
  for (const Noise& noise : NoisePatterns()) {
    re2::StringPiece match[2];
    size_t pos = 0;
    while (pos <= text.size() &&
           noise.re->Match(text, pos, text.size(), RE2::UNANCHORED, match, noise.group + 1)) {
      const re2::StringPiece& hit = match[noise.group];
      const size_t whole_end = static_cast<size_t>(match[0].data() - text.data()) + match[0].size();
      if (hit.data() && std::count_if(hit.begin(), hit.end(), IsDigit) >= noise.min_digits) {
        const size_t begin = static_cast<size_t>(hit.data() - text.data());
        std::fill(masked.begin() + begin, masked.begin() + begin + hit.size(), true);
      }
      pos = whole_end > pos ? whole_end : pos + 1;
    }
  }
  std::vector<size_t> masked_before(text.size() + 1, 0);
  for (size_t i = 0; i < text.size(); ++i) masked_before[i + 1] = masked_before[i] + masked[i];

  // 2. Where the code words are, and for each byte the nearest one before and after.
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::vector<size_t> cues = CueWords(text, lower);
  constexpr size_t kNone = std::numeric_limits<size_t>::max();
  // A sentence break between a cue before and its candidate weakens it.
  std::vector<size_t> break_before(text.size() + 1, kNone);  // last break at or before i
  for (size_t i = 0; i < text.size(); ++i) {
    const bool brk = text[i] == '\n' || ((text[i] == '.' || text[i] == '!' || text[i] == '?') &&
                                         (i + 1 == text.size() || text[i + 1] == ' '));
    break_before[i + 1] = brk ? i : break_before[i];
  }

  // 3. Tokens: maximal runs of ASCII letters and digits.
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
  // Cues are sorted: the nearest before `b` and after `e` by binary search.
  auto cue_score = [&](size_t b, size_t e) {
    int s = 0;
    auto after = std::lower_bound(cues.begin(), cues.end(), e);
    if (after != cues.end() && *after - e <= kCueAfter) s = std::max(s, 2);
    auto before = std::lower_bound(cues.begin(), cues.end(), b);
    if (before != cues.begin()) {
      const size_t k = *std::prev(before);
      if (b - k <= kCueBefore) {
        const bool broken = break_before[b] != kNone && break_before[b] > k;
        s = std::max(s, broken ? 1 : 3);
      }
    }
    return s;
  };
  const std::string_view trimmed = [&] {
    size_t b = 0, e = text.size();
    while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
    return text.substr(b, e - b);
  }();

  auto score = [&](size_t b, size_t e, bool split) -> std::optional<int> {
    if (masked_before[e] - masked_before[b] > 0) return std::nullopt;
    const std::string code = Normalise(text.substr(b, e - b));
    const int len = static_cast<int>(code.size());
    if (len < options_.min_length || len > options_.max_length) return std::nullopt;
    const bool digits = all_digits(b, e) || split;
    const bool has_digit = std::any_of(code.begin(), code.end(), IsDigit);
    const bool has_alpha = std::any_of(code.begin(), code.end(), IsAsciiAlpha);
    if (!digits && (!has_digit || !has_alpha)) return std::nullopt;  // a word, not a code
    // Cues: a code word near it, a brand prefix ("G-123456"), or a text that is the code.
    const bool brand =
        b >= 2 && text[b - 1] == '-' && std::isupper(static_cast<unsigned char>(text[b - 2]));
    const bool alone = trimmed.data() == text.data() + b && trimmed.size() == e - b;
    const int cue = cue_score(b, e);
    if (cue == 0 && !brand && !alone) return std::nullopt;  // nothing says it is a code
    int s = cue + (brand ? 2 : 0) + (alone ? 3 : 0);
    if (digits) {
      s += 3;
      if (len == 6) s += 1;
      if (len == 4 && (code.rfind("19", 0) == 0 || code.rfind("20", 0) == 0)) s -= 4;  // a year
    } else {
      s += 1;
    }
    if (split) s += 1;
    // Part of a URL path or host ("t.me/login/58392"): the same code, but weaker.
    if (b >= 1 && (text[b - 1] == '/' || text[b - 1] == '.')) s -= 1;
    // Glued to letters across a hyphen ("K-7788" after a word, "A-12-B"): not a code.
    if (e + 1 < text.size() && text[e] == '-' && IsAsciiAlnum(text[e + 1])) s -= 2;
    return s;
  };

  std::optional<Candidate> best;
  auto consider = [&](size_t b, size_t e, bool split) {
    const auto s = score(b, e, split);
    if (!s || *s < 1) return;
    if (!best || *s > best->score) best = Candidate{b, e, *s};
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
