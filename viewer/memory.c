/*
 * Memory snapshots for the viewer (memory.h): the snapshots table, and
 * tracemalloc's grouping of a snapshot's live blocks.
 *
 * tracemalloc groups blocks one by one; snapshot_traces holds one row per
 * traceback with the size and count of its blocks, and a row adds to a key
 * exactly what its blocks would add one at a time: size to size, count to
 * count, in cumulative mode once per frame of the traceback, a frame that
 * recurs counting each time, as Snapshot._group_by does.
 *
 * What is read, and when: a space owns what makes keys comparable across
 * databases (interned file names, (file, line) locations, keys as
 * sequences of locations) and, per database, a source: its stack tables
 * (stacks.h), the functions and frames read whole (they are small) and
 * resolved to locations only when a trace uses them. Grouping by lineno or
 * filename without --cumulative needs only each traceback's most recent
 * frame, which the traces query joins, so the stacks tree is not read at
 * all. Whole tracebacks are walked in memory, the stacks read only up to
 * the highest id the snapshot names. Nothing is queried per row. By traceback, a leaf node's key is
 * kept for the next snapshot of the same database; cumulative statistics sum each node's blocks
 * with those of the nodes below it in one pass, children first, which counts a recurring frame as
 * often as tracemalloc does without a walk per block.
 *
 * Ties in size and count are the rule (many tracebacks hold one block of
 * the same size), so the sort orders by the numbers first and then each
 * run of ties by traceback with a multikey quicksort, which reads the
 * frames that many tracebacks share once per partition.
 */
#define _GNU_SOURCE /* qsort_r */
#include "memory.h"
#include "db.h"
#include "error.h"
#include "fnpattern.h"
#include "stacks.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define MARKER (UINT32_MAX - 1)     /* a frame that is the "[truncated]" marker */
#define UNRESOLVED (UINT32_MAX - 2) /* a frame not yet mapped to a location */
#define SKIPPED (UINT32_MAX - 3)    /* a native frame left out (--no-native) */
/* A walk stops here: only a loop in a damaged file is this deep. */
#define MAX_DEPTH 4096
#define HT_MIN_SLOTS 1024 /* a hash table's first size: a snapshot has thousands of keys */
#define SEQ_MIN 4096      /* the first room for the keys' locations */

static const char unknown_file[] = "<unknown>";

/* ---- the space: interned names, locations and keys ---- */

/* An open-addressing table of ids by 64-bit hash; the caller compares. */
struct htab {
    uint64_t *hash;
    uint32_t *id; /* id + 1; 0 is an empty slot */
    size_t cap, n;
};

/* A frame as tracemalloc keys it: file and line; the function is for show. */
struct loc {
    uint32_t file; /* string; a native function's object */
    uint32_t func; /* string, or NONE; a native function's name (part of what it is) */
    int64_t line;
    int native;
};

/* A key: its locations, oldest first, in seq. */
struct key {
    size_t off;
    uint32_t len;
    uint8_t truncated;
};

/* What a database holds, read once and mapped into the space. */
struct source {
    sqlite3 *db;
    struct source *next;
    struct stacks *st;   /* its functions, frames and the stacks read so far */
    uint32_t *frame_loc; /* per frame: UNRESOLVED, MARKER, SKIPPED or a location */
    uint32_t *leaf_key;  /* by traceback: a node's key once made as a leaf, NONE before */
    size_t leaf_keys;
};

struct mem_space {
    struct mem_options o;
    char **strs;
    int8_t *keep; /* per string used as a file: the filters' verdict, -1 not yet known */
    size_t nstrs, strs_cap;
    struct htab str_tab;
    struct loc *locs;
    uint32_t *loc_key; /* the key of the location alone, NONE until made */
    size_t nlocs, locs_cap;
    struct htab loc_tab;
    uint32_t *loc_rank; /* order by (file, line), for the first nranked locations */
    size_t nranked;
    struct key *keys;
    size_t nkeys, keys_cap;
    struct htab key_tab;
    uint32_t *seq;
    size_t nseq, seq_cap;
    struct source *sources;
    uint32_t walk[MAX_DEPTH + 1];
};

/* MurmurHash3's 64-bit finalizer: every input bit moves every output bit. */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return mix(h);
}

static uint64_t hash_seq(const uint32_t *s, size_t n)
{
    uint64_t h = n;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    return mix(h);
}

