/*
 * Tests for viewer/db.h and `pyscope summary`: fixture databases are built
 * from SQL text in a fresh temporary directory (no binary fixtures), then
 * vdb_open must accept the good one and refuse each bad one with its exact
 * one-line message, and the summary must say what the fixture holds.
 */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli.h"
#include "cmd.h"
#include "db.h"
#include "error.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The tables of docs/schema.md that the viewer reads, as the recorder made them at
 * schema version 1, before a samples row counted its ticks: the viewer reads
 * both versions. */
static const char schema_sql[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT);\n"
    "CREATE TABLE processes (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, ppid INTEGER,\n"
    "  parent_id INTEGER, argv TEXT, executable TEXT, python_version TEXT,\n"
    "  forked INTEGER NOT NULL DEFAULT 0, started_ns INTEGER NOT NULL, ended_ns INTEGER,\n"
    "  exit_code INTEGER, signal INTEGER);\n"
    "CREATE TABLE threads (id INTEGER PRIMARY KEY, process_id INTEGER NOT NULL,\n"
    "  os_tid INTEGER, ident INTEGER, name TEXT, is_main INTEGER NOT NULL DEFAULT 0,\n"
    "  started_ns INTEGER NOT NULL, ended_ns INTEGER);\n"
    "CREATE TABLE functions (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, filename TEXT,\n"
    "  name TEXT NOT NULL, qualname TEXT, firstlineno INTEGER);\n"
    "CREATE TABLE frames (id INTEGER PRIMARY KEY, function_id INTEGER NOT NULL, line INTEGER);\n"
    "CREATE TABLE stacks (id INTEGER PRIMARY KEY, parent_id INTEGER, frame_id INTEGER NOT NULL);\n"
    "CREATE TABLE samples (thread_id INTEGER NOT NULL, stack_id INTEGER, t_ns INTEGER NOT NULL,\n"
    "  cpu_ns INTEGER NOT NULL DEFAULT 0, state INTEGER NOT NULL,\n"
    "  PRIMARY KEY (thread_id, t_ns)) WITHOUT ROWID;\n"
    "CREATE TABLE calls (process_id INTEGER NOT NULL, thread_id INTEGER NOT NULL,\n"
    "  caller_id INTEGER NOT NULL, callee_id INTEGER NOT NULL, ncalls INTEGER NOT NULL,\n"
    "  pcalls INTEGER NOT NULL, tottime_ns INTEGER NOT NULL, cumtime_ns INTEGER NOT NULL);\n"
    "CREATE TABLE snapshots (id INTEGER PRIMARY KEY, process_id INTEGER NOT NULL, label TEXT,\n"
    "  t_ns INTEGER NOT NULL, trigger TEXT NOT NULL, traced_bytes INTEGER,\n"
    "  traced_blocks INTEGER, peak_bytes INTEGER, rss_bytes INTEGER);\n"
    "CREATE TABLE snapshot_traces (snapshot_id INTEGER NOT NULL, stack_id INTEGER NOT NULL,\n"
    "  size INTEGER NOT NULL, count INTEGER NOT NULL);\n"
    "CREATE TABLE heap_objects (snapshot_id INTEGER NOT NULL, obj INTEGER NOT NULL,\n"
    "  type TEXT NOT NULL, size INTEGER NOT NULL, refcnt INTEGER, stack_id INTEGER);\n"
    "CREATE TABLE heap_edges (snapshot_id INTEGER NOT NULL, src INTEGER NOT NULL,\n"
    "  dst INTEGER NOT NULL, label TEXT);\n"
    "CREATE TABLE gc_collections (process_id INTEGER NOT NULL, generation INTEGER NOT NULL,\n"
    "  t_ns INTEGER NOT NULL, duration_ns INTEGER NOT NULL, collected INTEGER NOT NULL,\n"
    "  uncollectable INTEGER NOT NULL, thread_id INTEGER, stack_id INTEGER);\n"
    "PRAGMA user_version = 1;\n";

/*
 * A run of three processes: the root killed by SIGKILL, a fork that exited
 * 0, and a multiprocessing child with a long command line that exited 3.
 * Five threads, one of them unnamed; two samples and one gc collection.
 */
