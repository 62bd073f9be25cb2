// Identity files on disk: load, and the keygen/pubkey commands' work.
#pragma once

#include "crypto/crypto.h"

namespace valise {

// Reads and parses an identity file. A missing, unreadable or malformed
// file is PermissionDenied ("key problem", exit 4) with the path in the message.
Result<Identity> LoadIdentity(const std::string& path);

}  // namespace valise