/* Room for one more entry, keeping the table at most 3/4 full. */
static int ht_reserve(struct htab *t)
{
    if ((t->n + 1) * 4 <= t->cap * 3)
        return 0;
    size_t cap = t->cap ? t->cap * 2 : HT_MIN_SLOTS;
    uint64_t *hash = malloc(cap * sizeof *hash);
    uint32_t *id = calloc(cap, sizeof *id);
    if (!hash || !id) {
        free(hash);
        free(id);
        return PYSCOPE_ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->id[i])
            continue;
        size_t k = t->hash[i] & (cap - 1);
        while (id[k])
            k = (k + 1) & (cap - 1);
        id[k] = t->id[i];
        hash[k] = t->hash[i];
    }
    free(t->hash);
    free(t->id);
    t->hash = hash;
    t->id = id;
    t->cap = cap;
    return 0;
}

static void ht_free(struct htab *t)
{
    free(t->hash);
    free(t->id);
}

static void ht_set(struct htab *t, size_t slot, uint64_t h, uint32_t id)
{
    t->hash[slot] = h;
    t->id[slot] = id + 1;
    t->n++;
}

/* The string s as an id of sp (a copy is made the first time). */
static int intern_str(struct mem_space *sp, const char *s, uint32_t *out)
{
    uint64_t h = hash_str(s);
    int err = ht_reserve(&sp->str_tab);
    if (err < 0)
        return err;
    struct htab *t = &sp->str_tab;
    size_t i = h & (t->cap - 1);
    for (; t->id[i]; i = (i + 1) & (t->cap - 1)) {
        if (t->hash[i] == h && !strcmp(sp->strs[t->id[i] - 1], s)) {
            *out = t->id[i] - 1;
            return 0;
        }
    }
    if (sp->nstrs == sp->strs_cap) { /* strs and keep grow together */
        size_t cap = sp->strs_cap;
        if (util_grow((void **)&sp->strs, &cap, sp->nstrs, sizeof *sp->strs) < 0)
            return PYSCOPE_ENOMEM;
        int8_t *keep = realloc(sp->keep, cap * sizeof *keep);
        if (!keep)
            return PYSCOPE_ENOMEM;
        sp->keep = keep;
        sp->strs_cap = cap;
    }
    if (!(sp->strs[sp->nstrs] = strdup(s)))
        return PYSCOPE_ENOMEM;
    sp->keep[sp->nstrs] = -1;
    *out = (uint32_t)sp->nstrs++;
    ht_set(t, i, h, *out);
    return 0;
}

/*
 * The location (file, line) as an id; func (may be NULL) names it if
 * nothing did yet. A native location is (object, function): func is part
 * of what it is.
 */
static int intern_loc(struct mem_space *sp, const char *file, int64_t line, const char *func,
                      int native, uint32_t *out)
{
    uint32_t f, fn = NONE;
    int err = intern_str(sp, file, &f);
    if (err < 0 || (native && (err = intern_str(sp, func ? func : "??", &fn)) < 0) ||
        (err = ht_reserve(&sp->loc_tab)) < 0)
        return err;
    uint64_t h = mix((uint64_t)line * 0x9e3779b97f4a7c15ull ^ f ^
                     (native ? ((uint64_t)fn << 32 | 1) * 0xc2b2ae3d27d4eb4full : 0));
    struct htab *t = &sp->loc_tab;
    size_t i = h & (t->cap - 1);
    for (; t->id[i]; i = (i + 1) & (t->cap - 1)) {
        struct loc *l = &sp->locs[t->id[i] - 1];
        if (t->hash[i] == h && l->file == f && l->line == line && l->native == native &&
            (!native || l->func == fn)) {
            if (l->func == NONE && func && (err = intern_str(sp, func, &l->func)) < 0)
                return err;
            *out = t->id[i] - 1;
            return 0;
        }
    }
    if (!native && func && (err = intern_str(sp, func, &fn)) < 0)
        return err;
    if (sp->nlocs == sp->locs_cap) { /* locs and loc_key grow together */
        size_t cap = sp->locs_cap;
        if (util_grow((void **)&sp->locs, &cap, sp->nlocs, sizeof *sp->locs) < 0)
            return PYSCOPE_ENOMEM;
        uint32_t *lk = realloc(sp->loc_key, cap * sizeof *lk);
        if (!lk)
            return PYSCOPE_ENOMEM;
        sp->loc_key = lk;
        sp->locs_cap = cap;
    }
    sp->locs[sp->nlocs] = (struct loc){f, fn, line, native};
    sp->loc_key[sp->nlocs] = NONE;
    *out = (uint32_t)sp->nlocs++;
    ht_set(t, i, h, *out);
    return 0;
}

