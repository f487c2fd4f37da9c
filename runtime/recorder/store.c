/*
 * The recorder's SQLite store (store.h): it creates a run's database with the
 * whole schema of docs/schema.md, owns the connection and the prepared
 * statements, and writes rows in batched transactions. A batch opens on the
 * first write after a commit and stays open until store_commit, so the
 * recorder pays for one fsync per batch rather than one per row. While the run
 * goes on the file is in WAL mode, so a viewer may read it live; store_close
 * folds the WAL back and leaves a single self-contained file.
 *
 * A write that fails for want of space or by an I/O error may take the whole
 * open batch with it, and the ids already handed out for its rows with it:
 * from then on the store is lost (store_lost) and writes nothing more, so
 * the file holds exactly what was committed before. So it is too when the
 * file's name no longer leads to it (removed, or replaced by another run's
 * database): the journal files beside it are then left to whoever holds
 * their names now.
 */
#include "store.h"
#include "error.h"
#include "pyname.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

/*
 * Every table of the schema, created at once so a database has the same shape
 * whichever features recorded into it. Keep docs/schema.md in step. The
 * REFERENCES clauses document the links; foreign keys are not enforced.
 */
static const char store_schema[] =
    "CREATE TABLE meta (\n"
    "  key TEXT PRIMARY KEY NOT NULL,\n"
    "  value TEXT\n"
    ");\n"
    "CREATE TABLE processes (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  pid INTEGER NOT NULL,\n"
    "  ppid INTEGER,\n"
    "  parent_id INTEGER REFERENCES processes(id),\n"
    "  argv TEXT,\n"
    "  executable TEXT,\n"
    "  python_version TEXT,\n"
    "  forked INTEGER NOT NULL DEFAULT 0,\n"
    "  started_ns INTEGER NOT NULL,\n"
    "  ended_ns INTEGER,\n"
    "  exit_code INTEGER,\n"
    "  signal INTEGER\n"
    ");\n"
    "CREATE INDEX processes_parent ON processes(parent_id);\n"
    "CREATE TABLE threads (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  process_id INTEGER NOT NULL REFERENCES processes(id),\n"
    "  os_tid INTEGER,\n"
    "  ident INTEGER,\n"
    "  name TEXT,\n"
    "  is_main INTEGER NOT NULL DEFAULT 0,\n"
    "  started_ns INTEGER NOT NULL,\n"
    "  ended_ns INTEGER\n"
    ");\n"
    "CREATE INDEX threads_process ON threads(process_id);\n"
    "CREATE TABLE functions (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  kind TEXT NOT NULL CHECK (kind IN ('python', 'builtin', 'native')),\n"
    "  filename TEXT,\n"
    "  name TEXT NOT NULL,\n"
    "  qualname TEXT,\n"
    "  firstlineno INTEGER\n"
    ");\n"
    "CREATE TABLE function_sources (\n"
    "  function_id INTEGER PRIMARY KEY REFERENCES functions(id),\n"
    "  filename TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE frames (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  function_id INTEGER NOT NULL REFERENCES functions(id),\n"
    "  line INTEGER\n"
    ");\n"
    "CREATE INDEX frames_function ON frames(function_id);\n"
    "CREATE TABLE stacks (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  parent_id INTEGER REFERENCES stacks(id),\n"
    "  frame_id INTEGER NOT NULL REFERENCES frames(id)\n"
    ");\n"
    "CREATE INDEX stacks_parent ON stacks(parent_id, frame_id);\n"
    /*
     * The biggest table by far: no rowid and no secondary index. The primary
     * key keeps each thread's samples together in time order, which is the
     * viewer's way in, for no space beyond the row itself. A row stands for
     * a run of ticks with one stack and state (see struct sample_run).
     */
    "CREATE TABLE samples (\n"
    "  thread_id INTEGER NOT NULL REFERENCES threads(id),\n"
    "  stack_id INTEGER REFERENCES stacks(id),\n"
    "  t_ns INTEGER NOT NULL,\n"
    "  cpu_ns INTEGER NOT NULL DEFAULT 0,\n"
    "  state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 4),\n"
    "  ticks INTEGER NOT NULL DEFAULT 1 CHECK (ticks >= 1),\n"
    "  PRIMARY KEY (thread_id, t_ns)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE calls (\n"
    "  process_id INTEGER NOT NULL REFERENCES processes(id),\n"
    "  thread_id INTEGER NOT NULL REFERENCES threads(id),\n"
    "  caller_id INTEGER NOT NULL,\n"
    "  callee_id INTEGER NOT NULL REFERENCES functions(id),\n"
    "  ncalls INTEGER NOT NULL,\n"
    "  pcalls INTEGER NOT NULL,\n"
    "  tottime_ns INTEGER NOT NULL,\n"
    "  cumtime_ns INTEGER NOT NULL\n"
    ");\n"
    "CREATE UNIQUE INDEX calls_pair ON calls(thread_id, callee_id, caller_id);\n"
    "CREATE TABLE call_stats (\n"
    "  process_id INTEGER NOT NULL REFERENCES processes(id),\n"
    "  thread_id INTEGER NOT NULL REFERENCES threads(id),\n"
    "  function_id INTEGER NOT NULL REFERENCES functions(id),\n"
    "  ncalls INTEGER NOT NULL,\n"
    "  pcalls INTEGER NOT NULL,\n"
    "  tottime_ns INTEGER NOT NULL,\n"
    "  cumtime_ns INTEGER NOT NULL\n"
    ");\n"
    "CREATE UNIQUE INDEX call_stats_function ON call_stats(thread_id, function_id);\n"
    "CREATE TABLE snapshots (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  process_id INTEGER NOT NULL REFERENCES processes(id),\n"
    "  label TEXT,\n"
    "  t_ns INTEGER NOT NULL,\n"
    "  trigger TEXT NOT NULL\n"
    "    CHECK (trigger IN ('api', 'signal', 'interval', 'peak', 'exit')),\n"
    "  traced_bytes INTEGER,\n"
    "  traced_blocks INTEGER,\n"
    "  peak_bytes INTEGER,\n"
    "  rss_bytes INTEGER,\n"
    "  pyscope_bytes INTEGER\n"
    ");\n"
    "CREATE INDEX snapshots_process ON snapshots(process_id, t_ns);\n"
    "CREATE TABLE snapshot_traces (\n"
    "  snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),\n"
    "  stack_id INTEGER NOT NULL REFERENCES stacks(id),\n"
    "  size INTEGER NOT NULL,\n"
    "  count INTEGER NOT NULL\n"
    ");\n"
    "CREATE UNIQUE INDEX snapshot_traces_snapshot ON snapshot_traces(snapshot_id, stack_id);\n"
    "CREATE TABLE heap_objects (\n"
    "  snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),\n"
    "  obj INTEGER NOT NULL,\n"
    "  type TEXT NOT NULL,\n"
    "  size INTEGER NOT NULL,\n"
    "  refcnt INTEGER,\n"
    "  stack_id INTEGER REFERENCES stacks(id)\n"
    ");\n"
    "CREATE INDEX heap_objects_snapshot ON heap_objects(snapshot_id);\n"
    "CREATE TABLE heap_edges (\n"
    "  snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),\n"
    "  src INTEGER NOT NULL,\n"
    "  dst INTEGER NOT NULL,\n"
    "  label TEXT\n"
    ");\n"
    "CREATE INDEX heap_edges_snapshot ON heap_edges(snapshot_id);\n"
    "CREATE TABLE gc_collections (\n"
    "  process_id INTEGER NOT NULL REFERENCES processes(id),\n"
    "  generation INTEGER NOT NULL,\n"
    "  t_ns INTEGER NOT NULL,\n"
    "  duration_ns INTEGER NOT NULL,\n"
    "  collected INTEGER NOT NULL,\n"
    "  uncollectable INTEGER NOT NULL,\n"
    "  thread_id INTEGER REFERENCES threads(id),\n"
    "  stack_id INTEGER REFERENCES stacks(id)\n"
    ");\n"
    "CREATE INDEX gc_collections_process ON gc_collections(process_id, t_ns);\n";

