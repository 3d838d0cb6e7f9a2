#pragma once

#include <absl/status/statusor.h>

#include <functional>
#include <optional>
#include <string>

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

}  // namespace ismscode