/* The key of the locations s (n of them, oldest first). */
static int intern_key(struct mem_space *sp, const uint32_t *s, size_t n, int truncated,
                      uint32_t *out)
{
    uint64_t h = hash_seq(s, n);
    int err = ht_reserve(&sp->key_tab);
    if (err < 0)
        return err;
    struct htab *t = &sp->key_tab;
    size_t i = h & (t->cap - 1);
    for (; t->id[i]; i = (i + 1) & (t->cap - 1)) {
        struct key *k = &sp->keys[t->id[i] - 1];
        if (t->hash[i] == h && k->len == n && !memcmp(sp->seq + k->off, s, n * sizeof *s)) {
            k->truncated |= (uint8_t)truncated;
            *out = t->id[i] - 1;
            return 0;
        }
    }
    if ((err = util_grow((void **)&sp->keys, &sp->keys_cap, sp->nkeys, sizeof *sp->keys)) < 0)
        return err;
    while (sp->nseq + n > sp->seq_cap) {
        size_t cap = sp->seq_cap ? sp->seq_cap * 2 : SEQ_MIN;
        uint32_t *seq = realloc(sp->seq, cap * sizeof *seq);
        if (!seq)
            return PYSCOPE_ENOMEM;
        sp->seq = seq;
        sp->seq_cap = cap;
    }
    memcpy(sp->seq + sp->nseq, s, n * sizeof *s);
    sp->keys[sp->nkeys] = (struct key){sp->nseq, (uint32_t)n, (uint8_t)truncated};
    sp->nseq += n;
    *out = (uint32_t)sp->nkeys++;
    ht_set(t, i, h, *out);
    return 0;
}

/* The key made of location loc alone. */
static int loc_key(struct mem_space *sp, uint32_t loc, uint32_t *out)
{
    if (sp->loc_key[loc] != NONE) {
        *out = sp->loc_key[loc];
        return 0;
    }
    int err = intern_key(sp, &loc, 1, 0, out);
    if (!err)
        sp->loc_key[loc] = *out;
    return err;
}

int mem_space_new(const struct mem_options *o, struct mem_space **out)
{
    *out = NULL;
    if (o->cumulative && o->by == MEM_BY_TRACEBACK)
        return PYSCOPE_EINVAL;
    struct mem_space *sp = calloc(1, sizeof *sp);
    if (!sp)
        return PYSCOPE_ENOMEM;
    sp->o = *o;
    *out = sp;
    return 0;
}

static void source_free(struct source *src)
{
    stacks_free(src->st);
    free(src->frame_loc);
    free(src->leaf_key);
    free(src);
}

void mem_space_free(struct mem_space *sp)
{
    if (!sp)
        return;
    while (sp->sources) {
        struct source *next = sp->sources->next;
        source_free(sp->sources);
        sp->sources = next;
    }
    for (size_t i = 0; i < sp->nstrs; i++)
        free(sp->strs[i]);
    free(sp->strs);
    free(sp->keep);
    ht_free(&sp->str_tab);
    free(sp->locs);
    free(sp->loc_key);
    free(sp->loc_rank);
    ht_free(&sp->loc_tab);
    free(sp->keys);
    ht_free(&sp->key_tab);
    free(sp->seq);
    free(sp);
}

/* Whether blocks allocated in file (a string id) pass the filters. */
static int keep_file(struct mem_space *sp, uint32_t file)
{
    const struct mem_options *o = &sp->o;
    if (!o->ninclude && !o->nexclude)
        return 1;
    if (sp->keep[file] < 0) {
        int keep = !o->ninclude;
        for (size_t i = 0; !keep && i < o->ninclude; i++)
            keep = fnpattern_match(o->include[i], sp->strs[file]);
        for (size_t i = 0; keep && i < o->nexclude; i++)
            keep = !fnpattern_match(o->exclude[i], sp->strs[file]);
        sp->keep[file] = (int8_t)keep;
    }
    return sp->keep[file];
}

/* ---- sources ---- */

/* The source of db in sp, read on first use. */
static int source_get(struct mem_space *sp, sqlite3 *db, struct source **out)
{
    for (struct source *s = sp->sources; s; s = s->next) {
        if (s->db == db) {
            *out = s;
            return 0;
        }
    }
    struct source *src = calloc(1, sizeof *src);
    if (!src)
        return PYSCOPE_ENOMEM;
    src->db = db;
    int err = stacks_open(db, &src->st);
    if (!err && !(src->frame_loc = malloc((src->st->frame_ids.n + 1) * sizeof *src->frame_loc)))
        err = PYSCOPE_ENOMEM;
    for (size_t i = 0; !err && i < src->st->frame_ids.n; i++)
        src->frame_loc[i] = UNRESOLVED;
    if (err < 0) {
        source_free(src);
        return err;
    }
    src->next = sp->sources;
    sp->sources = src;
    *out = src;
    return 0;
}