static const char run_sql[] =
    "INSERT INTO meta VALUES ('pyscope_version', '0.1.0'), ('python_version', '3.11.2'),\n"
    "  ('python_executable', '/usr/bin/python3.11'), ('argv', 'app.py --port 8000'),\n"
    "  ('cwd', '/home/user/proj'), ('started_at', '2026-11-22T10:00:00+0100'),\n"
    "  ('start_wall_ns', '1795341600000000000'), ('ended_at', '2026-11-22T10:00:01+0100'),\n"
    "  ('duration_ns', '1230000000'), ('options', '--memory'), ('host', 'box'),\n"
    "  ('exit_status', 'signal 9'), ('protocol_errors', '2');\n"
    "INSERT INTO processes (id, pid, ppid, parent_id, argv, executable, python_version, forked,\n"
    "  started_ns, ended_ns, exit_code, signal) VALUES\n"
    "  (1, 1234, 1000, NULL, '/usr/bin/python3.11 app.py --port 8000', '/usr/bin/python3.11',\n"
    "   '3.11.2',\n"
    "   0, 0, 1230000000, NULL, 9),\n"
    "  (2, 1240, 1234, 1, 'python3.11 app.py --port 8000', '/usr/bin/python3.11', '3.11.2',\n"
    "   1, 100000000, 300000000, 0, NULL),\n"
    "  (3, 1241, 1234, 1, 'python3.11 -c ''from multiprocessing.spawn import spawn_main;"
    " spawn_main(tracker_fd=5, pipe_handle=7)'' --multiprocessing-fork',\n"
    "   '/usr/bin/python3.11', '3.11.2', 0, 200000000, 700000000, 3, NULL);\n"
    "INSERT INTO threads (id, process_id, os_tid, ident, name, is_main, started_ns, ended_ns)\n"
    "  VALUES (1, 1, 1234, 140001, 'MainThread', 1, 0, 1230000000),\n"
    "  (2, 1, 1235, 140002, 'worker-1', 0, 5000, 900000000),\n"
    "  (3, 1, 1236, 140003, 'worker-2', 0, 6000, NULL),\n"
    "  (4, 2, 1240, 140001, 'MainThread', 1, 100000000, 300000000),\n"
    "  (5, 3, 1241, 140009, NULL, 1, 200000000, 700000000);\n"
    "INSERT INTO samples VALUES (1, NULL, 1000, 900, 0), (1, NULL, 2000, 800, 0);\n"
    "INSERT INTO gc_collections VALUES (1, 0, 5000, 1000, 10, 0, NULL, NULL);\n";

