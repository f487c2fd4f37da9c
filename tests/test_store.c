/*
 * Tests of store.h: the schema a new database gets, the rows the process and
 * thread calls leave, batching, and the single-file state after close. Each
 * test works in its own directory under /tmp and reads the result back with a
 * plain SQLite connection, as the viewer would.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "error.h"
#include "store.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

struct fixture {
    char dir[64];
    char path[128];
};

static const char *const journal_suffix[] = {"-wal", "-shm", "-journal"};

static int setup(void **state)
{
    struct fixture *f = malloc(sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/pyscope-test-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/run.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char name[160];
    unlink(f->path);
    for (size_t i = 0; i < sizeof journal_suffix / sizeof journal_suffix[0]; i++) {
        snprintf(name, sizeof name, "%s%s", f->path, journal_suffix[i]);
        unlink(name);
    }
    int rc = rmdir(f->dir);
    free(f);
    return rc;
}

/* Claim the path the way the launcher does: an empty file made with O_EXCL. */
static void claim(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static int exists(const char *path, const char *suffix)
{
    char name[160];
    struct stat sb;
    snprintf(name, sizeof name, "%s%s", path, suffix);
    return stat(name, &sb) == 0;
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    return db;
}

/* Prepare sql with ?1 bound to the text a1 (when not NULL), step once. */
static sqlite3_stmt *query(sqlite3 *db, const char *sql, const char *a1)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (a1)
        sqlite3_bind_text(stmt, 1, a1, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_ROW)
        fail_msg("%s: no row", sql);
    return stmt;
}

static int64_t q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = query(db, sql, NULL);
    int64_t v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

static int q_null(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = query(db, sql, NULL);
    int v = sqlite3_column_type(stmt, 0) == SQLITE_NULL;
    sqlite3_finalize(stmt);
    return v;
}

/* The first column of the first row as text; "(null)" for NULL. */
static void q_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
    sqlite3_stmt *stmt = query(db, sql, NULL);
    const unsigned char *s = sqlite3_column_text(stmt, 0);
    snprintf(buf, size, "%s", s ? (const char *)s : "(null)");
    sqlite3_finalize(stmt);
}

static void assert_text(sqlite3 *db, const char *sql, const char *want)
{
    char buf[256];
    q_text(db, sql, buf, sizeof buf);
    assert_string_equal(buf, want);
}

struct table {
    const char *name;
    const char *columns[13];
    int exact; /* no columns beyond these */
};

static const struct table schema[] = {
    {"meta", {"key", "value"}, 0},
    {"processes",
     {"id", "pid", "parent_id", "argv", "started_ns", "ended_ns", "exit_code", "signal", "ppid",
      "executable", "python_version", "forked"},
     0},
    {"threads",
     {"id", "process_id", "os_tid", "name", "started_ns", "ended_ns", "ident", "is_main"},
     0},
    {"functions", {"id", "kind", "filename", "name", "qualname", "firstlineno"}, 0},
    {"function_sources", {"function_id", "filename"}, 0},
    {"frames", {"id", "function_id", "line"}, 0},
    {"stacks", {"id", "parent_id", "frame_id"}, 0},
    {"samples", {"thread_id", "stack_id", "t_ns", "cpu_ns", "state", "ticks"}, 1},
    {"calls",
     {"process_id", "thread_id", "caller_id", "callee_id", "ncalls", "pcalls", "tottime_ns",
      "cumtime_ns"},
     0},
    {"call_stats",
     {"process_id", "thread_id", "function_id", "ncalls", "pcalls", "tottime_ns", "cumtime_ns"},
     0},
    {"snapshots",
     {"id", "process_id", "label", "t_ns", "trigger", "traced_bytes", "traced_blocks", "peak_bytes",
      "rss_bytes"},
     0},
    {"snapshot_traces", {"snapshot_id", "stack_id", "size", "count"}, 0},
    {"heap_objects", {"snapshot_id", "obj", "type", "size", "refcnt", "stack_id"}, 0},
    {"heap_edges", {"snapshot_id", "src", "dst", "label"}, 0},
    {"gc_collections",
     {"process_id", "generation", "t_ns", "duration_ns", "collected", "uncollectable"},
     0},
};

