/*
 * Writing pstats files (pstats.h) in Python's marshal format, version 4,
 * without back-references: a dict of
 *   (filename, line, name) -> (pcalls, ncalls, tottime, cumtime, callers)
 * where callers maps (filename, line, name) -> (ncalls, pcalls, tottime,
 * cumtime) for each caller (note the order of the two counts differs, as
 * in cProfile), and times are seconds as floats.
 */
#include "pstats.h"
#include "error.h"
#include "pyname.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pkey {
    const char *file; /* "~" for builtins */
    int64_t line;
    char *name; /* owned */
};

struct entry {
    struct pkey key;
    struct cls_stat s;
};

/* (functions.id -> entry index), sorted by id */
struct idmap {
    int64_t id;
    size_t entry;
};

struct edge {
    size_t callee, caller;
    struct cls_stat s;
};

static int key_cmp(const struct pkey *a, const struct pkey *b)
{
    int c = strcmp(a->file, b->file);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return strcmp(a->name, b->name);
}

struct ref {
    const struct pkey *key;
    size_t idx;
};

static int ref_cmp(const void *x, const void *y)
{
    const struct ref *a = x, *b = y;
    int c = key_cmp(a->key, b->key);
    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

static int idmap_cmp(const void *x, const void *y)
{
    const struct idmap *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

static int edge_cmp(const void *x, const void *y)
{
    const struct edge *a = x, *b = y;
    if (a->callee != b->callee)
        return a->callee < b->callee ? -1 : 1;
    return (a->caller > b->caller) - (a->caller < b->caller);
}

/* pstats' key of fn; 0, 1 when it has none (a pseudo-function), or PYSCOPE_ENOMEM. */
static int make_key(const struct smp_function *fn, struct pkey *k)
{
    if (fn->kind == SMP_KIND_BUILTIN) {
        size_t n = strlen(fn->name);
        if (!(k->name = strdup(fn->name)))
            return PYSCOPE_ENOMEM;
        if (n >= 2 && k->name[0] == '{' && k->name[n - 1] == '}') {
            k->name[0] = '<';
            k->name[n - 1] = '>';
        }
        k->file = "~";
        k->line = 0;
        return 0;
    }
    if (!fn->filename || fn->special != SMP_REAL)
        return 1;
    if (!(k->name = strdup(fn->name)))
        return PYSCOPE_ENOMEM;
    k->file = fn->filename;
    k->line = fn->firstlineno;
    return 0;
}

static void add(struct cls_stat *to, const struct cls_stat *s)
{
    to->ncalls += s->ncalls;
    to->pcalls += s->pcalls;
    to->tottime_ns += s->tottime_ns;
    to->cumtime_ns += s->cumtime_ns;
}

/* ---- marshal ---- */

static void put_u32(FILE *out, uint32_t v)
{
    unsigned char b[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff};
    fwrite(b, 1, 4, out);
}

static void put_int(FILE *out, int64_t v)
{
    if (v >= INT32_MIN && v <= INT32_MAX) {
        putc('i', out);
        put_u32(out, (uint32_t)(int32_t)v);
        return;
    }
    /* a long: 15-bit digits, least significant first, the sign on the count */
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint16_t digits[5];
    int n = 0;
    while (m) {
        digits[n++] = (uint16_t)(m & 0x7fff);
        m >>= 15;
    }
    putc('l', out);
    put_u32(out, (uint32_t)(v < 0 ? -n : n));
    for (int i = 0; i < n; i++) {
        putc(digits[i] & 0xff, out);
        putc(digits[i] >> 8, out);
    }
}

static void put_float(FILE *out, double d)
{
    unsigned char b[8];
    memcpy(b, &d, 8); /* little-endian hosts only, as the database itself */
    putc('g', out);
    fwrite(b, 1, 8, out);
}

/*
 * A name as the str the program had: marshal's str is UTF-8 with lone
 * surrogates in their three-byte form (surrogatepass), so a byte of a name
 * that is not UTF-8 goes in as the surrogate that escapes it (pyname.h),
 * and pstats.Stats reads back the co_filename and co_name cProfile would
 * have recorded.
 */
static void put_str(FILE *out, const char *s)
{
    size_t n = strlen(s), len = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        char b[PYNAME_MAX_BYTES];
        i += pyname_next(s + i, n - i, &cp);
        len += pyname_utf8(cp, b);
    }
    putc('u', out);
    put_u32(out, (uint32_t)len);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        char b[PYNAME_MAX_BYTES];
        i += pyname_next(s + i, n - i, &cp);
        fwrite(b, 1, pyname_utf8(cp, b), out);
    }
}

