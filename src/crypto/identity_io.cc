#include "crypto/identity_io.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/durable.h"
#include "valise/valise.h"

namespace valise {

namespace {

// Secret bytes (an identity file's text, a passphrase) in memory that is
// locked out of swap where the system allows it, guarded, and wiped when freed
// (sodium_malloc / sodium_free).
class SecretBuffer {
 public:
  explicit SecretBuffer(size_t capacity) : cap_(capacity) {
    CryptoInit();
    p_ = static_cast<char*>(sodium_malloc(cap_));
  }
  ~SecretBuffer() {
    if (p_) sodium_free(p_);
  }
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  bool ok() const { return p_ != nullptr; }
  bool full() const { return n_ == cap_; }
  char* end() { return p_ + n_; }
  size_t room() const { return cap_ - n_; }
  void grow(size_t n) { n_ += n; }
  void push(char c) { p_[n_++] = c; }
  void pop() { p_[--n_] = 0; }
  size_t size() const { return n_; }
  std::string_view view() const { return {p_, n_}; }

 private:
  size_t cap_;
  size_t n_ = 0;
  char* p_ = nullptr;
};

constexpr size_t kMaxIdentityFile = 1 << 16;
constexpr size_t kMaxPassphrase = 1024;

// Reads all of `fd` (at most buf's capacity; more is an error).
bool ReadAll(int fd, SecretBuffer* buf) {
  while (true) {
    if (buf->full()) return false;
    ssize_t n = ::read(fd, buf->end(), buf->room());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    buf->grow(size_t(n));
  }
}

// The passphrase from the file named by $VALISE_PASSPHRASE_FILE: its first line.
Status PassphraseFromFile(const std::string& file, SecretBuffer* out) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return PermissionDenied("cannot read passphrase file " + file + ": " + std::strerror(errno));
  SecretBuffer all(kMaxPassphrase + 2);
  struct stat st;
  bool ok = all.ok() && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ReadAll(fd, &all);
  ::close(fd);
  if (!ok) return PermissionDenied("cannot read passphrase file " + file + " (a regular file of at most 1 KiB)");
  std::string_view v = all.view();
  v = v.substr(0, v.find('\n'));
  if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
  for (char c : v) out->push(c);
  return Status::Ok();
}

// Asks for a passphrase on the controlling terminal with echo off.
Status AskPassphrase(const std::string& prompt, SecretBuffer* out) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return PermissionDenied("cannot open the terminal to ask for a passphrase: " + std::string(std::strerror(errno)));
  struct termios old {};
  bool echo_off = ::tcgetattr(fd, &old) == 0;
  if (echo_off) {
    struct termios t = old;
    t.c_lflag &= ~tcflag_t(ECHO);
    t.c_lflag |= ECHONL;
    echo_off = ::tcsetattr(fd, TCSAFLUSH, &t) == 0;
  }
  (void)!::write(fd, prompt.data(), prompt.size());
  bool too_long = false;
  char c;
  while (true) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    if (out->full()) too_long = true;
    else out->push(c);
  }
  c = 0;
  if (echo_off) ::tcsetattr(fd, TCSAFLUSH, &old);
  ::close(fd);
  if (too_long) return PermissionDenied("the passphrase is longer than 1 KiB");
  if (out->size() > 0 && out->view().back() == '\r') out->pop();
  return Status::Ok();
}

}  // namespace

