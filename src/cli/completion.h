// `valise completion bash`: a bash completion script generated from the
// command's own CLI11 tree, so it names exactly the subcommands, options and
// choices that --help shows (installed as
// share/bash-completion/completions/valise; docs/packaging.md).
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace valise::cli {

std::string BashCompletion(CLI::App& app);

}  // namespace valise::cli
