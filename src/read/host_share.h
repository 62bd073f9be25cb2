// One catalog per host (docs/python.md, docs/security.md): the pieces of a
// HostShare. A process that decoded a catalog (or built a sample index) keeps
// it in a file with no name; another process of the same host opens it
// read-only through its own inherited descriptor or /proc/<pid>/fd/<n>, and
// trusts it only once the tag it computes itself matches the one handed over:
//
//   tag = HMAC-SHA-256(DeriveKey(data key, "host share"),
//                      "valise host share" || kind || set id || size || SHA-256(content))
//
// Only a recipient of the set derives the key, so a process that is not one
// (or a file of another set) cannot make a share a receiver accepts.
#pragma once

#include <string>

#include "crypto/crypto.h"
#include "valise/valise.h"

namespace valise {

// Opens the file `s` describes, read-only: this process's own descriptor
// `s.fd` when it is that file (a forked child inherits it), else
// /proc/<s.pid>/fd/<s.fd>. Refused (InvalidArgument, saying why) unless it is
// a regular file with the device, inode and size of the description.
Result<int> OpenShared(const HostShare& s);

// The tag of `size` bytes whose SHA-256 is `digest` (hex).
std::string ShareTag(const Key32& share_key, const std::string& kind, const std::string& set_id, uint64_t size,
                     const Hash32& digest);
// Two tags compared in constant time (for equal lengths).
bool SameTag(const std::string& a, const std::string& b);
// SHA-256 of the first `size` bytes of `fd` (pread; IOError if shorter).
Result<Hash32> DigestFd(int fd, uint64_t size);

// A memfd holding `data`, sealed against writes, growth, shrinking and new
// seals (no name; freed with its last descriptor). The caller closes it.
Result<int> SealedMemfd(const char* name, const uint8_t* data, size_t n);
// InvalidArgument unless `fd` is sealed as SealedMemfd seals.
Status CheckSealed(int fd);
// The description of `fd`, held by this process.
Result<HostShare> DescribeFd(int fd, const std::string& kind, const std::string& set_id);

}  // namespace valise
