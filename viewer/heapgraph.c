/*
 * The object graph analysis of heapgraph.h. The graph is held as arrays
 * indexed by object (compressed adjacency for the references), so a
 * snapshot of a million objects costs a few tens of bytes per object and
 * per reference. Garbage is found as gcmodule.c finds it (subtract the
 * internal references, then mark what the survivors reach); cycles are the
 * strongly connected components (Tarjan's algorithm, iterative, so a long
 * chain cannot overflow the stack).
 */
#include "heapgraph.h"
#include "db.h"
#include "error.h"
#include "intern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

static int grow_to(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return PYSCOPE_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* The index of string s (len bytes) in *strs, added when new. */
static int intern(struct smap *map, char ***strs, size_t *n, size_t *cap, const char *s, size_t len,
                  uint32_t *out)
{
    int64_t v;
    if (smap_get(map, s, len, &v)) {
        *out = (uint32_t)v;
        return 0;
    }
    char *copy = malloc(len + 1);
    if (!copy || grow_to((void **)strs, cap, *n + 1, sizeof **strs) < 0 ||
        smap_put(map, s, len, (int64_t)*n) < 0) {
        free(copy);
        return PYSCOPE_ENOMEM;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    (*strs)[*n] = copy;
    *out = (uint32_t)(*n)++;
    return 0;
}

static int load_objects(sqlite3 *db, int64_t snapshot_id, struct hg *g, struct imap *index)
{
    sqlite3_stmt *st;
    int err = vdb_prepare(db,
                          "SELECT obj, type, size, refcnt, coalesce(stack_id, 0) FROM heap_objects"
                          " WHERE snapshot_id = ?1",
                          &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, snapshot_id);
    struct smap *types = smap_new();
    size_t cap = 0, tcap = 0;
    int rc;
    if (!types)
        err = PYSCOPE_ENOMEM;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t i = g->n;
        if (i == cap) {
            size_t c = cap;
            if (grow_to((void **)&g->addr, &c, i + 1, sizeof *g->addr) < 0 ||
                (c = cap, grow_to((void **)&g->type, &c, i + 1, sizeof *g->type)) < 0 ||
                (c = cap, grow_to((void **)&g->size, &c, i + 1, sizeof *g->size)) < 0 ||
                (c = cap, grow_to((void **)&g->refcnt, &c, i + 1, sizeof *g->refcnt)) < 0 ||
                (c = cap, grow_to((void **)&g->stack, &c, i + 1, sizeof *g->stack)) < 0) {
                err = PYSCOPE_ENOMEM;
                break;
            }
            cap = c;
        }
        const char *t = (const char *)sqlite3_column_text(st, 1);
        g->addr[i] = (uint64_t)sqlite3_column_int64(st, 0);
        g->size[i] = sqlite3_column_int64(st, 2);
        g->refcnt[i] = sqlite3_column_int64(st, 3);
        g->stack[i] = sqlite3_column_int64(st, 4);
        if ((err = intern(types, &g->types, &g->ntypes, &tcap, t ? t : "?",
                          t ? (size_t)sqlite3_column_bytes(st, 1) : 1, &g->type[i])) < 0 ||
            (err = imap_put(index, g->addr[i], 0, (int64_t)i)) < 0)
            break;
        g->n++;
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    smap_free(types);
    return err;
}

static int load_edges(sqlite3 *db, int64_t snapshot_id, struct hg *g, const struct imap *index)
{
    sqlite3_stmt *st;
    int err = vdb_prepare(db, "SELECT src, dst, label FROM heap_edges WHERE snapshot_id = ?1", &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, snapshot_id);
    struct smap *labels = smap_new();
    uint32_t *src = NULL, *dst = NULL, *lab = NULL;
    size_t n = 0, cap = 0, lcap = 0;
    int rc;
    if (!labels || intern(labels, &g->labels, &g->nlabels, &lcap, "", 0, &(uint32_t){0}) < 0)
        err = PYSCOPE_ENOMEM;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t s, d;
        if (!imap_get(index, (uint64_t)sqlite3_column_int64(st, 0), 0, &s) ||
            !imap_get(index, (uint64_t)sqlite3_column_int64(st, 1), 0, &d))
            continue; /* an end that is not among the objects: not a reference between them */
        if (n == cap) {
            size_t c = cap;
            if (grow_to((void **)&src, &c, n + 1, sizeof *src) < 0 ||
                (c = cap, grow_to((void **)&dst, &c, n + 1, sizeof *dst)) < 0 ||
                (c = cap, grow_to((void **)&lab, &c, n + 1, sizeof *lab)) < 0) {
                err = PYSCOPE_ENOMEM;
                break;
            }
            cap = c;
        }
        const char *l = (const char *)sqlite3_column_text(st, 2);
        src[n] = (uint32_t)s;
        dst[n] = (uint32_t)d;
        lab[n] = 0;
        if (l && (err = intern(labels, &g->labels, &g->nlabels, &lcap, l,
                               (size_t)sqlite3_column_bytes(st, 2), &lab[n])) < 0)
            break;
        n++;
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    smap_free(labels);
    /* 32-bit indexes and offsets, with room for the analyses' markers
     * above them (retained.h): a larger graph is more than memory allows */
    if (!err && (g->n >= UINT32_MAX - 2 || n >= UINT32_MAX))
        err = PYSCOPE_ENOMEM;
    /* Counting sort by source into the compressed adjacency. */
    if (!err && (!(g->off = calloc(g->n + 1, sizeof *g->off)) ||
                 !(g->dst = malloc((n ? n : 1) * sizeof *g->dst)) ||
                 !(g->label = malloc((n ? n : 1) * sizeof *g->label))))
        err = PYSCOPE_ENOMEM;
    if (!err) {
        for (size_t i = 0; i < n; i++)
            g->off[src[i] + 1]++;
        for (size_t i = 0; i < g->n; i++)
            g->off[i + 1] += g->off[i];
        uint32_t *fill = malloc((g->n ? g->n : 1) * sizeof *fill);
        if (!fill) {
            err = PYSCOPE_ENOMEM;
        } else {
            memcpy(fill, g->off, g->n * sizeof *fill);
            for (size_t i = 0; i < n; i++) {
                uint32_t at = fill[src[i]]++;
                g->dst[at] = dst[i];
                g->label[at] = lab[i];
            }
            free(fill);
            g->m = n;
        }
    }
    free(src);
    free(dst);
    free(lab);
    return err;
}

int hg_load(sqlite3 *db, int64_t snapshot_id, struct hg *g)
{
    memset(g, 0, sizeof *g);
    struct imap *index = imap_new();
    int err = index ? load_objects(db, snapshot_id, g, index) : PYSCOPE_ENOMEM;
    if (!err && !g->n)
        err = PYSCOPE_ENOTFOUND;
    if (!err)
        err = load_edges(db, snapshot_id, g, index);
    imap_free(index);
    if (err)
        hg_release(g);
    return err;
}

void hg_release(struct hg *g)
{
    for (size_t i = 0; i < g->ntypes; i++)
        free(g->types[i]);
    for (size_t i = 0; i < g->nlabels; i++)
        free(g->labels[i]);
    free(g->types);
    free(g->labels);
    free(g->addr);
    free(g->type);
    free(g->size);
    free(g->refcnt);
    free(g->stack);
    free(g->off);
    free(g->dst);
    free(g->label);
    free(g->garbage);
    memset(g, 0, sizeof *g);
}

int hg_find_garbage(struct hg *g)
{
    int64_t *refs = malloc((g->n ? g->n : 1) * sizeof *refs);
    uint32_t *todo = malloc((g->n ? g->n : 1) * sizeof *todo);
    free(g->garbage);
    g->garbage = malloc(g->n ? g->n : 1);
    if (!refs || !todo || !g->garbage) {
        free(refs);
        free(todo);
        return PYSCOPE_ENOMEM;
    }
    memcpy(refs, g->refcnt, g->n * sizeof *refs);
    for (size_t e = 0; e < g->m; e++)
        refs[g->dst[e]]--;
    /* Referenced from outside: it and all it reaches survive. */
    size_t ntodo = 0;
    for (size_t i = 0; i < g->n; i++) {
        g->garbage[i] = refs[i] <= 0;
        if (!g->garbage[i])
            todo[ntodo++] = (uint32_t)i;
    }
    while (ntodo) {
        uint32_t v = todo[--ntodo];
        for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
            uint32_t w = g->dst[e];
            if (g->garbage[w]) {
                g->garbage[w] = 0;
                todo[ntodo++] = w;
            }
        }
    }
    g->ngarbage = 0;
    for (size_t i = 0; i < g->n; i++)
        g->ngarbage += g->garbage[i];
    free(refs);
    free(todo);
    return 0;
}

/* ---- strongly connected components ------------------------------------------ */

struct frame {
    uint32_t v, e;
};

/* Tarjan's algorithm over the objects keep[] says to consider and the
 * references skip[] (may be NULL) does not rule out; comp[v] is the
 * component of v (NONE when not considered). */
static int tarjan(const struct hg *g, const uint8_t *keep, const uint8_t *skip, uint32_t *comp,
                  size_t *ncomp)
{
    uint32_t *index = malloc((g->n ? g->n : 1) * sizeof *index);
    uint32_t *low = malloc((g->n ? g->n : 1) * sizeof *low);
    uint32_t *stack = malloc((g->n ? g->n : 1) * sizeof *stack);
    struct frame *calls = malloc((g->n ? g->n : 1) * sizeof *calls);
    uint8_t *on = calloc(g->n ? g->n : 1, 1);
    if (!index || !low || !stack || !calls || !on) {
        free(index);
        free(low);
        free(stack);
        free(calls);
        free(on);
        return PYSCOPE_ENOMEM;
    }
    for (size_t i = 0; i < g->n; i++) {
        index[i] = NONE;
        comp[i] = NONE;
    }
    uint32_t next = 0, nstack = 0;
    *ncomp = 0;
    for (size_t root = 0; root < g->n; root++) {
        if (!keep[root] || index[root] != NONE)
            continue;
        size_t depth = 0;
        calls[depth++] = (struct frame){(uint32_t)root, g->off[root]};
        index[root] = low[root] = next++;
        stack[nstack++] = (uint32_t)root;
        on[root] = 1;
        while (depth) {
            struct frame *f = &calls[depth - 1];
            uint32_t v = f->v;
            if (f->e < g->off[v + 1]) {
                uint32_t e = f->e++, w = g->dst[e];
                if (!keep[w] || (skip && skip[e]))
                    continue;
                if (index[w] == NONE) {
                    index[w] = low[w] = next++;
                    stack[nstack++] = w;
                    on[w] = 1;
                    calls[depth++] = (struct frame){w, g->off[w]};
                } else if (on[w] && index[w] < low[v]) {
                    low[v] = index[w];
                }
                continue;
            }
            if (low[v] == index[v]) {
                uint32_t w;
                do {
                    w = stack[--nstack];
                    on[w] = 0;
                    comp[w] = (uint32_t)*ncomp;
                } while (w != v);
                (*ncomp)++;
            }
            depth--;
            if (depth && low[v] < low[calls[depth - 1].v])
                low[calls[depth - 1].v] = low[v];
        }
    }
    free(index);
    free(low);
    free(stack);
    free(calls);
    free(on);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append s to the growing key. */
static int key_add(char **key, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (grow_to((void **)key, cap, *len + n + 1, 1) < 0)
        return PYSCOPE_ENOMEM;
    memcpy(*key + *len, s, n + 1);
    *len += n;
    return 0;
}

size_t hg_type_count_at(const struct hg *g, const struct hg_cycle *c, size_t i)
{
    uint32_t t = g->type[c->members[i]];
    for (size_t k = 0; k < i; k++)
        if (g->type[c->members[k]] == t)
            return 0;
    size_t count = 0;
    for (size_t k = i; k < c->nmembers; k++)
        count += g->type[c->members[k]] == t;
    return count;
}

char *hg_cycle_types(const struct hg *g, const struct hg_cycle *c, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->nmembers && n < cap; i++) {
        size_t count = hg_type_count_at(g, c, i);
        if (count)
            n += (size_t)snprintf(buf + n, cap - n, "%s%zu x %s", n ? ", " : "", count,
                                  g->types[g->type[c->members[i]]]);
    }
    return buf;
}

int hg_site_reliable(const struct hg *g, uint32_t v)
{
    const char *t = g->types[g->type[v]];
    return strcmp(t, "list") && strcmp(t, "dict") && strcmp(t, "tuple");
}

/* The group key of cycle c: member types, reference names inside, and the
 * allocation stacks of the members whose stack can be trusted (all of them
 * when none can). */
static int cycle_key(const struct hg *g, const struct hg_cycle *c, const uint32_t *comp, char **key)
{
    size_t n = c->nmembers, len = 0, cap = 0, nl = 0, lcap = 0;
    const char **names = malloc(n * sizeof *names);
    int64_t *stacks = malloc(n * sizeof *stacks);
    const char **labs = NULL;
    int err = names && stacks ? 0 : PYSCOPE_ENOMEM;
    *key = NULL;
    uint32_t cid = comp[c->members[0]];
    int any_reliable = 0;
    for (size_t i = 0; i < n; i++)
        any_reliable |= hg_site_reliable(g, c->members[i]);
    for (size_t i = 0; !err && i < n; i++) {
        uint32_t v = c->members[i];
        names[i] = g->types[g->type[v]];
        stacks[i] = !any_reliable || hg_site_reliable(g, v) ? g->stack[v] : 0;
        for (uint32_t e = g->off[v]; !err && e < g->off[v + 1]; e++) {
            if (comp[g->dst[e]] != cid)
                continue;
            if (grow_to((void **)&labs, &lcap, nl + 1, sizeof *labs) < 0)
                err = PYSCOPE_ENOMEM;
            else
                labs[nl++] = g->labels[g->label[e]];
        }
    }
    if (!err) {
        qsort(names, n, sizeof *names, cmp_str);
        qsort(stacks, n, sizeof *stacks, cmp_i64);
        if (nl)
            qsort(labs, nl, sizeof *labs, cmp_str);
        for (size_t i = 0; !err && i < n; i++)
            err = key_add(key, &len, &cap, names[i]) < 0 || key_add(key, &len, &cap, "\x1f") < 0
                      ? PYSCOPE_ENOMEM
                      : 0;
        err = err ? err : key_add(key, &len, &cap, "\x1e");
        for (size_t i = 0; !err && i < nl; i++)
            err = key_add(key, &len, &cap, labs[i]) < 0 || key_add(key, &len, &cap, "\x1f") < 0
                      ? PYSCOPE_ENOMEM
                      : 0;
        err = err ? err : key_add(key, &len, &cap, "\x1e");
        for (size_t i = 0; !err && i < n; i++) {
            char num[32];
            snprintf(num, sizeof num, "%lld,", (long long)stacks[i]);
            err = key_add(key, &len, &cap, num);
        }
    }
    free(names);
    free(stacks);
    free(labs);
    if (err) {
        free(*key);
        *key = NULL;
    }
    return err;
}

static const struct hg_groups_sort {
    const struct hg_group *groups;
} * sort_ctx;

static int cmp_group(const void *a, const void *b)
{
    const struct hg_group *x = &sort_ctx->groups[*(const size_t *)a];
    const struct hg_group *y = &sort_ctx->groups[*(const size_t *)b];
    if (x->garbage != y->garbage)
        return x->garbage ? -1 : 1;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->ncycles != y->ncycles)
        return x->ncycles > y->ncycles ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Order the groups largest first and renumber the cycles' groups. */
static int sort_groups(struct hg_cycles *out)
{
    size_t n = out->ngroups;
    size_t *order = malloc((n ? n : 1) * sizeof *order),
           *where = malloc((n ? n : 1) * sizeof *where);
    struct hg_group *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!order || !where || !sorted) {
        free(order);
        free(where);
        free(sorted);
        return PYSCOPE_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    struct hg_groups_sort ctx = {out->groups};
    sort_ctx = &ctx;
    qsort(order, n, sizeof *order, cmp_group);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = out->groups[order[i]];
        where[order[i]] = i;
    }
    for (size_t i = 0; i < out->ncycles; i++)
        out->cycles[i].group = where[out->cycles[i].group];
    free(out->groups);
    out->groups = sorted;
    free(order);
    free(where);
    return 0;
}