static void check_table(sqlite3 *db, const struct table *t)
{
    sqlite3_stmt *stmt = NULL;
    int found[13] = {0}, ncols = 0, want = 0;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1)", -1, &stmt, NULL),
        SQLITE_OK);
    sqlite3_bind_text(stmt, 1, t->name, -1, SQLITE_STATIC);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(stmt, 0);
        ncols++;
        for (int i = 0; i < 13 && t->columns[i]; i++)
            if (strcmp(col, t->columns[i]) == 0)
                found[i]++;
    }
    sqlite3_finalize(stmt);
    for (int i = 0; i < 13 && t->columns[i]; i++, want++)
        if (found[i] != 1)
            fail_msg("table %s: no column %s", t->name, t->columns[i]);
    if (t->exact)
        assert_int_equal(ncols, want);
}

/* Whether some index of table starts with column (the primary key counts). */
static int has_index(sqlite3 *db, const char *table, const char *column)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pragma_index_list('%s') AS l, pragma_index_info(l.name) AS i"
             " WHERE i.seqno = 0 AND i.name = '%s'",
             table, column);
    return q_int(db, sql) > 0;
}

static void test_create_schema(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    claim(f->path);
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);

    /* The schema is committed at once: a second connection sees it all. */
    sqlite3 *db = open_db(f->path);
    assert_int_equal(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(STORE_SCHEMA_VERSION, 2);
    assert_text(db, "PRAGMA journal_mode", "wal");
    for (size_t i = 0; i < sizeof schema / sizeof schema[0]; i++)
        check_table(db, &schema[i]);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"),
                     sizeof schema / sizeof schema[0]);
    assert_true(has_index(db, "processes", "parent_id"));
    assert_true(has_index(db, "threads", "process_id"));
    assert_true(has_index(db, "samples", "thread_id"));
    assert_true(has_index(db, "stacks", "parent_id"));
    assert_true(has_index(db, "frames", "function_id"));
    assert_true(has_index(db, "calls", "thread_id"));
    assert_true(has_index(db, "call_stats", "thread_id"));
    assert_true(has_index(db, "snapshots", "process_id"));
    assert_true(has_index(db, "snapshot_traces", "snapshot_id"));
    assert_true(has_index(db, "heap_objects", "snapshot_id"));
    assert_true(has_index(db, "heap_edges", "snapshot_id"));
    assert_true(has_index(db, "gc_collections", "process_id"));
    sqlite3_close(db);

    assert_int_equal(store_close(st), 0);
}

static void test_create_missing_file(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    assert_int_equal(store_close(st), 0);
    sqlite3 *db = open_db(f->path);
    assert_int_equal(q_int(db, "PRAGMA user_version"), 2);
    sqlite3_close(db);
}

