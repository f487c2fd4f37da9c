/*
 * The stack tables of a run, read into memory (stacks.h): one reader of
 * functions, frames and stacks for every view, so an id that points
 * nowhere, a loop of parents or the "[truncated]" marker mean the same in
 * `hot` as in `stats`.
 *
 * Every table is read in one scan in id order, which for these rowid
 * tables is the order they are stored in, and nothing is queried per row.
 * Ids without gaps (the recorder's) are found by subtraction; others by a
 * binary search of the ids read. The stacks table is read only up to the
 * highest id a caller needs: the recorder interns a caller before its
 * callees, so a node's parent has been read when the node is; one that has
 * not is looked for after the scan.
 */
#include "stacks.h"
#include "db.h"
#include "error.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define NO_PARENT INT64_MIN /* parent_id NULL, as the stacks query reads it */
#define NODES_STEP 4096     /* nodes reserved beyond what is needed, when growing */

size_t stacks_index(const struct stacks_ids *m, int64_t id)
{
    if (m->dense) {
        uint64_t k = (uint64_t)id - (uint64_t)m->base;
        return k < m->n ? (size_t)k : SIZE_MAX;
    }
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n && m->v[lo] == id ? lo : SIZE_MAX;
}

/* Append id, greater than every id in m. 0 or PYSCOPE_ENOMEM. */
static int ids_add(struct stacks_ids *m, int64_t id)
{
    if (!m->n) {
        m->base = id;
        m->dense = 1;
    } else if (m->dense && (uint64_t)id != (uint64_t)m->base + m->n) {
        size_t cap = m->n * 2;
        int64_t *v = malloc(cap * sizeof *v);
        if (!v)
            return PYSCOPE_ENOMEM;
        for (size_t i = 0; i < m->n; i++)
            v[i] = (int64_t)((uint64_t)m->base + i);
        m->v = v;
        m->cap = cap;
        m->dense = 0;
    }
    if (!m->dense) {
        int err = util_grow((void **)&m->v, &m->cap, m->n, sizeof *m->v);
        if (err < 0)
            return err;
        m->v[m->n] = id;
    }
    m->n++;
    return 0;
}

static enum stacks_kind parse_kind(const char *s)
{
    if (s && !strcmp(s, "builtin"))
        return STACKS_BUILTIN;
    if (s && !strcmp(s, "native"))
        return STACKS_NATIVE;
    return STACKS_PYTHON;
}

static void release_function(struct stacks_function *f)
{
    free(f->filename);
    free(f->name);
    free(f->qualname);
    free(f->source);
}

void stacks_free(struct stacks *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->fn_ids.n; i++)
        release_function(&s->fns[i]);
    free(s->fns);
    free(s->frames);
    free(s->nodes);
    free(s->fn_ids.v);
    free(s->frame_ids.v);
    free(s->node_ids.v);
    free(s);
}

