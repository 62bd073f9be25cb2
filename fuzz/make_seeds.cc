// fuzz_make_seeds: writes the seed corpora under fuzz/corpus/ that need the
// fixed fuzz keys (fuzz_keys.h) or a SQLite file. Not a harness; run by
// hand when the formats change (docs/fuzzing.md):
//
//   build-fuzz/fuzz/fuzz_make_seeds fuzz/corpus [REAL_LABEL REAL_TABLE]
//
// REAL_LABEL and REAL_TABLE are a valise.label and valise.stripes written by
// `valise pack` (any set): the label is copied as is, and the table is given
// the fuzz set id (it is outside the records' CRCs) and the geometry byte
// fuzz_stripe_table expects.
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "catalog/catalog.h"
#include "compress/compress.h"
#include "crypto/identity_share.h"
#include "format/custody.h"
#include "format/label.h"
#include "format/stripe_table.h"
#include "fuzz_journal_key.h"
#include "fuzz_keys.h"

using namespace valise;

namespace {

std::string g_out;

void Write(const std::string& rel, const void* data, size_t n) {
  std::string path = g_out + "/" + rel;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), std::streamsize(n));
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}
void Write(const std::string& rel, const std::string& s) { Write(rel, s.data(), s.size()); }
void Write(const std::string& rel, const Bytes& b) { Write(rel, b.data(), b.size()); }

Bytes ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(1);
  }
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

SetHeader FuzzSet(const Identity& id) {
  SetHeader h;
  h.set_id = fuzz::kFuzzSetId;
  h.k = 2;
  h.m = 2;
  h.segment_size = fuzz::kFuzzSegmentSize;
  h.created = "2026-01-01T00:00:00Z";
  h.signer = id.public_key;
  Key32 data_key{};
  data_key[0] = 1;
  h.wrapped_keys.push_back(WrapKey(data_key, id.public_key));
  h.tool = "valise 0.1.0";
  return h;
}

void Labels(const std::string& real_label) {
  Identity id = fuzz::FuzzIdentity();
  SetHeader h = FuzzSet(id);
  Write("fuzz_label/fuzz_noroot.json", FormatLabel(MakeLabel(1, h, std::nullopt, id)));
  Root r;
  r.stripes = 3;
  r.data_stripes = 2;
  r.catalog_bytes = 5000;
  r.table_sha256 = Sha256(AsSpan("table"));
  r.set_sha256 = SetHeaderHash(EncodeSetHeader(h));
  r.finished = "2026-01-01T00:00:01Z";
  Write("fuzz_label/fuzz_root.json", FormatLabel(MakeLabel(2, h, r, id)));
  Shipment sh;
  sh.id = ShipmentId("fuzz-shipment", id.public_key);
  sh.name = "fuzz-shipment";
  sh.part = 2;
  sh.parts = 3;
  h.shipment = sh;
  Write("fuzz_label/fuzz_shipment.json", FormatLabel(MakeLabel(3, h, r, id)));
  if (!real_label.empty()) Write("fuzz_label/pack_label.json", ReadAll(real_label));
}

// An honest custody log of the fuzz set (packed, sealed, handed over), and
// the same with one event's note altered.
void Custody() {
  Identity id = fuzz::FuzzIdentity();
  std::vector<std::string> lines;
  const CustodyAction kinds[] = {CustodyAction::kPacked, CustodyAction::kSealed, CustodyAction::kHandedOver};
  for (CustodyAction a : kinds) {
    CustodyEvent e;
    e.seq = lines.size();
    e.action = a;
    e.at = "2026-01-01T00:00:0" + std::to_string(lines.size()) + "Z";
    e.set_id = fuzz::kFuzzSetId;
    e.root = fuzz::FuzzCustodyRoot();
    e.prev = lines.empty() ? CustodyGenesis(e.set_id, e.root) : CustodyLineHash(lines.back());
    e.note = "seed event " + std::to_string(lines.size());
    SignCustodyEvent(&e, id);
    lines.push_back(EncodeCustodyEvent(e, true));
  }
  Write("fuzz_custody/honest_log", FormatCustodyLog(lines));
  lines[1].replace(lines[1].find("seed event"), 4, "SEED");
  Write("fuzz_custody/altered_log", FormatCustodyLog(lines));
}

