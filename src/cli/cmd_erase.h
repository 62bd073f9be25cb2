// `valise erase`: crypto-erase a set and write its signed certificate;
// `valise erase --check CERT DIRS...` checks one (docs/custody.md,
// "Erasing a set").
#pragma once

#include <CLI/CLI.hpp>

namespace valise::cli {

// Adds the `erase` subcommand to app and returns it. After app.parse(), when
// the returned subcommand was given, call RunEraseCommand() and exit with
// what it returns. Erase: 0 every drive of the set erased; 1 erased, but some
// drives were not given or could not be erased (named: NOT a purge); 2 a usage
// error, not confirmed (no --yes and no terminal), drives of several sets or a
// directory not of the set, drives held by another writer (nothing written);
// 3 an unsealed set, or a certificate that cannot be written; 4 an identity
// that cannot open the set's key (nothing written). --check: 0 the
// certificate verifies and every drive given is erased as it says; 1 a
// mismatch (each named); 3 a certificate that does not parse or verify.
CLI::App* AddEraseCommand(CLI::App& app);
int RunEraseCommand();

}  // namespace valise::cli