/* The location of frame (an index, NONE when missing), MARKER or SKIPPED. */
static int frame_loc(struct mem_space *sp, struct source *src, uint32_t frame, uint32_t *out)
{
    if (frame == NONE)
        return intern_loc(sp, unknown_file, 0, NULL, 0, out);
    if (src->frame_loc[frame] != UNRESOLVED) {
        *out = src->frame_loc[frame];
        return 0;
    }
    const struct stacks_frame *fr = &src->st->frames[frame];
    const struct stacks_function *f = fr->fn == NONE ? NULL : &src->st->fns[fr->fn];
    if (f && f->marker) {
        *out = src->frame_loc[frame] = MARKER;
        return 0;
    }
    int native = f && f->kind == STACKS_NATIVE;
    if (native && sp->o.no_native) {
        *out = src->frame_loc[frame] = SKIPPED;
        return 0;
    }
    int by_file = sp->o.by == MEM_BY_FILENAME;
    const char *file = f && f->filename ? f->filename : unknown_file;
    const char *func = by_file || !f ? NULL : f->qualname ? f->qualname : f->name;
    int err = intern_loc(sp, file, by_file || native ? 0 : fr->line, func, native, out);
    if (!err)
        src->frame_loc[frame] = *out;
    return err;
}

/*
 * The traceback of stack id (has_id 0: none) as locations, most recent
 * first, into sp->walk, markers left out (*truncated says one was met);
 * ("<unknown>", 0) when no frame is left. A node the table lacks ends it.
 */
static int walk(struct mem_space *sp, struct source *src, int has_id, int64_t id, size_t *n,
                int *truncated)
{
    size_t i = SIZE_MAX;
    int err = 0;

    *n = 0;
    *truncated = 0;
    if (has_id && (err = stacks_find_node(src->st, id, &i)) < 0)
        return err;
    for (size_t depth = 0; i != SIZE_MAX && i != NONE && depth < MAX_DEPTH; depth++) {
        const struct stacks_node *nd = &src->st->nodes[i];
        uint32_t loc;
        if ((err = frame_loc(sp, src, nd->frame, &loc)) < 0)
            return err;
        if (loc == MARKER)
            *truncated = 1;
        else if (loc != SKIPPED)
            sp->walk[(*n)++] = loc;
        i = nd->parent;
    }
    if (!*n)
        err = intern_loc(sp, unknown_file, 0, NULL, 0, &sp->walk[(*n)++]);
    return err;
}

/* ---- grouping ---- */

struct grouper {
    struct mem_group *g;
    size_t cap;
    uint32_t *slot; /* per key: its stat in g, or NONE */
    size_t nslot;
};

static int add_stat(struct mem_space *sp, struct grouper *gr, uint32_t key, int64_t size,
                    int64_t count)
{
    struct mem_group *g = gr->g;
    if (key >= gr->nslot) {
        size_t n = sp->nkeys > key ? sp->nkeys : (size_t)key + 1;
        n += n / 2;
        uint32_t *slot = realloc(gr->slot, n * sizeof *slot);
        if (!slot)
            return PYSCOPE_ENOMEM;
        for (size_t i = gr->nslot; i < n; i++)
            slot[i] = NONE;
        gr->slot = slot;
        gr->nslot = n;
    }
    if (gr->slot[key] == NONE) {
        int err = util_grow((void **)&g->stats, &gr->cap, g->n, sizeof *g->stats);
        if (err < 0)
            return err;
        g->stats[g->n] = (struct mem_stat){.key = key};
        gr->slot[key] = (uint32_t)g->n++;
    }
    struct mem_stat *s = &g->stats[gr->slot[key]];
    s->size += size;
    s->count += count;
    return 0;
}

/*
 * Count blocks (size, count) allocated at location loc (the most recent
 * frame) in the totals; 1 when the filters keep them, as tracemalloc's
 * filter_traces would.
 */
static int count_trace(struct mem_space *sp, struct grouper *gr, uint32_t loc, int64_t size,
                       int64_t count)
{
    struct mem_group *g = gr->g;
    g->all.size += size;
    g->all.count += count;
    if (!keep_file(sp, sp->locs[loc].file))
        return 0;
    g->selected.size += size;
    g->selected.count += count;
    return 1;
}

/*
 * One row of snapshot_traces: its blocks, whose traceback is locs (n,
 * most recent first), as tracemalloc's filter_traces and _group_by would
 * take them one by one. By traceback, *key is the key (NONE when the
 * filters left the blocks out).
 */
