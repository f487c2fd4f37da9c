/*
 * The viewer's human formatting: every size, duration, percentage and count
 * a command prints goes through here so they read the same everywhere, and
 * every string that lands in JSON is escaped here. Units are binary for
 * sizes (KiB, MiB) and ASCII for durations ("us", not the micro sign) so the
 * output survives any terminal and any grep.
 *
 * Rounding is done in integers where it decides the unit: 1048575 bytes is
 * "1.0 MiB", not "1024.0 KiB", and 59.996 s is "1 min 00 s".
 */
#include "format.h"
#include "error.h"
#include "pyname.h"
#include "util.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* |v| without overflow at INT64_MIN. */
static uint64_t magnitude(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

static char *format_bytes(char *buf, size_t len, int64_t bytes, const char *plus)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    const size_t nunits = sizeof units / sizeof units[0];
    const char *sign = bytes < 0 ? "-" : bytes > 0 ? plus : "";
    uint64_t u = magnitude(bytes);

    if (u < 1024) {
        snprintf(buf, len, "%s%llu B", sign, (unsigned long long)u);
        return buf;
    }
    /* Tenths of the unit, rounded; step up while rounding reaches 1024. */
    double div = 1024.0;
    size_t i = 0;
    unsigned long long tenths = (unsigned long long)llround((double)u / div * 10.0);
    while (tenths >= 10240 && i + 1 < nunits) {
        div *= 1024.0;
        i++;
        tenths = (unsigned long long)llround((double)u / div * 10.0);
    }
    snprintf(buf, len, "%s%llu.%llu %s", sign, tenths / 10, tenths % 10, units[i]);
    return buf;
}

char *fmt_bytes(char *buf, size_t len, int64_t bytes)
{
    return format_bytes(buf, len, bytes, "");
}

char *fmt_bytes_delta(char *buf, size_t len, int64_t bytes)
{
    return format_bytes(buf, len, bytes, "+");
}

char *fmt_duration(char *buf, size_t len, int64_t ns)
{
    const char *sign = ns < 0 ? "-" : "";
    uint64_t u = magnitude(ns);
    unsigned long long v;

    if (u < 1000) {
        snprintf(buf, len, "%s%llu ns", sign, (unsigned long long)u);
        return buf;
    }
    if ((v = (u + 50) / 100) < 10000) { /* tenths of a microsecond */
        snprintf(buf, len, "%s%llu.%llu us", sign, v / 10, v % 10);
        return buf;
    }
    if ((v = (u + 50000) / 100000) < 10000) { /* tenths of a millisecond */
        snprintf(buf, len, "%s%llu.%llu ms", sign, v / 10, v % 10);
        return buf;
    }
    if ((v = (u + 5000000) / 10000000) < 6000) { /* hundredths of a second */
        snprintf(buf, len, "%s%llu.%02llu s", sign, v / 100, v % 100);
        return buf;
    }
    if ((v = (u + 500000000) / 1000000000) < 3600) { /* seconds */
        snprintf(buf, len, "%s%llu min %02llu s", sign, v / 60, v % 60);
        return buf;
    }
    v = (u + 30000000000ull) / 60000000000ull; /* minutes */
    snprintf(buf, len, "%s%llu h %02llu min", sign, v / 60, v % 60);
    return buf;
}

char *fmt_pct(char *buf, size_t len, double part, double whole)
{
    if (!(whole > 0) || !isfinite(whole) || !isfinite(part)) {
        snprintf(buf, len, "-");
        return buf;
    }
    double p = 100.0 * part / whole;
    if (part > 0 && p < 0.05)
        snprintf(buf, len, "<0.1%%");
    else if (part < 0 && p > -0.05)
        snprintf(buf, len, ">-0.1%%");
    else
        snprintf(buf, len, "%.1f%%", part == 0 ? 0.0 : p);
    return buf;
}

char *fmt_int(char *buf, size_t len, int64_t n)
{
    char digits[32];
    char tmp[48];
    size_t nd = (size_t)snprintf(digits, sizeof digits, "%llu", (unsigned long long)magnitude(n));
    size_t j = 0;

    if (n < 0)
        tmp[j++] = '-';
    for (size_t i = 0; i < nd; i++) {
        if (i && (nd - i) % 3 == 0)
            tmp[j++] = ',';
        tmp[j++] = digits[i];
    }
    tmp[j] = '\0';
    snprintf(buf, len, "%s", tmp);
    return buf;
}

