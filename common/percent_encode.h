#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace ismscode {

// Percent-encodes everything but RFC 3986's unreserved characters: safe as a URL path
// segment or query value.
inline std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace ismscode