enum store_stmt {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_META_SET,
    STMT_PROCESS_ADD,
    STMT_PROCESS_END,
    STMT_THREAD_ADD,
    STMT_THREAD_END,
    STMT_THREADS_END_ALL,
    STMT_FUNCTION_ADD,
    STMT_FUNCTION_SOURCE,
    STMT_FRAME_ADD,
    STMT_STACK_ADD,
    STMT_SAMPLE_ADD,
    STMT_SAMPLE_SET,
    STMT_CALLS_ADD,
    STMT_CALL_STATS_ADD,
    STMT_SNAPSHOT_ADD,
    STMT_SNAPSHOT_TRACE_ADD,
    STMT_GC_ADD,
    STMT_HEAP_OBJECT_ADD,
    STMT_HEAP_EDGE_ADD,
    STMT_COUNT
};

static const char *const store_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN",
    [STMT_COMMIT] = "COMMIT",
    [STMT_META_SET] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
    [STMT_PROCESS_ADD] = "INSERT INTO processes (pid, ppid, parent_id, argv, executable,"
                         " python_version, forked, started_ns)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_PROCESS_END] = "UPDATE processes SET ended_ns = ?2, exit_code = ?3, signal = ?4"
                         " WHERE id = ?1",
    [STMT_THREAD_ADD] = "INSERT INTO threads (process_id, os_tid, ident, name, is_main,"
                        " started_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_THREAD_END] = "UPDATE threads SET ended_ns = ?2, name = coalesce(?3, name)"
                        " WHERE id = ?1",
    [STMT_THREADS_END_ALL] = "UPDATE threads SET ended_ns = ?2"
                             " WHERE process_id = ?1 AND ended_ns IS NULL",
    [STMT_FUNCTION_ADD] = "INSERT INTO functions (kind, filename, name, qualname, firstlineno)"
                          " VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_FUNCTION_SOURCE] = "INSERT OR IGNORE INTO function_sources (function_id, filename)"
                             " VALUES (?1, ?2)",
    [STMT_FRAME_ADD] = "INSERT INTO frames (function_id, line) VALUES (?1, ?2)",
    [STMT_STACK_ADD] = "INSERT INTO stacks (parent_id, frame_id) VALUES (?1, ?2)",
    [STMT_SAMPLE_ADD] = "INSERT OR IGNORE INTO samples (thread_id, stack_id, t_ns, cpu_ns, state,"
                        " ticks) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_SAMPLE_SET] =
        "UPDATE samples SET cpu_ns = ?3, ticks = ?4 WHERE thread_id = ?1 AND t_ns = ?2",
    /* Call statistics arrive as increments: add them up. */
    [STMT_CALLS_ADD] = "INSERT INTO calls (process_id, thread_id, caller_id, callee_id, ncalls,"
                       " pcalls, tottime_ns, cumtime_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                       " ON CONFLICT (thread_id, callee_id, caller_id) DO UPDATE SET"
                       " ncalls = ncalls + excluded.ncalls, pcalls = pcalls + excluded.pcalls,"
                       " tottime_ns = tottime_ns + excluded.tottime_ns,"
                       " cumtime_ns = cumtime_ns + excluded.cumtime_ns",
    [STMT_CALL_STATS_ADD] = "INSERT INTO call_stats (process_id, thread_id, function_id, ncalls,"
                            " pcalls, tottime_ns, cumtime_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                            " ON CONFLICT (thread_id, function_id) DO UPDATE SET"
                            " ncalls = ncalls + excluded.ncalls,"
                            " pcalls = pcalls + excluded.pcalls,"
                            " tottime_ns = tottime_ns + excluded.tottime_ns,"
                            " cumtime_ns = cumtime_ns + excluded.cumtime_ns",
    [STMT_SNAPSHOT_ADD] = "INSERT INTO snapshots (process_id, label, t_ns, trigger, traced_bytes,"
                          " traced_blocks, peak_bytes, rss_bytes, pyscope_bytes)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* Tracebacks that differ only below line granularity are one stack. */
    [STMT_SNAPSHOT_TRACE_ADD] = "INSERT INTO snapshot_traces (snapshot_id, stack_id, size, count)"
                                " VALUES (?1, ?2, ?3, ?4)"
                                " ON CONFLICT (snapshot_id, stack_id) DO UPDATE SET"
                                " size = size + excluded.size, count = count + excluded.count",
    [STMT_HEAP_OBJECT_ADD] = "INSERT INTO heap_objects (snapshot_id, obj, type, size, refcnt,"
                             " stack_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_HEAP_EDGE_ADD] = "INSERT INTO heap_edges (snapshot_id, src, dst, label)"
                           " VALUES (?1, ?2, ?3, ?4)",
    [STMT_GC_ADD] = "INSERT INTO gc_collections (process_id, generation, t_ns, duration_ns,"
                    " collected, uncollectable, thread_id, stack_id)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};

