/*
 * Tests for viewer/samples.h, the read side of the sampling profiler. Each
 * fixture is a run database made by the recorder's own store_create (so the
 * schema is the real one) and filled from SQL text, with known answers: a
 * 3:1 split between two functions, cpu against wall weighing, recursion
 * counted once per sample, stacks cut at the depth limit, filters by
 * thread, process and function, and damaged references; and memory
 * snapshots loaded into the same profile, weighed in bytes.
 */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"
#include "error.h"
#include "samples.h"
#include "smp_tree.h"
#include "smpcmd.h"
#include "store.h"

#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * One process (pid 100) with two threads; functions main, a, b, rec (which
 * recurses), a name that must be escaped, and the sampler's "[truncated]"
 * marker. Stacks (outermost first):
 *   1 main@5            2 main@5>a@11        3 main@5>b@21
 *   4 main@5>rec@31     5 ...>rec@31>rec@31  6 ...>rec@31>rec@31>rec@32
 *   7 main@5>a@12       8 [truncated]        9 [truncated]>a@11
 *  10 main@5>evil@2
 */
static const char base_sql[] =
    "INSERT INTO meta VALUES ('cwd', '/home/u/proj');\n"
    "INSERT INTO processes (id, pid, started_ns) VALUES (1, 100, 0), (2, 200, 0);\n"
    "INSERT INTO threads (id, process_id, os_tid, name, is_main, started_ns) VALUES\n"
    "  (1, 1, 100, 'MainThread', 1, 0), (2, 1, 101, 'worker', 0, 0),\n"
    "  (3, 2, 200, 'MainThread', 1, 0);\n"
    "INSERT INTO functions VALUES\n"
    "  (1, 'python', '/home/u/proj/app.py', 'main', 'main', 1),\n"
    "  (2, 'python', '/home/u/proj/app.py', 'a', 'A.a', 10),\n"
    "  (3, 'python', '/home/u/proj/app.py', 'b', 'b', 20),\n"
    "  (4, 'python', '/home/u/proj/app.py', 'rec', 'rec', 30),\n"
    "  (5, 'python', '/tmp/evil.py', '<script>&\"x\"', '<script>&\"x\"', 1),\n"
    "  (6, 'python', NULL, '[truncated]', NULL, NULL);\n"
    "INSERT INTO frames VALUES (1, 1, 5), (2, 2, 11), (3, 3, 21), (4, 4, 31), (5, 4, 32),\n"
    "  (6, 5, 2), (7, 6, NULL), (8, 2, 12);\n"
    "INSERT INTO stacks VALUES (1, NULL, 1), (2, 1, 2), (3, 1, 3), (4, 1, 4), (5, 4, 4),\n"
    "  (6, 5, 5), (7, 1, 8), (8, NULL, 7), (9, 8, 2), (10, 1, 6);\n";

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/pyscope-test-samples-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new run database called name, with the base rows and then sql. */
static const char *make_run(const char *name, const char *sql)
{
    static char path[PATH_MAX];
    const char *msg = NULL;
    sqlite3 *db;
    char *err = NULL;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    struct store *st = store_create(path, &msg);
    if (!st)
        fail_msg("store_create: %s", msg);
    assert_int_equal(store_close(st), 0);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA synchronous = OFF", NULL, NULL, NULL);
    if (sqlite3_exec(db, base_sql, NULL, NULL, &err) != SQLITE_OK ||
        (sql && sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK))
        fail_msg("fixture SQL failed: %s", err);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return path;
}

/* Load the run at path with filter f; the connection is closed by unload. */
static struct smp_profile *load(const char *path, const struct smp_filter *f, sqlite3 **db)
{
    char msg[512];
    struct smp_profile *p = NULL;
    assert_int_equal(vdb_open(path, db, msg, sizeof msg), 0);
    int err = smp_load(*db, path, f, &p, msg, sizeof msg);
    if (err < 0)
        fail_msg("smp_load: %s", msg);
    assert_non_null(p);
    return p;
}

static void unload(struct smp_profile *p, sqlite3 *db)
{
    smp_free(p);
    vdb_close(db);
}

/* The row of the function with qualname, or fail. */
static const struct smp_fn_stat *fn_row(const struct smp_fn_stat *rows, size_t n,
                                        const char *qualname)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].fn->qualname, qualname))
            return &rows[i];
    fail_msg("no row for '%s'", qualname);
    return NULL;
}

static const struct smp_fn_stat *fn_row_or_null(const struct smp_fn_stat *rows, size_t n,
                                                const char *qualname)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].fn->qualname, qualname))
            return &rows[i];
    return NULL;
}

static const struct smp_line_stat *line_row(const struct smp_line_stat *rows, size_t n,
                                            const char *qualname, int64_t line)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].fn->qualname, qualname) && rows[i].line == line)
            return &rows[i];
    return NULL;
}

/* Function a has three times the samples of b: 75 % and 25 % in both clocks. */
static const char split_sql[] =
    "INSERT INTO samples VALUES (1, 2, 1000000, 1000000, 0, 1), (1, 2, 2000000, 1000000, 0, 1),\n"
    "  (1, 2, 3000000, 1000000, 0, 1), (1, 3, 4000000, 1000000, 0, 1);\n";