static void test_processes_threads(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    int64_t main_id, child_id, t_main, t_worker, t_renamed, t_child, t_left;
    claim(f->path);
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);

    assert_int_equal(store_meta_set(st, "pyscope_version", "0.0"), 0);
    assert_int_equal(store_meta_set(st, "pyscope_version", "0.1.0"), 0);
    assert_int_equal(store_meta_set(st, "exit_status", NULL), 0);

    struct store_process p = {
        .pid = 1000,
        .ppid = 999,
        .argv = "python3.11 main.py",
        .executable = "/usr/bin/python3.11",
        .python_version = "3.11.2",
        .started_ns = 10,
    };
    assert_int_equal(store_process_add(st, &p, &main_id), 0);
    p = (struct store_process){
        .pid = 1001, .ppid = 1000, .parent_id = main_id, .forked = 1, .started_ns = 500};
    assert_int_equal(store_process_add(st, &p, &child_id), 0);
    assert_int_not_equal(main_id, child_id);

    assert_int_equal(store_thread_add(st, main_id, 1000, 140001, "MainThread", 1, 10, &t_main), 0);
    assert_int_equal(store_thread_add(st, main_id, 1002, 140002, "worker", 0, 100, &t_worker), 0);
    assert_int_equal(store_thread_add(st, main_id, 1003, 140003, NULL, 0, 200, &t_renamed), 0);
    assert_int_equal(store_thread_add(st, child_id, 1001, 140001, "MainThread", 1, 500, &t_child),
                     0);
    assert_int_equal(store_thread_add(st, child_id, 1004, 140004, "pool", 0, 600, &t_left), 0);

    assert_int_equal(store_thread_end(st, t_worker, 300, NULL), 0);
    assert_int_equal(store_thread_end(st, t_renamed, 400, "renamed"), 0);
    assert_int_equal(store_thread_end(st, t_child, 650, NULL), 0);
    /* Only the child's threads that are still running, and none of main's. */
    assert_int_equal(store_threads_end_all(st, child_id, 900), 0);
    assert_int_equal(store_thread_end(st, t_main, 1000, NULL), 0);

    struct store_exit child_exit = {.ended_ns = 900, .signal = 9};
    struct store_exit main_exit = {.ended_ns = 1000, .has_code = 1, .exit_code = 0};
    assert_int_equal(store_process_end(st, child_id, &child_exit), 0);
    assert_int_equal(store_process_end(st, main_id, &main_exit), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(store_commit(st), 0); /* nothing open: nothing to do */
    assert_int_equal(store_close(st), 0);

    /* One self-contained file. */
    assert_false(exists(f->path, "-wal"));
    assert_false(exists(f->path, "-shm"));
    sqlite3 *db = open_db(f->path);
    assert_text(db, "PRAGMA journal_mode", "delete");
    assert_text(db, "PRAGMA integrity_check", "ok");
    assert_int_equal(q_int(db, "PRAGMA user_version"), 2);

    assert_int_equal(q_int(db, "SELECT count(*) FROM meta"), 2);
    assert_text(db, "SELECT value FROM meta WHERE key = 'pyscope_version'", "0.1.0");
    assert_true(q_null(db, "SELECT value FROM meta WHERE key = 'exit_status'"));

    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT pid || ' ' || ppid || ' ' || argv || ' ' || executable || ' ' ||"
             " python_version || ' ' || forked || ' ' || started_ns || ' ' || ended_ns || ' '"
             " || exit_code FROM processes WHERE id = %lld",
             (long long)main_id);
    assert_text(db, sql, "1000 999 python3.11 main.py /usr/bin/python3.11 3.11.2 0 10 1000 0");
    snprintf(sql, sizeof sql, "SELECT parent_id FROM processes WHERE id = %lld",
             (long long)main_id);
    assert_true(q_null(db, sql));
    snprintf(sql, sizeof sql, "SELECT signal FROM processes WHERE id = %lld", (long long)main_id);
    assert_true(q_null(db, sql));

    snprintf(sql, sizeof sql,
             "SELECT parent_id = %lld AND forked = 1 AND ended_ns = 900 AND signal = 9"
             " AND exit_code IS NULL AND argv IS NULL FROM processes WHERE id = %lld",
             (long long)main_id, (long long)child_id);
    assert_int_equal(q_int(db, sql), 1);

    /* id, name, ended_ns of every thread, in id order. */
    assert_text(db,
                "SELECT group_concat(r, ';') FROM (SELECT process_id || ',' || os_tid || ',' ||"
                " ident || ',' || coalesce(name, '-') || ',' || is_main || ',' || started_ns ||"
                " ',' || coalesce(ended_ns, '-') AS r FROM threads ORDER BY id)",
                "1,1000,140001,MainThread,1,10,1000;"
                "1,1002,140002,worker,0,100,300;"
                "1,1003,140003,renamed,0,200,400;"
                "2,1001,140001,MainThread,1,500,650;"
                "2,1004,140004,pool,0,600,900");
    sqlite3_close(db);
}