/* The journal files SQLite keeps beside the database in WAL mode. */
static const char *const store_journal_suffix[] = {"-wal", "-shm"};
#define STORE_NJOURNALS 2

/*
 * A thread's samples since its stack or state last changed, which one row
 * holds: an idle thread, or one in a loop on one line, costs a row per change,
 * not per tick. The row is written when the run ends and at every commit
 * (updated in place once in the file), so a commit holds every sample
 * received before it, as one row per sample did. The row's key is the run's
 * first tick; a run takes only ticks later than its last. A sample that
 * comes with an earlier time is a row of its own: the ticks a signal
 * handler records late under --native are timed a sampling interval apart
 * from the tick it was signalled for, and the sampler's own ticks are
 * jittered. Ticks with and without CPU time are not mixed, so the CPU view
 * counts exactly the ticks that had some.
 *
 * The runs are a hash table by thread id that keeps only the threads seen
 * lately: a run untouched for RUN_FORGET_NS (a live thread, even an idle
 * one, is sampled every 100 ms at least) leaves it once written, so a
 * program that starts a thread per request does not grow it for good.
 */
struct sample_run {
    int64_t thread_id; /* 0: an empty slot */
    int64_t stack_id;  /* 0: none */
    int64_t t_ns;      /* its first tick: the row's key */
    int64_t last_ns;   /* its latest tick */
    int64_t cpu_ns;
    int64_t ticks;
    int state;
    int written; /* the row is in the batch or the file: update it */
    int dirty;   /* it has ticks the row does not have yet */
    int listed;  /* in the store's dirty list */
};

#define RUN_FORGET_NS 10000000000LL /* 10 s */
#define RUN_SWEEP_COMMITS 64        /* commits between two looks for runs to forget */

struct store {
    sqlite3 *db;
    struct sample_run *runs; /* open addressing by thread id; runs_mask + 1 slots */
    size_t runs_mask, runs_used;
    int64_t runs_latest_ns; /* the latest tick any run has */
    unsigned commits;       /* since the last look for runs to forget */
    int64_t *dirty;         /* thread ids whose run has unwritten ticks */
    size_t ndirty, capdirty;
    sqlite3_stmt *stmt[STMT_COUNT];
    int in_batch;
    int lost;          /* nothing more reaches the file: see store_lost */
    char errmsg[256];  /* copied at failure time: later calls may reset SQLite's */
    char lostmsg[320]; /* why the store is lost */
    char journal[STORE_NJOURNALS][4096 + 8]; /* the journal files' names */
    dev_t journal_dev[STORE_NJOURNALS];      /* and the files SQLite made at them */
    ino_t journal_ino[STORE_NJOURNALS];
};

/* store_create's message when there is no store to hold it. */
static char create_errmsg[512];

static int store_fail(struct store *st)
{
    snprintf(st->errmsg, sizeof st->errmsg, "%s", sqlite3_errmsg(st->db));
    return PYSCOPE_EDB;
}

/* Nothing more is written: keep the first reason. */
static void store_lose(struct store *st, const char *why)
{
    if (st->lost)
        return;
    st->lost = 1;
    snprintf(st->lostmsg, sizeof st->lostmsg, "%s", why);
}

/*
 * Whether a failed statement cost more than its own row. SQLite may roll the
 * whole transaction back on a full disk or an I/O error; a row refused for
 * its content (a constraint) costs only itself, unless the transaction went
 * with it all the same.
 */
static int store_costs_batch(struct store *st, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return st->in_batch && sqlite3_get_autocommit(st->db);
    default:
        return 1;
    }
}