/* Native functions' source files (a database from before them has none). */
static int load_sources(struct stacks *s)
{
    int64_t n;
    sqlite3_stmt *st;
    int rc, err = vdb_count(s->db, "function_sources", &n);
    if (err < 0 || n == 0)
        return err;
    if ((err = vdb_prepare(s->db, "SELECT function_id, filename FROM function_sources", &st)) < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t i = stacks_index(&s->fn_ids, sqlite3_column_int64(st, 0));
        if (i == SIZE_MAX || s->fns[i].source)
            continue;
        if ((err = vdb_col_text(st, 1, &s->fns[i].source)) < 0)
            break;
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    return err;
}

static int load_functions(struct stacks *s)
{
    sqlite3_stmt *st;
    int rc, err = vdb_prepare(
                s->db,
                "SELECT id, kind, filename, name, qualname, firstlineno FROM functions ORDER BY id",
                &st);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t i = s->fn_ids.n;
        if ((err = util_grow((void **)&s->fns, &s->fns_cap, i, sizeof *s->fns)) < 0)
            break;
        struct stacks_function *f = &s->fns[i];
        *f = (struct stacks_function){.id = sqlite3_column_int64(st, 0),
                                      .kind = parse_kind((const char *)sqlite3_column_text(st, 1)),
                                      .firstlineno = sqlite3_column_int64(st, 5)};
        if ((err = vdb_col_text(st, 2, &f->filename)) < 0 ||
            (err = vdb_col_text(st, 3, &f->name)) < 0 ||
            (err = vdb_col_text(st, 4, &f->qualname)) < 0 ||
            (err = ids_add(&s->fn_ids, f->id)) < 0) {
            release_function(f);
            break;
        }
        /* How the recorder writes the root of a stack cut at the depth limit. */
        f->marker =
            f->kind == STACKS_PYTHON && !f->filename && f->name && !strcmp(f->name, "[truncated]");
        f->own = f->kind == STACKS_PYTHON && !f->filename && f->name && !strcmp(f->name, "[pyscope]");
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    return err < 0 ? err : load_sources(s);
}

static int load_frames(struct stacks *s)
{
    sqlite3_stmt *st;
    int rc, err = vdb_prepare(s->db, "SELECT id, function_id, line FROM frames ORDER BY id", &st);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t i = s->frame_ids.n;
        size_t fn = stacks_index(&s->fn_ids, sqlite3_column_int64(st, 1));
        if ((err = util_grow((void **)&s->frames, &s->frames_cap, i, sizeof *s->frames)) < 0 ||
            (err = ids_add(&s->frame_ids, sqlite3_column_int64(st, 0))) < 0)
            break;
        s->frames[i] = (struct stacks_frame){fn == SIZE_MAX ? STACKS_NONE : (uint32_t)fn,
                                             sqlite3_column_int64(st, 2)};
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    return err;
}

int stacks_open(sqlite3 *db, struct stacks **out)
{
    struct stacks *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return PYSCOPE_ENOMEM;
    s->db = db;
    s->upto = INT64_MIN;
    s->parent_first = 1;
    int err = load_functions(s);
    if (!err)
        err = load_frames(s);
    if (err < 0) {
        stacks_free(s);
        return err;
    }
    *out = s;
    return 0;
}

/* Room for n nodes in all. */
static int reserve_nodes(struct stacks *s, size_t n)
{
    if (n <= s->nodes_cap)
        return 0;
    struct stacks_node *nodes = realloc(s->nodes, n * sizeof *nodes);
    if (!nodes)
        return PYSCOPE_ENOMEM;
    s->nodes = nodes;
    s->nodes_cap = n;
    return 0;
}

int stacks_load(struct stacks *s, int64_t upto)
{
    struct later {
        size_t node;
        int64_t parent;
    } *later = NULL;
    size_t nlater = 0, later_cap = 0;
    int64_t lo, hi, total;
    int rc, err;
    sqlite3_stmt *st;

    if (s->all || upto <= s->upto)
        return 0;
    /* Room for every id in the range, but no more than the table holds. */
    if ((err = vdb_int(s->db, "SELECT min(id) FROM stacks WHERE id > ?1", &s->upto, &lo)) < 0)
        return err;
    if (err > 0) {
        if ((err = vdb_int(s->db, "SELECT max(id) FROM stacks WHERE id <= ?1", &upto, &hi)) < 0 ||
            (err = vdb_int(s->db, "SELECT count(*) FROM stacks", NULL, &total)) < 0)
            return err;
        uint64_t span = hi >= lo ? (uint64_t)hi - (uint64_t)lo + 1 : 0;
        if (span > (uint64_t)total)
            span = (uint64_t)total;
        if (span >= STACKS_NONE - s->node_ids.n ||
            (err = reserve_nodes(s, s->node_ids.n + span)) < 0)
            return PYSCOPE_ENOMEM;
    }
    err = vdb_prepare(s->db,
                      "SELECT id, coalesce(parent_id, ?3), frame_id FROM stacks"
                      " WHERE id > ?1 AND id <= ?2 ORDER BY id",
                      &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, s->upto);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int64(st, 3, NO_PARENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t i = s->node_ids.n;
        if (i >= STACKS_NONE - 2 ||
            (i == s->nodes_cap && (err = reserve_nodes(s, i * 2 + NODES_STEP)) < 0) ||
            (err = ids_add(&s->node_ids, sqlite3_column_int64(st, 0))) < 0) {
            err = err < 0 ? err : PYSCOPE_ENOMEM; /* indexes are 32-bit */
            break;
        }
        int64_t p = sqlite3_column_int64(st, 1);
        size_t fr = stacks_index(&s->frame_ids, sqlite3_column_int64(st, 2));
        size_t k = p == NO_PARENT ? SIZE_MAX : stacks_index(&s->node_ids, p);
        s->nodes[i].frame = fr == SIZE_MAX ? STACKS_NONE : (uint32_t)fr;
        s->nodes[i].parent = k == SIZE_MAX ? STACKS_NONE : (uint32_t)k;
        if (k == i)
            s->parent_first = 0;
        if (k == SIZE_MAX && p != NO_PARENT) {
            if ((err = util_grow((void **)&later, &later_cap, nlater, sizeof *later)) < 0)
                break;
            later[nlater++] = (struct later){i, p};
        }
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    if (!err) {
        s->upto = upto;
        s->all = upto == INT64_MAX;
    }
    for (size_t j = 0; j < nlater && !err; j++) {
        size_t k = stacks_index(&s->node_ids, later[j].parent);
        if (k == SIZE_MAX && !s->all && later[j].parent > s->upto) {
            if ((err = stacks_load(s, INT64_MAX)) < 0)
                break;
            k = stacks_index(&s->node_ids, later[j].parent);
        }
        s->nodes[later[j].node].parent = k == SIZE_MAX ? STACKS_NONE : (uint32_t)k;
        if (k != SIZE_MAX && k >= later[j].node)
            s->parent_first = 0;
    }
    free(later);
    return err;
}

int stacks_find_node(struct stacks *s, int64_t id, size_t *idx)
{
    *idx = stacks_index(&s->node_ids, id);
    if (*idx != SIZE_MAX || s->all || id <= s->upto)
        return 0;
    int err = stacks_load(s, INT64_MAX);
    if (!err)
        *idx = stacks_index(&s->node_ids, id);
    return err;
}