/* Garbage outside any cycle goes to the first cycle that reaches it. */
static int assign_held(const struct hg *g, const uint32_t *comp, struct hg_cycles *out,
                       const uint8_t *in_cycle)
{
    uint8_t *seen = calloc(g->n ? g->n : 1, 1);
    uint32_t *todo = malloc((g->n ? g->n : 1) * sizeof *todo);
    if (!seen || !todo) {
        free(seen);
        free(todo);
        return PYSCOPE_ENOMEM;
    }
    for (size_t c = 0; c < out->ncycles; c++) {
        struct hg_cycle *cy = &out->cycles[c];
        if (!cy->garbage)
            continue;
        size_t ntodo = 0;
        for (size_t k = 0; k < cy->nmembers; k++)
            todo[ntodo++] = cy->members[k];
        while (ntodo) {
            uint32_t v = todo[--ntodo];
            for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
                uint32_t w = g->dst[e];
                if (!g->garbage[w] || in_cycle[w] || seen[w])
                    continue;
                seen[w] = 1;
                cy->nheld++;
                cy->bytes += g->size[w];
                todo[ntodo++] = w;
            }
        }
    }
    (void)comp;
    free(seen);
    free(todo);
    return 0;
}

/*
 * The references that tie every live object into one cycle with its class
 * and module (an instance's .__class__, a class's methods' .__globals__ back
 * to the module that holds it): left out when looking for cycles among
 * reachable objects, where they would make all of the program one. Types
 * are the objects some .__class__ refers to.
 */