void Tables(const std::string& real_table) {
  auto table = [](int n, int stripes) {
    std::vector<StripeRecord> recs;
    for (int s = 0; s < stripes; s++) {
      StripeRecord r;
      r.stripe = uint64_t(s);
      r.kind = s + 1 < stripes ? StripeKind::kData : StripeKind::kCatalog;
      r.shard_len = s + 1 < stripes ? fuzz::kFuzzSegmentSize : 4096;
      r.data_len = s + 1 < stripes ? uint64_t(fuzz::kFuzzSegmentSize) * 2 : 5000;
      for (int i = 0; i < n; i++) r.hashes.push_back(Sha256(AsSpan(std::to_string(s * 100 + i))));
      recs.push_back(r);
    }
    return EncodeStripeTable(fuzz::kFuzzSetId, n, recs);
  };
  auto with_geometry = [](uint8_t b0, const Bytes& t) {
    Bytes out{b0};
    out.insert(out.end(), t.begin(), t.end());
    return out;
  };
  Write("fuzz_stripe_table/n4_3stripes", with_geometry(3, table(4, 3)));
  Write("fuzz_stripe_table/n4_3stripes_fixcrc", with_geometry(0x10 | 3, table(4, 3)));
  Write("fuzz_stripe_table/n1_1stripe", with_geometry(0, table(1, 1)));
  Write("fuzz_stripe_table/n16_header_only", with_geometry(15, table(16, 0)));
  if (!real_table.empty()) {
    Bytes t = ReadAll(real_table);
    if (t.size() < 32) {
      std::fprintf(stderr, "%s is not a stripe table\n", real_table.c_str());
      std::exit(1);
    }
    uint32_t n = GetU32(t.data() + 24);
    std::copy(fuzz::kFuzzSetId.begin(), fuzz::kFuzzSetId.end(), t.begin() + 8);
    Write("fuzz_stripe_table/pack_table", with_geometry(uint8_t((n - 1) & 15), t));
    Write("fuzz_stripe_table/pack_table_fixcrc", with_geometry(uint8_t(0x10 | ((n - 1) & 15)), t));
  }
}

