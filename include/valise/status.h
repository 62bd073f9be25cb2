// Status and Result<T>: how every valise function reports failure.
//
// A Status is cheap when ok (no allocation). Codes are chosen for what the
// caller does next; the CLI maps them to exit codes (see README.md, Exit codes):
//   kInvalidArgument -> 2 (usage), kPermissionDenied -> 4 (key problem),
//   everything else -> 3 (not everything could be done).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace valise {

enum class Code {
  kOk = 0,
  kInvalidArgument,    // the caller asked for something impossible
  kNotFound,           // a file, drive, path or key that is not there
  kIOError,            // the operating system refused a read or write
  kCorruption,         // bytes are there but wrong (checksum, tag, format)
  kResourceExhausted,  // disk full, too many open files, out of memory
  kUnavailable,        // too many drives missing to do the job
  kDataLoss,           // some data cannot be recovered at all
  kPermissionDenied,   // wrong identity, not a recipient, bad passphrase
  kIncomplete,         // the set's pack never finished
  kBusy,               // another process holds the drives or the journal (lock)
};

const char* CodeName(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message)
      : rep_(code == Code::kOk ? nullptr
                               : std::make_shared<Rep>(Rep{code, std::move(message)})) {}

  static Status Ok() { return Status(); }
  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  const std::string& message() const {
    static const std::string kEmpty;
    return rep_ ? rep_->message : kEmpty;
  }
  // Returns a Status with "context: " prepended to the message.
  Status With(const std::string& context) const {
    if (ok()) return *this;
    return Status(code(), context + ": " + message());
  }
  std::string ToString() const;

 private:
  struct Rep {
    Code code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;
};

inline Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
inline Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
inline Status IOError(std::string m) { return Status(Code::kIOError, std::move(m)); }
inline Status Corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
inline Status ResourceExhausted(std::string m) { return Status(Code::kResourceExhausted, std::move(m)); }
inline Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
inline Status DataLoss(std::string m) { return Status(Code::kDataLoss, std::move(m)); }
inline Status PermissionDenied(std::string m) { return Status(Code::kPermissionDenied, std::move(m)); }
inline Status Incomplete(std::string m) { return Status(Code::kIncomplete, std::move(m)); }
inline Status Busy(std::string m) { return Status(Code::kBusy, std::move(m)); }

// Result<T> holds either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status(Code::kInvalidArgument, "Result built from ok Status");
  }
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace valise

#define VALISE_CONCAT_INNER(a, b) a##b
#define VALISE_CONCAT(a, b) VALISE_CONCAT_INNER(a, b)

// Returns from the enclosing function when `expr` (a Status) is not ok.
#define VALISE_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::valise::Status _st = (expr);                \
    if (!_st.ok()) return _st;                    \
  } while (0)

// `lhs = value of expr` (a Result<T>), or returns its Status.
#define VALISE_ASSIGN_OR_RETURN(lhs, expr) \
  VALISE_ASSIGN_OR_RETURN_IMPL(VALISE_CONCAT(_res_, __LINE__), lhs, expr)
#define VALISE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
