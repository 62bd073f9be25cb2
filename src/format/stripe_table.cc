#include "format/stripe_table.h"

#include <isa-l/crc64.h>

#include <cstring>

namespace valise {

namespace {
constexpr char kMagic[8] = {'V', 'A', 'L', 'I', 'S', 'T', 'B', '1'};
constexpr size_t kHeader = 32;
}  // namespace

size_t StripeRecordSize(int n) { return 32 + 32 * size_t(n); }

Bytes EncodeStripeTable(const SetId& set_id, int n, const std::vector<StripeRecord>& records) {
  Bytes out(8 + set_id.size());  // magic | set id, then N and record size
  std::memcpy(out.data(), kMagic, 8);
  std::memcpy(out.data() + 8, set_id.data(), set_id.size());
  out.reserve(kHeader + records.size() * StripeRecordSize(n));
  PutU32(out, uint32_t(n));
  PutU32(out, uint32_t(StripeRecordSize(n)));
  for (auto& r : records) {
    size_t start = out.size();
    PutU64(out, r.stripe);
    out.push_back(uint8_t(r.kind));
    out.insert(out.end(), 3, 0);
    PutU32(out, r.shard_len);
    PutU64(out, r.data_len);
    for (int i = 0; i < n; i++) out.insert(out.end(), r.hashes[i].begin(), r.hashes[i].end());
    PutU64(out, crc64_ecma_refl(0, out.data() + start, out.size() - start));
  }
  return out;
}

Result<std::vector<StripeRecord>> ParseStripeTable(ByteSpan bytes, const SetId& set_id, int n,
                                                   uint32_t segment_size,
                                                   const std::string& where) {
  auto bad = [&](const std::string& why) { return Corruption(where + ": stripe table: " + why); };
  ByteReader r(bytes);
  uint8_t magic[8];
  SetId id;
  uint32_t table_n = 0, rec_size = 0;
  r.Raw(8, magic);
  r.Raw(16, id.data());
  r.U32(&table_n);
  r.U32(&rec_size);
  if (r.failed() || std::memcmp(magic, kMagic, 8) != 0) return bad("bad header");
  if (id != set_id) return bad("belongs to another set");
  if (int(table_n) != n || rec_size != StripeRecordSize(n)) return bad("geometry mismatch");
  size_t body = bytes.size() - kHeader;
  if (body % rec_size != 0) return bad("truncated record");
  std::vector<StripeRecord> out(body / rec_size);
  for (size_t i = 0; i < out.size(); i++) {
    const uint8_t* p = bytes.data() + kHeader + i * rec_size;
    uint64_t crc = crc64_ecma_refl(0, p, rec_size - 8);
    if (crc != GetU64(p + rec_size - 8)) return bad("record " + std::to_string(i) + " checksum");
    StripeRecord& rec = out[i];
    rec.stripe = GetU64(p);
    uint8_t kind = p[8];
    rec.shard_len = GetU32(p + 12);
    rec.data_len = GetU64(p + 16);
    if (rec.stripe != i || kind > 1 || (p[9] | p[10] | p[11]) != 0 || rec.shard_len == 0 ||
        rec.shard_len > segment_size || rec.data_len == 0)
      return bad("record " + std::to_string(i) + " is inconsistent");
    rec.kind = StripeKind(kind);
    rec.hashes.resize(n);
    for (int d = 0; d < n; d++) std::memcpy(rec.hashes[d].data(), p + 24 + 32 * d, 32);
  }
  return out;
}

}  // namespace valise
