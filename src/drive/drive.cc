#include "valise/drive.h"
#include "common/bytes.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

namespace valise {

Result<Bytes> ReadWholeFile(Drive& drive, const std::string& file, uint64_t max_size) {
  VALISE_ASSIGN_OR_RETURN(uint64_t size, drive.FileSize(file));
  if (size > max_size)
    return Corruption(drive.Where() + "/" + file + " is " + std::to_string(size) +
                      " bytes, larger than any valid one");
  Bytes out(size);
  VALISE_ASSIGN_OR_RETURN(size_t n, drive.ReadAt(file, 0, out.data(), out.size()));
  out.resize(n);
  return out;
}

namespace {

class MemDrive : public Drive {
 public:
  explicit MemDrive(std::string name) : name_(std::move(name)) {
    static std::atomic<uint64_t> counter{0};
    instance_ = "mem:" + std::to_string(counter++) + ":" + name_;
  }
  std::string Where() const override { return name_; }
  std::string InstanceId() const override { return instance_; }
  Result<size_t> ReadAt(const std::string& file, uint64_t offset, uint8_t* buf,
                        size_t len) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(file);
    if (it == files_.end()) return NotFound(name_ + "/" + file + ": no such file");
    if (offset >= it->second.size()) return size_t(0);
    size_t n = std::min<uint64_t>(len, it->second.size() - offset);
    std::copy_n(it->second.data() + offset, n, buf);
    return n;
  }
  Result<uint64_t> FileSize(const std::string& file) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(file);
    if (it == files_.end()) return NotFound(name_ + "/" + file + ": no such file");
    return uint64_t(it->second.size());
  }
  Status OverwriteInPlace(const std::string& file, uint64_t offset, ByteSpan data) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(file);
    if (it == files_.end()) return NotFound(name_ + "/" + file + ": no such file");
    if (offset > it->second.size() || data.size() > it->second.size() - offset)
      return InvalidArgument(name_ + "/" + file + ": overwrite past the end of the file");
    std::copy(data.begin(), data.end(), it->second.begin() + std::ptrdiff_t(offset));
    return Status::Ok();
  }
  Status WriteFile(const std::string& file, ByteSpan data) override {
    std::lock_guard<std::mutex> l(mu_);
    files_[file] = Bytes(data.begin(), data.end());
    return Status::Ok();
  }
  Status RemoveFile(const std::string& file) override {
    std::lock_guard<std::mutex> l(mu_);
    files_.erase(file);
    return Status::Ok();
  }
  Result<std::vector<std::string>> ListFiles(const std::string& dir) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    std::string prefix = dir.empty() ? "" : dir + "/";
    for (auto& [name, _] : files_) {
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      std::string rest = name.substr(prefix.size());
      if (rest.find('/') == std::string::npos) out.push_back(rest);
    }
    return out;
  }

 private:
  std::string name_, instance_;
  std::mutex mu_;
  std::map<std::string, Bytes> files_;
};

}  // namespace

std::unique_ptr<Drive> NewMemDrive(const std::string& name) {
  return std::make_unique<MemDrive>(name);
}

struct FaultDrive::State {
  std::mutex mu;
  FaultPlan plan;
  int64_t written = 0;
};

FaultDrive::FaultDrive(std::unique_ptr<Drive> base, FaultPlan plan)
    : base_(std::move(base)), state_(std::make_shared<State>()) {
  state_->plan = std::move(plan);
}

void FaultDrive::SetPlan(const FaultPlan& plan) {
  std::lock_guard<std::mutex> l(state_->mu);
  state_->plan = plan;
}

std::string FaultDrive::Where() const { return base_->Where(); }
std::string FaultDrive::InstanceId() const { return base_->InstanceId(); }
Result<std::unique_ptr<HeldLock>> FaultDrive::LockWriter(const std::string& what) { return base_->LockWriter(what); }

Result<size_t> FaultDrive::ReadAt(const std::string& file, uint64_t offset, uint8_t* buf,
                                  size_t len) {
  FaultPlan plan;
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (state_->plan.fail_reads > 0) {
      state_->plan.fail_reads--;
      return IOError(Where() + "/" + file + ": injected read error");
    }
    plan = state_->plan;
  }
  if (plan.offline) return IOError(Where() + ": drive offline (injected)");
  VALISE_ASSIGN_OR_RETURN(size_t n, base_->ReadAt(file, offset, buf, len));
  if (file == plan.flip_file && plan.flip_offset >= offset && plan.flip_offset < offset + n)
    buf[plan.flip_offset - offset] ^= 0x10;
  return n;
}

Result<uint64_t> FaultDrive::FileSize(const std::string& file) {
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (state_->plan.offline) return IOError(Where() + ": drive offline (injected)");
  }
  return base_->FileSize(file);
}

Status FaultDrive::WriteFile(const std::string& file, ByteSpan data) {
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (state_->plan.offline) return IOError(Where() + ": drive offline (injected)");
    if (state_->plan.write_errors_after >= 0 && state_->written >= state_->plan.write_errors_after)
      return IOError(Where() + "/" + file + ": input/output error (injected)");
    if (state_->plan.write_budget >= 0 &&
        state_->written + int64_t(data.size()) > state_->plan.write_budget)
      return ResourceExhausted(Where() + ": no space left on device (injected)");
    state_->written += int64_t(data.size());
  }
  return base_->WriteFile(file, data);
}

Status FaultDrive::OverwriteInPlace(const std::string& file, uint64_t offset, ByteSpan data) {
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (state_->plan.offline) return IOError(Where() + ": drive offline (injected)");
    if (state_->plan.write_errors_after >= 0 && state_->written >= state_->plan.write_errors_after)
      return IOError(Where() + "/" + file + ": input/output error (injected)");
    state_->written += int64_t(data.size());
  }
  return base_->OverwriteInPlace(file, offset, data);
}

Status FaultDrive::RemoveFile(const std::string& file) {
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (state_->plan.offline) return IOError(Where() + ": drive offline (injected)");
  }
  return base_->RemoveFile(file);
}

Result<std::vector<std::string>> FaultDrive::ListFiles(const std::string& dir) {
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (state_->plan.offline) return IOError(Where() + ": drive offline (injected)");
  }
  return base_->ListFiles(dir);
}

Result<std::vector<std::string>> FaultDrive::ListOtherEntries(const std::string& dir) {
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (state_->plan.offline) return IOError(Where() + ": drive offline (injected)");
  }
  return base_->ListOtherEntries(dir);
}

Result<uint64_t> FaultDrive::FreeBytes() {
  int64_t budget = -1, written = 0;
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (state_->plan.offline) return IOError(Where() + ": drive offline (injected)");
    budget = state_->plan.write_budget;
    written = state_->written;
  }
  auto base = base_->FreeBytes();
  if (budget < 0) return base;
  uint64_t left = uint64_t(std::max<int64_t>(0, budget - written));
  return base.ok() ? std::min(*base, left) : left;
}

}  // namespace valise
