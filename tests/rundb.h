/*
 * For the viewer's unit tests: a run database made by the recorder's own
 * store_create (so the schema is the real one), filled from SQL with known
 * answers.
 */
#ifndef PYSCOPE_TESTS_RUNDB_H
#define PYSCOPE_TESTS_RUNDB_H

#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A database for test name (in $TMPDIR, else /tmp; its path into path),
 * with sql run in it. 0, or -1 when it could not be made. */
static inline int rundb_make(char *path, size_t len, const char *name, const char *sql)
{
    const char *msg = NULL;
    snprintf(path, len, "%s/pyscope-test-%s-%d.db", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             name, (int)getpid());
    struct store *st = store_create(path, &msg);
    if (!st || store_close(st) != 0)
        return -1;
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

#endif
