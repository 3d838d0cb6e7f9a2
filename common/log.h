#pragma once

#include <nlohmann/json.hpp>

namespace ismscode {

// One JSON object per line on stderr: {"ts", "level", "msg", ...fields}. Thread-safe
// (one write per line). `fields` must hold no secret: nothing here redacts.
void LogLine(const char* level, const char* msg,
             const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());

}  // namespace ismscode