void Identities() {
  Identity id = fuzz::FuzzIdentity();
  Write("fuzz_identity/identity_file", FormatIdentityFile(id));
  std::string rcp = RecipientString(id.public_key);
  Write("fuzz_identity/recipient", rcp);
  std::string upper = rcp.substr(0, 7);
  for (char c : rcp.substr(7)) upper += char(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  Write("fuzz_identity/recipient_upper", upper);
  Write("fuzz_identity/identity_crlf", "\r\n# comment\r\n" + FormatIdentityFile(id).substr(FormatIdentityFile(id).rfind("VALISE")));
  Write("fuzz_identity/hex", ToHex(id.public_key));
  // Shares of the fuzz identity: a 2-of-3 and a 1-of-1, whole, and one
  // without its checksum line (the harness appends a correct one).
  auto shares = SplitIdentity(id, 2, 3);
  auto one = SplitIdentity(id, 1, 1);
  if (!shares.ok() || !one.ok()) std::exit(1);
  Write("fuzz_identity_share/share_2_of_3", FormatShareFile((*shares)[1]));
  Write("fuzz_identity_share/share_1_of_1", FormatShareFile((*one)[0]));
  std::string body = FormatShareFile((*shares)[2]);
  Write("fuzz_identity_share/share_no_checksum", body.substr(0, body.rfind("checksum ")));
}

void Chunks() {
  const Key32 key = fuzz::FuzzChunkKey();
  std::string text;
  for (int i = 0; text.size() < 3000; i++) text += "line " + std::to_string(i % 37) + " of a small test file\n";
  ByteSpan plain = AsSpan(text);
  auto chunk = [&](const std::string& name, bool compress) {
    ChunkRow row;
    row.mac = HmacSha256(key, plain);
    row.plain = uint32_t(plain.size());
    Bytes payload(plain.begin(), plain.end());
    if (compress) {
      Bytes z;
      if (!CompressIfWorthIt(plain, 3, &z)) std::exit(1);
      payload = z;
      row.flags = kChunkCompressed;
    }
    Bytes aad = ChunkAad(row);
    Bytes in{0, uint8_t(aad.size())};
    in.insert(in.end(), aad.begin(), aad.end());
    Seal(key, aad, payload, &in);
    Write("fuzz_chunk_open/" + name, in);
  };
  chunk("sealed_zstd_chunk", true);
  chunk("sealed_raw_chunk", false);
  // A catalog frame: aad "valise catalog" | index u64 | frames u64.
  Bytes aad(std::begin("valise catalog"), std::end("valise catalog") - 1);
  PutU64(aad, 0);
  PutU64(aad, 1);
  Bytes frame{2, uint8_t(aad.size())};
  frame.insert(frame.end(), aad.begin(), aad.end());
  Seal(key, aad, AsSpan("SQLite format 3"), &frame);
  Write("fuzz_chunk_open/sealed_catalog_frame", frame);
  // zstd mode: 1 | plain_len u24 | frame.
  Bytes z;
  if (!CompressIfWorthIt(plain, 1, &z)) std::exit(1);
  Bytes zin{1, uint8_t(plain.size()), uint8_t(plain.size() >> 8), uint8_t(plain.size() >> 16)};
  zin.insert(zin.end(), z.begin(), z.end());
  Write("fuzz_chunk_open/zstd_frame", zin);
}

void Catalogs() {
  // A small catalog written by CatalogWriter and exported as the packer
  // delivers it, then rewritten with 1 KiB pages so the seed stays small.
  std::string work = g_out + "/fuzz_catalog/.tmp-work.sqlite";
  std::string path = g_out + "/fuzz_catalog/.tmp-catalog.sqlite";
  ::unlink(work.c_str());
  ::unlink(path.c_str());
  {
    auto w = CatalogWriter::Create(work);
    if (!w.ok()) std::exit(1);
    auto& cw = **w;
    auto entry = [&](int64_t id, int64_t parent, const std::string& name, EntryKind kind, uint64_t size,
                     const std::string& target = "") {
      Entry e;
      e.id = id;
      e.parent = parent;
      e.name = name;
      e.kind = kind;
      e.mode = kind == EntryKind::kDir ? 0755 : 0644;
      e.mtime_ns = 1700000000123456789;
      e.size = size;
      e.target = target;
      if (!cw.AddEntry(e).ok()) std::exit(1);
    };
    entry(1, 0, "", EntryKind::kDir, 0);
    entry(2, 1, "a", EntryKind::kDir, 0);
    entry(3, 2, "b", EntryKind::kFile, 100);
    entry(5, 2, "c", EntryKind::kFile, 3000);
    entry(6, 1, "link", EntryKind::kSymlink, 3, "a/b");
    entry(7, 1, "empty", EntryKind::kFile, 0);
    ChunkRow c1;
    c1.id = 1;
    c1.mac = Sha256(AsSpan("one"));
    c1.addr = 0;
    c1.stored = 3128;
    c1.plain = 3100;
    if (!cw.AddChunk(c1).ok()) std::exit(1);
    if (!cw.AddExtent({3, 0, 1, 0, 100}).ok() || !cw.AddExtent({5, 0, 1, 100, 3000}).ok()) std::exit(1);
    if (!cw.SetMeta("valise", "0.1.0").ok() || !cw.SetMeta("created", "2026-01-01T00:00:00Z").ok() ||
        !cw.SetMeta("source", "/data/set").ok() || !cw.ExportFinal(path).ok())
      std::exit(1);
  }
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK ||
      sqlite3_exec(db, "PRAGMA page_size=1024; VACUUM;", nullptr, nullptr, nullptr) != SQLITE_OK)
    std::exit(1);
  sqlite3_close(db);
  Write("fuzz_catalog/small_catalog.sqlite", ReadAll(path));
  ::unlink(path.c_str());
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) ::unlink((work + suffix).c_str());

  // Operation programs for the harness's builder (see fuzz_catalog.cc).
  auto u8 = [](Bytes& b, uint8_t v) { b.push_back(1), b.push_back(v); };        // tag 1
  auto i64 = [](Bytes& b, int64_t v) { b.push_back(2), PutU64(b, uint64_t(v)); };  // tag 2
  auto blob = [](Bytes& b, const std::string& s) {
    b.push_back(4), b.push_back(uint8_t(s.size()));
    b.insert(b.end(), s.begin(), s.end());
  };
  auto null = [](Bytes& b) { b.push_back(7), b.push_back(0); };
  auto entry = [&](Bytes& b, uint8_t id, uint8_t parent, const std::string& name, uint8_t kind, int64_t size) {
    b.push_back(0);
    u8(b, id), u8(b, parent), blob(b, name), u8(b, kind), i64(b, kind == 1 ? 0755 : 0644),
        i64(b, 1700000000000000000), i64(b, size);
    if (kind == 3) blob(b, "target");
    else null(b);
  };
  Bytes prog{0};  // options: marker and indexes
  entry(prog, 1, 0, "", 1, 0);
  entry(prog, 2, 1, "a", 1, 0);
  entry(prog, 3, 2, "b", 2, 100);
  entry(prog, 4, 1, "l", 3, 6);
  prog.push_back(1);  // chunk
  u8(prog, 1), blob(prog, std::string(32, 'm')), u8(prog, 0), u8(prog, 128), u8(prog, 100), u8(prog, 0);
  prog.push_back(2);  // extent
  u8(prog, 3), u8(prog, 0), u8(prog, 1), u8(prog, 0), u8(prog, 100);
  Write("fuzz_catalog/program_tree", prog);

  Bytes cyc{0};
  entry(cyc, 1, 0, "", 1, 0);
  entry(cyc, 5, 5, "loop", 1, 0);  // its own parent: PathOf must stop
  entry(cyc, 6, 7, "x", 2, -1);
  entry(cyc, 7, 6, "y", 1, 0);
  Write("fuzz_catalog/program_cycle", cyc);
}