static char tmpdir[256]; /* short, so tmpdir/name always fits PATH_MAX */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    chmod(path, 0700); /* a test may leave a directory read-only */
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/pyscope-test-viewer-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmpdir/name, in one of four static buffers used in turn: copy to keep it. */
static const char *tmp_path(const char *name)
{
    static char bufs[4][PATH_MAX];
    static int slot;
    char *b = bufs[slot++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", tmpdir, name);
    return b;
}

/* Create the database path from sql; returns the open connection when keep. */
static sqlite3 *make_db(const char *path, const char *sql, int keep)
{
    sqlite3 *db;
    char *err = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    /* Fixtures need no durability; fsyncs would make the test slow. */
    assert_int_equal(sqlite3_exec(db, "PRAGMA synchronous = OFF", NULL, NULL, NULL), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("fixture SQL failed: %s", err);
    if (keep)
        return db;
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return NULL;
}

static void make_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* vdb_open(path) must fail with err and exactly the message expect (%s is path). */
static void expect_refused(const char *path, int err, const char *expect)
{
    char msg[512], want[1024];
    sqlite3 *db = (sqlite3 *)&db; /* not NULL, to see it cleared */
    assert_int_equal(vdb_open(path, &db, msg, sizeof msg), err);
    assert_null(db);
    snprintf(want, sizeof want, expect, path);
    assert_string_equal(msg, want);
}

static void test_open_valid(void **state)
{
    const char *path = tmp_path("run.db");
    char msg[512] = "unchanged";
    sqlite3 *db = NULL;
    int64_t n;
    char *v;
    (void)state;

    make_db(path, schema_sql, 0);
    make_db(path, run_sql, 0);
    assert_int_equal(vdb_open(path, &db, msg, sizeof msg), 0);
    assert_non_null(db);
    assert_string_equal(msg, "");

    int version = -1;
    assert_int_equal(vdb_schema_version(db, &version), 0);
    assert_int_equal(version, 1);
    assert_int_equal(vdb_has_table(db, "threads"), 1);
    assert_int_equal(vdb_has_table(db, "nonesuch"), 0);
    assert_int_equal(vdb_count(db, "threads", &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(vdb_count(db, "nonesuch", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(vdb_meta(db, "host", &v), 0);
    assert_string_equal(v, "box");
    free(v);
    assert_int_equal(vdb_meta(db, "nonesuch", &v), 0);
    assert_null(v);

    sqlite3_stmt *st;
    assert_int_equal(vdb_prepare(db, "SELECT no_column FROM meta", &st), PYSCOPE_EDB);
    assert_null(st);

    /* Read-only: the viewer can never write by mistake. */
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM meta", NULL, NULL, NULL), SQLITE_OK);
    vdb_close(db);
    vdb_close(NULL);
}

static void test_open_missing(void **state)
{
    const char *path = tmp_path("missing.db");
    struct stat sb;
    (void)state;
    expect_refused(path, PYSCOPE_ENOTFOUND, "cannot open '%s': No such file or directory");
    assert_int_equal(stat(path, &sb), -1); /* and it was not created */
    expect_refused(tmp_path("no/such/dir.db"), PYSCOPE_ENOTFOUND,
                   "cannot open '%s': No such file or directory");
    /* A NULL message buffer is allowed. */
    sqlite3 *db;
    assert_int_equal(vdb_open(path, &db, NULL, 0), PYSCOPE_ENOTFOUND);
}

static void test_open_directory(void **state)
{
    (void)state;
    expect_refused(tmpdir, PYSCOPE_EIO, "cannot open '%s': Is a directory");
}

static void test_open_not_sqlite(void **state)
{
    const char *path = tmp_path("notes.txt");
    (void)state;
    make_file(path, "print('hello')\n");
    expect_refused(path, PYSCOPE_ENOTDB, "'%s' is not a pyscope database (not an SQLite file)");
    make_file(path, "SQLite"); /* shorter than the magic */
    expect_refused(path, PYSCOPE_ENOTDB, "'%s' is not a pyscope database (not an SQLite file)");
    make_file(path, "");
    expect_refused(path, PYSCOPE_ENOTDB, "'%s' is not a pyscope database (empty file)");
    /* The right magic with garbage after it: SQLite's own check. */
    path = tmp_path("fake.db");
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    memcpy(junk, "SQLite format 3", 16);
    junk[sizeof junk - 1] = '\0';
    make_file(path, junk);
    expect_refused(path, PYSCOPE_ENOTDB, "'%s' is not a pyscope database (not an SQLite file)");
}

static void test_open_other_sqlite(void **state)
{
    const char *path = tmp_path("other.db");
    (void)state;
    make_db(path, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);", 0);
    expect_refused(path, PYSCOPE_ENOTDB, "'%s' is not a pyscope database");

    /* One of the two tables is not enough. */
    path = tmp_path("half.db");
    make_db(path, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); PRAGMA user_version = 1;",
            0);
    expect_refused(path, PYSCOPE_ENOTDB, "'%s' is not a pyscope database");
}

static void test_open_newer_version(void **state)
{
    const char *path = tmp_path("future.db");
    (void)state;
    make_db(path, schema_sql, 0);
    make_db(path, "PRAGMA user_version = 7;", 0);
    expect_refused(path, PYSCOPE_EVERSION,
                   "'%s' has schema version 7; this pyscope reads versions 1 to 2");
    /* Even when the tables are gone: the version is checked first. */
    path = tmp_path("future2.db");
    make_db(path, "CREATE TABLE t (x); PRAGMA user_version = 3;", 0);
    expect_refused(path, PYSCOPE_EVERSION,
                   "'%s' has schema version 3; this pyscope reads versions 1 to 2");
}

/* A run still recording: WAL mode with the writer's connection open. */
static void test_open_live_wal(void **state)
{
    const char *path = tmp_path("live.db");
    char msg[512];
    sqlite3 *db = NULL;
    int64_t n = 0;
    (void)state;

    sqlite3 *writer = make_db(path, "PRAGMA journal_mode = WAL;", 1);
    assert_int_equal(sqlite3_exec(writer, schema_sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(writer, run_sql, NULL, NULL, NULL), SQLITE_OK);
    /* An open write transaction must not hide what was committed. */
    assert_int_equal(sqlite3_exec(writer,
                                  "BEGIN; INSERT INTO gc_collections VALUES (1, 1, 9, 9, 9, 9, NULL, NULL);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(vdb_open(path, &db, msg, sizeof msg), 0);
    assert_int_equal(vdb_count(db, "threads", &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(vdb_count(db, "gc_collections", &n), 0);
    assert_int_equal(n, 1);
    vdb_close(db);
    assert_int_equal(sqlite3_exec(writer, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(writer), SQLITE_OK);
}

/*
 * A WAL database in a directory we cannot write: no -shm can be made, so
 * the immutable fallback must open it. Root writes anywhere, so skip then.
 */
static void test_open_wal_readonly_dir(void **state)
{
    char dir[PATH_MAX], path[PATH_MAX + 8], msg[512];
    sqlite3 *db = NULL;
    int64_t n = 0;
    (void)state;

    if (geteuid() == 0)
        skip();
    snprintf(dir, sizeof dir, "%s", tmp_path("ro"));
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/run.db", dir);
    sqlite3 *writer = make_db(path, "PRAGMA journal_mode = WAL;", 1);
    assert_int_equal(sqlite3_exec(writer, schema_sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(writer, run_sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(writer), SQLITE_OK); /* checkpoints; stays in WAL mode */
    assert_int_equal(chmod(dir, 0500), 0);
    int rc = vdb_open(path, &db, msg, sizeof msg);
    chmod(dir, 0700);
    assert_int_equal(rc, 0);
    assert_int_equal(vdb_count(db, "processes", &n), 0);
    assert_int_equal(n, 3);
    vdb_close(db);
}

/* summary_print(path) into a string. */
static char *summary_text(const char *path, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    *rc = summary_print(path, out);
    fclose(out);
    return buf;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected '%s' in:\n%s", needle, haystack);
}

static void test_summary_text(void **state)
{
    const char *path = tmp_path("summary.db");
    int rc;
    (void)state;

    make_db(path, schema_sql, 0);
    make_db(path, run_sql, 0);
    char *s = summary_text(path, &rc);
    assert_int_equal(rc, 0);
    assert_contains(s, "pyscope 0.1.0 run of: python3.11 app.py --port 8000\n");
    assert_contains(s, "  interpreter  CPython 3.11.2  /usr/bin/python3.11\n");
    assert_contains(s, "  started      2026-11-22 10:00:00 on box   duration 1.23 s\n");
    assert_contains(s, "  ended        killed by signal 9 (SIGKILL)\n");
    assert_contains(s, "  options      --memory\n");
    assert_contains(s, "  warning      2 malformed records from the program were dropped\n");
    assert_contains(s, "  processes    3\n");
    /* The tree: children indented under the root, the fork shown as such. */
    assert_contains(s, "    1234  python3.11 app.py --port 8000");
    assert_contains(s, "      1240  (fork)");
    assert_contains(s, "      1241  python3.11 -c 'from multiprocessing.spawn impor...");
    assert_contains(s, "1.23 s  signal 9 (SIGKILL)\n");
    assert_contains(s, "200.0 ms  exit 0\n");
    assert_contains(s, "500.0 ms  exit 3\n");
    assert_contains(s, "  threads      5 in 3 processes\n");
    assert_contains(s, "    1234  MainThread, worker-1, worker-2\n");
    assert_contains(s, "    1240  MainThread\n");
    assert_contains(s, "    1241  (unnamed)\n");
    assert_contains(s, "  recorded     2 samples, 1 gc collection; no call records, snapshots or "
                       "heap objects\n");
    free(s);

    /* Terminal escapes in names from the program are neutralised. */
    make_db(path, "UPDATE threads SET name = 'evil' || char(27) || '[2J' WHERE id = 3;", 0);
    s = summary_text(path, &rc);
    assert_int_equal(rc, 0);
    assert_contains(s, "    1234  MainThread, worker-1, evil?[2J\n");
    assert_null(strchr(s, 27));
    free(s);

    /* A clean exit, one process, nothing recorded. */
    path = tmp_path("clean.db");
    make_db(path, schema_sql, 0);
    make_db(path,
            "INSERT INTO meta VALUES ('pyscope_version', '0.1.0'), ('argv', 'app.py'),"
            " ('exit_status', 'exit 0'), ('duration_ns', '4200000');"
            "INSERT INTO processes (id, pid, argv, started_ns, ended_ns, exit_code)"
            " VALUES (1, 77, 'python3.11 app.py', 0, 4200000, 0);"
            "INSERT INTO threads (id, process_id, name, is_main, started_ns)"
            " VALUES (1, 1, 'MainThread', 1, 0), (2, 1, NULL, 0, 10);",
            0);
    s = summary_text(path, &rc);
    assert_int_equal(rc, 0);
    assert_contains(s, "pyscope 0.1.0 run of: app.py\n");
    assert_contains(s, "  ended        exit status 0\n");
    assert_contains(s, "duration 4.2 ms\n");
    assert_contains(s, "  processes    1\n");
    assert_contains(s, "    77  python3.11 app.py  4.2 ms  exit 0\n");
    assert_contains(s, "  threads      2: MainThread, (unnamed)\n");
    assert_contains(s, "  recorded     no samples, call records, snapshots, heap objects or gc "
                       "collections\n");
    free(s);

    /* Refused databases: an error return, nothing on out. */
    s = summary_text(tmp_path("missing.db"), &rc);
    assert_int_equal(rc, PYSCOPE_ENOTFOUND);
    assert_string_equal(s, "");
    free(s);
}

/* Run cmd_summary with args, stdout and stderr captured into *out / *err. */
static int run_cmd(char **args, int n, char **out, char **err)
{
    char opath[PATH_MAX], epath[PATH_MAX];
    snprintf(opath, sizeof opath, "%s", tmp_path("stdout.txt"));
    snprintf(epath, sizeof epath, "%s", tmp_path("stderr.txt"));
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int fo = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved_out >= 0 && saved_err >= 0 && fo >= 0 && fe >= 0);
    dup2(fo, 1);
    dup2(fe, 2);
    close(fo);
    close(fe);
    int rc = cmd_summary(n, args);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);

    const char *paths[2] = {opath, epath};
    char **dst[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        assert_non_null(f);
        char *buf = calloc(1, 1 << 16);
        assert_non_null(buf);
        size_t got = fread(buf, 1, (1 << 16) - 1, f);
        buf[got] = '\0';
        fclose(f);
        *dst[i] = buf;
    }
    return rc;
}

static void test_cmd_summary(void **state)
{
    char path[PATH_MAX]; /* run_cmd reuses tmp_path's buffers */
    snprintf(path, sizeof path, "%s", tmp_path("cmd.db"));
    char *out, *err;
    (void)state;

    make_db(path, schema_sql, 0);
    make_db(path, run_sql, 0);
    /* Names that must be escaped wherever they land. */
    make_db(path,
            "UPDATE threads SET name = '</script><b>\"x\"' || char(10) WHERE id = 2;"
            "UPDATE meta SET value = 'a&b' WHERE key = 'host';",
            0);

    char *help[] = {"summary", "--help"};
    assert_int_equal(run_cmd(help, 2, &out, &err), CLI_OK);
    assert_string_equal(out, cmd_summary_usage);
    free(out);
    free(err);

    char *none[] = {"summary"};
    assert_int_equal(run_cmd(none, 1, &out, &err), CLI_USAGE);
    assert_string_equal(err, "usage: pyscope summary [--json] [--limit N] RUN.db\n");
    free(out);
    free(err);

    char *two[] = {"summary", (char *)path, (char *)path};
    assert_int_equal(run_cmd(two, 3, &out, &err), CLI_USAGE);
    assert_string_equal(err, "usage: pyscope summary [--json] [--limit N] RUN.db\n");
    free(out);
    free(err);

    char *bogus[] = {"summary", "--bogus", (char *)path};
    assert_int_equal(run_cmd(bogus, 3, &out, &err), CLI_USAGE);
    assert_string_equal(err, "pyscope: unknown option '--bogus'; see 'pyscope summary --help'\n");
    assert_string_equal(out, "");
    free(out);
    free(err);

    char *badlimit[] = {"summary", "--limit", "x", (char *)path};
    assert_int_equal(run_cmd(badlimit, 4, &out, &err), CLI_USAGE);
    assert_contains(err, "'--limit'");
    free(out);
    free(err);

    const char *missing = tmp_path("nope.db");
    char *bad[] = {"summary", (char *)missing};
    assert_int_equal(run_cmd(bad, 2, &out, &err), CLI_USAGE);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "pyscope: cannot open '%s': No such file or directory\n", missing);
    assert_string_equal(err, want);
    assert_string_equal(out, "");
    free(out);
    free(err);

    /* --limit 1: only the root listed, and a note of the rest. */
    char *limited[] = {"summary", "--limit=1", (char *)path};
    assert_int_equal(run_cmd(limited, 3, &out, &err), CLI_OK);
    assert_contains(out, "    ... and 2 more (--limit 0 lists all)\n");
    assert_contains(out, "    ... and the threads of 2 more processes\n");
    assert_null(strstr(out, "1240"));
    free(out);
    free(err);

    char *json[] = {"summary", "--json", "--", (char *)path};
    assert_int_equal(run_cmd(json, 4, &out, &err), CLI_OK);
    assert_string_equal(err, "");
    assert_contains(out, "\"schema_version\": 1");
    assert_contains(out, "\"duration_ns\": 1230000000");
    assert_contains(out, "\"host\": \"a\\u0026b\"");
    assert_contains(out, "\"exit_status\": \"signal 9\"");
    assert_contains(out, "\"pid\": 1234, \"parent_id\": null");
    assert_contains(out, "\"argv\": \"/usr/bin/python3.11 app.py --port 8000\"");
    assert_contains(out, "\"pid\": 1241, \"parent_id\": 1");
    assert_contains(out, "\"signal\": 9, \"signal_name\": \"SIGKILL\"");
    assert_contains(out, "\"exit_code\": 3, \"signal\": null, \"signal_name\": null");
    assert_contains(out, "\"name\": \"\\u003c/script\\u003e\\u003cb\\u003e\\\"x\\\"\\n\"");
    assert_contains(out, "\"name\": null");
    assert_contains(out, "\"counts\": {\"processes\": 3, \"threads\": 5, \"samples\": 2, "
                         "\"calls\": 0, \"snapshots\": 0, \"heap_objects\": 0, "
                         "\"gc_collections\": 1}");
    assert_null(strstr(out, "<"));
    assert_null(strstr(out, "&"));
    /* Balanced, and one object. */
    int depth = 0, in_str = 0;
    for (const char *p = out; *p; p++) {
        if (in_str) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_str = 0;
        } else if (*p == '"') {
            in_str = 1;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
            assert_true(depth >= 0);
        }
    }
    assert_int_equal(depth, 0);
    assert_int_equal(out[0], '{');
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_valid),        cmocka_unit_test(test_open_missing),
        cmocka_unit_test(test_open_directory),    cmocka_unit_test(test_open_not_sqlite),
        cmocka_unit_test(test_open_other_sqlite), cmocka_unit_test(test_open_newer_version),
        cmocka_unit_test(test_open_live_wal),     cmocka_unit_test(test_open_wal_readonly_dir),
        cmocka_unit_test(test_summary_text),      cmocka_unit_test(test_cmd_summary),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
