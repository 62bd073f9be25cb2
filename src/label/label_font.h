// A 5 x 8 bitmap font for the PNG labels, drawn for valise (no third-party
// glyph data): digits, a-z, A-Z and " .:-/?". Rows 0..6 hold capitals and
// digits, row 7 the descenders of g, j, p, q and y. A glyph is 5 columns;
// text advances 6 columns a character and 9 rows a line.
#pragma once

namespace valise {

inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphRows = 8;
inline constexpr int kGlyphAdvance = 6;  // columns from one character to the next
inline constexpr int kCapRows = 7;       // rows 0..6: a capital's height

// The glyph of `c`: row r, column x is dark when Glyph(c)[r][x] == '#'.
// A character the font lacks is drawn as '?'.
const char* const* Glyph(char c);

}  // namespace valise