/* Run a statement that returns no rows we need; reset it for its next use. */
static int store_step(struct store *st, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    int err = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        err = store_fail(st);
        if (store_costs_batch(st, rc)) {
            char why[sizeof st->errmsg + 64];
            snprintf(why, sizeof why, "%s (it holds the run up to its last commit)", st->errmsg);
            store_lose(st, why);
        }
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return err;
}

/* Whether journal i's name still leads to the file SQLite made there (or
 * that cannot be told: it was not seen). */
static int store_journal_is_ours(const struct store *st, int i)
{
    struct stat sb;
    if (!st->journal_ino[i])
        return 1;
    return stat(st->journal[i], &sb) == 0 && sb.st_dev == st->journal_dev[i] &&
           sb.st_ino == st->journal_ino[i];
}

/* Why the files' names no longer lead to this database, or NULL. */
static const char *store_moved(struct store *st)
{
    int moved = 0;
    if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved)
        return "it was removed or replaced during the run";
    for (int i = 0; i < STORE_NJOURNALS; i++)
        if (!store_journal_is_ours(st, i))
            return i == 0 ? "its -wal file was removed or replaced during the run"
                          : "its -shm file was removed or replaced during the run";
    return NULL;
}

/* Run a PRAGMA that answers with one text row and check the answer. */
static int store_pragma(struct store *st, const char *sql, const char *want)
{
    sqlite3_stmt *stmt = NULL;
    int err = PYSCOPE_EDB, rc;
    if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        store_fail(st);
        goto out;
    }
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_fail(st);
        goto out;
    }
    if (want) {
        const char *got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
        if (!got || strcmp(got, want) != 0) {
            snprintf(st->errmsg, sizeof st->errmsg, "'%s' answered '%s', not '%s'", sql,
                     got ? got : "", want);
            goto out;
        }
    }
    err = 0;
out:
    sqlite3_finalize(stmt);
    return err;
}

static int store_begin(struct store *st)
{
    if (st->lost)
        return PYSCOPE_EDB;
    if (st->in_batch)
        return 0;
    int err = store_step(st, st->stmt[STMT_BEGIN]);
    if (err == 0)
        st->in_batch = 1;
    return err;
}

/* An UPDATE of one row by id: PYSCOPE_ENOTFOUND when there was no such row. */
static int store_update_one(struct store *st, sqlite3_stmt *stmt)
{
    int err = store_step(st, stmt);
    if (err == 0 && sqlite3_changes(st->db) == 0) {
        snprintf(st->errmsg, sizeof st->errmsg, "no row with that id");
        err = PYSCOPE_ENOTFOUND;
    }
    return err;
}

/* Ids and pids use 0 for "unknown"; the database says NULL. */
static void bind_id_or_null(sqlite3_stmt *stmt, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(stmt, i, v);
    else
        sqlite3_bind_null(stmt, i);
}

/*
 * A name or other text from the program: TEXT when it is UTF-8, else the
 * same bytes as a BLOB (a file name that is not UTF-8, a lone surrogate:
 * pyname.h), so that nothing reading TEXT as UTF-8 meets bytes that are not.
 */
static void bind_name(sqlite3_stmt *stmt, int i, const char *s, size_t len,
                      sqlite3_destructor_type d)
{
    if (pyname_is_utf8(s, len))
        sqlite3_bind_text(stmt, i, s, (int)len, d);
    else
        sqlite3_bind_blob(stmt, i, s, (int)len, d);
}

static void bind_text_or_null(sqlite3_stmt *stmt, int i, const char *s)
{
    if (s)
        bind_name(stmt, i, s, strlen(s), SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(stmt, i);
}

/*
 * The launcher claims the path with O_EXCL, so anything in it, or a journal
 * beside it, is someone else's: an old WAL would even be replayed into the new
 * database. 0, or -1 with the reason in why.
 */
static int check_fresh(const char *path, char *why, size_t size)
{
    static const char *const suffix[] = {"", "-wal", "-journal"};
    char name[4096];
    struct stat sb;
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        int n = snprintf(name, sizeof name, "%s%s", path, suffix[i]);
        if (n < 0 || (size_t)n >= sizeof name) {
            snprintf(why, size, "path too long");
            return -1;
        }
        if (stat(name, &sb) < 0) {
            if (errno == ENOENT)
                continue;
            snprintf(why, size, "cannot stat %s%s: %s", i ? "its file " : "it", suffix[i],
                     strerror(errno));
            return -1;
        }
        if (i > 0)
            snprintf(why, size, "a %s file exists beside it, left by an earlier run", suffix[i]);
        else if (!S_ISREG(sb.st_mode))
            snprintf(why, size, "not a regular file");
        else if (sb.st_size > 0)
            snprintf(why, size, "file exists and is not empty");
        else
            continue;
        return -1;
    }
    return 0;
}

/* Finalize, close and free whatever st holds; 0 or PYSCOPE_EDB. */
static int store_free(struct store *st)
{
    int err = 0;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    if (sqlite3_close(st->db) != SQLITE_OK)
        err = PYSCOPE_EDB;
    free(st->runs);
    free(st->dirty);
    free(st);
    return err;
}

/* Create every table and set user_version, in one transaction: all or none. */
static int store_create_schema(struct store *st)
{
    char version[64];
    char *msg = NULL;
    int err = PYSCOPE_EDB;
    snprintf(version, sizeof version, "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(st->db, store_schema, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(st->db, version, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(st->errmsg, sizeof st->errmsg, "%s", msg ? msg : sqlite3_errmsg(st->db));
        goto out;
    }
    err = 0;
out:
    sqlite3_free(msg);
    return err;
}