static void put_tuple(FILE *out, uint32_t n)
{
    putc('(', out);
    put_u32(out, n);
}

static void put_key(FILE *out, const struct pkey *k)
{
    put_tuple(out, 3);
    put_str(out, k->file);
    put_int(out, k->line);
    put_str(out, k->name);
}

static void put_stat(FILE *out, const struct cls_stat *s, int primitive_first)
{
    put_int(out, primitive_first ? s->pcalls : s->ncalls);
    put_int(out, primitive_first ? s->ncalls : s->pcalls);
    put_float(out, (double)s->tottime_ns / 1e9);
    put_float(out, (double)s->cumtime_ns / 1e9);
}

int pstats_write(FILE *out, const struct smp_profile *p, const struct cls_profile *calls)
{
    struct entry *entries = calloc(calls->nfns + 1, sizeof *entries);
    struct idmap *ids = calloc(calls->nfns + 1, sizeof *ids);
    struct edge *edges = calloc(calls->npairs + 1, sizeof *edges);
    size_t nentries = 0, nids = 0, nedges = 0;
    int err = 0;
    if (!entries || !ids || !edges) {
        err = PYSCOPE_ENOMEM;
        goto out;
    }
    /* one entry per key, functions with the same key summed */
    for (size_t i = 0; i < calls->nfns; i++) {
        const struct smp_function *fn = smp_function_by_id(p, calls->fns[i].id);
        if (!fn)
            continue;
        struct entry *e = &entries[nentries];
        int r = make_key(fn, &e->key);
        if (r < 0) {
            err = r;
            goto out;
        }
        if (r > 0)
            continue;
        e->s = calls->fns[i].s;
        ids[nids++] = (struct idmap){calls->fns[i].id, nentries++};
    }
    /* entries in key order; those with equal keys become one, summed */
    struct ref *refs = malloc((nentries + 1) * sizeof *refs);
    size_t *uniq_of = malloc((nentries + 1) * sizeof *uniq_of);
    size_t *order = malloc((nentries + 1) * sizeof *order);
    if (!refs || !uniq_of || !order) {
        free(refs);
        free(uniq_of);
        free(order);
        err = PYSCOPE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nentries; i++)
        refs[i] = (struct ref){&entries[i].key, i};
    qsort(refs, nentries, sizeof *refs, ref_cmp);
    size_t nuniq = 0;
    for (size_t k = 0; k < nentries; k++) {
        size_t i = refs[k].idx;
        if (nuniq && !key_cmp(&entries[order[nuniq - 1]].key, &entries[i].key)) {
            add(&entries[order[nuniq - 1]].s, &entries[i].s);
        } else {
            order[nuniq++] = i;
        }
        uniq_of[i] = nuniq - 1;
    }
    for (size_t k = 0; k < nids; k++)
        ids[k].entry = uniq_of[ids[k].entry];
    free(refs);
    free(uniq_of);
    qsort(ids, nids, sizeof *ids, idmap_cmp);

    for (size_t i = 0; i < calls->npairs; i++) {
        const struct cls_pair *pr = &calls->pairs[i];
        struct idmap q = {pr->callee_id, 0}, r = {pr->caller_id, 0};
        struct idmap *callee = bsearch(&q, ids, nids, sizeof *ids, idmap_cmp);
        struct idmap *caller = pr->caller_id ? bsearch(&r, ids, nids, sizeof *ids, idmap_cmp) : NULL;
        if (!callee || !caller)
            continue; /* calls from the root have no caller entry */
        edges[nedges++] = (struct edge){callee->entry, caller->entry, pr->s};
    }
    qsort(edges, nedges, sizeof *edges, edge_cmp);

    putc('{', out);
    size_t j = 0;
    for (size_t u = 0; u < nuniq; u++) {
        const struct entry *e = &entries[order[u]];
        put_key(out, &e->key);
        put_tuple(out, 5);
        put_stat(out, &e->s, 1);
        putc('{', out);
        while (j < nedges && edges[j].callee < u)
            j++;
        while (j < nedges && edges[j].callee == u) {
            struct cls_stat sum = edges[j].s;
            size_t caller = edges[j].caller;
            while (++j < nedges && edges[j].callee == u && edges[j].caller == caller)
                add(&sum, &edges[j].s);
            put_key(out, &entries[order[caller]].key);
            put_tuple(out, 4);
            put_stat(out, &sum, 0);
        }
        putc('0', out);
    }
    putc('0', out);
    free(order);
    if (ferror(out))
        err = PYSCOPE_EIO;
out:
    for (size_t i = 0; entries && i < nentries; i++)
        free(entries[i].key.name);
    free(entries);
    free(ids);
    free(edges);
    return err;
}
