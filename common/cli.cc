#include "common/cli.h"

#include <CLI/CLI.hpp>
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
  const std::string secret(TrimWhitespace(*text));
  if (secret.empty()) return absl::InvalidArgumentError(flag + ": " + path + " is empty");
  return secret;
}

std::string_view TrimWhitespace(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

void RequireNonEmptyValues(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (option->get_expected_min() == 0) continue;  // a switch
    option->check(CLI::Validator(
        [](std::string& value) { return value.empty() ? std::string("needs a value") : ""; }, "",
        "non-empty"));
  }
}

absl::StatusOr<bool> ParseCommandLine(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return true;
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(std::string(e.what()) + " (see --help)");
  }
  return false;
}

}  // namespace ismscode