/* Split wall_ns into local broken-down time and the nanoseconds past it. */
static int local_time(int64_t wall_ns, struct tm *tm, long *frac_ns)
{
    int64_t sec = wall_ns / 1000000000;
    int64_t rem = wall_ns % 1000000000;
    if (rem < 0) {
        rem += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    *frac_ns = (long)rem;
    return localtime_r(&t, tm) ? 0 : PYSCOPE_EINVAL;
}

char *fmt_datetime(char *buf, size_t len, int64_t wall_ns)
{
    struct tm tm;
    long frac;
    if (local_time(wall_ns, &tm, &frac) < 0 || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, len, "?");
    return buf;
}

char *fmt_time_of_day(char *buf, size_t len, int64_t wall_ns)
{
    struct tm tm;
    long frac;
    char hms[16];
    if (local_time(wall_ns, &tm, &frac) < 0 || !strftime(hms, sizeof hms, "%H:%M:%S", &tm))
        snprintf(buf, len, "?");
    else
        snprintf(buf, len, "%s.%03ld", hms, frac / 1000000);
    return buf;
}

/*
 * The unit of text at p (*p not NUL): a character, or a byte that is not
 * part of well-formed UTF-8 and is shown as "\xNN". Its length in bytes,
 * and in *cols the columns it takes when shown.
 */
static size_t text_unit(const unsigned char *p, size_t *cols)
{
    if (fmt_is_nul(p)) {
        *cols = 4;
        return 2;
    }
    size_t n = *p < 0x80 ? 1 : fmt_utf8_len(p);
    *cols = n ? 1 : 4;
    return n ? n : 1;
}

size_t fmt_width(const char *s)
{
    size_t w = 0, cols;
    for (const unsigned char *p = (const unsigned char *)s; *p; w += cols)
        p += text_unit(p, &cols);
    return w;
}

char *fmt_ellipsize(char *buf, size_t len, const char *s, size_t maxcols)
{
    static const char dots[] = "...";
    const unsigned char *u = (const unsigned char *)s;
    size_t pos = 0, cols = 0;

    if (!len)
        return buf;
    size_t slen = strlen(s);
    if (fmt_width(s) <= maxcols && slen < len) {
        memcpy(buf, s, slen + 1);
        return buf;
    }
    size_t ndots = maxcols < 3 ? maxcols : 3;
    if (ndots > len - 1)
        ndots = len - 1;
    size_t keep = maxcols - ndots;
    while (u[pos]) {
        size_t w, n = text_unit(u + pos, &w);
        if (cols + w > keep || pos + n + ndots >= len)
            break;
        pos += n;
        cols += w;
    }
    memcpy(buf, s, pos);
    memcpy(buf + pos, dots, ndots);
    buf[pos + ndots] = '\0';
    return buf;
}

void fmt_put_text(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t cols, n = text_unit(p, &cols);
        if (*p < 0x20 || *p == 0x7f) {
            putc('?', out);
        } else if (fmt_is_nul(p)) {
            fputs("\\x00", out);
        } else if (cols > 1) {
            fprintf(out, "\\x%02x", *p);
        } else if (n == 2 && *p == 0xC2 && p[1] <= 0x9F) {
            putc('?', out); /* U+0080..U+009F, e.g. the one-byte CSI */
        } else {
            fwrite(p, 1, n, out);
        }
        p += n;
    }
}

int fmt_add_utf8(struct sbuf *b, const char *s, int fold)
{
    const unsigned char *p = (const unsigned char *)s, *run = p;
    for (;;) {
        size_t n = *p < 0x80 ? 1 : fmt_utf8_len(p);
        int nul = *p && fmt_is_nul(p);
        if (*p && n && !nul && (!fold || n > 1 || (*p != ';' && *p >= 0x20 && *p != 0x7f))) {
            p += n;
            continue;
        }
        /* the text before, in one piece */
        if (p > run && sbuf_add(b, (const char *)run, (size_t)(p - run)) < 0)
            return PYSCOPE_ENOMEM;
        if (!*p)
            return 0;
        char c = *p == ';' ? ',' : ' ';
        int err = nul  ? sbuf_add(b, "\\x00", 4)
                  : !n ? sbuf_addf(b, "\\x%02x", *p)
                       : sbuf_add(b, &c, 1);
        if (err < 0)
            return PYSCOPE_ENOMEM;
        run = p += nul ? 2 : 1;
    }
}