static uint8_t *structural_edges(const struct hg *g)
{
    uint8_t *skip = calloc(g->m ? g->m : 1, 1), *is_type = calloc(g->n ? g->n : 1, 1);
    if (!skip || !is_type) {
        free(skip);
        free(is_type);
        return NULL;
    }
    for (size_t e = 0; e < g->m; e++)
        if (!strcmp(g->labels[g->label[e]], ".__class__"))
            is_type[g->dst[e]] = 1;
    for (size_t v = 0; v < g->n; v++) {
        if (g->garbage[v])
            continue;
        for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
            uint32_t w = g->dst[e];
            const char *l = g->labels[g->label[e]];
            skip[e] = is_type[w] || !strcmp(g->types[g->type[w]], "module") ||
                      !strcmp(l, ".__globals__") || !strcmp(l, ".__builtins__");
        }
    }
    free(is_type);
    return skip;
}

int hg_cycles(const struct hg *g, int all, struct hg_cycles *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *keep = malloc(g->n ? g->n : 1);
    uint32_t *comp = malloc((g->n ? g->n : 1) * sizeof *comp);
    uint32_t *size = NULL;
    uint8_t *self = NULL, *in_cycle = NULL;
    struct smap *keys = smap_new();
    size_t ncomp = 0, cap = 0, gcap = 0;
    int err = keep && comp && keys ? 0 : PYSCOPE_ENOMEM;
    uint8_t *skip = NULL;
    for (size_t i = 0; !err && i < g->n; i++)
        keep[i] = all || g->garbage[i];
    if (!err && all && !(skip = structural_edges(g)))
        err = PYSCOPE_ENOMEM;
    if (!err)
        err = tarjan(g, keep, skip, comp, &ncomp);
    if (!err &&
        (!(size = calloc(ncomp ? ncomp : 1, sizeof *size)) ||
         !(self = calloc(ncomp ? ncomp : 1, 1)) || !(in_cycle = calloc(g->n ? g->n : 1, 1))))
        err = PYSCOPE_ENOMEM;
    for (size_t v = 0; !err && v < g->n; v++) {
        if (comp[v] == NONE)
            continue;
        size[comp[v]]++;
        for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++)
            if (g->dst[e] == v && !(skip && skip[e]))
                self[comp[v]] = 1;
    }
    /* One cycle per component that is one, its members in address order. */
    uint32_t *cycle_of = err ? NULL : malloc((ncomp ? ncomp : 1) * sizeof *cycle_of);
    if (!err && !cycle_of)
        err = PYSCOPE_ENOMEM;
    for (size_t c = 0; !err && c < ncomp; c++) {
        cycle_of[c] = NONE;
        if (size[c] < 2 && !self[c])
            continue;
        if ((err = grow_to((void **)&out->cycles, &cap, out->ncycles + 1, sizeof *out->cycles)) < 0)
            break;
        struct hg_cycle *cy = &out->cycles[out->ncycles];
        memset(cy, 0, sizeof *cy);
        if (!(cy->members = malloc(size[c] * sizeof *cy->members))) {
            err = PYSCOPE_ENOMEM;
            break;
        }
        cycle_of[c] = (uint32_t)out->ncycles++;
    }
    for (size_t v = 0; !err && v < g->n; v++) {
        if (comp[v] == NONE || cycle_of[comp[v]] == NONE)
            continue;
        struct hg_cycle *cy = &out->cycles[cycle_of[comp[v]]];
        cy->members[cy->nmembers++] = (uint32_t)v;
        cy->bytes += g->size[v];
        cy->garbage = g->garbage[v];
        in_cycle[v] = 1;
    }
    if (!err)
        err = assign_held(g, comp, out, in_cycle);
    for (size_t c = 0; !err && c < out->ncycles; c++) {
        struct hg_cycle *cy = &out->cycles[c];
        qsort(cy->members, cy->nmembers, sizeof *cy->members, cmp_u32);
        char *key;
        int64_t gi;
        if ((err = cycle_key(g, cy, comp, &key)) < 0)
            break;
        if (!smap_get(keys, key, strlen(key), &gi)) {
            if ((err = grow_to((void **)&out->groups, &gcap, out->ngroups + 1,
                               sizeof *out->groups)) < 0 ||
                (err = smap_put(keys, key, strlen(key), (int64_t)out->ngroups)) < 0) {
                free(key);
                break;
            }
            gi = (int64_t)out->ngroups++;
            out->groups[gi] = (struct hg_group){.key = key, .first = c, .garbage = cy->garbage};
        } else {
            free(key);
        }
        struct hg_group *gr = &out->groups[gi];
        cy->group = (size_t)gi;
        gr->ncycles++;
        gr->nobjects += cy->nmembers + cy->nheld;
        gr->bytes += cy->bytes;
    }
    if (!err)
        err = sort_groups(out);
    free(keep);
    free(skip);
    free(comp);
    free(size);
    free(self);
    free(in_cycle);
    free(cycle_of);
    smap_free(keys);
    if (err)
        hg_cycles_release(out);
    return err;
}

