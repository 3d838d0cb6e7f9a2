#pragma once

#include <signal.h>

namespace ismscode {

// Stop-signal plumbing shared by the project's binaries (ismscode-mock, ismscode-gateway).

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts later, so
// that WaitForStopSignal() is the only place they arrive. Call before starting threads.
sigset_t BlockStopSignals();
// Waits for one of them; returns "SIGINT" or "SIGTERM" (a string literal).
const char* WaitForStopSignal(const sigset_t& signals);

}  // namespace ismscode
