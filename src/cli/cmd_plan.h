// `valise plan`: sizes a trip (drives, cases, parity, time) before buying drives.
#pragma once

#include <CLI/CLI.hpp>

namespace valise::cli {

// Adds the `plan` subcommand to app and returns it. After app.parse(), when
// the returned subcommand was given (`if (*plan)`), call RunPlanCommand() and
// exit with what it returns (0, or 2 for a usage error).
CLI::App* AddPlanCommand(CLI::App& app);
int RunPlanCommand();

}  // namespace valise::cli
