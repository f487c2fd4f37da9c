/*
 * Opening a run database for the viewer. The viewer must never create,
 * change or lock out a database: a mistyped path must not leave an empty
 * file behind, and `pyscope summary` on a run that is still recording must
 * neither block the recorder nor fail.
 *
 * So before SQLite sees the path we stat it and read its header ourselves,
 * which gives the precise message for the common mistakes (no such file, a
 * directory, some other file). Then SQLite opens it read-only through a URI
 * with mode=ro. A finished run is in rollback-journal mode and needs nothing
 * more. A live run is in WAL mode, and a read-only connection to a WAL
 * database needs the -shm file, which it may have to create; when that fails
 * (a directory we cannot write, a read-only mount) we reopen with
 * immutable=1, which reads the main file without locks or the WAL: it may
 * miss the newest uncheckpointed rows, which beats not opening at all.
 */
#include "db.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char sqlite_magic[16] = "SQLite format 3";

void vdb_msg(char *msg, size_t msglen, const char *fmt, ...)
{
    if (!msg || !msglen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

int vdb_err(int rc)
{
    return rc == SQLITE_NOMEM ? PYSCOPE_ENOMEM : PYSCOPE_EDB;
}

int vdb_col_text(sqlite3_stmt *st, int col, char **out)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    *out = NULL;
    if (!s)
        return sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM ? PYSCOPE_ENOMEM : 0;
    *out = strdup(s);
    return *out ? 0 : PYSCOPE_ENOMEM;
}

void vdb_close(sqlite3 *db)
{
    sqlite3_close(db);
}

int vdb_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, stmt, NULL);
    if (rc != SQLITE_OK) {
        *stmt = NULL;
        return vdb_err(rc);
    }
    return 0;
}

int vdb_int(sqlite3 *db, const char *sql, const int64_t *arg, int64_t *out)
{
    sqlite3_stmt *st;
    *out = 0;
    int err = vdb_prepare(db, sql, &st);
    if (err < 0)
        return err;
    if (arg)
        sqlite3_bind_int64(st, 1, *arg);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        err = sqlite3_column_type(st, 0) != SQLITE_NULL;
        *out = sqlite3_column_int64(st, 0);
    } else {
        err = rc == SQLITE_DONE ? 0 : vdb_err(rc);
    }
    sqlite3_finalize(st);
    return err;
}

int vdb_schema_version(sqlite3 *db, int *version)
{
    int64_t v = 0;
    int err = vdb_int(db, "PRAGMA user_version", NULL, &v);
    if (err >= 0)
        *version = (int)v;
    return err < 0 ? err : 0;
}

int vdb_has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    int err =
        vdb_prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", &st);
    if (err < 0)
        return err;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    err = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : vdb_err(rc);
    sqlite3_finalize(st);
    return err;
}

/* The value of SELECT what FROM table in *n; 0 when db has no such table. */
static int table_total(sqlite3 *db, const char *table, const char *what, int64_t *n)
{
    *n = 0;
    int err = vdb_has_table(db, table);
    if (err <= 0)
        return err;
    char *sql = sqlite3_mprintf("SELECT %s FROM \"%w\"", what, table);
    if (!sql)
        return PYSCOPE_ENOMEM;
    err = vdb_int(db, sql, NULL, n);
    sqlite3_free(sql);
    return err < 0 ? err : 0;
}

int vdb_count(sqlite3 *db, const char *table, int64_t *n)
{
    return table_total(db, table, "count(*)", n);
}

const char *vdb_sample_ticks(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int has =
        sqlite3_prepare_v2(db, "SELECT ticks FROM samples LIMIT 0", -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    return has ? "ticks" : "1";
}

int vdb_count_samples(sqlite3 *db, int64_t *n)
{
    return table_total(db, "samples", strcmp(vdb_sample_ticks(db), "1") ? "sum(ticks)" : "count(*)",
                       n);
}

int vdb_meta(sqlite3 *db, const char *key, char **value)
{
    sqlite3_stmt *st;
    *value = NULL;
    int err = vdb_prepare(db, "SELECT value FROM meta WHERE key = ?1", &st);
    if (err < 0)
        return err;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v && !(*value = strdup(v)))
            err = PYSCOPE_ENOMEM;
    } else if (rc != SQLITE_DONE) {
        err = vdb_err(rc);
    }
    sqlite3_finalize(st);
    return err;
}

/*
 * Read the start of path and say whether it is an SQLite file, so a text
 * file or an image gets "not an SQLite file" rather than SQLite's "file is
 * not a database".
 */
