// Identity files on disk: load, and the keygen/pubkey commands' work.
#pragma once

#include "crypto/crypto.h"

namespace valise {

// Reads and parses an identity file. A missing, unreadable or malformed
// file is PermissionDenied ("key problem", exit 4) with the path in the
// message; so is a file that group or others may access (as ssh does: the
// message says `chmod 600 FILE`), and a passphrase-protected one whose
// passphrase is wrong or cannot be had. The passphrase comes from the file
// named by $VALISE_PASSPHRASE_FILE, else from a prompt on the terminal when
// stdin is one.
Result<Identity> LoadIdentity(const std::string& path);

// Writes `id` to a new identity file at `path` (mode 0600, O_EXCL: an
// existing path, a symlink included, is InvalidArgument), protected by
// `passphrase` when one is given; the file and its directory are synced.
// Returns the recipient.
Result<std::string> WriteNewIdentity(const std::string& path, const Identity& id,
                                     std::optional<std::string_view> passphrase);
// The same with the passphrase as `valise keygen` gets it: asked twice on the
// terminal (ask_passphrase), the first line of passphrase_file, or none.
Result<std::string> WriteNewIdentityCommand(const std::string& path, const Identity& id, bool ask_passphrase,
                                            const std::string& passphrase_file);

// The environment variable that names a file holding identity passphrases.
inline constexpr const char* kPassphraseFileEnv = "VALISE_PASSPHRASE_FILE";

}  // namespace valise