static int add_trace(struct mem_space *sp, struct grouper *gr, uint32_t *locs, size_t n,
                     int truncated, int64_t size, int64_t count, uint32_t *key)
{
    int err = 0;

    *key = NONE;
    /* Where tracemalloc would say the blocks were allocated: the most
     * recent Python frame, under the native ones (--memory --native). */
    size_t py = 0;
    while (py + 1 < n && sp->locs[locs[py]].native)
        py++;
    uint32_t where = locs[py];
    if (sp->locs[where].native && (err = intern_loc(sp, unknown_file, 0, NULL, 0, &where)) < 0)
        return err; /* no Python frame at all */
    if (!count_trace(sp, gr, where, size, count))
        return 0;
    if (sp->o.cumulative) {
        for (size_t i = 0; i < n && !err; i++)
            if (!(err = loc_key(sp, locs[i], key)))
                err = add_stat(sp, gr, *key, size, count);
        return err;
    }
    if (sp->o.by != MEM_BY_TRACEBACK) {
        if (!(err = loc_key(sp, where, key)))
            err = add_stat(sp, gr, *key, size, count);
        return err;
    }
    for (size_t i = 0, j = n - 1; i < j; i++, j--) {
        uint32_t t = locs[i];
        locs[i] = locs[j];
        locs[j] = t;
    }
    if (!(err = intern_key(sp, locs, n, truncated, key)))
        err = add_stat(sp, gr, *key, size, count);
    return err;
}

/* A row walked whole and added. */
static int add_walked(struct mem_space *sp, struct source *src, struct grouper *gr, int has_id,
                      int64_t id, int64_t size, int64_t count, uint32_t *key)
{
    size_t n;
    int truncated;
    int err = walk(sp, src, has_id, id, &n, &truncated);
    return err < 0 ? err : add_trace(sp, gr, sp->walk, n, truncated, size, count, key);
}

/*
 * Without --cumulative, lineno and filename need only the most recent
 * frame of each traceback; a traceback whose leaf is not a plain frame
 * (the marker, a node the table lacks) is walked.
 */
static int group_leaves(struct mem_space *sp, struct source *src, int64_t id, struct grouper *gr)
{
    sqlite3_stmt *st;
    uint32_t key;
    int rc, err = vdb_prepare(src->db,
                              "SELECT t.stack_id, t.size, t.count, s.frame_id"
                              " FROM snapshot_traces t LEFT JOIN stacks s ON s.id = t.stack_id"
                              " WHERE t.snapshot_id = ?1",
                              &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t size = sqlite3_column_int64(st, 1), count = sqlite3_column_int64(st, 2);
        uint32_t loc = MARKER;
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
            size_t fr = stacks_index(&src->st->frame_ids, sqlite3_column_int64(st, 3));
            if ((err = frame_loc(sp, src, fr == SIZE_MAX ? NONE : (uint32_t)fr, &loc)) < 0)
                break;
        }
        if (loc != MARKER && loc != SKIPPED && !sp->locs[loc].native)
            err = add_trace(sp, gr, &loc, 1, 0, size, count, &key);
        else /* the marker, a node the table lacks, or native frames over the Python one */
            err = add_walked(sp, src, gr, sqlite3_column_type(st, 0) != SQLITE_NULL,
                             sqlite3_column_int64(st, 0), size, count, &key);
        if (err < 0)
            break;
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    return err;
}

struct row {
    int64_t stack, size, count;
    int has_stack;
};

/*
 * By traceback: every traceback walked whole, once per leaf node, which a
 * second snapshot of the same database mostly shares.
 */
static int group_tracebacks(struct mem_space *sp, struct source *src, const struct row *rows,
                            size_t n, struct grouper *gr)
{
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        size_t leaf =
            rows[i].has_stack ? stacks_index(&src->st->node_ids, rows[i].stack) : SIZE_MAX;
        if (leaf != SIZE_MAX && leaf < src->leaf_keys && src->leaf_key[leaf] != NONE) {
            uint32_t key = src->leaf_key[leaf];
            const struct key *k = &sp->keys[key];
            size_t py = k->len - 1; /* the most recent Python frame (add_trace) */
            while (py > 0 && sp->locs[sp->seq[k->off + py]].native)
                py--;
            uint32_t where = sp->seq[k->off + py];
            if (sp->locs[where].native &&
                (err = intern_loc(sp, unknown_file, 0, NULL, 0, &where)) < 0)
                return err;
            if (count_trace(sp, gr, where, rows[i].size, rows[i].count))
                err = add_stat(sp, gr, key, rows[i].size, rows[i].count);
            continue;
        }
        uint32_t key;
        err = add_walked(sp, src, gr, rows[i].has_stack, rows[i].stack, rows[i].size, rows[i].count,
                         &key);
        if (err < 0 || key == NONE || leaf == SIZE_MAX)
            continue;
        if (leaf >= src->leaf_keys) {
            size_t m = src->st->node_ids.n;
            uint32_t *lk = realloc(src->leaf_key, m * sizeof *lk);
            if (!lk)
                return PYSCOPE_ENOMEM;
            for (size_t j = src->leaf_keys; j < m; j++)
                lk[j] = NONE;
            src->leaf_key = lk;
            src->leaf_keys = m;
        }
        src->leaf_key[leaf] = key;
    }
    return err;
}

