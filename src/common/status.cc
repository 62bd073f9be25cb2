#include "valise/status.h"

namespace valise {

const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kIOError: return "I/O error";
    case Code::kCorruption: return "corruption";
    case Code::kResourceExhausted: return "resource exhausted";
    case Code::kUnavailable: return "unavailable";
    case Code::kDataLoss: return "data loss";
    case Code::kPermissionDenied: return "key problem";
    case Code::kIncomplete: return "incomplete pack";
    case Code::kBusy: return "in use";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code())) + ": " + message();
}

}  // namespace valise
