#pragma once

#include <absl/status/statusor.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace CLI {
class App;
}

namespace ismscode {

// What both binaries' flag parsers (mock/flags, server/flags, both on CLI11) share.

// Reads an environment variable; injected so that tests do not touch the process's.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup ProcessEnvironment();

// The whole file. InvalidArgument naming `flag` and the path, never the content (it
// may be a secret).
absl::StatusOr<std::string> ReadFileForFlag(const std::string& flag, const std::string& path);

// A secret from a file: surrounding whitespace dropped, empty refused.
absl::StatusOr<std::string> ReadSecretForFlag(const std::string& flag, const std::string& path);

// `text` without leading and trailing whitespace.
std::string_view TrimWhitespace(std::string_view text);

// Makes every option of `app` that takes a value refuse an empty one ("--host=").
void RequireNonEmptyValues(CLI::App& app);

// Parses the command line into `app`'s options: true when --help was asked for (nothing
// else is then set), InvalidArgument with CLI11's message naming the flag otherwise.
absl::StatusOr<bool> ParseCommandLine(CLI::App& app, int argc, const char* const* argv);

}  // namespace ismscode