static void test_split_3_to_1(void **state)
{
    const char *path = make_run("split.db", split_sql);
    struct smp_fn_stat *rows;
    size_t n;
    sqlite3 *db;
    (void)state;

    for (int clock = SMP_CLOCK_CPU; clock <= SMP_CLOCK_WALL; clock++) {
        struct smp_filter f = {.clock = (enum smp_clock)clock};
        struct smp_profile *p = load(path, &f, &db);
        const struct smp_totals *t = smp_totals(p);
        assert_int_equal(t->samples, 4);
        assert_int_equal(t->weight, clock == SMP_CLOCK_CPU ? 4000000 : 4);
        assert_int_equal(t->nstacks, 2);
        assert_int_equal(t->interval_ns, 1000000); /* from the sample times */
        assert_int_equal(smp_functions(p, &rows, &n), 0);
        assert_int_equal(n, 3);
        const struct smp_fn_stat *a = fn_row(rows, n, "A.a"), *b = fn_row(rows, n, "b");
        const struct smp_fn_stat *m = fn_row(rows, n, "main");
        assert_true(100.0 * (double)a->s.self_weight / (double)t->weight == 75.0);
        assert_true(100.0 * (double)b->s.self_weight / (double)t->weight == 25.0);
        assert_int_equal(a->s.self_samples, 3);
        assert_int_equal(a->s.total_samples, 3);
        assert_int_equal(m->s.self_weight, 0);
        assert_int_equal(m->s.total_weight, t->weight);
        assert_int_equal(smp_weight_ns(p, a->s.self_weight), 3000000);
        assert_string_equal(a->fn->filename, "/home/u/proj/app.py");
        assert_int_equal(a->fn->firstlineno, 10);
        free(rows);
        unload(p, db);
    }
}

/*
 * A row that stands for a run of ticks weighs as that many rows of one
 * tick: the split above as runs (a: 3 ticks with 3 ms of CPU, b: 1 tick),
 * then b idle for 5 ticks; the mean interval is 1 ms from the times.
 */
static void test_runs_weigh_their_ticks(void **state)
{
    const char *path =
        make_run("runs.db", "INSERT INTO samples VALUES (1, 2, 1000000, 3000000, 0, 3),\n"
                            "  (1, 3, 4000000, 1000000, 0, 1), (1, 3, 5000000, 0, 2, 5);\n");
    struct smp_fn_stat *rows;
    size_t n;
    sqlite3 *db;
    (void)state;

    for (int clock = SMP_CLOCK_CPU; clock <= SMP_CLOCK_WALL; clock++) {
        struct smp_filter f = {.clock = (enum smp_clock)clock};
        struct smp_profile *p = load(path, &f, &db);
        const struct smp_totals *t = smp_totals(p);
        int wall = clock == SMP_CLOCK_WALL;
        assert_int_equal(t->samples, wall ? 9 : 4);
        assert_int_equal(t->weight, wall ? 9 : 4000000);
        assert_int_equal(t->by_state[0], 4);
        assert_int_equal(t->by_state[2], 5);
        assert_int_equal(t->interval_ns, 1000000);
        assert_int_equal(smp_functions(p, &rows, &n), 0);
        const struct smp_fn_stat *a = fn_row(rows, n, "A.a"), *b = fn_row(rows, n, "b");
        assert_int_equal(a->s.self_samples, 3);
        assert_int_equal(b->s.self_samples, wall ? 6 : 1);
        assert_int_equal(smp_weight_ns(p, a->s.self_weight), 3000000);
        assert_int_equal(smp_weight_ns(p, b->s.self_weight), wall ? 6000000 : 1000000);
        free(rows);
        unload(p, db);
    }
}

/*
 * cpu weighs by CPU time, so idle samples weigh nothing; wall counts
 * samples. a: one sample that used 3 ms; b: three idle samples.
 */
static void test_cpu_against_wall(void **state)
{
    const char *path = make_run(
        "cpuwall.db", "INSERT INTO meta VALUES ('sample_rate_hz', '100');\n"
                      "INSERT INTO samples VALUES (1, 2, 10, 3000000, 0, 1),\n"
                      "  (1, 3, 20, 0, 2, 1), (1, 3, 30, 0, 2, 1), (1, 3, 40, 0, 2, 1);\n");
    struct smp_filter cpu = {.clock = SMP_CLOCK_CPU}, wall = {.clock = SMP_CLOCK_WALL};
    struct smp_fn_stat *rows;
    size_t n;
    sqlite3 *db;
    (void)state;

    struct smp_profile *p = load(path, &cpu, &db);
    const struct smp_totals *t = smp_totals(p);
    assert_int_equal(t->samples, 1); /* samples with CPU time */
    assert_int_equal(t->weight, 3000000);
    assert_int_equal(smp_functions(p, &rows, &n), 0);
    assert_int_equal(n, 2); /* main and a; b never ran */
    assert_null(fn_row_or_null(rows, n, "b"));
    assert_int_equal(fn_row(rows, n, "A.a")->s.self_weight, 3000000);
    free(rows);
    unload(p, db);

    p = load(path, &wall, &db);
    t = smp_totals(p);
    assert_int_equal(t->samples, 4);
    assert_int_equal(t->weight, 4);
    assert_int_equal(t->interval_ns, 10000000); /* from sample_rate_hz, not the times */
    assert_int_equal(smp_weight_ns(p, 4), 40000000);
    assert_int_equal(smp_functions(p, &rows, &n), 0);
    assert_int_equal(fn_row(rows, n, "A.a")->s.self_weight, 1);
    assert_int_equal(fn_row(rows, n, "b")->s.self_weight, 3);
    free(rows);
    unload(p, db);
}

