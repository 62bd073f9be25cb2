// `valise label`: a sticker for each drive of a set, to tape onto it
// (docs/custody.md, "Printed labels"). No key needed.
#pragma once

#include <CLI/CLI.hpp>

namespace valise::cli {

// Adds the `label` subcommand to app and returns it. After app.parse(), when
// the returned subcommand was given, call RunLabelCommand() and exit with
// what it returns: 0 written; 2 a usage error (an --out that is not .png,
// .svg or .pdf, or exists without --force; drives of two sets); 3 a
// directory that is not a valid drive of the set (named; nothing written);
// 4 a set not signed by the --signer.
CLI::App* AddLabelCommand(CLI::App& app);
int RunLabelCommand();

}  // namespace valise::cli
