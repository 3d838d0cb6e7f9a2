#pragma once

#include <signal.h>

#include <nlohmann/json.hpp>

namespace ismscode::mock {

// Process plumbing shared by the project's binaries (ismscode-mock, ismscode-gateway).

// One JSON object per line on stderr: {"ts", "level", "msg", ...fields}.
void LogLine(const char* level, const char* msg,
             const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts later, so
// that WaitForStopSignal() is the only place they arrive. Call before starting threads.
sigset_t BlockStopSignals();
// Waits for one of them; returns "SIGINT" or "SIGTERM".
const char* WaitForStopSignal(const sigset_t& signals);

}  // namespace ismscode::mock