/* main > rec@31 > rec@31 > rec@32: the line and the function count once per sample. */
static void test_recursion_counted_once(void **state)
{
    const char *path = make_run("rec.db", "INSERT INTO samples VALUES (1, 6, 10, 500, 0, 1),\n"
                                          "  (1, 6, 20, 500, 0, 1), (1, 5, 30, 500, 0, 1);\n");
    struct smp_filter f = {.clock = SMP_CLOCK_WALL};
    struct smp_line_stat *lines;
    struct smp_fn_stat *fns;
    size_t n;
    sqlite3 *db;
    (void)state;

    struct smp_profile *p = load(path, &f, &db);
    assert_int_equal(smp_lines(p, &lines, &n), 0);
    const struct smp_line_stat *l31 = line_row(lines, n, "rec", 31);
    const struct smp_line_stat *l32 = line_row(lines, n, "rec", 32);
    assert_non_null(l31);
    assert_non_null(l32);
    assert_int_equal(l31->s.total_samples, 3); /* not 5 */
    assert_int_equal(l31->s.self_samples, 1);
    assert_int_equal(l32->s.total_samples, 2);
    assert_int_equal(l32->s.self_samples, 2);
    assert_int_equal(line_row(lines, n, "main", 5)->s.total_samples, 3);
    free(lines);

    assert_int_equal(smp_functions(p, &fns, &n), 0);
    assert_int_equal(fn_row(fns, n, "rec")->s.total_samples, 3);
    assert_int_equal(fn_row(fns, n, "rec")->s.self_samples, 3);
    free(fns);

    /* The tree keeps the recursion as nested frames. */
    struct smp_tree *t;
    assert_int_equal(smp_tree_build(p, 0, &t), 0);
    assert_int_equal(t->maxdepth, 4); /* main, rec, rec, rec */
    assert_int_equal(t->nodes[0].s.total_weight, 3);
    smp_tree_free(t);
    unload(p, db);
}

static const char threads_sql[] =
    "INSERT INTO samples VALUES (1, 2, 10, 100, 0, 1), (1, 2, 20, 100, 0, 1),\n"
    "  (2, 3, 10, 100, 0, 1), (3, 7, 10, 100, 0, 1), (3, 7, 20, 100, 0, 1), (3, 7, 30, 100, 0, "
    "1);\n";

static void test_thread_and_process_filters(void **state)
{
    const char *path = make_run("threads.db", threads_sql);
    char msg[512];
    sqlite3 *db;
    (void)state;

    struct smp_filter f = {.clock = SMP_CLOCK_WALL, .thread = "worker"};
    struct smp_profile *p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 1);
    unload(p, db);

    f.thread = "2"; /* by id */
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 1);
    unload(p, db);

    f.thread = "MainThread"; /* a name in two processes: both */
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 5);
    unload(p, db);

    f.has_pid = 1;
    f.pid = 200;
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 3);
    unload(p, db);

    f.thread = NULL;
    f.pid = 100;
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 3);
    unload(p, db);

    /* Nothing matches: a clear error, no profile. */
    struct smp_filter bad = {.thread = "nope"};
    assert_int_equal(vdb_open(path, &db, msg, sizeof msg), 0);
    assert_int_equal(smp_load(db, "t.db", &bad, &p, msg, sizeof msg), PYSCOPE_ENOTFOUND);
    assert_null(p);
    assert_string_equal(msg, "no thread 'nope' in 't.db'");
    bad = (struct smp_filter){.has_pid = 1, .pid = 7};
    assert_int_equal(smp_load(db, "t.db", &bad, &p, msg, sizeof msg), PYSCOPE_ENOTFOUND);
    assert_string_equal(msg, "no process with pid 7 in 't.db'");
    bad = (struct smp_filter){.thread = "worker", .has_pid = 1, .pid = 200};
    assert_int_equal(smp_load(db, "t.db", &bad, &p, msg, sizeof msg), PYSCOPE_ENOTFOUND);
    assert_string_equal(msg, "no thread 'worker' in process 200 in 't.db'");
    vdb_close(db);
}

/* --state: only samples in the listed states count; the totals by state
 * stay those of every sample of the selected threads. */
static const char states_sql[] =
    "INSERT INTO samples VALUES (1, 2, 1000000, 900000, 0, 1), (1, 2, 2000000, 0, 3, 1),\n"
    "  (1, 2, 3000000, 0, 3, 1), (1, 3, 4000000, 0, 2, 1), (2, 3, 1000000, 500000, 1, 1);\n";

static void test_state_filter(void **state)
{
    const char *path = make_run("states.db", states_sql);
    struct smp_fn_stat *rows;
    size_t n;
    sqlite3 *db;
    (void)state;

    struct smp_filter f = {.clock = SMP_CLOCK_WALL};
    assert_int_equal(smpcmd_parse_states("gil", &f.states), 0);
    struct smp_profile *p = load(path, &f, &db);
    const struct smp_totals *t = smp_totals(p);
    assert_int_equal(t->samples, 2);
    assert_int_equal(t->by_state[SMP_STATE_RUNNING], 1);
    assert_int_equal(t->by_state[SMP_STATE_NATIVE], 1);
    assert_int_equal(t->by_state[SMP_STATE_IDLE], 1);
    assert_int_equal(t->by_state[SMP_STATE_GIL], 2);
    assert_int_equal(smp_functions(p, &rows, &n), 0);
    assert_int_equal(fn_row(rows, n, "A.a")->s.self_samples, 2);
    assert_null(fn_row_or_null(rows, n, "b"));
    free(rows);
    unload(p, db);

    assert_int_equal(smpcmd_parse_states("idle,native", &f.states), 0);
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 2);
    assert_int_equal(smp_functions(p, &rows, &n), 0);
    assert_int_equal(fn_row(rows, n, "b")->s.self_samples, 2);
    assert_null(fn_row_or_null(rows, n, "A.a"));
    free(rows);
    unload(p, db);

    /* the interval is measured over every sample, not the kept ones */
    f.states = 1u << SMP_STATE_RUNNING;
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 1);
    assert_int_equal(smp_totals(p)->interval_ns, 1000000);
    unload(p, db);

    unsigned mask = 0;
    assert_int_equal(smpcmd_parse_states("running,native,gil,idle", &mask), 0);
    assert_int_equal(mask, 0xf);
    assert_int_equal(smpcmd_parse_states("", &mask), -1);
    assert_int_equal(smpcmd_parse_states("gil,", &mask), -1);
    assert_int_equal(smpcmd_parse_states("GIL", &mask), -1);
    assert_int_equal(smpcmd_parse_states("waiting", &mask), -1);
    assert_int_equal(mask, 0xf); /* untouched on error */
}

