#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ismscode {

// Serialises with invalid UTF-8 replaced (U+FFFD), so echoing client bytes never throws.
inline std::string SafeDump(const nlohmann::ordered_json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace ismscode
