/*
 * tracemalloc's file name patterns (fnpattern.h): Python's fnmatch.translate
 * read as a small glob over code points, with the same quirks in sets.
 */
#include "fnpattern.h"
#include "pyname.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The code points of s into a new array (*n of them), read as names are
 * (pyname.h): UTF-8 decoded, a byte that starts no valid sequence as
 * U+DC00 + byte, as Python's surrogateescape reads it. NULL when out of
 * memory.
 */
static uint32_t *decode(const char *s, size_t *n)
{
    size_t len = strlen(s), k = 0;
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    if (!cp)
        return NULL;
    for (size_t i = 0; i < len; k++)
        i += pyname_next(s + i, len - i, &cp[k]);
    *n = k;
    return cp;
}

/* tracemalloc's _normalize_filename on POSIX: "x.pyc" is "x.py". */
static void normalize(const uint32_t *s, size_t *n)
{
    if (*n >= 4 && s[*n - 4] == '.' && s[*n - 3] == 'p' && s[*n - 2] == 'y' && s[*n - 1] == 'c')
        (*n)--;
}

enum { TOK_CHAR, TOK_ANY, TOK_STAR, TOK_SET };

struct tok {
    int kind;
    int negate;           /* TOK_SET: "[!...]" */
    uint32_t c;           /* TOK_CHAR */
    size_t first, nrange; /* TOK_SET: its ranges */
};

struct range {
    uint32_t lo, hi;
};

/*
 * The set "[...]" whose content is pat[i, j), the way fnmatch.translate
 * reads it: after an optional '!', a '-' is a range between its
 * neighbours when it is found searching from the second character, the
 * search going on three characters past each range; a '-' just before the
 * ']' is itself. A range whose ends are out of order is dropped, ends and
 * all. Everything else is a literal character. Appends to r (room for
 * j - i ranges).
 */
static size_t parse_set(const uint32_t *pat, size_t i, size_t j, struct range *r, int *negate)
{
    size_t nr = 0;
    *negate = pat[i] == '!';
    unsigned char *op = calloc(j - i + 1, 1);
    if (!op)
        return SIZE_MAX;
    for (size_t k = i + (*negate ? 2 : 1); k < j; k++) {
        if (pat[k] != '-')
            continue;
        if (k + 1 < j)
            op[k - i] = 1;
        k += 2; /* the range's high end cannot start another */
    }
    for (size_t p = i + (*negate ? 1 : 0); p < j;) {
        if (p + 2 < j && op[p + 1 - i]) {
            if (pat[p] <= pat[p + 2])
                r[nr++] = (struct range){pat[p], pat[p + 2]};
            p += 3;
        } else {
            r[nr++] = (struct range){pat[p], pat[p]};
            p++;
        }
    }
    free(op);
    return nr;
}

static int tok_match(const struct tok *t, const struct range *r, uint32_t c)
{
    switch (t->kind) {
    case TOK_CHAR:
        return t->c == c;
    case TOK_ANY:
        return 1;
    default:
        for (size_t i = 0; i < t->nrange; i++)
            if (r[t->first + i].lo <= c && c <= r[t->first + i].hi)
                return !t->negate;
        return t->negate;
    }
}

/*
 * Every token but '*' matches one character, so the leftmost match after
 * a star is as good as any: backtracking to the last star is enough.
 */
static int glob(const struct tok *t, size_t nt, const struct range *r, const uint32_t *s, size_t ns)
{
    size_t ti = 0, si = 0, star = SIZE_MAX, star_si = 0;
    while (si < ns) {
        if (ti < nt && t[ti].kind == TOK_STAR) {
            star = ti++;
            star_si = si;
        } else if (ti < nt && tok_match(&t[ti], r, s[si])) {
            ti++;
            si++;
        } else if (star != SIZE_MAX) {
            ti = star + 1;
            si = ++star_si;
        } else {
            return 0;
        }
    }
    while (ti < nt && t[ti].kind == TOK_STAR)
        ti++;
    return ti == nt;
}

int fnpattern_match(const char *pattern, const char *filename)
{
    size_t np = 0, ns = 0, nt = 0, nr = 0;
    uint32_t *pat = decode(pattern, &np), *s = decode(filename, &ns);
    struct tok *t = malloc((np + 1) * sizeof *t);
    struct range *r = malloc((np + 1) * sizeof *r);
    int match = 0;

    if (!pat || !s || !t || !r)
        goto out;
    normalize(pat, &np);
    normalize(s, &ns);
    for (size_t i = 0; i < np;) {
        uint32_t c = pat[i++];
        if (c == '*') {
            if (!nt || t[nt - 1].kind != TOK_STAR)
                t[nt++] = (struct tok){.kind = TOK_STAR};
        } else if (c == '?') {
            t[nt++] = (struct tok){.kind = TOK_ANY};
        } else if (c == '[') {
            size_t j = i;
            if (j < np && pat[j] == '!')
                j++;
            if (j < np && pat[j] == ']')
                j++;
            while (j < np && pat[j] != ']')
                j++;
            if (j >= np) {
                t[nt++] = (struct tok){.kind = TOK_CHAR, .c = '['};
                continue;
            }
            struct tok set = {.kind = TOK_SET, .first = nr};
            size_t k = parse_set(pat, i, j, r + nr, &set.negate);
            if (k == SIZE_MAX)
                goto out;
            set.nrange = k;
            nr += k;
            t[nt++] = set;
            i = j + 1;
        } else {
            t[nt++] = (struct tok){.kind = TOK_CHAR, .c = c};
        }
    }
    match = glob(t, nt, r, s, ns);
out:
    free(pat);
    free(s);
    free(t);
    free(r);
    return match;
}
