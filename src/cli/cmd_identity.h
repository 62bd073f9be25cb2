// `valise identity split` and `valise identity combine`: an identity cut into
// N share files, any T of which rebuild it (docs/security.md, "Split
// identities"); and `valise keygen --split T/N`, which writes only shares.
#pragma once

#include <CLI/CLI.hpp>

namespace valise::cli {

// Adds the `identity` command (with `split` and `combine`) to app and returns
// it. After app.parse(), when it was given (`if (*identity)`), call
// RunIdentityCommand() and exit with what it returns.
CLI::App* AddIdentityCommand(CLI::App& app);
int RunIdentityCommand();

// `valise keygen --split T/N --out-dir DIR [--name NAME] [--json]`: a new
// identity written only as shares. Returns the exit code.
int KeygenSplitCommand(const std::string& split, const std::string& out_dir, const std::string& name, bool as_json);

}  // namespace valise::cli