static void test_threads_end_all_leaves_others(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    int64_t a, b, ta, tb;
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    struct store_process p = {.pid = 1, .started_ns = 0};
    assert_int_equal(store_process_add(st, &p, &a), 0);
    p.pid = 2;
    assert_int_equal(store_process_add(st, &p, &b), 0);
    assert_int_equal(store_thread_add(st, a, 1, 1, NULL, 1, 0, &ta), 0);
    assert_int_equal(store_thread_add(st, b, 2, 1, NULL, 1, 0, &tb), 0);
    assert_int_equal(store_threads_end_all(st, a, 50), 0);
    assert_int_equal(store_threads_end_all(st, a, 70), 0); /* already ended: kept */
    assert_int_equal(store_close(st), 0);

    sqlite3 *db = open_db(f->path);
    assert_int_equal(q_int(db, "SELECT ended_ns FROM threads WHERE id = 1"), 50);
    assert_true(q_null(db, "SELECT ended_ns FROM threads WHERE id = 2"));
    assert_true(q_null(db, "SELECT name FROM threads WHERE id = 2"));
    /* Unknown ppid and parent are NULL, not 0. */
    assert_int_equal(q_int(db, "SELECT count(*) FROM processes"
                               " WHERE ppid IS NULL AND parent_id IS NULL AND forked = 0"),
                     2);
    sqlite3_close(db);
}

static void test_batches(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    int64_t id;
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    sqlite3 *db = open_db(f->path);

    struct store_process p = {.pid = 1, .started_ns = 0};
    assert_int_equal(store_process_add(st, &p, &id), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM processes"), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM processes"), 1);
    /* The next write opens the next batch. */
    assert_int_equal(store_meta_set(st, "host", "box"), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM meta"), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM meta"), 1);
    sqlite3_close(db);

    /* store_close commits what is still open. */
    assert_int_equal(store_meta_set(st, "cwd", "/"), 0);
    assert_int_equal(store_close(st), 0);
    db = open_db(f->path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM meta"), 2);
    sqlite3_close(db);
}

/* Samples of one stack and state in a row are one row that counts them. */
static void test_sample_runs(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    sqlite3 *db = open_db(f->path);

    for (int t = 10; t <= 30; t += 10) /* thread 1 idle at stack 7 */
        assert_int_equal(store_sample_add(st, 1, 7, t, 0, 2), 0);
    assert_int_equal(store_sample_add(st, 2, 0, 15, 50, 0), 0); /* thread 2, no stack */
    assert_int_equal(store_commit(st), 0);
    assert_text(db,
                "SELECT group_concat(thread_id || '@' || t_ns || 'x' || ticks, ' ') FROM samples",
                "1@10x3 2@15x1");
    /* The run goes on: its row is updated in place at the next commit. */
    assert_int_equal(store_sample_add(st, 1, 7, 40, 0, 2), 0);
    assert_int_equal(store_sample_add(st, 2, 0, 25, 60, 0), 0);
    assert_int_equal(store_sample_add(st, 1, 7, 50, 300, 0), 0); /* running now */
    assert_int_equal(store_sample_add(st, 1, 7, 60, 200, 0), 0);
    assert_int_equal(store_sample_add(st, 1, 7, 70, 0, 0), 0);  /* running, no CPU seen */
    assert_int_equal(store_sample_add(st, 1, 8, 80, 0, 0), 0);  /* another stack */
    assert_int_equal(store_sample_add(st, 1, 7, 55, 10, 3), 0); /* late: a row of its own */
    assert_int_equal(store_sample_add(st, 1, 8, 90, 0, 0), 0);
    assert_int_equal(store_sample_add(st, 1, 8, 90, 10, 3), 0); /* a tick seen twice: dropped */
    assert_int_equal(store_sample_add(st, 1, 8, 80, 10, 3), 0); /* the run's first again */
    assert_int_equal(store_commit(st), 0);
    assert_text(db,
                "SELECT group_concat(x, ' ') FROM (SELECT thread_id || '@' || t_ns || ':' ||"
                " coalesce(stack_id, '-') || ':' || state || ':' || cpu_ns || 'x' || ticks x"
                " FROM samples ORDER BY thread_id, t_ns)",
                "1@10:7:2:0x4 1@50:7:0:500x2 1@55:7:3:10x1 1@70:7:0:0x1 1@80:8:0:0x2"
                " 2@15:-:0:110x2");
    sqlite3_close(db);
    assert_int_equal(store_close(st), 0);
}

/* Whatever the order of samples and commits, each (thread, stack, state)
 * has as many ticks and as much CPU time as the samples it was given. */