struct store *store_create(const char *path, const char **err)
{
    struct store *st = NULL;
    char why[256] = "out of memory";
    int rc;
    if (!path || !*path) {
        *err = "cannot create database: no path given";
        return NULL;
    }
    if (check_fresh(path, why, sizeof why) < 0)
        goto out;
    st = malloc(sizeof *st);
    if (!st)
        goto out;
    memset(st, 0, sizeof *st);
    /* One thread, one connection: SQLite's per-call locking is pure cost. */
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        /* A failed open may still hand back a handle, with the reason in it. */
        snprintf(st->errmsg, sizeof st->errmsg, "%s",
                 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_extended_result_codes(st->db, 1);
    /* synchronous=OFF: what must survive is a crash of the program or of
     * pyscope, and a committed batch is in the kernel's hands either way; only
     * a crash of the machine could lose it, and fsyncs would cost every run
     * milliseconds at start and end (it goes first: the switch to WAL is
     * itself a write, synced unless told otherwise). */
    if (store_pragma(st, "PRAGMA synchronous=OFF", NULL) < 0 ||
        store_pragma(st, "PRAGMA journal_mode=WAL", "wal") < 0 || store_create_schema(st) < 0)
        goto out;
    for (int i = 0; i < STMT_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK) {
            store_fail(st);
            goto out;
        }
    }
    /* The schema's commit made the journal files: remember which they are. */
    for (int i = 0; i < STORE_NJOURNALS; i++) {
        struct stat sb;
        snprintf(st->journal[i], sizeof st->journal[i], "%s%s", path, store_journal_suffix[i]);
        if (stat(st->journal[i], &sb) == 0) {
            st->journal_dev[i] = sb.st_dev;
            st->journal_ino[i] = sb.st_ino;
        }
    }
    return st;
out:
    if (st) {
        snprintf(why, sizeof why, "%s", st->errmsg);
        store_free(st);
    }
    snprintf(create_errmsg, sizeof create_errmsg, "cannot create database '%s': %s", path, why);
    *err = create_errmsg;
    return NULL;
}

static int runs_write(struct store *st);

int store_commit(struct store *st)
{
    if (st->lost)
        return PYSCOPE_EDB;
    const char *moved = store_moved(st);
    if (moved) {
        store_lose(st, moved);
        return PYSCOPE_EDB;
    }
    if (runs_write(st) < 0 && st->lost)
        return PYSCOPE_EDB;
    if (!st->in_batch)
        return 0;
    int err = store_step(st, st->stmt[STMT_COMMIT]);
    /*
     * A failed COMMIT may leave the transaction open (SQLITE_BUSY) or roll it
     * back; only SQLite knows which. Either way the batch did not reach the
     * file as a whole.
     */
    st->in_batch = !sqlite3_get_autocommit(st->db);
    if (err < 0) {
        char why[sizeof st->errmsg + 64];
        snprintf(why, sizeof why, "%s (it holds the run up to its last commit)", st->errmsg);
        store_lose(st, why);
    }
    return err;
}

const char *store_lost(const struct store *st)
{
    return st->lost ? st->lostmsg : NULL;
}

int store_close(struct store *st)
{
    if (!st)
        return 0;
    int err = 0;
    store_commit(st);
    if (st->lost && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL); /* the batch that did not make it */
    int ours = 1;
    for (int i = 0; i < STORE_NJOURNALS; i++)
        ours = ours && store_journal_is_ours(st, i);
    if (ours) {
        /*
         * Fold the WAL into the file and drop it: the result is one file that
         * can be copied or mailed alone, wherever it was moved to. It stays
         * in WAL mode when another connection (a live viewer) still has the
         * file open, everything being committed all the same, or when the
         * fold has no room (a full disk): the WAL then holds the last commits.
         */
        if ((store_pragma(st, "PRAGMA wal_checkpoint(TRUNCATE)", NULL) < 0 ||
             store_pragma(st, "PRAGMA journal_mode=DELETE", "delete") < 0) &&
            !st->lost)
            err = PYSCOPE_EBUSY;
    } else {
        /* SQLite removes its journal files by name on close: not what
         * another has put at those names since. */
        int persist = 1;
        sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    }
    if (st->lost)
        err = PYSCOPE_EDB;
    if (store_free(st) < 0)
        err = PYSCOPE_EDB;
    return err;
}

int store_meta_set(struct store *st, const char *key, const char *value)
{
    sqlite3_stmt *stmt = st->stmt[STMT_META_SET];
    int err = store_begin(st);
    if (err < 0)
        goto out;
    sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
    bind_text_or_null(stmt, 2, value);
    err = store_step(st, stmt);
out:
    return err;
}

int store_process_add(struct store *st, const struct store_process *p, int64_t *id)
{
    sqlite3_stmt *stmt = st->stmt[STMT_PROCESS_ADD];
    int err = store_begin(st);
    if (err < 0)
        goto out;
    sqlite3_bind_int64(stmt, 1, p->pid);
    bind_id_or_null(stmt, 2, p->ppid);
    bind_id_or_null(stmt, 3, p->parent_id);
    bind_text_or_null(stmt, 4, p->argv);
    bind_text_or_null(stmt, 5, p->executable);
    bind_text_or_null(stmt, 6, p->python_version);
    sqlite3_bind_int(stmt, 7, p->forked != 0);
    sqlite3_bind_int64(stmt, 8, p->started_ns);
    err = store_step(st, stmt);
    if (err == 0)
        *id = sqlite3_last_insert_rowid(st->db);
out:
    return err;
}

