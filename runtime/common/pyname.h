/*
 * How pyscope keeps a name from the program: a file name, co_name,
 * co_qualname, a thread's name, a snapshot label. In the program these are
 * Python strs, and a str may hold lone surrogates: a file name whose bytes
 * are not UTF-8 has them as U+DC80..U+DCFF (os.fsdecode's surrogateescape),
 * and a program may put any surrogate into a name. Everywhere outside the
 * program (wire, database, viewer) a name is bytes:
 *
 *   - a code point that is not a surrogate: its UTF-8, but U+0000 as the
 *     two bytes C0 80 (as Java's modified UTF-8 has it), so that a name's
 *     bytes never hold a 0 and can be passed as a C string;
 *   - U+DC80..U+DCFF: the one byte 0x80..0xFF it stands for, so that a
 *     file name is the file system's own bytes, as os.fsencode gives them;
 *   - any other surrogate: its three bytes ED A0..BF 80..BF, as Python's
 *     surrogatepass writes it (os.fsencode would refuse it).
 *
 * Read back (pyname_next), valid UTF-8 is its code points, C0 80 is U+0000,
 * the three-byte form of a surrogate outside U+DC80..U+DCFF is that
 * surrogate, and every other byte that is not UTF-8 is U+DC00 plus the
 * byte. Bytes without a 0 read and written again are always the same
 * bytes; a str written and read is the same str unless its escaped bytes
 * happen to spell UTF-8 or C0 80 themselves ("\udcc3\udca9" reads back
 * as "é", as os.fsdecode(os.fsencode(s)) would also give).
 */
#ifndef PYSCOPE_PYNAME_H
#define PYSCOPE_PYNAME_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes one code point takes, in either form below. */
#define PYNAME_MAX_BYTES 4

/* Code point cp (at most U+10FFFF) as a name keeps it, into out; the byte count. */
size_t pyname_put(uint32_t cp, char *out);

/*
 * cp in generalized UTF-8, every surrogate as three bytes (surrogatepass):
 * the form marshal's str and other Python readers expect. The byte count.
 */
size_t pyname_utf8(uint32_t cp, char *out);

/* The code point that name bytes s (n >= 1 of them) start with into *cp;
 * the bytes it took, 1 to 4. */
size_t pyname_next(const char *s, size_t n, uint32_t *cp);

/* The length (2 to 4) of the well-formed UTF-8 sequence at s (n bytes
 * left, s[0] >= 0x80), or 0 when there is none: a stray byte, an overlong
 * form, a surrogate, beyond U+10FFFF, or cut short. */
size_t pyname_utf8_len(const char *s, size_t n);

/* Whether s[0..n) is all well-formed UTF-8: a name the database keeps as
 * TEXT (any other, as a BLOB). */
int pyname_is_utf8(const char *s, size_t n);

#endif