/* --function: only stacks through a match; hot keeps only the matching functions' lines. */
static void test_function_filter(void **state)
{
    const char *path = make_run("fnfilter.db", split_sql);
    struct smp_line_stat *lines;
    struct smp_fn_stat *fns;
    size_t n;
    sqlite3 *db;
    (void)state;

    struct smp_filter f = {.clock = SMP_CLOCK_WALL, .function = "b"};
    struct smp_profile *p = load(path, &f, &db);
    const struct smp_totals *t = smp_totals(p);
    assert_int_equal(t->samples, 1);
    assert_int_equal(t->all_samples, 4);
    assert_int_equal(smp_functions(p, &fns, &n), 0);
    assert_int_equal(n, 2); /* main and b */
    assert_int_equal(fn_row(fns, n, "main")->s.total_weight, 1);
    free(fns);
    assert_int_equal(smp_lines(p, &lines, &n), 0);
    assert_int_equal(n, 1); /* b's line only, not main's */
    assert_string_equal(lines[0].fn->qualname, "b");
    assert_int_equal(lines[0].line, 21);
    free(lines);
    unload(p, db);

    /* A glob on the qualname or the name: "A.a" matches by qualname "A.*", by name "a". */
    f.function = "A.*";
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 3);
    unload(p, db);
    f.function = "a";
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 3);
    unload(p, db);
    f.function = "ma?n"; /* the outermost frame: everything */
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 4);
    assert_int_equal(smp_lines(p, &lines, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(lines[0].s.total_samples, 4);
    free(lines);
    unload(p, db);
    f.function = "nothing*";
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 0);
    unload(p, db);
}

static void test_truncated_stacks(void **state)
{
    const char *path = make_run(
        "trunc.db", "INSERT INTO samples VALUES (1, 9, 10, 100, 0, 1), (1, 2, 20, 100, 0, 1),\n"
                    "  (1, 2, 30, 100, 0, 1), (1, 9, 40, 100, 0, 1);\n");
    struct smp_fn_stat *fns;
    size_t n;
    sqlite3 *db;
    (void)state;

    struct smp_filter f = {.clock = SMP_CLOCK_WALL};
    struct smp_profile *p = load(path, &f, &db);
    const struct smp_totals *t = smp_totals(p);
    assert_int_equal(t->truncated_samples, 2);
    assert_int_equal(t->truncated_weight, 2);
    assert_int_equal(smp_functions(p, &fns, &n), 0);
    const struct smp_fn_stat *tr = fn_row(fns, n, "[truncated]");
    assert_int_equal(tr->fn->special, SMP_TRUNCATED);
    assert_int_equal(tr->s.total_samples, 2);
    assert_int_equal(tr->s.self_samples, 0);
    assert_int_equal(fn_row(fns, n, "A.a")->s.self_samples, 4);
    free(fns);
    /* Its lines are not source lines. */
    struct smp_line_stat *lines;
    assert_int_equal(smp_lines(p, &lines, &n), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(lines[i].fn->special, SMP_REAL);
    free(lines);
    unload(p, db);
}

/* Samples taken in pyscope's own work (a "[pyscope]" leaf) are left out
 * and counted apart, unless with_own keeps them. */
static void test_own_work(void **state)
{
    const char *path = make_run(
        "own.db", "INSERT INTO functions VALUES (30, 'python', NULL, '[pyscope]', NULL, NULL);\n"
                  "INSERT INTO frames VALUES (30, 30, NULL);\n"
                  "INSERT INTO stacks VALUES (30, 2, 30);\n"
                  "INSERT INTO samples VALUES (1, 30, 10, 100, 0, 1), (1, 30, 20, 100, 0, 1),\n"
                  "  (1, 30, 30, 100, 0, 1), (1, 2, 40, 100, 0, 1);\n");
    struct smp_fn_stat *fns;
    size_t n;
    sqlite3 *db;
    (void)state;

    struct smp_filter f = {.clock = SMP_CLOCK_CPU};
    struct smp_profile *p = load(path, &f, &db);
    const struct smp_totals *t = smp_totals(p);
    assert_int_equal(t->samples, 1);
    assert_int_equal(t->weight, 100);
    assert_int_equal(t->own_samples, 3);
    assert_int_equal(t->own_weight, 300);
    assert_int_equal(smp_functions(p, &fns, &n), 0);
    assert_null(fn_row_or_null(fns, n, "[pyscope]"));
    assert_int_equal(fn_row(fns, n, "A.a")->s.self_samples, 1);
    free(fns);
    unload(p, db);

    f.with_own = 1;
    p = load(path, &f, &db);
    t = smp_totals(p);
    assert_int_equal(t->samples, 4);
    assert_int_equal(t->own_samples, 3);
    assert_int_equal(smp_functions(p, &fns, &n), 0);
    const struct smp_fn_stat *own = fn_row(fns, n, "[pyscope]");
    assert_int_equal(own->fn->special, SMP_OWN);
    assert_int_equal(own->s.self_samples, 3);
    assert_int_equal(fn_row(fns, n, "A.a")->s.self_samples, 1);
    assert_int_equal(fn_row(fns, n, "A.a")->s.total_samples, 4);
    free(fns);
    /* Its samples have no source line of their own. */
    struct smp_line_stat *lines;
    assert_int_equal(smp_lines(p, &lines, &n), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(lines[i].fn->special, SMP_REAL);
    free(lines);
    unload(p, db);
}

/* A NULL stack, and ids the database lacks, become pseudo-functions, not errors. */
static void test_missing_references(void **state)
{
    const char *path =
        make_run("broken.db", "INSERT INTO stacks VALUES (20, 999, 1), (21, NULL, 888);\n"
                              "INSERT INTO frames VALUES (30, 777, 1);\n"
                              "INSERT INTO stacks VALUES (22, NULL, 30);\n"
                              "INSERT INTO samples VALUES (1, NULL, 10, 100, 0, 1),\n"
                              "  (1, 12345, 20, 100, 0, 1), (1, 20, 30, 100, 0, 1),\n"
                              "  (1, 21, 40, 100, 0, 1), (1, 22, 50, 100, 0, 1),\n"
                              "  (9, 2, 60, 100, 0, 1);\n");
    struct smp_fn_stat *fns;
    size_t n;
    sqlite3 *db;
    (void)state;

    struct smp_filter f = {.clock = SMP_CLOCK_WALL};
    struct smp_profile *p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 6);
    assert_int_equal(smp_functions(p, &fns, &n), 0);
    assert_int_equal(fn_row(fns, n, "[no Python frame]")->s.self_samples, 1);
    assert_int_equal(fn_row(fns, n, "[no Python frame]")->fn->special, SMP_NOSTACK);
    /* stack 12345, frame 888 and function 777 are unknown */
    assert_int_equal(fn_row(fns, n, "[unknown]")->s.self_samples, 3);
    assert_int_equal(fn_row(fns, n, "main")->s.self_samples, 1); /* stack 20, parent lost */
    free(fns);
    /* Thread 9 is not in the threads table: still counted, nameless. */
    assert_int_equal(smp_nthreads(p), 4);
    assert_null(smp_thread(p, 3)->name);
    assert_int_equal(smp_thread(p, 3)->id, 9);
    unload(p, db);
}

/* A parent chain that loops must not hang any view. */
static void test_stack_cycle(void **state)
{
    const char *path = make_run("cycle.db", "INSERT INTO stacks VALUES (40, 41, 2), (41, 40, 3);\n"
                                            "INSERT INTO samples VALUES (1, 40, 10, 100, 0, 1);\n");
    struct smp_filter f = {.clock = SMP_CLOCK_WALL, .function = "nomatch"};
    struct smp_fn_stat *fns;
    struct smp_line_stat *lines;
    struct smp_tree *t;
    size_t n;
    sqlite3 *db;
    (void)state;

    struct smp_profile *p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 0);
    unload(p, db);
    f.function = NULL;
    p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 1);
    assert_int_equal(smp_functions(p, &fns, &n), 0);
    assert_int_equal(n, 2);
    free(fns);
    assert_int_equal(smp_lines(p, &lines, &n), 0);
    free(lines);
    assert_int_equal(smp_tree_build(p, 0, &t), 0);
    assert_true(t->maxdepth >= 2);
    smp_tree_free(t);
    unload(p, db);
}