Result<Identity> LoadIdentity(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return PermissionDenied("cannot read identity file " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return PermissionDenied("identity file " + path + " is not a regular file");
  }
  // As ssh does: a secret that others could read is refused, so that a
  // mistake is noticed before the key is used, not after it has leaked.
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    return PermissionDenied("identity file " + path + " has mode " + mode +
                            ": a secret identity must not be accessible by group or others; run 'chmod 600 " +
                            path + "'");
  }
  SecretBuffer text(kMaxIdentityFile);
  bool ok = text.ok() && ReadAll(fd, &text);
  ::close(fd);
  if (!ok) return PermissionDenied("cannot read identity file " + path + " (at most 64 KiB)");
  const std::string what = "identity file " + path;
  if (!IsEncryptedIdentityFile(text.view())) return ParseIdentityFile(text.view(), what);
  SecretBuffer pass(kMaxPassphrase);
  if (!pass.ok()) return PermissionDenied("cannot allocate memory for the passphrase of " + what);
  if (const char* file = std::getenv(kPassphraseFileEnv); file && *file) {
    if (Status st2 = PassphraseFromFile(file, &pass); !st2.ok())
      return PermissionDenied(st2.message() + " (named by " + kPassphraseFileEnv + ", for " + what + ")");
  } else if (::isatty(0)) {
    VALISE_RETURN_IF_ERROR(AskPassphrase("valise: passphrase for " + what + ": ", &pass));
  } else {
    return ParseIdentityFile(text.view(), what, std::nullopt);  // says how to give it
  }
  return ParseIdentityFile(text.view(), what, pass.view());
}

Result<std::string> WriteNewIdentity(const std::string& path, const Identity& id,
                                     std::optional<std::string_view> passphrase) {
  CryptoInit();
  std::string text = passphrase ? FormatEncryptedIdentityFile(id, *passphrase) : FormatIdentityFile(id);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    Wipe(text.data(), text.size());
    if (errno == EEXIST)
      return InvalidArgument(path + " already exists; valise never overwrites an identity (choose another name)");
    return IOError("cannot create " + path + ": " + std::strerror(errno));
  }
  ::fchmod(fd, 0600);
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  Wipe(text.data(), text.size());
  if (!ok) {
    ::unlink(path.c_str());
    return IOError("cannot write " + path);
  }
  // The new name is in the directory: sync it too, or a power cut could lose
  // the identity whose recipient was just printed.
  if (int err = SyncDir(ParentDir(path)); err != 0)
    return IOError("cannot sync the directory of " + path + ": " + std::strerror(err));
  return RecipientString(id.public_key);
}

Result<std::string> Keygen(const std::string& path, std::optional<std::string_view> passphrase) {
  CryptoInit();
  return WriteNewIdentity(path, GenerateIdentity(), passphrase);
}

Result<std::string> Keygen(const std::string& path) { return Keygen(path, std::nullopt); }

Result<std::string> WriteNewIdentityCommand(const std::string& path, const Identity& id, bool ask_passphrase,
                                            const std::string& passphrase_file) {
  if (!ask_passphrase && passphrase_file.empty()) return WriteNewIdentity(path, id, std::nullopt);
  SecretBuffer pass(kMaxPassphrase);
  if (!pass.ok()) return IOError("cannot allocate memory for the passphrase");
  if (!passphrase_file.empty()) {
    VALISE_RETURN_IF_ERROR(PassphraseFromFile(passphrase_file, &pass));
  } else {
    if (!::isatty(0))
      return InvalidArgument("--passphrase asks on a terminal, and stdin is not one: use --passphrase-file FILE");
    VALISE_RETURN_IF_ERROR(AskPassphrase("valise: passphrase for the new identity " + path + ": ", &pass));
    SecretBuffer again(kMaxPassphrase);
    if (!again.ok()) return IOError("cannot allocate memory for the passphrase");
    VALISE_RETURN_IF_ERROR(AskPassphrase("valise: the same passphrase again: ", &again));
    if (pass.view() != again.view()) return InvalidArgument("the two passphrases differ; nothing was written");
  }
  if (pass.size() == 0) return InvalidArgument("an empty passphrase protects nothing; nothing was written");
  return WriteNewIdentity(path, id, pass.view());
}

Result<std::string> KeygenCommand(const std::string& path, bool ask_passphrase, const std::string& passphrase_file) {
  CryptoInit();
  return WriteNewIdentityCommand(path, GenerateIdentity(), ask_passphrase, passphrase_file);
}

Result<std::string> RecipientOf(const std::string& identity_path) {
  VALISE_ASSIGN_OR_RETURN(Identity id, LoadIdentity(identity_path));
  return RecipientString(id.public_key);
}

Status ValidateRecipient(const std::string& text) { return ParseRecipient(text).status().ok() ? Status::Ok() : ParseRecipient(text).status(); }

}  // namespace valise
