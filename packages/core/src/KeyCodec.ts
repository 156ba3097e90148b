/**
 * Byte-level helpers every SQL backend needs to give each well-formed JS string
 * its own identity: keys and namespaces are stored as their UTF-8 bytes and
 * compared byte for byte, and prefix queries become index range scans.
 *
 * @since 0.1.0
 */

const encoder = new TextEncoder()
// ignoreBOM: a leading U+FEFF is part of the key or value, not a byte-order
// mark to strip; without it "\uFEFF" and "" would read back as one key.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * Encodes a well-formed string as UTF-8.
 *
 * @category constructors
 * @since 0.1.0
 */
export const encode = (text: string): Uint8Array => encoder.encode(text)

/**
 * Decodes UTF-8 bytes read back from the database; throws on malformed bytes
 * rather than silently replacing them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decode = (bytes: Uint8Array): string => decoder.decode(bytes)

/**
 * Length of a string in UTF-8 bytes, without allocating.
 *
 * @category constructors
 * @since 0.1.0
 */
export const utf8Length = (text: string): number => {
  let length = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) length += 1
    else if (code < 0x800) length += 2
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      length += 4
      i++
    } else length += 3
  }
  return length
}

/**
 * The exclusive upper bound of the byte strings that start with `prefix`, or
 * `undefined` when there is none (every byte is 0xFF, which UTF-8 never
 * produces, or the prefix is empty).
 *
 * **Details**
 *
 * `key >= prefix AND key < upperBound(prefix)` selects exactly the keys that
 * start with `prefix` under byte-wise ordering, and is served by a B-tree
 * index as a range scan: no `LIKE`, no escaping of `%` and `_`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const prefixUpperBound = (prefix: Uint8Array): Uint8Array | undefined => {
  let end = prefix.length
  while (end > 0 && prefix[end - 1] === 0xff) end--
  if (end === 0) return undefined
  const bound = prefix.slice(0, end)
  bound[end - 1]! += 1
  return bound
}

/**
 * Whether a string is well-formed UTF-16 (no lone surrogates), and so has an
 * exact UTF-8 encoding.
 *
 * @category guards
 * @since 0.1.0
 */
export const isWellFormed = (text: string): boolean => text.isWellFormed()