static void test_sample_runs_against_reference(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    enum { THREADS = 4, STACKS = 3, STATES = 3, N = 20000 };
    static int64_t ticks[THREADS][STACKS][STATES], cpu[THREADS][STACKS][STATES];
    memset(ticks, 0, sizeof ticks);
    memset(cpu, 0, sizeof cpu);
    uint64_t x = 88172645463325252ull;
    /* Ticks at even times; a late sample (one in twenty) at an odd time
     * below the thread's latest, never the same twice; one in ten adds a
     * few ticks at once. */
    int64_t t[THREADS] = {0}, late[THREADS] = {0};
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int th = (int)(x % THREADS), k = (x >> 8) % 10 < 8 ? 0 : (int)((x >> 16) % STACKS);
        int sstate = (x >> 24) % 10 < 7 ? 2 : (int)((x >> 32) % STATES);
        int64_t c = (x >> 40) % 3 ? (int64_t)(x >> 44) % 1000 : 0;
        unsigned what = (unsigned)((x >> 52) % 20);
        struct store_samples one = {k + 1, 0, 0, c, sstate, 1};
        if (what == 0 && t[th] - 1 > late[th]) {
            one.t_ns = one.last_ns = late[th] = t[th] - 1;
        } else {
            one.ticks = what < 2 ? 1 + (int64_t)((x >> 57) % 5) : 1;
            one.t_ns = t[th] + 2 * (1 + (int64_t)((x >> 50) % 3));
            one.last_ns = one.t_ns + 2 * (one.ticks - 1);
            t[th] = one.last_ns;
        }
        assert_int_equal(store_samples_add(st, th + 1, &one), 0);
        ticks[th][k][sstate] += one.ticks;
        cpu[th][k][sstate] += c;
        if ((x >> 56) % 50 == 0)
            assert_int_equal(store_commit(st), 0);
    }
    assert_int_equal(store_close(st), 0);
    sqlite3 *db = open_db(f->path);
    int64_t rows = q_int(db, "SELECT count(*) FROM samples");
    assert_true(rows < N);
    for (int th = 0; th < THREADS; th++)
        for (int k = 0; k < STACKS; k++)
            for (int s = 0; s < STATES; s++) {
                char sql[256];
                snprintf(sql, sizeof sql,
                         "SELECT coalesce(sum(ticks), 0) || ' ' || coalesce(sum(cpu_ns), 0)"
                         " FROM samples WHERE thread_id = %d AND stack_id = %d AND state = %d",
                         th + 1, k + 1, s);
                char want[64];
                snprintf(want, sizeof want, "%lld %lld", (long long)ticks[th][k][s],
                         (long long)cpu[th][k][s]);
                assert_text(db, sql, want);
            }
    sqlite3_close(db);
}

/* A thread-per-request program: runs of threads that have gone quiet for
 * 10 s of sample time leave the store's table, their rows kept. */