int store_process_end(struct store *st, int64_t id, const struct store_exit *e)
{
    sqlite3_stmt *stmt = st->stmt[STMT_PROCESS_END];
    int err = store_begin(st);
    if (err < 0)
        goto out;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, e->ended_ns);
    if (e->has_code)
        sqlite3_bind_int(stmt, 3, e->exit_code);
    else
        sqlite3_bind_null(stmt, 3);
    if (e->signal)
        sqlite3_bind_int(stmt, 4, e->signal);
    else
        sqlite3_bind_null(stmt, 4);
    err = store_update_one(st, stmt);
out:
    return err;
}

int store_thread_add(struct store *st, int64_t process_id, int64_t os_tid, int64_t ident,
                     const char *name, int is_main, int64_t started_ns, int64_t *id)
{
    sqlite3_stmt *stmt = st->stmt[STMT_THREAD_ADD];
    int err = store_begin(st);
    if (err < 0)
        goto out;
    sqlite3_bind_int64(stmt, 1, process_id);
    sqlite3_bind_int64(stmt, 2, os_tid);
    sqlite3_bind_int64(stmt, 3, ident);
    bind_text_or_null(stmt, 4, name);
    sqlite3_bind_int(stmt, 5, is_main != 0);
    sqlite3_bind_int64(stmt, 6, started_ns);
    err = store_step(st, stmt);
    if (err == 0)
        *id = sqlite3_last_insert_rowid(st->db);
out:
    return err;
}

int store_thread_end(struct store *st, int64_t id, int64_t ended_ns, const char *name)
{
    sqlite3_stmt *stmt = st->stmt[STMT_THREAD_END];
    int err = store_begin(st);
    if (err < 0)
        goto out;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, ended_ns);
    bind_text_or_null(stmt, 3, name);
    err = store_update_one(st, stmt);
out:
    return err;
}

int store_threads_end_all(struct store *st, int64_t process_id, int64_t ended_ns)
{
    sqlite3_stmt *stmt = st->stmt[STMT_THREADS_END_ALL];
    int err = store_begin(st);
    if (err < 0)
        goto out;
    sqlite3_bind_int64(stmt, 1, process_id);
    sqlite3_bind_int64(stmt, 2, ended_ns);
    err = store_step(st, stmt);
out:
    return err;
}

const char *store_errmsg(struct store *st)
{
    return st->errmsg[0] ? st->errmsg : "not an error";
}

/* Run an INSERT and hand back its rowid. */
static int insert_id(struct store *st, sqlite3_stmt *stmt, int64_t *id)
{
    int err = store_step(st, stmt);
    if (err == 0 && id)
        *id = sqlite3_last_insert_rowid(st->db);
    return err;
}

int store_function_add(struct store *st, const char *kind, const char *filename, const char *name,
                       const char *qualname, int firstlineno, int64_t *id)
{
    sqlite3_stmt *stmt = st->stmt[STMT_FUNCTION_ADD];
    int err = store_begin(st);
    if (err < 0)
        return err;
    bind_text_or_null(stmt, 1, kind);
    bind_text_or_null(stmt, 2, filename);
    bind_text_or_null(stmt, 3, name);
    bind_text_or_null(stmt, 4, qualname);
    if (firstlineno > 0)
        sqlite3_bind_int(stmt, 5, firstlineno);
    return insert_id(st, stmt, id);
}