void Simple() {
  for (auto [name, text] : std::initializer_list<std::pair<const char*, const char*>>{
           {"fuzz_safe_name/nested", "dir/sub/file.txt"},
           {"fuzz_safe_name/dotdot", "a/../b"},
           {"fuzz_safe_name/dot", "./a"},
           {"fuzz_safe_name/double_slash", "a//b"},
           {"fuzz_safe_name/root", ""},
           {"fuzz_cli_sizes/mib", "8MiB"},
           {"fuzz_cli_sizes/plain", "4096"},
           {"fuzz_cli_sizes/k", "512k"},
           {"fuzz_cli_sizes/g", "1G"},
           {"fuzz_cli_sizes/kib", "64KiB"},
           {"fuzz_cli_sizes/bytes", "15B"},
           {"fuzz_cli_sizes/max_digits", "999999999999999"}})
    Write(name, std::string(text));
}

}  // namespace

// Journals of the fuzz key (fuzz_journal_key.h): byte 0 is the mode
// (0x01 repair key, 0x02 the harness appends the checksum line).
void Journals() {
  auto put = [](const std::string& name, uint8_t mode, const std::string& text) {
    std::string in(1, char(mode));
    in += (mode & 0x02) ? text.substr(0, text.rfind("end ")) : text;
    Write("fuzz_check_journal/" + name, in);
  };
  JournalKey vk = fuzz::FuzzJournalKey(false), rk = fuzz::FuzzJournalKey(true);
  CheckState s;
  s.Reset(4);
  put("verify_fresh", 0, EncodeJournal(vk, s));
  s.next = {40, 37, 0, 52};
  s.bad[1] = {{1, "segment content does not match its signed hash"},
              {2, "segment content does not match its signed hash"},
              {30, "segment file missing"}};
  s.bad[3] = {{50, "segment is 1000 bytes, expected 65536 (truncated or padded)"}};
  put("verify_midscan", 0, EncodeJournal(vk, s));
  put("verify_midscan_fix", 2, EncodeJournal(vk, s));
  s.next = {100, 100, 0, 100};
  s.scan_done = true;
  s.chunks_done = 12;
  s.chunks_bad = 2;
  s.chunk_bytes = 9000000;
  s.lost = {7, 19};
  s.warnings = {"read around damaged data on drive 2 (log offset 65536)"};
  put("verify_keyed", 0, EncodeJournal(vk, s));
  CheckState r;
  r.Reset(4);
  r.next = {100, 100, 0, 100};
  r.bad[1] = {{1, "segment content does not match its signed hash"}};
  r.scan_done = true;
  r.open = {{DriveState::kOk, {}}, {DriveState::kDamaged, {"stripe table copy damaged or missing"}},
            {DriveState::kMissing, {}}, {DriveState::kOk, {}}};
  r.rewriting = true;
  r.rewrite_next = 44;
  r.shards = 45;
  r.bytes = 45 * 65536;
  r.unrepaired = {"stripe 3: 3 of its 4 shards are lost (parity covers 2): its data cannot be rebuilt"};
  put("repair_rewrite", 1, EncodeJournal(rk, r));
  put("repair_rewrite_fix", 3, EncodeJournal(rk, r));
}

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [REAL_LABEL REAL_TABLE]\n", argv[0]);
    return 2;
  }
  CryptoInit();
  g_out = argv[1];
  for (const char* d : {"fuzz_label", "fuzz_stripe_table", "fuzz_identity", "fuzz_chunk_open",
                        "fuzz_catalog", "fuzz_safe_name", "fuzz_cli_sizes", "fuzz_check_journal", "fuzz_custody",
                        "fuzz_identity_share"})
    std::filesystem::create_directories(g_out + "/" + d);
  Labels(argc == 4 ? argv[2] : "");
  Tables(argc == 4 ? argv[3] : "");
  Identities();
  Chunks();
  Catalogs();
  Simple();
  Journals();
  Custody();
  return 0;
}
