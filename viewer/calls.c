/*
 * Loading the call profiler's tables (calls.h). The selection of threads
 * is the one samples.c makes for samples, said in SQL: a thread by its id
 * or its name, the threads of a process by its pid.
 */
#include "calls.h"
#include "db.h"
#include "error.h"
#include "pyname.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SELECTED                                                                                   \
    " WHERE (?1 IS NULL OR thread_id IN (SELECT id FROM threads WHERE id = ?2 OR name = ?1))"     \
    " AND (?3 IS NULL OR process_id IN (SELECT id FROM processes WHERE pid = ?3))"

static void bind_filter(sqlite3_stmt *st, const struct smp_filter *f)
{
    if (f && f->thread) {
        int64_t id;
        /* A name that is not UTF-8 is a BLOB in the database (pyname.h). */
        size_t len = strlen(f->thread);
        if (pyname_is_utf8(f->thread, len))
            sqlite3_bind_text(st, 1, f->thread, (int)len, SQLITE_STATIC);
        else
            sqlite3_bind_blob(st, 1, f->thread, (int)len, SQLITE_STATIC);
        if (util_parse_i64(f->thread, &id) == 0)
            sqlite3_bind_int64(st, 2, id);
    }
    if (f && f->has_pid)
        sqlite3_bind_int64(st, 3, f->pid);
}

static void read_stat(sqlite3_stmt *st, int col, struct cls_stat *s)
{
    s->ncalls = sqlite3_column_int64(st, col);
    s->pcalls = sqlite3_column_int64(st, col + 1);
    s->tottime_ns = sqlite3_column_int64(st, col + 2);
    s->cumtime_ns = sqlite3_column_int64(st, col + 3);
}

/* One row of a query: into p, from the row's columns. */
typedef int (*row_fn)(struct cls_profile *p, sqlite3_stmt *st, size_t *cap);

static int add_function(struct cls_profile *p, sqlite3_stmt *st, size_t *cap)
{
    int err = util_grow((void **)&p->fns, cap, p->nfns, sizeof *p->fns);
    if (err < 0)
        return err;
    struct cls_function *fn = &p->fns[p->nfns++];
    fn->id = sqlite3_column_int64(st, 0);
    read_stat(st, 1, &fn->s);
    p->calls += fn->s.ncalls;
    p->tottime_ns += fn->s.tottime_ns;
    return 0;
}

static int add_pair(struct cls_profile *p, sqlite3_stmt *st, size_t *cap)
{
    int err = util_grow((void **)&p->pairs, cap, p->npairs, sizeof *p->pairs);
    if (err < 0)
        return err;
    struct cls_pair *e = &p->pairs[p->npairs++];
    e->caller_id = sqlite3_column_int64(st, 0);
    e->callee_id = sqlite3_column_int64(st, 1);
    read_stat(st, 2, &e->s);
    return 0;
}

/* Run sql over the threads f selects, passing each row to add. */
static int load_rows(sqlite3 *db, const struct smp_filter *f, const char *sql, row_fn add,
                     struct cls_profile *p)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc = SQLITE_DONE, err = vdb_prepare(db, sql, &st);
    if (err < 0)
        return err;
    bind_filter(st, f);
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW)
        err = add(p, st, &cap);
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    return err;
}

static int count_threads(sqlite3 *db, const struct smp_filter *f, struct cls_profile *p)
{
    sqlite3_stmt *st;
    int err = vdb_prepare(db, "SELECT count(DISTINCT thread_id) FROM call_stats" SELECTED, &st);
    if (err < 0)
        return err;
    bind_filter(st, f);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        p->nthreads = sqlite3_column_int64(st, 0);
    else
        err = vdb_err(rc);
    sqlite3_finalize(st);
    return err;
}

int cls_load(sqlite3 *db, const struct smp_filter *f, int with_pairs, struct cls_profile *out)
{
    memset(out, 0, sizeof *out);
    if (!vdb_has_table(db, "call_stats") || !vdb_has_table(db, "calls"))
        return 0;
    int err = load_rows(db, f,
                        "SELECT function_id, sum(ncalls), sum(pcalls), sum(tottime_ns),"
                        " sum(cumtime_ns) FROM call_stats" SELECTED
                        " GROUP BY function_id ORDER BY function_id",
                        add_function, out);
    if (!err && with_pairs)
        err = load_rows(db, f,
                        "SELECT caller_id, callee_id, sum(ncalls), sum(pcalls), sum(tottime_ns),"
                        " sum(cumtime_ns) FROM calls" SELECTED
                        " GROUP BY caller_id, callee_id ORDER BY caller_id, callee_id",
                        add_pair, out);
    if (!err)
        err = count_threads(db, f, out);
    if (err < 0)
        cls_release(out);
    return err;
}

void cls_release(struct cls_profile *p)
{
    free(p->fns);
    free(p->pairs);
    memset(p, 0, sizeof *p);
}

char *cls_ncalls_text(const struct cls_stat *s, char *buf, size_t len)
{
    if (s->pcalls != s->ncalls)
        snprintf(buf, len, "%lld/%lld", (long long)s->ncalls, (long long)s->pcalls);
    else
        snprintf(buf, len, "%lld", (long long)s->ncalls);
    return buf;
}