size_t fmt_utf8_len(const unsigned char *p)
{
    /* No read passes a NUL: the first byte that is not a continuation ends it. */
    return pyname_utf8_len((const char *)p, PYNAME_MAX_BYTES);
}

void fmt_json_str(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    putc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned char c = *p;
        if (fmt_is_nul(p)) {
            fputs("\\u0000", out);
            p += 2;
            continue;
        }
        if (c >= 0x80) {
            size_t n = fmt_utf8_len(p);
            if (!n) {
                fprintf(out, "\\\\x%02x", c); /* the text \xNN, as the terminal shows it */
                p++;
            } else if (n == 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
                /* U+2028/2029 end a line in JavaScript before ES2019. */
                fputs(p[2] == 0xA8 ? "\\u2028" : "\\u2029", out);
                p += n;
            } else {
                fwrite(p, 1, n, out);
                p += n;
            }
            continue;
        }
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        case '<':
        case '>':
        case '&':
            fprintf(out, "\\u%04x", c);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(out, "\\u%04x", c);
            else
                putc(c, out);
        }
        p++;
    }
    putc('"', out);
}

struct fmt_table {
    size_t ncols;
    char *align; /* 'l' or 'r' per column */
    char **cells;
    size_t ncells, cap;
    int oom; /* sticky: an add failed */
};

struct fmt_table *fmt_table_new(const char *spec)
{
    size_t n = spec ? strlen(spec) : 0;
    if (!n || strspn(spec, "lr") != n)
        return NULL;
    struct fmt_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->align = malloc(n + 1);
    if (!t->align) {
        free(t);
        return NULL;
    }
    memcpy(t->align, spec, n + 1);
    t->ncols = n;
    return t;
}

/* Append an allocated cell; takes ownership of cell, NULL meaning out of memory. */
static int table_push(struct fmt_table *t, char *cell)
{
    if (!cell || t->oom)
        goto fail;
    if (util_grow((void **)&t->cells, &t->cap, t->ncells, sizeof *t->cells) < 0)
        goto fail;
    t->cells[t->ncells++] = cell;
    return 0;
fail:
    free(cell);
    t->oom = 1;
    return PYSCOPE_ENOMEM;
}

int fmt_table_add(struct fmt_table *t, const char *cell)
{
    return table_push(t, strdup(cell ? cell : ""));
}

int fmt_table_addf(struct fmt_table *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *cell = n < 0 ? NULL : malloc((size_t)n + 1);
    if (cell) {
        va_start(ap, fmt);
        vsnprintf(cell, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return table_push(t, cell);
}

size_t fmt_table_rows(const struct fmt_table *t)
{
    return (t->ncells + t->ncols - 1) / t->ncols;
}

static void pad(FILE *out, size_t n)
{
    while (n--)
        putc(' ', out);
}

int fmt_table_print(const struct fmt_table *t, FILE *out, const char *indent)
{
    if (t->oom)
        return PYSCOPE_ENOMEM;
    size_t *widths = calloc(t->ncols, sizeof *widths);
    if (!widths)
        return PYSCOPE_ENOMEM;
    for (size_t i = 0; i < t->ncells; i++) {
        size_t w = fmt_width(t->cells[i]);
        if (w > widths[i % t->ncols])
            widths[i % t->ncols] = w;
    }
    size_t nrows = fmt_table_rows(t);
    for (size_t r = 0; r < nrows; r++) {
        const char *const *row = (const char *const *)t->cells + r * t->ncols;
        size_t have = t->ncells - r * t->ncols; /* cells present in this row */
        size_t last = 0;                        /* one past the last non-empty cell */
        for (size_t c = 0; c < t->ncols && c < have; c++)
            if (*row[c])
                last = c + 1;
        if (last && indent)
            fputs(indent, out);
        for (size_t c = 0; c < last; c++) {
            size_t gap = widths[c] - fmt_width(row[c]);
            if (c)
                fputs("  ", out);
            if (t->align[c] == 'r')
                pad(out, gap);
            fmt_put_text(out, row[c]);
            if (t->align[c] == 'l' && c + 1 < last)
                pad(out, gap);
        }
        putc('\n', out);
    }
    free(widths);
    return 0;
}

void fmt_table_free(struct fmt_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->align);
    free(t);
}
