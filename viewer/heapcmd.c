/*
 * The shared command-side helpers of heapcmd.h.
 */
#include "heapcmd.h"
#include "cli.h"
#include "db.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int heapcmd_check_graph(sqlite3 *db, const char *path, int64_t id)
{
    int64_t one;
    int err = vdb_int(db, "SELECT 1 FROM snapshots WHERE id = ?1", &id, &one);
    if (err == 0) {
        cli_error("no snapshot %lld in '%s' (see 'pyscope snapshots')", (long long)id, path);
        return CLI_USAGE;
    }
    if (err < 0)
        return err;
    err = vdb_int(db, "SELECT 1 FROM heap_objects WHERE snapshot_id = ?1 LIMIT 1", &id, &one);
    if (err == 0) {
        cli_error("snapshot %lld in '%s' has no object graph (record one with 'pyscope profile "
                  "--heap'; peak snapshots never have one)",
                  (long long)id, path);
        return CLI_USAGE;
    }
    return err < 0 ? err : 0;
}

int heapcmd_pick(sqlite3 *db, const char *path, int64_t *id)
{
    int err;
    if (!*id && (err = vdb_int(db, "SELECT max(snapshot_id) FROM heap_objects", NULL, id)) < 0)
        return err;
    if (!*id) {
        cli_error("no object graph in '%s' (record one with 'pyscope profile --heap')", path);
        return CLI_USAGE;
    }
    return heapcmd_check_graph(db, path, *id);
}

int heapcmd_site_of(sqlite3 *db, int64_t stack_id, struct heapcmd_site *s)
{
    sqlite3_stmt *st;
    memset(s, 0, sizeof *s);
    int err = vdb_prepare(db,
                          "SELECT fn.filename, coalesce(fn.qualname, fn.name), f.line FROM stacks s"
                          " JOIN frames f ON f.id = s.frame_id"
                          " JOIN functions fn ON fn.id = f.function_id WHERE s.id = ?1",
                          &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, stack_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        s->line = sqlite3_column_int64(st, 2);
        if ((err = vdb_col_text(st, 0, &s->file)) >= 0)
            err = vdb_col_text(st, 1, &s->function);
    } else if (rc != SQLITE_DONE) {
        err = vdb_err(rc);
    }
    sqlite3_finalize(st);
    if (err < 0)
        heapcmd_site_release(s); /* nothing for the caller to free */
    return err;
}

void heapcmd_site_release(struct heapcmd_site *s)
{
    free(s->file);
    free(s->function);
    s->file = s->function = NULL;
}

int heapcmd_snap_of(sqlite3 *db, int64_t id, struct heapcmd_snap *s)
{
    sqlite3_stmt *st;
    memset(s, 0, sizeof *s);
    int err =
        vdb_prepare(db,
                    "SELECT s.id, p.pid, s.process_id, s.t_ns, s.label, s.trigger"
                    " FROM snapshots s JOIN processes p ON p.id = s.process_id WHERE s.id = ?1",
                    &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        s->id = sqlite3_column_int64(st, 0);
        s->pid = sqlite3_column_int64(st, 1);
        s->process_id = sqlite3_column_int64(st, 2);
        s->t_ns = sqlite3_column_int64(st, 3);
        if ((err = vdb_col_text(st, 4, &s->label)) >= 0)
            err = vdb_col_text(st, 5, &s->trigger);
    } else {
        err = rc == SQLITE_DONE ? PYSCOPE_ENOTFOUND : vdb_err(rc);
    }
    sqlite3_finalize(st);
    return err;
}

void heapcmd_snap_release(struct heapcmd_snap *s)
{
    free(s->label);
    free(s->trigger);
}
