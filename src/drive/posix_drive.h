// Internals of the POSIX drive that tests reach.
#pragma once

namespace valise {

// Tests: false makes every PosixDrive resolve paths with the per-component
// openat(2) fallback, as on kernels without openat2(2) or where a seccomp
// filter refuses it; true (the default) uses openat2 where the kernel has it.
void SetPosixDriveOpenat2ForTesting(bool use_openat2);

}  // namespace valise
