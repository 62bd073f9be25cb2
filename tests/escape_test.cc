// Tests for common/escape.h: names from a set shown on a terminal and in JSON.
#include "common/escape.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

namespace valise {
namespace {

TEST(Escape, ControlCharactersNeverPassThrough) {
  EXPECT_EQ(EscapeForTerminal("plain/name-1.txt"), "plain/name-1.txt");
  EXPECT_EQ(EscapeForTerminal("caf\xc3\xa9 \xe6\x97\xa5"), "caf\xc3\xa9 \xe6\x97\xa5");  // UTF-8 kept
  EXPECT_EQ(EscapeForTerminal("a\x1b]0;x\x07" "b"), "a\\x1b]0;x\\x07b");
  EXPECT_EQ(EscapeForTerminal("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(EscapeForTerminal(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(EscapeForTerminal("del\x7f"), "del\\x7f");
  EXPECT_EQ(EscapeForTerminal("c1\xc2\x9b" "2J"), "c1\\u009b2J");          // CSI as a code point
  EXPECT_EQ(EscapeForTerminal("bidi\xe2\x80\xae" "txt"), "bidi\\u202etxt");  // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(EscapeForTerminal("latin1-\xe9t\xe9"), "latin1-\\xe9t\\xe9");
  EXPECT_EQ(EscapeForTerminal("back\\slash"), "back\\\\slash");
  EXPECT_EQ(EscapeMessage("line 1\nline\x1b 2"), "line 1\nline\\x1b 2");
  for (int c = 0; c < 256; c++) {
    std::string out = EscapeForTerminal(std::string(1, char(c)));
    for (unsigned char o : out) EXPECT_TRUE(o >= 0x20 && o < 0x7f) << c;
  }
}

TEST(Escape, InjectiveOnTrickyNames) {
  // A name that spells an escape is not confused with the byte it names.
  const std::set<std::string> names = {"\x1b", "\\x1b", "\\\\x1b", "\n", "\\n", "\xc2\x9b", "\x9b", "\\u009b",
                                       "\xe9", "\xc3\xa9"};
  std::set<std::string> shown;
  for (auto& n : names) shown.insert(EscapeForTerminal(n));
  EXPECT_EQ(shown.size(), names.size());
}

// The manifest's CSV names are escaped and read back: UnescapeTerminal undoes
// EscapeForTerminal exactly, on every byte string, and refuses what it never writes.
TEST(Escape, UnescapeIsTheExactInverse) {
  std::mt19937 rng(11);
  const std::string tricky[] = {"", "plain", "a\\b", "caf\xe9", "c1\xc2\x9b" "2J", "bidi\xe2\x80\xae", "\n\t\r\x7f",
                                std::string("nul\0x", 5), "\xef\xbf\xbd", "\xed\xa0\x80"};
  for (auto& s : tricky) {
    auto back = UnescapeTerminal(EscapeForTerminal(s));
    ASSERT_TRUE(back.has_value()) << EscapeForTerminal(s);
    EXPECT_EQ(*back, s);
  }
  for (int i = 0; i < 20000; i++) {
    std::string s(rng() % 12, '\0');
    for (auto& c : s) c = char(rng() % 4 == 0 ? 0x80 + rng() % 0x80 : rng() % 0x100);
    auto back = UnescapeTerminal(EscapeForTerminal(s));
    ASSERT_TRUE(back.has_value());
    ASSERT_EQ(*back, s);
  }
  for (const char* bad : {"\\", "\\q", "\\x4", "\\xzz", "\\u12", "\\x41", "\\u0041", "a\x1b"})
    EXPECT_FALSE(UnescapeTerminal(bad).has_value()) << bad;
}

TEST(Escape, Utf8ValidityAndJsonForm) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("a\xc3\xa9\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe6\x97"));          // truncated
  EXPECT_EQ(Utf8ForJson("ok\x1b"), "ok\x1b");     // valid: as it is (JSON escapes it)
  EXPECT_EQ(Utf8ForJson("a\xe9" "b\xc3\xa9"), "a\\xe9b\xc3\xa9");
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64("\xff\xfe"), "//4=");
}

}  // namespace
}  // namespace valise