int store_function_source(struct store *st, int64_t function_id, const char *filename)
{
    sqlite3_stmt *stmt = st->stmt[STMT_FUNCTION_SOURCE];
    int err = store_begin(st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(stmt, 1, function_id);
    bind_name(stmt, 2, filename, strlen(filename), SQLITE_TRANSIENT);
    return store_step(st, stmt);
}

int store_frame_add(struct store *st, int64_t function_id, int line, int64_t *id)
{
    sqlite3_stmt *stmt = st->stmt[STMT_FRAME_ADD];
    int err = store_begin(st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(stmt, 1, function_id);
    if (line >= 0)
        sqlite3_bind_int(stmt, 2, line);
    return insert_id(st, stmt, id);
}

int store_stack_add(struct store *st, int64_t parent_id, int64_t frame_id, int64_t *id)
{
    sqlite3_stmt *stmt = st->stmt[STMT_STACK_ADD];
    int err = store_begin(st);
    if (err < 0)
        return err;
    bind_id_or_null(stmt, 1, parent_id);
    sqlite3_bind_int64(stmt, 2, frame_id);
    return insert_id(st, stmt, id);
}

/* One samples row, a run's or a late sample's. */
static int sample_insert(struct store *st, int64_t thread_id, const struct sample_run *r)
{
    sqlite3_stmt *stmt = st->stmt[STMT_SAMPLE_ADD];
    int err = store_begin(st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(stmt, 1, thread_id);
    bind_id_or_null(stmt, 2, r->stack_id);
    sqlite3_bind_int64(stmt, 3, r->t_ns);
    sqlite3_bind_int64(stmt, 4, r->cpu_ns);
    sqlite3_bind_int(stmt, 5, r->state);
    sqlite3_bind_int64(stmt, 6, r->ticks);
    return store_step(st, stmt);
}

/* Write run r as it stands now. */
static int run_write(struct store *st, struct sample_run *r)
{
    if (!r->dirty)
        return 0;
    r->dirty = 0;
    if (!r->written) {
        r->written = 1;
        return sample_insert(st, r->thread_id, r);
    }
    sqlite3_stmt *stmt = st->stmt[STMT_SAMPLE_SET];
    int err = store_begin(st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(stmt, 1, r->thread_id);
    sqlite3_bind_int64(stmt, 2, r->t_ns);
    sqlite3_bind_int64(stmt, 3, r->cpu_ns);
    sqlite3_bind_int64(stmt, 4, r->ticks);
    return store_step(st, stmt);
}

static size_t run_home(const struct store *st, int64_t thread_id)
{
    return (size_t)(((uint64_t)thread_id * 0x9e3779b97f4a7c15ull) >> 32) & st->runs_mask;
}

static struct sample_run *run_find(struct store *st, int64_t thread_id)
{
    if (!st->runs)
        return NULL;
    for (size_t i = run_home(st, thread_id); st->runs[i].thread_id; i = (i + 1) & st->runs_mask)
        if (st->runs[i].thread_id == thread_id)
            return &st->runs[i];
    return NULL;
}

/* Empty slot i, moving up the entries after it that would no longer be
 * found (backward shift: no tombstones). */
static void run_forget(struct store *st, size_t i)
{
    size_t mask = st->runs_mask;
    st->runs[i].thread_id = 0;
    for (size_t j = (i + 1) & mask; st->runs[j].thread_id; j = (j + 1) & mask) {
        size_t k = run_home(st, st->runs[j].thread_id);
        if (((j - k) & mask) >= ((j - i) & mask)) {
            st->runs[i] = st->runs[j];
            st->runs[j].thread_id = 0;
            i = j;
        }
    }
    st->runs_used--;
}

/* Forget the written runs untouched for RUN_FORGET_NS: their threads ended. */
static void runs_sweep(struct store *st)
{
    for (size_t i = 0; st->runs && i <= st->runs_mask; i++)
        while (st->runs[i].thread_id && !st->runs[i].dirty && !st->runs[i].listed &&
               st->runs[i].last_ns < st->runs_latest_ns - RUN_FORGET_NS)
            run_forget(st, i);
}

/* Every run with unwritten ticks, before a commit. */
static int runs_write(struct store *st)
{
    int err = 0;
    for (size_t i = 0; i < st->ndirty; i++) {
        struct sample_run *r = run_find(st, st->dirty[i]);
        if (!r)
            continue;
        r->listed = 0;
        int e = run_write(st, r);
        if (e < 0 && !err)
            err = e;
    }
    st->ndirty = 0;
    if (++st->commits >= RUN_SWEEP_COMMITS) {
        st->commits = 0;
        runs_sweep(st);
    }
    return err;
}

/* The number of runs the store holds: threads sampled in the last
 * RUN_FORGET_NS or so. */
size_t store_runs_held(const struct store *st)
{
    return st->runs_used;
}

/* thread_id's run, made (empty) when new; NULL for an id that cannot be a
 * key, or out of memory: its samples are then rows of their own. */
static struct sample_run *run_of(struct store *st, int64_t thread_id)
{
    if (thread_id <= 0)
        return NULL;
    struct sample_run *r = run_find(st, thread_id);
    if (r)
        return r;
    if (!st->runs || (st->runs_used + 1) * 2 > st->runs_mask + 1) {
        size_t cap = st->runs ? 2 * (st->runs_mask + 1) : 64;
        struct sample_run *old = st->runs, *fresh = calloc(cap, sizeof *fresh);
        if (!fresh)
            return NULL;
        size_t oldcap = old ? st->runs_mask + 1 : 0;
        st->runs = fresh;
        st->runs_mask = cap - 1;
        for (size_t i = 0; i < oldcap; i++) {
            if (!old[i].thread_id)
                continue;
            size_t j = run_home(st, old[i].thread_id);
            while (fresh[j].thread_id)
                j = (j + 1) & st->runs_mask;
            fresh[j] = old[i];
        }
        free(old);
    }
    size_t i = run_home(st, thread_id);
    while (st->runs[i].thread_id)
        i = (i + 1) & st->runs_mask;
    st->runs[i] = (struct sample_run){.thread_id = thread_id};
    st->runs_used++;
    return &st->runs[i];
}

static int run_mark_dirty(struct store *st, struct sample_run *r)
{
    r->dirty = 1;
    if (r->listed)
        return 0;
    if (st->ndirty == st->capdirty) {
        size_t n = st->capdirty ? 2 * st->capdirty : 64;
        int64_t *d = realloc(st->dirty, n * sizeof *d);
        if (!d)
            return PYSCOPE_ENOMEM;
        st->dirty = d;
        st->capdirty = n;
    }
    st->dirty[st->ndirty++] = r->thread_id;
    r->listed = 1;
    return 0;
}

int store_samples_add(struct store *st, int64_t thread_id, const struct store_samples *x)
{
    if (st->lost)
        return PYSCOPE_EDB;
    int64_t ticks = x->ticks > 0 ? x->ticks : 1;
    int64_t last = x->last_ns > x->t_ns ? x->last_ns : x->t_ns;
    struct sample_run one = {.thread_id = thread_id,
                             .stack_id = x->stack_id,
                             .t_ns = x->t_ns,
                             .last_ns = last,
                             .cpu_ns = x->cpu_ns,
                             .ticks = ticks,
                             .state = x->state};
    struct sample_run *r = run_of(st, thread_id);
    if (!r)
        return sample_insert(st, thread_id, &one);
    if (last > st->runs_latest_ns)
        st->runs_latest_ns = last;
    if (r->ticks && x->t_ns <= r->last_ns) {
        if (ticks == 1 && (x->t_ns == r->t_ns || x->t_ns == r->last_ns))
            return 0; /* a second sample at one of the run's ticks */
        return sample_insert(st, thread_id, &one);
    }
    if (r->ticks && r->stack_id == x->stack_id && r->state == x->state &&
        (r->cpu_ns > 0) == (x->cpu_ns > 0)) {
        r->ticks += ticks;
        r->cpu_ns += x->cpu_ns;
        r->last_ns = last;
        return run_mark_dirty(st, r);
    }
    int err = r->ticks ? run_write(st, r) : 0;
    if (err < 0)
        return err;
    one.listed = r->listed;
    *r = one;
    return run_mark_dirty(st, r);
}

int store_sample_add(struct store *st, int64_t thread_id, int64_t stack_id, int64_t t_ns,
                     int64_t cpu_ns, int state)
{
    struct store_samples one = {stack_id, t_ns, t_ns, cpu_ns, state, 1};
    return store_samples_add(st, thread_id, &one);
}

int store_calls_add(struct store *st, const struct store_calls *c)
{
    int total = c->caller_id < 0;
    sqlite3_stmt *stmt = st->stmt[total ? STMT_CALL_STATS_ADD : STMT_CALLS_ADD];
    int err = store_begin(st);
    if (err < 0)
        return err;
    int i = 1;
    sqlite3_bind_int64(stmt, i++, c->process_id);
    sqlite3_bind_int64(stmt, i++, c->thread_id);
    if (!total)
        sqlite3_bind_int64(stmt, i++, c->caller_id);
    sqlite3_bind_int64(stmt, i++, c->callee_id);
    sqlite3_bind_int64(stmt, i++, c->ncalls);
    sqlite3_bind_int64(stmt, i++, c->pcalls);
    sqlite3_bind_int64(stmt, i++, c->tottime_ns);
    sqlite3_bind_int64(stmt, i++, c->cumtime_ns);
    return store_step(st, stmt);
}

int store_snapshot_add(struct store *st, const struct store_snapshot *s, int64_t *id)
{
    sqlite3_stmt *stmt = st->stmt[STMT_SNAPSHOT_ADD];
    int err = store_begin(st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(stmt, 1, s->process_id);
    bind_text_or_null(stmt, 2, s->label);
    sqlite3_bind_int64(stmt, 3, s->t_ns);
    sqlite3_bind_text(stmt, 4, s->trigger, -1, SQLITE_STATIC);
    if (s->traced) {
        sqlite3_bind_int64(stmt, 5, s->traced_bytes);
        sqlite3_bind_int64(stmt, 6, s->traced_blocks);
        sqlite3_bind_int64(stmt, 7, s->peak_bytes);
        sqlite3_bind_int64(stmt, 9, s->pyscope_bytes);
    } else {
        sqlite3_bind_null(stmt, 5);
        sqlite3_bind_null(stmt, 6);
        sqlite3_bind_null(stmt, 7);
        sqlite3_bind_null(stmt, 9);
    }
    bind_id_or_null(stmt, 8, s->rss_bytes);
    return insert_id(st, stmt, id);
}

int store_snapshot_trace_add(struct store *st, int64_t snapshot_id, int64_t stack_id, int64_t size,
                             int64_t count)
{
    sqlite3_stmt *stmt = st->stmt[STMT_SNAPSHOT_TRACE_ADD];
    int err = store_begin(st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(stmt, 1, snapshot_id);
    sqlite3_bind_int64(stmt, 2, stack_id);
    sqlite3_bind_int64(stmt, 3, size);
    sqlite3_bind_int64(stmt, 4, count);
    return store_step(st, stmt);
}

int store_gc_add(struct store *st, const struct store_gc *g)
{
    sqlite3_stmt *stmt = st->stmt[STMT_GC_ADD];
    int err = store_begin(st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(stmt, 1, g->process_id);
    sqlite3_bind_int64(stmt, 2, g->generation);
    sqlite3_bind_int64(stmt, 3, g->t_ns);
    sqlite3_bind_int64(stmt, 4, g->duration_ns);
    sqlite3_bind_int64(stmt, 5, g->collected);
    sqlite3_bind_int64(stmt, 6, g->uncollectable);
    bind_id_or_null(stmt, 7, g->thread_id);
    bind_id_or_null(stmt, 8, g->stack_id);
    return store_step(st, stmt);
}

int store_heap_object_add(struct store *st, int64_t snapshot_id, uint64_t obj, const char *type,
                          int64_t size, int64_t refcnt, int64_t stack_id)
{
    sqlite3_stmt *stmt = st->stmt[STMT_HEAP_OBJECT_ADD];
    int err = store_begin(st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(stmt, 1, snapshot_id);
    sqlite3_bind_int64(stmt, 2, (int64_t)obj);
    bind_name(stmt, 3, type, strlen(type), SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, size);
    sqlite3_bind_int64(stmt, 5, refcnt);
    bind_id_or_null(stmt, 6, stack_id);
    return store_step(st, stmt);
}

int store_heap_edge_add(struct store *st, int64_t snapshot_id, uint64_t src, uint64_t dst,
                        const char *label, size_t len)
{
    sqlite3_stmt *stmt = st->stmt[STMT_HEAP_EDGE_ADD];
    int err = store_begin(st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(stmt, 1, snapshot_id);
    sqlite3_bind_int64(stmt, 2, (int64_t)src);
    sqlite3_bind_int64(stmt, 3, (int64_t)dst);
    if (len)
        bind_name(stmt, 4, label, len, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, 4);
    return store_step(st, stmt);
}
