#include "common/cli.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ismscode {

EnvLookup ProcessEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
}

absl::StatusOr<std::string> ReadFileForFlag(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  if (!in || !(buf << in.rdbuf())) {
    return absl::InvalidArgumentError(flag + ": cannot read " + path);
  }
  return buf.str();
}

absl::StatusOr<std::string> ReadSecretForFlag(const std::string& flag, const std::string& path) {
  auto text = ReadFileForFlag(flag, path);
  if (!text.ok()) return text.status();
  std::string& s = *text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  s.erase(0, start);
  if (s.empty()) return absl::InvalidArgumentError(flag + ": " + path + " is empty");
  return s;
}

}  // namespace ismscode
