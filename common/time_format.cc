#include "common/time_format.h"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <string_view>

namespace ismscode {

namespace {
std::tm ToUtc(std::chrono::system_clock::time_point t) {
  const std::time_t secs =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm;
}
}  // namespace

namespace {
// Two zero-padded digits; formatting by hand keeps printf off the hot path.
char* Put2(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}
}  // namespace

std::string FormatRfc3339(std::chrono::system_clock::time_point t) {
  const std::tm tm = ToUtc(t);
  const int year = tm.tm_year + 1900;
  if (year < 0 || year > 9999) return "0000-01-01T00:00:00Z";
  char buf[20];
  char* p = Put2(buf, year / 100);
  p = Put2(p, year % 100);
  *p++ = '-';
  p = Put2(p, tm.tm_mon + 1);
  *p++ = '-';
  p = Put2(p, tm.tm_mday);
  *p++ = 'T';
  p = Put2(p, tm.tm_hour);
  *p++ = ':';
  p = Put2(p, tm.tm_min);
  *p++ = ':';
  p = Put2(p, tm.tm_sec);
  *p++ = 'Z';
  return std::string(buf, p);
}

std::string FormatRfc3339Millis(std::chrono::system_clock::time_point t) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(t - seconds).count();
  std::string text = FormatRfc3339(seconds);
  if (millis == 0 || text.size() != 20) return text;
  char fraction[6];
  std::snprintf(fraction, sizeof fraction, ".%03d", static_cast<int>(millis));
  return text.insert(19, fraction);
}

std::string FormatHttpDate(std::chrono::system_clock::time_point t) {
  const std::tm tm = ToUtc(t);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

namespace {
std::optional<std::chrono::system_clock::time_point> FromUtc(int y, int mo, int d, int h, int mi,
                                                             int s) {
  // system_clock counts nanoseconds in 64 bits: years past 2262 overflow it (a fuzzed
  // "Sun, 06 Nov 3988 ..." Retry-After did), so only plausible years are times.
  if (y < 1900 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
      mi > 59 || s < 0 || s > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t secs = timegm(&tm);
  if (secs == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(secs);
}
}  // namespace

std::optional<std::chrono::system_clock::time_point> ParseHttpDate(const std::string& text) {
  static constexpr const char* kMonthNames[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char weekday[4] = {}, month[4] = {};
  int d, y, h, mi, s;
  if (std::sscanf(text.c_str(), "%3s, %d %3s %d %d:%d:%d GMT", weekday, &d, month, &y, &h, &mi,
                  &s) != 7) {
    return std::nullopt;
  }
  for (int m = 0; m < 12; ++m) {
    if (std::string_view(month) == kMonthNames[m]) return FromUtc(y, m + 1, d, h, mi, s);
  }
  return std::nullopt;
}

std::optional<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text) {
  int y, mo, d, h, mi, s, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) !=
      6) {
    return std::nullopt;
  }
  std::string rest = text.substr(consumed);
  double fraction = 0;
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    if (i == 1) return std::nullopt;
    fraction = std::stod("0" + rest.substr(0, i));
    rest = rest.substr(i);
  }
  if (rest != "Z" && rest != "+00:00") return std::nullopt;
  auto t = FromUtc(y, mo, d, h, mi, s);
  if (!t) return std::nullopt;
  return *t + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                  std::chrono::duration<double>(fraction));
}

}  // namespace ismscode