/* Frames merge by function (lines apart with SMP_TREE_LINES); threads get roots on request. */
static void test_tree(void **state)
{
    const char *path = make_run("tree.db", "INSERT INTO samples VALUES (1, 2, 10, 100, 0, 1),\n"
                                           "  (1, 7, 20, 100, 0, 1), (1, 7, 30, 100, 0, 1),\n"
                                           "  (2, 3, 10, 300, 0, 1), (2, 2, 20, 100, 0, 1);\n");
    struct smp_filter f = {.clock = SMP_CLOCK_CPU};
    struct smp_tree *t;
    sqlite3 *db;
    (void)state;

    struct smp_profile *p = load(path, &f, &db);
    assert_int_equal(smp_tree_build(p, 0, &t), 0);
    /* all > main > {A.a, b}: a@11 and a@12 are one frame */
    assert_int_equal(t->nnodes, 4);
    const struct smp_node *root = &t->nodes[0];
    assert_int_equal(root->kind, SMP_NODE_ROOT);
    assert_int_equal(root->s.total_weight, 700);
    assert_int_equal(root->nkids, 1);
    const struct smp_node *m = &t->nodes[t->kids[root->first_kid]];
    assert_string_equal(m->fn->qualname, "main");
    assert_int_equal(m->nkids, 2);
    const struct smp_node *k0 = &t->nodes[t->kids[m->first_kid]];
    const struct smp_node *k1 = &t->nodes[t->kids[m->first_kid + 1]];
    assert_string_equal(k0->fn->qualname, "A.a"); /* sorted by name */
    assert_string_equal(k1->fn->qualname, "b");
    assert_int_equal(k0->s.self_weight, 400);
    assert_int_equal(k0->s.self_samples, 4);
    assert_int_equal(k1->s.self_weight, 300);
    assert_int_equal(k0->depth, 2);
    assert_int_equal(t->maxdepth, 2);
    smp_tree_free(t);

    assert_int_equal(smp_tree_build(p, SMP_TREE_LINES, &t), 0);
    assert_int_equal(t->nnodes, 5); /* all, main@5, a@11, a@12, b@21 */
    assert_int_equal(t->nodes[0].s.total_weight, 700);
    smp_tree_free(t);

    assert_int_equal(smp_tree_build(p, SMP_TREE_THREADS, &t), 0);
    root = &t->nodes[0];
    assert_int_equal(root->nkids, 2);
    const struct smp_node *t1 = &t->nodes[t->kids[root->first_kid]];
    const struct smp_node *t2 = &t->nodes[t->kids[root->first_kid + 1]];
    assert_int_equal(t1->kind, SMP_NODE_THREAD);
    assert_int_equal(t1->thread->id, 1);
    assert_int_equal(t1->s.total_weight, 300);
    assert_int_equal(t2->thread->id, 2);
    assert_int_equal(t2->s.total_weight, 400);
    assert_int_equal(t->maxdepth, 3);
    char label[128];
    assert_string_equal(smp_thread_label(t2->thread, label, sizeof label),
                        "worker (pid 100, tid 101)");
    smp_tree_free(t);
    unload(p, db);
}

