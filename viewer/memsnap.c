/*
 * The rows of the snapshots table (memsnap.h), with their process's pid.
 */
#include "memsnap.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_SELECT                                                                            \
    "SELECT s.id, s.process_id, p.pid, s.label, s.t_ns, s.trigger, s.traced_bytes,"                \
    " s.traced_blocks, s.peak_bytes, s.rss_bytes"                                                  \
    " FROM snapshots s LEFT JOIN processes p ON p.id = s.process_id"

static int64_t col_size(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, col);
}

static int read_snapshot(sqlite3_stmt *st, struct memsnap *s)
{
    memset(s, 0, sizeof *s);
    s->id = sqlite3_column_int64(st, 0);
    s->process_id = sqlite3_column_int64(st, 1);
    s->pid = sqlite3_column_int64(st, 2);
    s->t_ns = sqlite3_column_int64(st, 4);
    s->traced_bytes = col_size(st, 6);
    s->traced_blocks = col_size(st, 7);
    s->peak_bytes = col_size(st, 8);
    s->rss_bytes = col_size(st, 9);
    int err = vdb_col_text(st, 3, &s->label);
    if (!err)
        err = vdb_col_text(st, 5, &s->trigger);
    if (!err && !s->trigger && !(s->trigger = strdup("?")))
        err = PYSCOPE_ENOMEM;
    if (err)
        memsnap_release(s);
    return err;
}

void memsnap_release(struct memsnap *s)
{
    if (!s)
        return;
    free(s->label);
    free(s->trigger);
    s->label = s->trigger = NULL;
}

void memsnap_list_free(struct memsnap *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        memsnap_release(&s[i]);
    free(s);
}

int memsnap_list(sqlite3 *db, const int64_t *pid, struct memsnap **out, size_t *n)
{
    struct memsnap *arr = NULL;
    size_t cap = 0, k = 0;
    sqlite3_stmt *st;
    int rc, err;

    *out = NULL;
    *n = 0;
    err = vdb_prepare(db,
                      pid ? SNAPSHOT_SELECT " WHERE p.pid = ?1 ORDER BY s.t_ns, s.id"
                          : SNAPSHOT_SELECT " ORDER BY s.t_ns, s.id",
                      &st);
    if (err < 0)
        return err;
    if (pid)
        sqlite3_bind_int64(st, 1, *pid);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&arr, &cap, k, sizeof *arr)) < 0 ||
            (err = read_snapshot(st, &arr[k])) < 0)
            break;
        k++;
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    if (err < 0) {
        memsnap_list_free(arr, k);
        return err;
    }
    *out = arr;
    *n = k;
    return 0;
}

int memsnap_get(sqlite3 *db, int64_t id, struct memsnap *out)
{
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    int err = vdb_prepare(db, SNAPSHOT_SELECT " WHERE s.id = ?1", &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        err = read_snapshot(st, out);
    else
        err = rc == SQLITE_DONE ? PYSCOPE_ENOTFOUND : vdb_err(rc);
    sqlite3_finalize(st);
    return err;
}

int memsnap_find(sqlite3 *db, const char *path, int64_t id, struct memsnap *out, char *msg,
                 size_t msglen)
{
    int64_t n;
    int err = memsnap_get(db, id, out);
    if (err != PYSCOPE_ENOTFOUND)
        return err;
    if ((err = vdb_count(db, "snapshots", &n)) < 0)
        return err;
    vdb_msg(msg, msglen, "no snapshot %lld in '%s'%s", (long long)id, path,
            n ? " (see 'pyscope snapshots')"
              : "; it has none (record them with 'pyscope profile --memory')");
    return PYSCOPE_ENOTFOUND;
}

static void json_size(FILE *out, int64_t v)
{
    if (v < 0)
        fputs("null", out);
    else
        fprintf(out, "%lld", (long long)v);
}

void memsnap_json(FILE *out, const struct memsnap *s)
{
    fprintf(out,
            "{\"id\": %lld, \"process_id\": %lld, \"pid\": %lld, \"label\": ", (long long)s->id,
            (long long)s->process_id, (long long)s->pid);
    fmt_json_str(out, s->label);
    fputs(", \"trigger\": ", out);
    fmt_json_str(out, s->trigger);
    fprintf(out, ", \"t_ns\": %lld, \"traced_bytes\": ", (long long)s->t_ns);
    json_size(out, s->traced_bytes);
    fputs(", \"traced_blocks\": ", out);
    json_size(out, s->traced_blocks);
    fputs(", \"peak_bytes\": ", out);
    json_size(out, s->peak_bytes);
    fputs(", \"rss_bytes\": ", out);
    json_size(out, s->rss_bytes);
    putc('}', out);
}
