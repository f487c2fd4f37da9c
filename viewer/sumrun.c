/*
 * The run a summary describes (sumrun.h): loaded into memory first, so the
 * text and the JSON form are written from the same data.
 */
#include "sumrun.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const struct sumrun_table sumrun_counted[SUMRUN_NCOUNTED] = {
    [SUMRUN_SAMPLES] = {"samples", "sample", "samples"},
    [SUMRUN_CALLS] = {"calls", "call record", "call records"},
    [SUMRUN_SNAPSHOTS] = {"snapshots", "snapshot", "snapshots"},
    [SUMRUN_HEAP_OBJECTS] = {"heap_objects", "heap object", "heap objects"},
    [SUMRUN_GC_COLLECTIONS] = {"gc_collections", "gc collection", "gc collections"},
};

int sumrun_col_int(sqlite3_stmt *st, int col, int64_t *out)
{
    *out = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return 0;
    *out = sqlite3_column_int64(st, col);
    return 1;
}

static int load_meta(sqlite3 *db, struct sumrun *r)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc, err = vdb_prepare(db, "SELECT key, value FROM meta ORDER BY key", &st);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&r->meta, &cap, r->nmeta, sizeof *r->meta)) < 0)
            goto out;
        struct sumrun_kv *m = &r->meta[r->nmeta++];
        m->value = NULL;
        if ((err = vdb_col_text(st, 0, &m->key)) < 0 || (err = vdb_col_text(st, 1, &m->value)) < 0)
            goto out;
        if (!m->key) { /* a NULL key cannot be looked up; drop it */
            free(m->value);
            r->nmeta--;
        }
    }
    if (rc != SQLITE_DONE)
        err = vdb_err(rc);
out:
    sqlite3_finalize(st);
    return err;
}

static int load_processes(sqlite3 *db, struct sumrun *r)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc, err = vdb_prepare(db,
                              "SELECT id, pid, parent_id, argv, started_ns, ended_ns, exit_code,"
                              " signal, ppid, executable, python_version, forked"
                              " FROM processes ORDER BY id",
                              &st);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&r->procs, &cap, r->nprocs, sizeof *r->procs)) < 0)
            goto out;
        struct sumrun_process *p = &r->procs[r->nprocs++];
        int64_t v;
        memset(p, 0, sizeof *p);
        sumrun_col_int(st, 0, &p->id);
        sumrun_col_int(st, 1, &p->pid);
        p->has_parent = sumrun_col_int(st, 2, &p->parent_id);
        p->has_started = sumrun_col_int(st, 4, &p->started_ns);
        p->has_ended = sumrun_col_int(st, 5, &p->ended_ns);
        p->has_code = sumrun_col_int(st, 6, &v);
        p->exit_code = (int)v;
        p->has_signal = sumrun_col_int(st, 7, &v) && v != 0;
        p->signal = (int)v;
        p->has_ppid = sumrun_col_int(st, 8, &p->ppid);
        sumrun_col_int(st, 11, &v);
        p->forked = v != 0;
        if ((err = vdb_col_text(st, 3, &p->argv)) < 0 ||
            (err = vdb_col_text(st, 9, &p->executable)) < 0 ||
            (err = vdb_col_text(st, 10, &p->python_version)) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE)
        err = vdb_err(rc);
out:
    sqlite3_finalize(st);
    return err;
}

static int load_threads(sqlite3 *db, struct sumrun *r)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc, err = vdb_prepare(db,
                              "SELECT id, process_id, os_tid, ident, name, is_main, started_ns,"
                              " ended_ns FROM threads"
                              " ORDER BY process_id, is_main DESC, started_ns, id",
                              &st);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&r->threads, &cap, r->nthreads, sizeof *r->threads)) < 0)
            goto out;
        struct sumrun_thread *t = &r->threads[r->nthreads++];
        int64_t v;
        memset(t, 0, sizeof *t);
        sumrun_col_int(st, 0, &t->id);
        sumrun_col_int(st, 1, &t->process_id);
        t->has_os_tid = sumrun_col_int(st, 2, &t->os_tid);
        t->has_ident = sumrun_col_int(st, 3, &t->ident);
        sumrun_col_int(st, 5, &v);
        t->is_main = v != 0;
        t->has_started = sumrun_col_int(st, 6, &t->started_ns);
        t->has_ended = sumrun_col_int(st, 7, &t->ended_ns);
        if ((err = vdb_col_text(st, 4, &t->name)) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE)
        err = vdb_err(rc);
