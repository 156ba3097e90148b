/**
 * Strings that databases are known to confuse: under a case-insensitive or
 * accent-insensitive collation, with trailing-space padding, with Unicode
 * normalization, with NUL as a terminator, with UTF-16 versus UTF-8 order,
 * and with `LIKE`/`GLOB` patterns. Shared by the key, prefix and model laws.
 *
 * @internal
 */

/**
 * Pairs of distinct strings that some storage treats as one, each with why.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const confusablePairs: ReadonlyArray<readonly [string, string, string]> = [
  ["a", "A", "case"],
  ["straße", "STRASSE", "case folding"],
  ["a", "a ", "trailing space"],
  ["a", " a", "leading space"],
  ["a ", "a  ", "two trailing spaces"],
  ["a", "a\t", "trailing tab"],
  ["á", "a", "accent"],
  ["ä", "a", "umlaut"],
  ["\u00e9", "e\u0301", "NFC versus NFD"],
  ["\u212b", "\u00c5", "angstrom sign versus A with ring (canonical equivalents)"],
  ["ﬁ", "fi", "ligature (compatibility equivalents)"],
  ["", "\u200b", "empty versus zero-width space"],
  ["", "\ufeff", "empty versus byte order mark"],
  ["1", "01", "numeric-looking"],
  ["1", "1.0", "numeric-looking"]
]

/**
 * Keys with a NUL, distinct from each other and from their NUL-free forms.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const nulKeys: ReadonlyArray<string> = ["a\u0000b", "a\u0000", "\u0000", "\u0000a", "a\u0000\u0000b"]

/**
 * Astral-plane and boundary code points, including ones whose UTF-16 order
 * differs from their UTF-8 (byte) order.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const astralKeys: ReadonlyArray<string> = [
  "😀",
  "😁",
  "a😀b",
  "𝒳",
  "👨‍👩‍👧",
  "🇫🇷",
  "\u{10ffff}",
  "\u{10000}",
  "\uffff",
  "\ufffe",
  "\ufffd",
  "\ue000",
  "\u07ff",
  "\u0800"
]

/**
 * Strings that are not well-formed UTF-16: each has a lone surrogate.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const loneSurrogates: ReadonlyArray<string> = ["\ud800", "\udc00", "a\ud800b", "\udc00\ud800", "😀\ud83d"]

/**
 * Characters that mean something in `LIKE`, `GLOB`, regular expressions or
 * SQL string literals.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const metacharacters: ReadonlyArray<string> = [
  "%",
  "_",
  "\\",
  "[",
  "]",
  "*",
  "?",
  "'",
  "\"",
  ".",
  "^",
  "$",
  "|",
  "(",
  ")",
  "{",
  "}",
  "-",
  "!",
  "#",
  ":",
  "/",
  "`",
  ";",
  "+"
]