/*
 * --no-native. Native functions 20 (deflate) and 21 (start, above every
 * Python frame); stacks 11 main@5>deflate, 12 main@5>deflate>b@21 (C called
 * back into Python), 13 start, 14 start>main@5, 15 start>main@5>deflate.
 */
static const char native_sql[] =
    "INSERT INTO functions VALUES (20, 'native', '/lib/libz.so.1', 'deflate', NULL, NULL),\n"
    "  (21, 'native', '/lib/libc.so.6', 'start', NULL, NULL);\n"
    "INSERT INTO frames VALUES (20, 20, NULL), (21, 21, NULL);\n"
    "INSERT INTO stacks VALUES (11, 1, 20), (12, 11, 3), (13, NULL, 21), (14, 13, 1),\n"
    "  (15, 14, 20);\n"
    "INSERT INTO samples VALUES (1, 11, 10, 100, 0, 1), (1, 12, 20, 100, 0, 1),\n"
    "  (1, 13, 30, 100, 0, 1), (1, 15, 40, 100, 0, 1), (1, 3, 50, 100, 0, 1);\n";

static void test_no_native(void **state)
{
    const char *path = make_run("native.db", native_sql);
    struct smp_fn_stat *rows;
    struct smp_tree *t;
    size_t n;
    sqlite3 *db;
    (void)state;

    struct smp_filter f = {.clock = SMP_CLOCK_CPU};
    struct smp_profile *p = load(path, &f, &db);
    assert_int_equal(smp_functions(p, &rows, &n), 0);
    assert_int_equal(fn_row(rows, n, "deflate")->s.self_weight, 200);
    assert_int_equal(fn_row(rows, n, "deflate")->s.total_weight, 300);
    assert_int_equal(fn_row(rows, n, "main")->s.self_weight, 0);
    free(rows);
    unload(p, db);

    f.no_native = 1;
    p = load(path, &f, &db);
    const struct smp_totals *tot = smp_totals(p);
    assert_int_equal(tot->samples, 5);
    assert_int_equal(tot->weight, 500);
    assert_int_equal(smp_functions(p, &rows, &n), 0);
    assert_null(fn_row_or_null(rows, n, "deflate"));
    assert_null(fn_row_or_null(rows, n, "start"));
    /* deflate's time is main's own; b stays under main */
    assert_int_equal(fn_row(rows, n, "main")->s.self_weight, 200);
    assert_int_equal(fn_row(rows, n, "main")->s.total_weight, 400);
    assert_int_equal(fn_row(rows, n, "b")->s.self_weight, 200);
    /* start alone: no Python frame */
    const struct smp_fn_stat *none = fn_row(rows, n, "[no Python frame]");
    assert_int_equal(none->s.self_weight, 100);
    free(rows);
    /* all > {main > b, [no Python frame]}: main once, with b merged */
    assert_int_equal(smp_tree_build(p, 0, &t), 0);
    assert_int_equal(t->nnodes, 4);
    assert_int_equal(t->nodes[0].nkids, 2);
    smp_tree_free(t);
    unload(p, db);
}

static void test_empty_run(void **state)
{
    const char *path = make_run("empty.db", NULL);
    struct smp_fn_stat *fns;
    struct smp_line_stat *lines;
    struct smp_tree *t;
    size_t n;
    sqlite3 *db;
    (void)state;

    struct smp_profile *p = load(path, NULL, &db);
    const struct smp_totals *tot = smp_totals(p);
    assert_int_equal(tot->samples, 0);
    assert_int_equal(tot->weight, 0);
    assert_int_equal(tot->interval_ns, 0);
    assert_int_equal(smp_weight_ns(p, 5), 5); /* cpu: ns already */
    assert_int_equal(smp_functions(p, &fns, &n), 0);
    assert_int_equal(n, 0);
    free(fns);
    assert_int_equal(smp_lines(p, &lines, &n), 0);
    assert_int_equal(n, 0);
    free(lines);
    assert_int_equal(smp_tree_build(p, SMP_TREE_THREADS, &t), 0);
    assert_int_equal(t->nnodes, 1);
    smp_tree_free(t);
    unload(p, db);

    struct smp_filter wall = {.clock = SMP_CLOCK_WALL};
    p = load(path, &wall, &db);
    assert_int_equal(smp_weight_ns(p, 5), -1); /* no interval known */
    unload(p, db);
}

static void test_paths(void **state)
{
    const char *path = make_run("paths.db", NULL);
    char buf[256];
    sqlite3 *db;
    (void)state;

    struct smp_profile *p = load(path, NULL, &db);
    assert_string_equal(smp_cwd(p), "/home/u/proj");
    assert_string_equal(smp_short_path(p, "/home/u/proj/app.py"), "app.py");
    assert_string_equal(smp_short_path(p, "/home/u/project.py"), "/home/u/project.py");
    assert_string_equal(smp_short_path(p, "/usr/lib/x.py"), "/usr/lib/x.py");
    struct smp_function fn = {
        .filename = "/home/u/proj/pkg/m.py", .name = "f", .qualname = "f", .firstlineno = 3};
    assert_string_equal(smp_location(p, &fn, 0, buf, sizeof buf), "pkg/m.py:3");
    assert_string_equal(smp_location(p, &fn, 9, buf, sizeof buf), "pkg/m.py:9");
    fn.kind = SMP_KIND_NATIVE;
    fn.filename = "/usr/lib/libm.so.6";
    assert_string_equal(smp_location(p, &fn, 0, buf, sizeof buf), "/usr/lib/libm.so.6");
    fn.kind = SMP_KIND_BUILTIN;
    fn.filename = NULL;
    assert_string_equal(smp_location(p, &fn, 0, buf, sizeof buf), "");
    struct smp_thread th = {.id = 4};
    assert_string_equal(smp_thread_label(&th, buf, sizeof buf), "thread 4 (id 4)");
    unload(p, db);
}