static void test_sample_runs_of_ended_threads_go(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    const int64_t ms = 1000000;
    for (int th = 2; th <= 501; th++) /* 500 short-lived threads, 3 ticks each */
        for (int k = 0; k < 3; k++)
            assert_int_equal(store_sample_add(st, th, 7, th * ms + k * ms, 10, 0), 0);
    assert_int_equal(store_runs_held(st), 500);
    for (int64_t t = 0; t < 20000; t += 100) { /* thread 1 alone, 20 s, 200 commits */
        assert_int_equal(store_sample_add(st, 1, 7, 600 * ms + t * ms, 0, 2), 0);
        assert_int_equal(store_commit(st), 0);
    }
    assert_int_equal(store_runs_held(st), 1);
    /* A thread let go that comes back starts a new row. */
    assert_int_equal(store_sample_add(st, 2, 7, 21000 * ms, 10, 0), 0);
    assert_int_equal(store_runs_held(st), 2);
    assert_int_equal(store_close(st), 0);
    sqlite3 *db = open_db(f->path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM samples"), 500 + 1 + 1);
    assert_int_equal(q_int(db, "SELECT sum(ticks) FROM samples"), 1500 + 200 + 1);
    assert_int_equal(q_int(db, "SELECT sum(ticks) FROM samples WHERE thread_id = 2"), 4);
    sqlite3_close(db);
}

/* Call statistics arrive as increments: the same pair adds up, a new pair is a new row. */
static void test_calls_add(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);

    struct store_calls c = {.process_id = 1, .thread_id = 2, .caller_id = 0, .callee_id = 5,
                            .ncalls = 3, .pcalls = 2, .tottime_ns = 100, .cumtime_ns = 250};
    assert_int_equal(store_calls_add(st, &c), 0);
    assert_int_equal(store_calls_add(st, &c), 0);
    c.caller_id = 4; /* another caller */
    assert_int_equal(store_calls_add(st, &c), 0);
    c.thread_id = 3; /* another thread */
    assert_int_equal(store_calls_add(st, &c), 0);
    c.caller_id = -1; /* the callee's totals */
    c.thread_id = 2;
    assert_int_equal(store_calls_add(st, &c), 0);
    c.ncalls = 1;
    c.pcalls = 1;
    assert_int_equal(store_calls_add(st, &c), 0);
    assert_int_equal(store_close(st), 0);

    sqlite3 *db = open_db(f->path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM calls"), 3);
    assert_int_equal(q_int(db, "SELECT ncalls FROM calls WHERE thread_id = 2 AND caller_id = 0"),
                     6);
    assert_int_equal(q_int(db, "SELECT pcalls FROM calls WHERE thread_id = 2 AND caller_id = 0"),
                     4);
    assert_int_equal(
        q_int(db, "SELECT cumtime_ns FROM calls WHERE thread_id = 2 AND caller_id = 0"), 500);
    assert_int_equal(q_int(db, "SELECT ncalls FROM calls WHERE thread_id = 3"), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM call_stats"), 1);
    assert_int_equal(q_int(db, "SELECT ncalls * 1000 + pcalls FROM call_stats"
                               " WHERE thread_id = 2 AND function_id = 5"),
                     4003);
    assert_int_equal(q_int(db, "SELECT tottime_ns FROM call_stats"), 200);
    sqlite3_close(db);
}

/* A name is TEXT when it is UTF-8 and the same bytes as a BLOB when it is
 * not, so nothing that reads TEXT as UTF-8 meets a stray byte. */
static void test_names_not_utf8(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    int64_t a, b, c, t;
    assert_int_equal(
        store_function_add(st, "python", "/p/bad\xff.py", "\xed\xa0\x80", "q\xff", 3, &a), 0);
    assert_int_equal(store_function_add(st, "python", "/p/bad\xfe.py", "caf\xc3\xa9", "q", 3, &b),
                     0);
    assert_int_equal(store_function_add(st, "native", "/lib/x\x80.so", "f", "f", 0, &c), 0);
    assert_int_equal(store_function_source(st, c, "src\xff.c"), 0);
    assert_int_equal(store_thread_add(st, 1, 7, 7, "w\xff", 0, 0, &t), 0);
    assert_int_equal(store_meta_set(st, "argv", "'bad\xff.py'"), 0);
    struct store_snapshot snap = {.process_id = 1, .label = "after \xff", .trigger = "api"};
    int64_t sid;
    assert_int_equal(store_snapshot_add(st, &snap, &sid), 0);
    assert_int_equal(store_heap_object_add(st, sid, 1, "m\xff.T", 16, 1, 0), 0);
    assert_int_equal(store_heap_edge_add(st, sid, 1, 1, ".x\xff", 3), 0);
    assert_int_equal(store_close(st), 0);

    sqlite3 *db = open_db(f->path);
    char buf[64];
    q_text(db,
           "SELECT typeof(filename) || typeof(name) || typeof(qualname) FROM functions"
           " WHERE id = 1",
           buf, sizeof buf);
    assert_string_equal(buf, "blobblobblob");
    q_text(db,
           "SELECT typeof(filename) || typeof(name) || typeof(qualname) FROM functions"
           " WHERE id = 2",
           buf, sizeof buf);
    assert_string_equal(buf, "blobtexttext");
    assert_int_equal(q_int(db, "SELECT filename = CAST(x'2f702f626164ff2e7079' AS BLOB)"
                               " AND name = x'eda080' FROM functions WHERE id = 1"),
                     1);
    assert_int_equal(q_int(db, "SELECT name = 'caf\xc3\xa9' FROM functions WHERE id = 2"), 1);
    const char *blobs[] = {
        "SELECT typeof(filename) = 'blob' FROM functions WHERE kind = 'native'",
        "SELECT typeof(filename) = 'blob' AND filename = x'737263ff2e63' FROM function_sources",
        "SELECT typeof(name) = 'blob' AND name = x'77ff' FROM threads",
        "SELECT typeof(value) = 'blob' FROM meta WHERE key = 'argv'",
        "SELECT typeof(label) = 'blob' FROM snapshots",
        "SELECT typeof(type) = 'blob' FROM heap_objects",
        "SELECT typeof(label) = 'blob' AND label = x'2e78ff' FROM heap_edges",
    };
    for (size_t i = 0; i < sizeof blobs / sizeof blobs[0]; i++)
        if (q_int(db, blobs[i]) != 1)
            fail_msg("%s: not so", blobs[i]);
    sqlite3_close(db);
}

/* A live reader keeps the file in WAL mode: close says so (busy, not
 * lost), the data is kept. */
static void test_close_with_reader(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    assert_int_equal(store_meta_set(st, "host", "box"), 0);
    sqlite3 *db = open_db(f->path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM meta"), 0);
    assert_int_equal(store_close(st), PYSCOPE_EBUSY);
    assert_int_equal(q_int(db, "SELECT count(*) FROM meta"), 1);
    sqlite3_close(db);
    db = open_db(f->path);
    assert_text(db, "PRAGMA integrity_check", "ok");
    assert_text(db, "SELECT value FROM meta WHERE key = 'host'", "box");
    sqlite3_close(db);
}

static void test_end_unknown_id(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    struct store_exit e = {.ended_ns = 1};
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    assert_int_equal(store_process_end(st, 42, &e), PYSCOPE_ENOTFOUND);
    assert_int_equal(store_thread_end(st, 42, 1, "x"), PYSCOPE_ENOTFOUND);
    assert_non_null(store_errmsg(st));
    assert_int_equal(store_threads_end_all(st, 42, 1), 0);
    assert_int_equal(store_close(st), 0);
}

static void test_refuses_nonempty(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    static const char data[] = "not yours";
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(data, fp);
    fclose(fp);

    assert_null(store_create(f->path, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "not empty"));

    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_size, sizeof data - 1);
    for (size_t i = 0; i < sizeof journal_suffix / sizeof journal_suffix[0]; i++)
        assert_false(exists(f->path, journal_suffix[i]));
}

static void test_refuses_stale_wal(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    claim(f->path);
    claim(wal);
    assert_null(store_create(f->path, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "-wal"));
}

static void test_refuses_directory(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    assert_null(store_create(f->dir, &err));
    assert_non_null(err);
    assert_null(store_create("", &err));
    assert_non_null(err);
}

/* Put text in name, a file of its own. */
static void write_file(const char *name, const char *text)
{
    FILE *fp = fopen(name, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void assert_file(const char *name, const char *text)
{
    char buf[256] = "";
    FILE *fp = fopen(name, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    assert_string_equal(buf, text);
}

/*
 * A write that fails for want of room may take the open batch with it, and
 * with it the rows that later ones point to: nothing written after it
 * reaches the file, even once there is room again, so the file holds exactly
 * the batches committed before.
 */
static void test_failed_write_ends_the_recording(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    char wal[160], name[1024];
    claim(f->path);
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    int64_t fn, frame, stack;
    assert_int_equal(store_function_add(st, "python", "a.py", "before", NULL, 1, &fn), 0);
    assert_int_equal(store_frame_add(st, fn, 1, &frame), 0);
    assert_int_equal(store_commit(st), 0);

    /* No file may grow from here on: writes fail as on a full disk. */
    struct rlimit old, lim;
    struct stat sb;
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)sb.st_size;
    void (*xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    int failed = 0;
    for (int i = 0; i < 20000 && !failed; i++) {
        failed = store_function_add(st, "python", "b.py", name, NULL, i + 1, &fn) < 0 ||
                 store_frame_add(st, fn, 1, &frame) < 0 ||
                 store_stack_add(st, 0, frame, &stack) < 0 ||
                 (i % 50 == 49 && store_commit(st) < 0);
    }
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, xfsz);
    assert_true(failed);

    /* Room again: still nothing is written. */
    store_function_add(st, "python", "c.py", "after", NULL, 1, &fn);
    assert_int_equal(store_commit(st), PYSCOPE_EDB);
    assert_int_equal(store_close(st), PYSCOPE_EDB);

    sqlite3 *db = open_db(f->path);
    assert_text(db, "PRAGMA integrity_check", "ok");
    assert_int_equal(q_int(db, "SELECT count(*) FROM functions WHERE name = 'before'"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM functions WHERE name = 'after'"), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM frames"
                               " WHERE function_id NOT IN (SELECT id FROM functions)"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM stacks"
                               " WHERE frame_id NOT IN (SELECT id FROM frames)"),
                     0);
    sqlite3_close(db);
}

/*
 * The database's name no longer leads to it: another run's files took its
 * place. The store says so at the next commit, writes nothing more, and
 * leaves the names to their new owner.
 */
static void test_replaced_file_ends_the_recording(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    char name[160];
    claim(f->path);
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    assert_int_equal(store_meta_set(st, "host", "box"), 0);
    assert_int_equal(store_commit(st), 0);
    unlink(f->path);
    for (size_t i = 0; i < sizeof journal_suffix / sizeof journal_suffix[0]; i++) {
        snprintf(name, sizeof name, "%s%s", f->path, journal_suffix[i]);
        unlink(name);
    }
    write_file(f->path, "another run's database");
    snprintf(name, sizeof name, "%s-wal", f->path);
    write_file(name, "another run's journal");
    assert_int_equal(store_meta_set(st, "cwd", "/"), 0);
    assert_int_equal(store_commit(st), PYSCOPE_EDB);
    assert_int_equal(store_meta_set(st, "argv", "x"), PYSCOPE_EDB);
    assert_int_equal(store_close(st), PYSCOPE_EDB);
    assert_file(f->path, "another run's database");
    assert_file(name, "another run's journal");
    assert_false(exists(f->path, "-shm"));
}

/* Moved away during the run: the file keeps what was committed, whole, and
 * no journal is left under the old name. */
static void test_moved_file_keeps_its_commits(void **state)
{
    struct fixture *f = *state;
    const char *err = NULL;
    char moved[160];
    claim(f->path);
    struct store *st = store_create(f->path, &err);
    assert_non_null(st);
    assert_int_equal(store_meta_set(st, "host", "box"), 0);
    assert_int_equal(store_commit(st), 0);
    snprintf(moved, sizeof moved, "%s/moved.db", f->dir);
    assert_int_equal(rename(f->path, moved), 0);
    assert_int_equal(store_meta_set(st, "cwd", "/"), 0);
    assert_int_equal(store_close(st), PYSCOPE_EDB);
    for (size_t i = 0; i < sizeof journal_suffix / sizeof journal_suffix[0]; i++)
        assert_false(exists(f->path, journal_suffix[i]));
    sqlite3 *db = open_db(moved);
    assert_text(db, "PRAGMA integrity_check", "ok");
    assert_text(db, "SELECT value FROM meta WHERE key = 'host'", "box");
    assert_int_equal(q_int(db, "SELECT count(*) FROM meta WHERE key = 'cwd'"), 0);
    sqlite3_close(db);
    unlink(moved);
    for (size_t i = 0; i < sizeof journal_suffix / sizeof journal_suffix[0]; i++) {
        char name[192];
        snprintf(name, sizeof name, "%s%s", moved, journal_suffix[i]); /* the reader's */
        unlink(name);
    }
}

static void test_close_null(void **state)
{
    (void)state;
    assert_int_equal(store_close(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_runs_against_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_runs_of_ended_threads_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_calls_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_not_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_processes_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_end_all_leaves_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_unknown_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_nonempty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_stale_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_ends_the_recording, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_file_ends_the_recording, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_file_keeps_its_commits, setup, teardown),
        cmocka_unit_test(test_close_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
