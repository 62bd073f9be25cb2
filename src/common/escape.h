// Showing names that came from a set (file names, link targets) to a person
// or a program without letting the name speak for itself.
//
// A sender chooses every name in a set. Printed raw, a name holding ESC
// sequences could rewrite the terminal of whoever lists or restores it, and
// a name that is not UTF-8 cannot go into JSON as a string at all.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace valise {

// `s` as one line of printable text: C0 controls, DEL, C1 controls
// (U+0080..U+009F), the bidirectional overrides and isolates (U+202A..U+202E,
// U+2066..U+2069) and every byte that is not part of valid UTF-8 become
// escapes: \n \t \r, \xHH for a byte, \u202e for a code point; a backslash
// becomes \\. Valid printable UTF-8 is kept as it is. The escaping is
// injective, so two different names never print the same.
std::string EscapeForTerminal(std::string_view s);

// The inverse of EscapeForTerminal: nullopt if `s` is not something it
// could have written.
std::optional<std::string> UnescapeTerminal(std::string_view s);

// The same for a message of several lines: '\n' is kept, all else as above.
std::string EscapeMessage(std::string_view s);

// Whether `s` is valid UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Standard base64 (RFC 4648, with padding).
std::string Base64(std::string_view bytes);

// `s` for a JSON string field: `s` itself when it is valid UTF-8, else its
// bytes with each invalid byte shown as \xHH (for display only; the exact
// bytes then go in a sibling "<field>_b64", see docs/format.md "Names in
// --json output").
std::string Utf8ForJson(std::string_view s);

}  // namespace valise
