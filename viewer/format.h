/*
 * Human formatting shared by the viewer commands: sizes, durations,
 * percentages, counts, signal names, local times, aligned tables, and JSON
 * strings that are safe to embed in HTML.
 *
 * The fmt_* value formatters write into a caller's buffer (FMT_BUFSZ bytes
 * is always enough), never fail, and return the buffer so they can be used
 * as printf arguments. Text is UTF-8; widths count code points.
 *
 * Its prefix is fmt_.
 */
#ifndef PYSCOPE_VIEWER_FORMAT_H
#define PYSCOPE_VIEWER_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FMT_BUFSZ 64

/* "512 B", "1.5 KiB", "12.0 MiB", "3.2 GiB", "1.1 TiB"; negative with '-'. */
char *fmt_bytes(char *buf, size_t len, int64_t bytes);

/* As fmt_bytes, with '+' before positive values: for growth in diffs. */
char *fmt_bytes_delta(char *buf, size_t len, int64_t bytes);

/*
 * Nanoseconds as "850 ns", "12.3 us", "4.2 ms", "1.25 s", "2 min 03 s",
 * "1 h 02 min". Rounds, moving up a unit when rounding reaches the next one.
 */
char *fmt_duration(char *buf, size_t len, int64_t ns);

/*
 * part/whole as "12.3%"; "<0.1%" for a positive share that would show as
 * 0.0%; "-" when whole is not positive.
 */
char *fmt_pct(char *buf, size_t len, double part, double whole);

/* An integer with thousands separators: "1,234,567". */
char *fmt_int(char *buf, size_t len, int64_t n);

/* Wall-clock nanoseconds since the epoch as local "2026-11-22 10:00:00". */
char *fmt_datetime(char *buf, size_t len, int64_t wall_ns);

/* Wall-clock nanoseconds since the epoch as local "10:00:00.123". */
char *fmt_time_of_day(char *buf, size_t len, int64_t wall_ns);

/*
 * Names from the program need not be UTF-8 (pyname.h: a file name's bytes,
 * a lone surrogate). Every function here shows a byte that is not part of
 * well-formed UTF-8 as Python's backslashreplace does, as the four
 * characters "\xff", so no output of the viewer carries such a byte.
 */

/* Display width of text: its code points, four for each byte shown as
 * "\xNN" (no wide-character tables). */
size_t fmt_width(const char *s);

/*
 * s shortened to at most maxcols columns (as fmt_width counts them),
 * ending in "..." when cut, never splitting a UTF-8 sequence. buf of len
 * bytes; the result is also cut to fit it. Bytes that are not UTF-8 stay
 * as they are, for the writer to escape.
 */
char *fmt_ellipsize(char *buf, size_t len, const char *s, size_t maxcols);

/*
 * Write s to out for a terminal: control characters (C0, DEL and the C1
 * range) become '?', so a name from the program cannot move the cursor,
 * recolour the screen or break a table's lines; a byte that is not UTF-8
 * becomes "\xNN". Other text is unchanged.
 */
void fmt_put_text(FILE *out, const char *s);

/*
 * Write s to out as a quoted JSON string, or null when s is NULL. Escapes
 * quotes, backslash and control characters, writes <, >, & and U+2028/2029
 * as \u escapes so the output can sit inside HTML <script>, and writes a
 * byte that is not UTF-8 as the text "\xNN" (in JSON, "\\xNN"), as the
 * terminal shows it.
 */
void fmt_json_str(FILE *out, const char *s);

/*
 * Append s to b as well-formed UTF-8: a byte that is not UTF-8 as the text
 * "\xNN", U+0000 as a name keeps it as "\x00", everything else unchanged,
 * for a format whose strings must be UTF-8 (pprof's). With fold, also ';'
 * as ',' and the other control characters as spaces, for folded stacks
 * (one line each, frames split at ';'). 0 or PYSCOPE_ENOMEM.
 */
struct sbuf;
int fmt_add_utf8(struct sbuf *b, const char *s, int fold);

/*
 * The length (2 to 4) of the well-formed UTF-8 sequence p starts with, or 0
 * when it is not one (stray byte, overlong form, surrogate, beyond U+10FFFF).
 * p[0] is at least 0x80; reads stop at the first wrong byte, so a NUL ends it.
 */
size_t fmt_utf8_len(const unsigned char *p);

/* Whether p (*p not NUL) starts with U+0000 as a name keeps it: the bytes
 * C0 80 (pyname.h), shown as "\x00" (as "\u0000" in JSON). */
static inline int fmt_is_nul(const unsigned char *p)
{
    return p[0] == 0xC0 && p[1] == 0x80;
}

/*
 * An aligned text table: cells are added row by row, left to right; column
 * widths come from the widest cell when printed. Allocation failures are
 * sticky: adds after one are ignored and fmt_table_print reports it, so
 * callers check once.
 */
struct fmt_table;

/*
 * A table whose columns are aligned as spec says, one letter per column:
 * 'l' left, 'r' right. NULL when out of memory or spec is empty or invalid.
 */
struct fmt_table *fmt_table_new(const char *spec);

/* Add the next cell (copied; NULL is an empty cell). 0 or PYSCOPE_ENOMEM. */
int fmt_table_add(struct fmt_table *t, const char *cell);

/* Add the next cell, printf-style. 0 or PYSCOPE_ENOMEM. */
int fmt_table_addf(struct fmt_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rows added so far, counting an incomplete last row. */
size_t fmt_table_rows(const struct fmt_table *t);

/*
 * Print the rows, each line starting with indent (may be NULL), columns two
 * spaces apart, no trailing blanks, cells through fmt_put_text. A short last row is padded with
 * empty cells. Returns 0, or PYSCOPE_ENOMEM if an add failed (nothing printed).
 */
int fmt_table_print(const struct fmt_table *t, FILE *out, const char *indent);

/* Free t and its cells; NULL is fine. */
void fmt_table_free(struct fmt_table *t);

#endif
