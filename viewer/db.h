/*
 * The viewer's side of a run database: open it read-only, make sure it is a
 * pyscope database of a schema version this build reads, and a few query
 * helpers shared by the commands. Nothing here prints; messages come back
 * in the caller's buffer for the command to show.
 *
 * Its prefix is vdb_ (viewer database).
 */
#ifndef PYSCOPE_VIEWER_DB_H
#define PYSCOPE_VIEWER_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* The newest schema (PRAGMA user_version) this viewer reads. */
#define VDB_SCHEMA_VERSION 2

/*
 * Open the run database at path read-only, never creating or changing a
 * file, and check it: it exists, is an SQLite file, has the pyscope tables
 * and a schema version this build reads. Works on a finished run and on one
 * still being written (WAL). On success *out is a new connection the caller
 * closes with vdb_close. On failure *out is NULL, msg (msglen bytes, may be
 * NULL) holds one lowercase line naming the file, and the return value is:
 *   PYSCOPE_ENOTFOUND  no such file
 *   PYSCOPE_EIO        cannot read it (permissions, a directory, ...)
 *   PYSCOPE_ENOTDB     not an SQLite file, or not a pyscope database
 *   PYSCOPE_EVERSION   written by a newer pyscope
 *   PYSCOPE_EDB        SQLite failed otherwise; PYSCOPE_ENOMEM.
 */
int vdb_open(const char *path, sqlite3 **out, char *msg, size_t msglen);

/* What a failed SQLite call (result code rc) means here: PYSCOPE_ENOMEM or PYSCOPE_EDB. */
int vdb_err(int rc);

/* Format one message line into msg (msglen bytes; msg may be NULL). */
void vdb_msg(char *msg, size_t msglen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * A text column of the current row as a malloc'd copy in *out (NULL for SQL
 * NULL). 0 or PYSCOPE_ENOMEM.
 */
int vdb_col_text(sqlite3_stmt *st, int col, char **out);

/* Close a connection from vdb_open; NULL is fine. */
void vdb_close(sqlite3 *db);

/* The schema version of db (PRAGMA user_version) in *version. 0 or PYSCOPE_EDB. */
int vdb_schema_version(sqlite3 *db, int *version);

/*
 * Prepare sql on db into *stmt (finalize it with sqlite3_finalize). 0,
 * PYSCOPE_ENOMEM, or PYSCOPE_EDB with the reason in sqlite3_errmsg(db).
 */
int vdb_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt);

/* 1 when db has a table called name, 0 when not, PYSCOPE_EDB on error. */
int vdb_has_table(sqlite3 *db, const char *name);

/*
 * The first column of the first row sql gives, in *out, with *arg (when not
 * NULL) bound to ?1: 1, or 0 when there is no row or the value is NULL (*out
 * then 0), or PYSCOPE_ENOMEM / PYSCOPE_EDB.
 */
int vdb_int(sqlite3 *db, const char *sql, const int64_t *arg, int64_t *out);

/*
 * The number of rows of table in *n; a table the database does not have
 * counts 0, so older or partial databases still summarise. table is a name
 * from the code, not user input. 0, PYSCOPE_ENOMEM or PYSCOPE_EDB.
 */
int vdb_count(sqlite3 *db, const char *table, int64_t *n);

/*
 * The SQL expression of the sampling ticks one samples row stands for:
 * "ticks" from schema version 2 on, where a row is a run of ticks with one
 * stack and state; "1" in version 1, where a row was one sample.
 */
const char *vdb_sample_ticks(sqlite3 *db);

/* The samples of db (ticks, not rows) in *n; 0 without a samples table. 0,
 * PYSCOPE_ENOMEM or PYSCOPE_EDB. */
int vdb_count_samples(sqlite3 *db, int64_t *n);

/* 1 when db has a process with OS pid pid, 0 when not, PYSCOPE_EDB on error. */
int vdb_has_pid(sqlite3 *db, int64_t pid);

/*
 * The meta value for key in *value, a malloc'd copy the caller frees, or
 * NULL when the key is absent or its value NULL. 0, PYSCOPE_ENOMEM or
 * PYSCOPE_EDB.
 */
int vdb_meta(sqlite3 *db, const char *key, char **value);

#endif