/*
 * Cumulative: the blocks of a traceback count in each of its frames, a
 * frame met twice counting twice, which is what summing each node's
 * blocks with those of all the nodes below it gives: one pass over the
 * nodes, children before parents, instead of a walk per traceback. That
 * order is the recorder's (a caller is written before its callees); a
 * database in another order has its tracebacks walked one by one.
 */
static int group_cumulative(struct mem_space *sp, struct source *src, const struct row *rows,
                            size_t n, struct grouper *gr)
{
    struct acc {
        int64_t size, count;
    } *acc = calloc(src->st->node_ids.n + 1, sizeof *acc);
    size_t nacc = src->st->node_ids.n;
    uint32_t key, loc;
    int err = 0;

    if (!acc)
        return PYSCOPE_ENOMEM;
    for (size_t i = 0; i < n && !err; i++) {
        size_t leaf =
            rows[i].has_stack ? stacks_index(&src->st->node_ids, rows[i].stack) : SIZE_MAX;
        loc = MARKER;
        if (leaf < nacc && (err = frame_loc(sp, src, src->st->nodes[leaf].frame, &loc)) < 0)
            break;
        if (loc == MARKER || loc == SKIPPED || sp->locs[loc].native)
            /* no such node, only the marker, or native frames over the Python one */
            err = add_walked(sp, src, gr, rows[i].has_stack, rows[i].stack, rows[i].size,
                             rows[i].count, &key);
        else if (count_trace(sp, gr, loc, rows[i].size, rows[i].count))
            acc[leaf].size += rows[i].size, acc[leaf].count += rows[i].count;
    }
    for (size_t i = nacc; i-- > 0 && !err;) {
        const struct stacks_node *nd = &src->st->nodes[i];
        if (!acc[i].size && !acc[i].count)
            continue;
        if ((err = frame_loc(sp, src, nd->frame, &loc)) < 0)
            break;
        if (loc != MARKER && loc != SKIPPED && (err = loc_key(sp, loc, &key)) == 0)
            err = add_stat(sp, gr, key, acc[i].size, acc[i].count);
        if (nd->parent != NONE && nd->parent < nacc) {
            acc[nd->parent].size += acc[i].size;
            acc[nd->parent].count += acc[i].count;
        }
    }
    free(acc);
    return err;
}

/* By traceback or cumulative: whole tracebacks, so the stacks they need are read. */
static int group_walks(struct mem_space *sp, struct source *src, int64_t id, struct grouper *gr)
{
    struct row *rows = NULL;
    size_t n = 0, cap = 0;
    int64_t upto = INT64_MIN;
    sqlite3_stmt *st;
    uint32_t key;
    int rc, err = vdb_prepare(src->db,
                              "SELECT stack_id, size, count FROM snapshot_traces"
                              " WHERE snapshot_id = ?1",
                              &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&rows, &cap, n, sizeof *rows)) < 0)
            break;
        rows[n] =
            (struct row){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                         sqlite3_column_int64(st, 2), sqlite3_column_type(st, 0) != SQLITE_NULL};
        if (rows[n].has_stack && rows[n].stack > upto)
            upto = rows[n].stack;
        n++;
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    if (!err)
        err = stacks_load(src->st, upto);
    if (err < 0)
        ;
    else if (sp->o.by == MEM_BY_TRACEBACK)
        err = group_tracebacks(sp, src, rows, n, gr);
    else if (src->st->parent_first)
        err = group_cumulative(sp, src, rows, n, gr);
    else
        for (size_t i = 0; i < n && !err; i++)
            err = add_walked(sp, src, gr, rows[i].has_stack, rows[i].stack, rows[i].size,
                             rows[i].count, &key);
    free(rows);
    return err;
}