/* Many samples and stacks: the hash tables grow, the sums stay exact. */
static void test_many_samples(void **state)
{
    sqlite3 *raw;
    const char *path = make_run("many.db", NULL);
    (void)state;

    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            raw,
            "BEGIN;"
            "WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM n"
            " WHERE i < 2099) INSERT INTO stacks SELECT i, 2, 3 FROM n;"
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n"
            " WHERE i < 99999) INSERT INTO samples (thread_id, stack_id, t_ns, cpu_ns, state)"
            " SELECT 1 + i % 2, 100 + (i / 2) % 2000, i, 10, 0 FROM n;"
            "COMMIT;",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(raw);

    struct smp_filter f = {.clock = SMP_CLOCK_CPU};
    struct smp_fn_stat *fns;
    size_t n;
    sqlite3 *db;
    struct smp_profile *p = load(path, &f, &db);
    assert_int_equal(smp_totals(p)->samples, 100000);
    assert_int_equal(smp_totals(p)->weight, 1000000);
    assert_int_equal(smp_totals(p)->nstacks, 4000); /* 2000 stacks x 2 threads */
    assert_int_equal(smp_functions(p, &fns, &n), 0);
    assert_int_equal(fn_row(fns, n, "b")->s.self_samples, 100000);
    assert_int_equal(fn_row(fns, n, "A.a")->s.total_samples, 100000);
    free(fns);
    unload(p, db);
}

/*
 * Two snapshots. 1 (pid 100): main>A.a@11 3000 B in 3 blocks, main>A.a@12
 * 1000/1, main>b@21 2000/4, [truncated]>A.a@11 500/5, an allocation without a
 * Python frame (<unknown>) 1000/2, a stack the database lacks 250/1 and
 * main>rec>rec>rec@32 250/5: 8000 B in 21 blocks. 2 (pid 200): 7 B in one
 * block, and a damaged row with negative numbers.
 */
static const char snapshot_sql[] =
    "INSERT INTO functions VALUES (7, 'python', '<unknown>', '<unknown>', '<unknown>', NULL);\n"
    "INSERT INTO frames VALUES (9, 7, NULL);\n"
    "INSERT INTO stacks VALUES (11, NULL, 9);\n"
    "INSERT INTO snapshots (id, process_id, label, t_ns, trigger, traced_bytes,"
    " traced_blocks, peak_bytes, rss_bytes) VALUES\n"
    "  (1, 1, 'after <load>', 1000, 'api', 8000, 21, 9000, 50000),\n"
    "  (2, 2, NULL, 2000, 'peak', NULL, NULL, NULL, NULL);\n"
    "INSERT INTO snapshot_traces VALUES (1, 2, 3000, 3), (1, 7, 1000, 1), (1, 3, 2000, 4),\n"
    "  (1, 9, 500, 5), (1, 11, 1000, 2), (1, 99, 250, 1), (1, 6, 250, 5),\n"
    "  (2, 3, 7, 1), (2, 4, -5, -1);\n";

static struct smp_profile *load_snapshot(const char *path, int64_t id, const char *function,
                                         sqlite3 **db)
{
    char msg[512];
    struct smp_profile *p = NULL;
    assert_int_equal(vdb_open(path, db, msg, sizeof msg), 0);
    struct smp_filter f = {.function = function};
    if (smp_load_snapshot(*db, path, id, &f, &p, msg, sizeof msg) < 0)
        fail_msg("smp_load_snapshot: %s", msg);
    assert_non_null(p);
    return p;
}