static int check_file(const char *path, char *msg, size_t msglen)
{
    struct stat sb;
    char head[sizeof sqlite_magic];

    if (stat(path, &sb) < 0) {
        vdb_msg(msg, msglen, "cannot open '%s': %s", path, strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? PYSCOPE_ENOTFOUND : PYSCOPE_EIO;
    }
    if (S_ISDIR(sb.st_mode)) {
        vdb_msg(msg, msglen, "cannot open '%s': %s", path, strerror(EISDIR));
        return PYSCOPE_EIO;
    }
    if (!S_ISREG(sb.st_mode)) {
        /* A FIFO would block SQLite's open; a device is never a run. */
        vdb_msg(msg, msglen, "'%s' is not a pyscope database (not a regular file)", path);
        return PYSCOPE_ENOTDB;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vdb_msg(msg, msglen, "cannot open '%s': %s", path, strerror(errno));
        return PYSCOPE_EIO;
    }
    ssize_t n = read(fd, head, sizeof head);
    int saved = errno;
    close(fd);
    if (n < 0) {
        vdb_msg(msg, msglen, "cannot read '%s': %s", path, strerror(saved));
        return PYSCOPE_EIO;
    }
    if (n == 0) {
        vdb_msg(msg, msglen, "'%s' is not a pyscope database (empty file)", path);
        return PYSCOPE_ENOTDB;
    }
    if ((size_t)n < sizeof head || memcmp(head, sqlite_magic, sizeof head)) {
        vdb_msg(msg, msglen, "'%s' is not a pyscope database (not an SQLite file)", path);
        return PYSCOPE_ENOTDB;
    }
    return 0;
}

/*
 * "file:PATH?query" with PATH percent-encoded: a '?', '#' or '%' in a file
 * name must not be read as URI syntax. An absolute path gets an empty
 * authority ("file:///x"), so "//host/x" is never taken for a host name.
 */
static char *make_uri(const char *path, const char *query)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path);
    size_t cap = 8 + 3 * n + 1 + strlen(query) + 1;
    char *uri = malloc(cap);
    if (!uri)
        return NULL;
    size_t j = (size_t)snprintf(uri, cap, "file:%s", path[0] == '/' ? "//" : "");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/._-~", *p)) {
            uri[j++] = (char)*p;
        } else {
            uri[j++] = '%';
            uri[j++] = hex[*p >> 4];
            uri[j++] = hex[*p & 15];
        }
    }
    snprintf(uri + j, cap - j, "?%s", query);
    return uri;
}

/* Open path read-only with the URI query; the SQLite result code, *db set even on error. */
static int open_ro(const char *path, const char *query, sqlite3 **db)
{
    *db = NULL;
    char *uri = make_uri(path, query);
    if (!uri)
        return SQLITE_NOMEM;
    /* One thread per connection: no need for SQLite's per-call locking,
     * which costs a tenth of a scan over millions of rows. */
    int rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                             NULL);
    free(uri);
    if (rc == SQLITE_OK)
        /* The recorder's transactions are short; wait them out, not forever. */
        sqlite3_busy_timeout(*db, 2000);
    return rc;
}

/*
 * Check that db is a pyscope database this build reads. Returns 0, a
 * PYSCOPE_E* code with msg set, or, through *rc, the SQLite code when a
 * query failed (so the caller can retry another way).
 */
static int check_schema(sqlite3 *db, const char *path, int *rc, char *msg, size_t msglen)
{
    int version = 0;
    int err = vdb_schema_version(db, &version);
    int has_meta = 0, has_processes = 0;

    if (!err)
        err = has_meta = vdb_has_table(db, "meta");
    if (err >= 0)
        err = has_processes = vdb_has_table(db, "processes");
    if (err < 0) {
        *rc = sqlite3_extended_errcode(db);
        if ((*rc & 0xff) == SQLITE_NOTADB) {
            vdb_msg(msg, msglen, "'%s' is not a pyscope database (not an SQLite file)", path);
            return PYSCOPE_ENOTDB;
        }
        vdb_msg(msg, msglen, "cannot read '%s': %s", path, sqlite3_errmsg(db));
        return err;
    }
    if (version > VDB_SCHEMA_VERSION) {
        vdb_msg(msg, msglen, "'%s' has schema version %d; this pyscope reads versions 1 to %d",
                path, version, VDB_SCHEMA_VERSION);
        return PYSCOPE_EVERSION;
    }
    /*
     * Version 0 with the tables is accepted: the recorder may not have
     * stamped the version yet on a run that has just started.
     */
    if (version < 0 || !has_meta || !has_processes) {
        vdb_msg(msg, msglen, "'%s' is not a pyscope database", path);
        return PYSCOPE_ENOTDB;
    }
    return 0;
}

/*
 * SQLite codes that mean "read-only WAL access is impossible here", not "bad
 * file". Not a hot rollback journal: immutable=1 would ignore it and read a
 * half-written transaction.
 */
static int wal_access_failed(int rc)
{
    if (rc == SQLITE_READONLY_ROLLBACK)
        return 0;
    return (rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY;
}

int vdb_open(const char *path, sqlite3 **out, char *msg, size_t msglen)
{
    static const char *const queries[] = {"mode=ro", "mode=ro&immutable=1"};
    sqlite3 *db = NULL;
    int err = 0;

    *out = NULL;
    vdb_msg(msg, msglen, "%s", "");
    if ((err = check_file(path, msg, msglen)) < 0)
        return err;
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        int rc = open_ro(path, queries[i], &db);
        if (rc != SQLITE_OK) {
            err = vdb_err(rc);
            vdb_msg(msg, msglen, "cannot open '%s': %s", path,
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        } else {
            rc = SQLITE_OK;
            err = check_schema(db, path, &rc, msg, msglen);
        }
        if (!err) {
            *out = db;
            return 0;
        }
        sqlite3_close(db);
        db = NULL;
        if (!wal_access_failed(rc))
            break;
    }
    return err;
}

int vdb_has_pid(sqlite3 *db, int64_t pid)
{
    int64_t one;
    return vdb_int(db, "SELECT 1 FROM processes WHERE pid = ?1 LIMIT 1", &pid, &one);
}