int mem_group(struct mem_space *sp, sqlite3 *db, int64_t id, struct mem_group *g)
{
    struct source *src;
    struct grouper gr = {.g = g};
    memset(g, 0, sizeof *g);
    int err = source_get(sp, db, &src);
    if (err < 0)
        return err;
    if (sp->o.by != MEM_BY_TRACEBACK && !sp->o.cumulative)
        err = group_leaves(sp, src, id, &gr);
    else
        err = group_walks(sp, src, id, &gr);
    free(gr.slot);
    if (err < 0)
        mem_group_release(g);
    return err;
}

void mem_group_release(struct mem_group *g)
{
    if (!g)
        return;
    free(g->stats);
    memset(g, 0, sizeof *g);
}

/* ---- order ---- */

static int cmp_loc(const void *x, const void *y, void *ctx)
{
    const struct mem_space *sp = ctx;
    const struct loc *a = &sp->locs[*(const uint32_t *)x], *b = &sp->locs[*(const uint32_t *)y];
    int c = a->file == b->file ? 0 : strcmp(sp->strs[a->file], sp->strs[b->file]);
    if (c)
        return c;
    return (a->line > b->line) - (a->line < b->line);
}

/*
 * Rank every location by (file name, line) as Python compares the tuples:
 * file names by code point, which for UTF-8 is strcmp's byte order.
 */
static int rank_locs(struct mem_space *sp)
{
    if (sp->nranked == sp->nlocs)
        return 0;
    uint32_t *order = malloc((sp->nlocs + 1) * sizeof *order);
    uint32_t *rank = realloc(sp->loc_rank, (sp->nlocs + 1) * sizeof *rank);
    if (rank)
        sp->loc_rank = rank;
    if (!order || !rank) {
        free(order);
        return PYSCOPE_ENOMEM;
    }
    for (size_t i = 0; i < sp->nlocs; i++)
        order[i] = (uint32_t)i;
    qsort_r(order, sp->nlocs, sizeof *order, cmp_loc, sp);
    for (size_t i = 0; i < sp->nlocs; i++)
        rank[order[i]] = (uint32_t)i;
    free(order);
    sp->nranked = sp->nlocs;
    return 0;
}

#define DESC(a, b)                                                                                 \
    do {                                                                                           \
        if ((a) != (b))                                                                            \
            return (a) > (b) ? -1 : 1;                                                             \
    } while (0)

/* Statistic._sort_key, reversed, but for the traceback. */
static int cmp_stat(const void *x, const void *y)
{
    const struct mem_stat *a = x, *b = y;
    DESC(a->size, b->size);
    DESC(a->count, b->count);
    return 0;
}

static uint64_t magnitude(int64_t v)
{
    return v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
}

/* StatisticDiff._sort_key, reversed, but for the traceback. */
static int cmp_diff(const void *x, const void *y)
{
    const struct mem_stat *a = x, *b = y;
    DESC(magnitude(a->size_diff), magnitude(b->size_diff));
    DESC(a->size, b->size);
    DESC(magnitude(a->count_diff), magnitude(b->count_diff));
    DESC(a->count, b->count);
    return 0;
}

/* A stat's traceback as the sort reads it: locations oldest first, and where the stat is. */
struct sitem {
    const uint32_t *s;
    uint32_t len;
    uint32_t at;
};

/* Frame d of it as a number that sorts like it; 0 past the end, so a prefix comes first. */
static uint32_t sym(const struct sitem *it, uint32_t d, const uint32_t *rank)
{
    return d < it->len ? rank[it->s[d]] + 1 : 0;
}

/* Descending traceback order from frame d on: -1 when a goes first. */
static int cmp_from(const struct sitem *a, const struct sitem *b, uint32_t d, const uint32_t *rank)
{
    for (;; d++) {
        uint32_t x = sym(a, d, rank), y = sym(b, d, rank);
        if (x != y)
            return x > y ? -1 : 1;
        if (!x)
            return 0;
    }
}

static void swap_items(struct sitem *a, struct sitem *b)
{
    struct sitem t = *a;
    *a = *b;
    *b = t;
}

/*
 * Tracebacks that share their first d frames, in descending order, by
 * multikey quicksort (Bentley and Sedgewick): each pass partitions on one
 * frame, so the frames that many tracebacks share are read once per pass
 * rather than once per comparison.
 */