void hg_cycles_release(struct hg_cycles *c)
{
    for (size_t i = 0; i < c->ncycles; i++)
        free(c->cycles[i].members);
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i].key);
    free(c->cycles);
    free(c->groups);
    memset(c, 0, sizeof *c);
}

static int is_member(const struct hg_cycle *c, uint32_t v)
{
    return bsearch(&v, c->members, c->nmembers, sizeof v, cmp_u32) != NULL;
}

int hg_cycle_path(const struct hg *g, const struct hg_cycle *c, uint32_t **path, uint32_t **labels,
                  size_t *n)
{
    size_t k = c->nmembers;
    uint32_t *parent = malloc(k * sizeof *parent), *queue = malloc(k * sizeof *queue);
    *path = malloc((k + 1) * sizeof **path);
    *labels = malloc((k + 1) * sizeof **labels);
    int err = parent && queue && *path && *labels ? 0 : PYSCOPE_ENOMEM;
    uint32_t start = c->members[0], last = NONE;
    if (!err) {
        for (size_t i = 0; i < k; i++)
            parent[i] = NONE;
        size_t head = 0, tail = 0;
        queue[tail++] = start;
        parent[0] = start;
        while (head < tail && last == NONE) {
            uint32_t v = queue[head++];
            for (uint32_t e = g->off[v]; e < g->off[v + 1] && last == NONE; e++) {
                uint32_t w = g->dst[e];
                if (w == start) {
                    last = v;
                    break;
                }
                if (!is_member(c, w))
                    continue;
                size_t wi = (uint32_t *)bsearch(&w, c->members, k, sizeof w, cmp_u32) - c->members;
                if (parent[wi] != NONE)
                    continue;
                parent[wi] = v;
                queue[tail++] = w;
            }
        }
        /* Walk back from the last object to the start. */
        size_t len = 0;
        uint32_t v = last;
        (*path)[len++] = start;
        while (v != NONE && v != start && len <= k) {
            size_t vi = (uint32_t *)bsearch(&v, c->members, k, sizeof v, cmp_u32) - c->members;
            (*path)[len++] = v;
            v = parent[vi];
        }
        (*path)[len] = start;
        /* Built backwards: start, last, ..., start. Reverse the middle. */
        uint32_t *p = *path, *l = *labels;
        for (size_t i = 1, j = len - 1; i < j; i++, j--) {
            uint32_t t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        /* The name of each step, from p[i] to p[i + 1]. */
        for (size_t i = 0; i < len; i++) {
            l[i] = 0;
            for (uint32_t e = g->off[p[i]]; e < g->off[p[i] + 1]; e++) {
                if (g->dst[e] == p[i + 1]) {
                    l[i] = g->label[e];
                    break;
                }
            }
        }
        *n = len;
    }
    free(parent);
    free(queue);
    if (err) {
        free(*path);
        free(*labels);
        *path = *labels = NULL;
    }
    return err;
}
