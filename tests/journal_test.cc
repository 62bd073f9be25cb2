// The verify/repair journal is untrusted input: every damaged, truncated,
// foreign or inconsistent journal is refused with a reason, and an accepted
// one encodes back to exactly its bytes.
#include <gtest/gtest.h>

#include "check/journal.h"
#include "common/bytes.h"
#include "crypto/crypto.h"

namespace valise {
namespace {

JournalKey Key() {
  JournalKey k;
  k.command = "repair";
  k.set_id = std::string(32, 'a');
  k.root = std::string(64, 'b');
  k.n = 4;
  k.stripes = 100;
  k.drives = {std::string(32, '1'), std::string(32, '2'), "-", std::string(32, '4')};
  k.options = std::string(64, 'c');
  return k;
}

CheckState State() {
  CheckState s;
  s.Reset(4);
  s.next = {100, 100, 0, 100};
  s.bad[1] = {{3, "segment content does not match its signed hash"},
              {4, "segment content does not match its signed hash"},
              {5, "segment file missing"},
              {90, "segment content does not match its signed hash"}};
  s.bad[3] = {{0, "segment is 10 bytes, expected 65536 (truncated or padded)"}};
  s.scan_done = true;
  s.open = {{DriveState::kOk, {}}, {DriveState::kDamaged, {"stripe table copy damaged or missing"}},
            {DriveState::kMissing, {}}, {DriveState::kOk, {"label lacks the final root (pack ended before this drive was sealed)"}}};
  s.rewriting = true;
  s.rewrite_next = 40;
  s.shards = 41;
  s.bytes = 41 * 65536;
  s.unrepaired = {"drive 2 stripe 7: rebuilt shard does not match its signed hash"};
  return s;
}

// Replaces the checksum line so that a change gets past it to the field checks.
std::string Reseal(std::string body) {
  Hash32 h = Sha256(AsSpan(body));
  return body + "end " + ToHex(ByteSpan(h.data(), h.size())) + "\n";
}
std::string Body(const std::string& text) { return text.substr(0, text.rfind("end ")); }

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(CheckJournal, RoundTripIsCanonical) {
  std::string text = EncodeJournal(Key(), State());
  auto s = DecodeJournal(text, Key());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->next, State().next);
  EXPECT_EQ(s->bad, State().bad);
  EXPECT_EQ(s->rewrite_next, 40u);
  EXPECT_EQ(s->unrepaired, State().unrepaired);
  ASSERT_EQ(s->open.size(), 4u);
  EXPECT_EQ(s->open[1].problems, State().open[1].problems);
  EXPECT_EQ(EncodeJournal(Key(), *s), text);
  // Runs of stripes with one message are one line.
  EXPECT_NE(text.find("bad 1 3 4 0\n"), std::string::npos) << text;
}

TEST(CheckJournal, EveryByteFlipAndTruncationIsRefused) {
  std::string text = EncodeJournal(Key(), State());
  for (size_t i = 0; i < text.size(); i++) {
    std::string t = text;
    t[i] ^= 0x01;
    EXPECT_FALSE(DecodeJournal(t, Key()).ok()) << "flip at " << i;
  }
  for (size_t len = 0; len < text.size(); len++)
    EXPECT_FALSE(DecodeJournal(text.substr(0, len), Key()).ok()) << "cut at " << len;
}

TEST(CheckJournal, ForeignJournalsAreRefusedWithTheReason) {
  std::string text = EncodeJournal(Key(), State());
  auto why = [&](JournalKey k) {
    auto s = DecodeJournal(text, k);
    return s.ok() ? std::string("accepted") : s.status().message();
  };
  JournalKey k = Key();
  k.command = "verify";
  EXPECT_NE(why(k).find("journal of repair"), std::string::npos) << why(k);
  k = Key();
  k.set_id[0] = 'f';
  EXPECT_NE(why(k).find("another set"), std::string::npos);
  k = Key();
  k.root[5] = '0';
  EXPECT_NE(why(k).find("another pack"), std::string::npos);
  k = Key();
  k.stripes = 101;
  EXPECT_NE(why(k).find("geometry"), std::string::npos);
  k = Key();
  k.drives[1] = std::string(32, '9');
  k.drives[2] = std::string(32, '3');
  EXPECT_NE(why(k).find("drive 2, 3 are not the same"), std::string::npos) << why(k);
  k = Key();
  k.options[0] = 'd';
  EXPECT_NE(why(k).find("other options"), std::string::npos);
}

TEST(CheckJournal, InconsistentContentIsRefusedEvenWithAValidChecksum) {
  std::string body = Body(EncodeJournal(Key(), State()));
  ASSERT_TRUE(DecodeJournal(Reseal(body), Key()).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"next 0 100\n", "next 0 101\n"},             // past the end of the set
      {"next 2 0\n", "next 2 5\n"},                 // progress on a missing drive
      {"next 0 100\n", "next 0 0100\n"},            // not canonical
      {"bad 1 3 4 0\n", "bad 1 4 3 0\n"},           // a backwards run
      {"bad 1 3 4 0\n", "bad 7 3 4 0\n"},           // no such drive
      {"bad 1 3 4 0\n", "bad 1 3 4 9\n"},           // no such message
      {"bad 1 90 90 0\n", "bad 1 5 5 0\n"},         // out of order
      {"bad 1 3 4 0\n", "bad 1 3 3 0\nbad 1 4 4 0\n"},  // a run split in two
      {"bad 3 0 0 2\n", "bad 3 0 18446744073709551615 2\n"},  // past its drive's progress
      {"scan 1\n", "scan 2\n"},
      {"rewrite 1 40 41", "rewrite 1 101 41"},      // past the end
      {"rewrite 1 40 41", "rewrite 1 40 999"},      // more shards than stripes allow
      {"open 1 1 1\n", "open 1 9 1\n"},             // no such drive state
      {"problem ", "problem  "},                   // two spaces
      {"msg 0 ", "msg 0 0a"},                      // a control character in a message
      {"command repair\n", "command repair\ncommand repair\n"},
  };
  for (auto& [from, to] : cases) {
    auto s = DecodeJournal(Reseal(Replace(body, from, to)), Key());
    EXPECT_FALSE(s.ok()) << "accepted: " << from << " -> " << to;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), Code::kCorruption);
    }
  }
  // A scan that says it is done while a drive is not checked to the end.
  CheckState partial = State();
  partial.next[0] = 50;
  EXPECT_FALSE(DecodeJournal(EncodeJournal(Key(), partial), Key()).ok());
  // Chunk results belong to a keyed verify.
  CheckState chunks = State();
  chunks.chunks_done = 3;
  EXPECT_FALSE(DecodeJournal(EncodeJournal(Key(), chunks), Key()).ok());
}

}  // namespace
}  // namespace valise