out:
    sqlite3_finalize(st);
    return err;
}

/* Index of the process with id, or SIZE_MAX; procs are sorted by id. */
size_t sumrun_find_process(const struct sumrun *r, int64_t id)
{
    size_t lo = 0, hi = r->nprocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->procs[mid].id < id)
            lo = mid + 1;
        else if (r->procs[mid].id > id)
            hi = mid;
        else
            return mid;
    }
    return SIZE_MAX;
}

/* Give each process its run of threads; both arrays are sorted by process id. */
static void attach_threads(struct sumrun *r)
{
    size_t t = 0;
    for (size_t i = 0; i < r->nprocs; i++) {
        struct sumrun_process *p = &r->procs[i];
        while (t < r->nthreads && r->threads[t].process_id < p->id)
            t++; /* threads of no known process: counted, not listed */
        p->first_thread = t;
        while (t < r->nthreads && r->threads[t].process_id == p->id)
            t++;
        p->nthreads = t - p->first_thread;
    }
}

/*
 * Order the processes as a tree: preorder, children by id. A parent that is
 * missing makes a root; a cycle of parent_ids (a damaged file) is broken
 * where it is first entered. Iterative, so a long chain of forks cannot
 * overflow the C stack.
 */
static int order_tree(struct sumrun *r)
{
    size_t n = r->nprocs;
    int err = PYSCOPE_ENOMEM;
    size_t *parent = malloc(n * sizeof *parent + 1);
    size_t *child = malloc(n * sizeof *child + 1); /* first child, in descending id */
    size_t *sibling = malloc(n * sizeof *sibling + 1);
    size_t *stack = malloc(n * sizeof *stack + 1);
    char *seen = calloc(n + 1, 1);
    size_t norder = 0;

    r->order = malloc(n * sizeof *r->order + 1);
    r->depth = calloc(n + 1, sizeof *r->depth);
    if (!parent || !child || !sibling || !stack || !seen || !r->order || !r->depth)
        goto out;
    for (size_t i = 0; i < n; i++) {
        child[i] = SIZE_MAX;
        parent[i] =
            r->procs[i].has_parent ? sumrun_find_process(r, r->procs[i].parent_id) : SIZE_MAX;
        if (parent[i] == i)
            parent[i] = SIZE_MAX;
    }
    /* Prepending in ascending order leaves each list descending, so pushing a
     * list onto the stack in its order pops the children in ascending order. */
    for (size_t i = 0; i < n; i++) {
        if (parent[i] == SIZE_MAX)
            continue;
        sibling[i] = child[parent[i]];
        child[parent[i]] = i;
    }
    /* Roots first, then whatever a cycle kept out of reach. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t root = 0; root < n; root++) {
            if (seen[root] || (pass == 0 && parent[root] != SIZE_MAX))
                continue;
            size_t top = 0;
            stack[top++] = root;
            seen[root] = 1;
            r->depth[root] = 0;
            while (top) {
                size_t i = stack[--top];
                r->order[norder++] = i;
                for (size_t c = child[i]; c != SIZE_MAX; c = sibling[c]) {
                    if (seen[c])
                        continue;
                    seen[c] = 1;
                    r->depth[c] = r->depth[i] + 1;
                    stack[top++] = c;
                }
            }
        }
    }
    err = 0;
out:
    free(parent);
    free(child);
    free(sibling);
    free(stack);
    free(seen);
    return err;
}

int sumrun_load(sqlite3 *db, struct sumrun *r)
{
    int err = vdb_schema_version(db, &r->version);
    if (!err)
        err = load_meta(db, r);
    if (!err)
        err = load_processes(db, r);
    if (!err)
        err = load_threads(db, r);
    for (size_t i = 0; !err && i < SUMRUN_NCOUNTED; i++)
        err = i == SUMRUN_SAMPLES ? vdb_count_samples(db, &r->counts[i])
                                  : vdb_count(db, sumrun_counted[i].table, &r->counts[i]);
    if (!err) {
        attach_threads(r);
        err = order_tree(r);
    }
    return err;
}

void sumrun_release(struct sumrun *r)
{
    for (size_t i = 0; i < r->nmeta; i++) {
        free(r->meta[i].key);
        free(r->meta[i].value);
    }
    for (size_t i = 0; i < r->nprocs; i++) {
        free(r->procs[i].argv);
        free(r->procs[i].executable);
        free(r->procs[i].python_version);
    }
    for (size_t i = 0; i < r->nthreads; i++)
        free(r->threads[i].name);
    free(r->meta);
    free(r->procs);
    free(r->threads);
    free(r->order);
    free(r->depth);
}

/* The meta value for key, or NULL when absent or empty. Borrowed from r. */
const char *sumrun_meta(const struct sumrun *r, const char *key)
{
    for (size_t i = 0; i < r->nmeta; i++)
        if (!strcmp(r->meta[i].key, key))
            return r->meta[i].value && *r->meta[i].value ? r->meta[i].value : NULL;
    return NULL;
}

/* The root process: the first in tree order, or NULL when there is none. */
const struct sumrun_process *sumrun_root(const struct sumrun *r)
{
    return r->nprocs ? &r->procs[r->order[0]] : NULL;
}

int sumrun_duration(const struct sumrun *r, int64_t *ns)
{
    const struct sumrun_process *root = sumrun_root(r);
    if (util_parse_i64(sumrun_meta(r, "duration_ns"), ns) == 0)
        return 1;
    if (root && root->has_ended && root->has_started) {
        *ns = root->ended_ns - root->started_ns;
        return 1;
    }
    return 0;
}

/*
 * One "  label        text" line of the text form. The text holds strings
 * from the program (names, paths, argv), so it goes through fmt_put_text.
 */
void sumrun_line(FILE *out, const char *label, const char *fmt, ...)
{
    char stack[512], *text = stack;
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    /* Longer lines (a deep cwd) are formatted again in the heap; cut if that fails. */
    if (n >= (int)sizeof stack && (text = malloc((size_t)n + 1)) != NULL) {
        va_start(ap, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, ap);
        va_end(ap);
    } else if (!text) {
        text = stack;
    }
    fprintf(out, "  %-12s ", label);
    fmt_put_text(out, text);
    putc('\n', out);
    if (text != stack)
        free(text);
}

/*
 * Run sql with ?1 bound to a (when bind), stepping to its first row: 1 with
 * a row in *st (the caller finalizes it), 0 for none, or a negative error.
 */
int sumrun_first_row(sqlite3 *db, const char *sql, int bind, int64_t a, sqlite3_stmt **st)
{
    int rc, err = vdb_prepare(db, sql, st);
    if (err < 0)
        return err;
    if (bind)
        sqlite3_bind_int64(*st, 1, a);
    if ((rc = sqlite3_step(*st)) == SQLITE_ROW)
        return 1;
    sqlite3_finalize(*st);
    *st = NULL;
    return rc == SQLITE_DONE ? 0 : vdb_err(rc);
}

/* The pid of the process with id, or 0 when it is not known. */
int64_t sumrun_pid_of(const struct sumrun *r, int64_t process_id)
{
    size_t i = sumrun_find_process(r, process_id);
    return i == SIZE_MAX ? 0 : r->procs[i].pid;
}

/* filename relative to the run's directory when below it; points into filename. */
const char *sumrun_path(const struct sumrun *r, const char *filename)
{
    const char *cwd = sumrun_meta(r, "cwd");
    size_t n = cwd ? strlen(cwd) : 0;
    while (n > 0 && cwd[n - 1] == '/')
        n--;
    if (n && !strncmp(filename, cwd, n) && filename[n] == '/' && filename[n + 1])
        return filename + n + 1;
    return filename;
}

void sumrun_json_opt(FILE *out, int has, int64_t v)
{
    if (has)
        fprintf(out, "%" PRId64, v);
    else
        fputs("null", out);
}