static void sort_items(struct sitem *a, size_t n, uint32_t d, const uint32_t *rank)
{
    while (n > 1) {
        if (n < 12) {
            for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && cmp_from(&a[j], &a[j - 1], d, rank) < 0; j--)
                    swap_items(&a[j], &a[j - 1]);
            return;
        }
        uint32_t x = sym(&a[0], d, rank), y = sym(&a[n / 2], d, rank), z = sym(&a[n - 1], d, rank);
        uint32_t p = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        size_t lt = 0, i = 0, gt = n; /* [0, lt) > p, [lt, i) == p, [gt, n) < p */
        while (i < gt) {
            uint32_t c = sym(&a[i], d, rank);
            if (c > p)
                swap_items(&a[lt++], &a[i++]);
            else if (c < p)
                swap_items(&a[i], &a[--gt]);
            else
                i++;
        }
        sort_items(a, lt, d, rank);
        if (p)
            sort_items(a + lt, gt - lt, d + 1, rank);
        a += gt;
        n -= gt;
    }
}

/*
 * Sort by the numbers cmp compares, then each run of equal numbers by
 * traceback, descending.
 */
static int sort_stats(struct mem_space *sp, struct mem_stat *st, size_t n,
                      int (*cmp)(const void *, const void *))
{
    struct sitem *items = NULL;
    struct mem_stat *run = NULL;
    int err = rank_locs(sp);

    if (err < 0 || n < 2)
        return err;
    qsort(st, n, sizeof *st, cmp);
    for (size_t lo = 0, hi; lo < n; lo = hi) {
        for (hi = lo + 1; hi < n && !cmp(&st[lo], &st[hi]); hi++)
            ;
        if (hi - lo < 2)
            continue;
        if (!items && (!(items = malloc(n * sizeof *items)) || !(run = malloc(n * sizeof *run)))) {
            err = PYSCOPE_ENOMEM;
            break;
        }
        for (size_t k = lo; k < hi; k++) {
            const struct key *key = &sp->keys[st[k].key];
            items[k - lo] = (struct sitem){sp->seq + key->off, key->len, (uint32_t)k};
        }
        sort_items(items, hi - lo, 0, sp->loc_rank);
        for (size_t k = lo; k < hi; k++)
            run[k - lo] = st[items[k - lo].at];
        memcpy(st + lo, run, (hi - lo) * sizeof *run);
    }
    free(items);
    free(run);
    return err;
}

int mem_sort(struct mem_space *sp, struct mem_stat *stats, size_t n)
{
    return sort_stats(sp, stats, n, cmp_stat);
}

int mem_compare(struct mem_space *sp, const struct mem_group *newg, const struct mem_group *oldg,
                struct mem_stat **out, size_t *n)
{
    struct mem_stat *d = malloc((newg->n + oldg->n + 1) * sizeof *d);
    uint32_t *slot = malloc((sp->nkeys + 1) * sizeof *slot);
    uint8_t *used = calloc(oldg->n + 1, 1);
    size_t k = 0;
    int err = 0;

    *out = NULL;
    *n = 0;
    if (!d || !slot || !used) {
        err = PYSCOPE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < sp->nkeys; i++)
        slot[i] = NONE;
    for (size_t i = 0; i < oldg->n; i++)
        slot[oldg->stats[i].key] = (uint32_t)i;
    for (size_t i = 0; i < newg->n; i++) {
        const struct mem_stat *s = &newg->stats[i];
        uint32_t o = slot[s->key];
        d[k] = (struct mem_stat){s->key, s->size, s->count, s->size, s->count};
        if (o != NONE) {
            d[k].size_diff -= oldg->stats[o].size;
            d[k].count_diff -= oldg->stats[o].count;
            used[o] = 1;
        }
        k++;
    }
    for (size_t i = 0; i < oldg->n; i++)
        if (!used[i])
            d[k++] = (struct mem_stat){oldg->stats[i].key, 0, 0, -oldg->stats[i].size,
                                       -oldg->stats[i].count};
    if ((err = sort_stats(sp, d, k, cmp_diff)) < 0)
        goto out;
    *out = d;
    *n = k;
    d = NULL;
out:
    free(d);
    free(slot);
    free(used);
    return err;
}

/* ---- keys ---- */

size_t mem_key_nframes(const struct mem_space *sp, uint32_t key)
{
    return key < sp->nkeys ? sp->keys[key].len : 0;
}

struct mem_frame mem_key_frame(const struct mem_space *sp, uint32_t key, size_t i)
{
    struct mem_frame f = {unknown_file, 0, NULL, 0};
    if (key >= sp->nkeys || i >= sp->keys[key].len)
        return f;
    const struct loc *l = &sp->locs[sp->seq[sp->keys[key].off + i]];
    f.filename = sp->strs[l->file];
    f.line = l->line;
    f.function = l->func == NONE ? NULL : sp->strs[l->func];
    f.native = l->native;
    return f;
}

int mem_key_truncated(const struct mem_space *sp, uint32_t key)
{
    return key < sp->nkeys && sp->keys[key].truncated;
}
