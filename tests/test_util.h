// Helpers shared by the gtest suites: a non-owning Drive, random bytes, files.
#pragma once

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "valise/drive.h"

namespace valise::testing_util {

// A non-owning Drive that forwards to another, so a test keeps its drives
// across Pack, Verify and SetReader (which each take ownership).
class DriveRef : public Drive {
 public:
  explicit DriveRef(Drive* d) : d_(d) {}
  std::string Where() const override { return d_->Where(); }
  Result<size_t> ReadAt(const std::string& f, uint64_t o, uint8_t* b, size_t n) override { return d_->ReadAt(f, o, b, n); }
  Result<uint64_t> FileSize(const std::string& f) override { return d_->FileSize(f); }
  Status WriteFile(const std::string& f, std::span<const uint8_t> d) override { return d_->WriteFile(f, d); }
  Status RemoveFile(const std::string& f) override { return d_->RemoveFile(f); }
  Result<std::vector<std::string>> ListFiles(const std::string& d) override { return d_->ListFiles(d); }
  std::string InstanceId() const override { return d_->InstanceId(); }
  Result<std::unique_ptr<HeldLock>> LockWriter(const std::string& w) override { return d_->LockWriter(w); }

 private:
  Drive* d_;
};

inline std::string RandomBytesString(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng());
  return s;
}

inline void WriteFileBytes(const std::filesystem::path& p, const std::string& data) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

}  // namespace valise::testing_util