static void test_snapshot(void **state)
{
    const char *path = make_run("snap.db", snapshot_sql);
    struct smp_fn_stat *fns;
    struct smp_line_stat *lines;
    size_t n;
    sqlite3 *db;
    char buf[256];
    (void)state;

    struct smp_profile *p = load_snapshot(path, 1, NULL, &db);
    const struct smp_snapshot *s = smp_snapshot(p);
    assert_non_null(s);
    assert_int_equal(s->id, 1);
    assert_int_equal(s->process_id, 1);
    assert_int_equal(s->pid, 100);
    assert_string_equal(s->label, "after <load>");
    assert_string_equal(s->trigger, "api");
    assert_int_equal(s->t_ns, 1000);
    assert_int_equal(s->traced_bytes, 8000);
    assert_int_equal(s->traced_blocks, 21);
    assert_int_equal(s->peak_bytes, 9000);
    assert_int_equal(s->rss_bytes, 50000);
    assert_string_equal(smp_snapshot_label(s, buf, sizeof buf), "snapshot 1 'after <load>' (api)");

    /* Weights are bytes, the "samples" blocks; no time, no threads. */
    const struct smp_totals *t = smp_totals(p);
    assert_int_equal(t->clock, SMP_CLOCK_BYTES);
    assert_int_equal(t->weight, 8000);
    assert_int_equal(t->samples, 21);
    assert_int_equal(t->all_weight, 8000);
    assert_int_equal(t->truncated_weight, 500);
    assert_int_equal(t->truncated_samples, 5);
    assert_int_equal(t->nstacks, 7);
    assert_int_equal(t->interval_ns, 0);
    assert_int_equal(smp_weight_ns(p, 5), -1);
    assert_int_equal(smp_nthreads(p), 0);

    assert_int_equal(smp_functions(p, &fns, &n), 0);
    assert_int_equal(fn_row(fns, n, "A.a")->s.self_weight, 4500);
    assert_int_equal(fn_row(fns, n, "A.a")->s.self_samples, 9);
    assert_int_equal(fn_row(fns, n, "main")->s.total_weight, 6250);
    assert_int_equal(fn_row(fns, n, "main")->s.self_weight, 0);
    assert_int_equal(fn_row(fns, n, "<unknown>")->s.self_weight, 1000);
    assert_int_equal(fn_row(fns, n, "[unknown]")->s.self_weight, 250);
    assert_int_equal(fn_row(fns, n, "rec")->s.total_weight, 250); /* once, however deep */
    free(fns);

    /* By line of the most recent frame: what the summary ranks. */
    assert_int_equal(smp_lines(p, &lines, &n), 0);
    assert_int_equal(line_row(lines, n, "A.a", 11)->s.self_weight, 3500);
    assert_int_equal(line_row(lines, n, "A.a", 11)->s.self_samples, 8);
    assert_int_equal(line_row(lines, n, "A.a", 12)->s.self_weight, 1000);
    assert_int_equal(line_row(lines, n, "b", 21)->s.self_weight, 2000);
    assert_int_equal(line_row(lines, n, "rec", 32)->s.self_weight, 250);
    assert_int_equal(line_row(lines, n, "<unknown>", 0)->s.self_weight, 1000);
    free(lines);

    /* The tree: no thread level even when asked; roots sorted by name. */
    struct smp_tree *tree;
    for (int flags = 0; flags <= SMP_TREE_THREADS; flags += SMP_TREE_THREADS) {
        assert_int_equal(smp_tree_build(p, flags, &tree), 0);
        const struct smp_node *root = &tree->nodes[0];
        assert_int_equal(root->s.total_weight, 8000);
        assert_int_equal(root->s.total_samples, 21);
        assert_int_equal(root->nkids, 4);
        static const char *const names[] = {"<unknown>", "[truncated]", "[unknown]", "main"};
        static const int64_t weights[] = {1000, 500, 250, 6250};
        for (uint32_t k = 0; k < 4; k++) {
            const struct smp_node *kid = &tree->nodes[tree->kids[root->first_kid + k]];
            assert_int_equal(kid->kind, SMP_NODE_FRAME);
            assert_string_equal(kid->fn->qualname, names[k]);
            assert_int_equal(kid->s.total_weight, weights[k]);
        }
        smp_tree_free(tree);
    }
    unload(p, db);

    /* Through a function, as for samples: the shares stay of all bytes. */
    p = load_snapshot(path, 1, "b", &db);
    assert_int_equal(smp_totals(p)->weight, 2000);
    assert_int_equal(smp_totals(p)->samples, 4);
    assert_int_equal(smp_totals(p)->all_weight, 8000);
    unload(p, db);

    /* No label and no traced columns; a damaged row takes nothing away. */
    p = load_snapshot(path, 2, NULL, &db);
    s = smp_snapshot(p);
    assert_int_equal(s->pid, 200);
    assert_null(s->label);
    assert_int_equal(s->traced_bytes, -1);
    assert_int_equal(s->rss_bytes, -1);
    assert_string_equal(smp_snapshot_label(s, buf, sizeof buf), "snapshot 2 (peak)");
    assert_int_equal(smp_totals(p)->weight, 7);
    assert_int_equal(smp_totals(p)->samples, 1);
    unload(p, db);

    /* A sampled profile has no snapshot. */
    p = load(path, NULL, &db);
    assert_null(smp_snapshot(p));
    unload(p, db);
}

static void test_snapshot_missing(void **state)
{
    const char *with = make_run("snaps.db", snapshot_sql);
    char msg[512], want[1024];
    struct smp_profile *p = (struct smp_profile *)&p;
    sqlite3 *db;
    (void)state;

    assert_int_equal(vdb_open(with, &db, msg, sizeof msg), 0);
    assert_int_equal(smp_load_snapshot(db, with, 3, NULL, &p, msg, sizeof msg), PYSCOPE_ENOTFOUND);
    assert_null(p);
    snprintf(want, sizeof want, "no snapshot 3 in '%s' (see 'pyscope snapshots')", with);
    assert_string_equal(msg, want);
    vdb_close(db);

    const char *without = make_run("nosnaps.db", NULL);
    assert_int_equal(vdb_open(without, &db, msg, sizeof msg), 0);
    assert_int_equal(smp_load_snapshot(db, without, 1, NULL, &p, msg, sizeof msg),
                     PYSCOPE_ENOTFOUND);
    assert_null(p);
    snprintf(want, sizeof want,
             "no snapshot 1 in '%s'; it has none (record them with 'pyscope profile --memory')",
             without);
    assert_string_equal(msg, want);
    vdb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_3_to_1),
        cmocka_unit_test(test_runs_weigh_their_ticks),
        cmocka_unit_test(test_cpu_against_wall),
        cmocka_unit_test(test_recursion_counted_once),
        cmocka_unit_test(test_thread_and_process_filters),
        cmocka_unit_test(test_function_filter),
        cmocka_unit_test(test_state_filter),
        cmocka_unit_test(test_truncated_stacks),
        cmocka_unit_test(test_own_work),
        cmocka_unit_test(test_missing_references),
        cmocka_unit_test(test_stack_cycle),
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_no_native),
        cmocka_unit_test(test_empty_run),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_many_samples),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_snapshot_missing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
