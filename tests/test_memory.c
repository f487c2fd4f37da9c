/*
 * Tests for viewer/memory.h: tracemalloc's grouping of snapshot blocks.
 * Each fixture is a run database made by the recorder's own store_create
 * and filled from SQL text, with the answers tracemalloc gives for the
 * same blocks: by line, file and traceback, cumulative (a frame met twice
 * counts twice), filters on the most recent frame, a diff with groups in
 * one snapshot only, a frame with no line, a block with no Python frame,
 * the "[truncated]" marker, rows that point nowhere, and the same run
 * written with its stack ids in another order. Also tracemalloc's
 * filename patterns, case by case as Python's fnmatch answers them.
 */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"
#include "error.h"
#include "fnpattern.h"
#include "memory.h"
#include "memsnap.h"
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
 * Two processes; app.py with main, load, build, rec (recursive) and a
 * lambda on main's line 4; lib/helper.py; the "<unknown>" frame; the
 * marker. Stacks, outermost first:
 *   2 main@4>load@9    4 main@5>build@12   7 main@4>rec@16>rec@16>rec@17
 *   8 <unknown>        10 [truncated]>load@9   11 load@9   12 lambda@4
 *  13 main@5>build@12>work@3   14 main (no line)
 *  15 main@4>(frame 77, missing)   16 (frame 12: function 55, missing)@7
 * Snapshot 1 'start' and 2 'end' of pid 100, 3 of pid 200 (no blocks),
 * 4 with rows that point nowhere (stack 99 does not exist).
 */
static const char base_sql[] =
    "INSERT INTO processes (id, pid, started_ns) VALUES (1, 100, 0), (2, 200, 0);\n"
    "INSERT INTO functions VALUES\n"
    "  (1, 'python', '/p/app.py', 'main', 'main', 3),\n"
    "  (2, 'python', '/p/app.py', 'load', 'load', 8),\n"
    "  (3, 'python', '/p/app.py', 'build', 'build', 11),\n"
    "  (4, 'python', '/p/app.py', 'rec', 'rec', 14),\n"
    "  (5, 'python', '/p/lib/helper.py', 'work', 'Helper.work', 1),\n"
    "  (6, 'python', '<unknown>', '<unknown>', NULL, NULL),\n"
    "  (7, 'python', NULL, '[truncated]', NULL, NULL),\n"
    "  (8, 'python', '/p/app.py', '<lambda>', 'main.<locals>.<lambda>', 4);\n"
    "INSERT INTO frames VALUES (1, 1, 4), (2, 1, 5), (3, 2, 9), (4, 3, 12), (5, 4, 16),\n"
    "  (6, 4, 17), (7, 5, 3), (8, 6, NULL), (9, 7, NULL), (10, 8, 4), (11, 1, NULL),\n"
    "  (12, 55, 7);\n"
    "INSERT INTO stacks VALUES (1, NULL, 1), (2, 1, 3), (3, NULL, 2), (4, 3, 4), (5, 1, 5),\n"
    "  (6, 5, 5), (7, 6, 6), (8, NULL, 8), (9, NULL, 9), (10, 9, 3), (11, NULL, 3),\n"
    "  (12, NULL, 10), (13, 4, 7), (14, NULL, 11), (15, 1, 77), (16, NULL, 12);\n"
    "INSERT INTO snapshots (id, process_id, label, t_ns, trigger, traced_bytes,"
    " traced_blocks, peak_bytes, rss_bytes) VALUES\n"
    "  (1, 1, 'start', 100, 'api', 2064, 21, 2064, 31457280),\n"
    "  (2, 1, 'end', 2500, 'exit', 3462, 38, 4000, NULL),\n"
    "  (3, 2, NULL, 3000, 'peak', NULL, NULL, NULL, NULL),\n"
    "  (4, 1, NULL, 50, 'signal', NULL, NULL, NULL, NULL);\n"
    "INSERT INTO snapshot_traces VALUES\n"
    "  (1, 2, 1000, 10), (1, 4, 500, 5), (1, 7, 64, 1), (1, 8, 300, 3), (1, 13, 200, 2),\n"
    "  (2, 2, 3000, 30), (2, 10, 100, 1), (2, 11, 50, 1), (2, 7, 64, 1), (2, 12, 40, 2),\n"
    "  (2, 14, 8, 1), (2, 13, 200, 2),\n"
    "  (4, 99, 10, 1), (4, 15, 20, 2), (4, 16, 30, 3), (4, 9, 40, 4);\n";

/* The same run with every stack id reversed and spread: parents after children. */
static const char reorder_sql[] =
    "UPDATE stacks SET id = (100 - id) * 3, parent_id = (100 - parent_id) * 3;\n"
    "UPDATE snapshot_traces SET stack_id = (100 - stack_id) * 3;\n";

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
    snprintf(tmpdir, sizeof tmpdir, "%s/pyscope-test-memory-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new run database called name with the base rows and then sql; its path in path. */
static void make_run(const char *name, const char *sql, char *path, size_t len)
{
    const char *msg = NULL;
    sqlite3 *db;
    char *err = NULL;

    snprintf(path, len, "%s/%s", tmpdir, name);
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
}

static sqlite3 *open_run(const char *path)
{
    char msg[512];
    sqlite3 *db = NULL;
    if (vdb_open(path, &db, msg, sizeof msg) < 0)
        fail_msg("vdb_open: %s", msg);
    return db;
}

/* A key as text: "file:line" per frame, oldest first, joined by " > "; "/p/" left out. */
static void key_text(const struct mem_space *sp, uint32_t key, char *buf, size_t len)
{
    size_t n = mem_key_nframes(sp, key), at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < len; i++) {
        struct mem_frame f = mem_key_frame(sp, key, i);
        const char *file = strncmp(f.filename, "/p/", 3) ? f.filename : f.filename + 3;
        at += (size_t)snprintf(buf + at, len - at, "%s%s:%lld", i ? " > " : "", file,
                               (long long)f.line);
    }
}

/* The stats as "key size/count" lines, or "key size(+diff)/count(+diff)" for a diff. */
static char *stats_text(const struct mem_space *sp, const struct mem_stat *st, size_t n, int diff)
{
    size_t cap = 256 * (n + 1), at = 0;
    char *out = malloc(cap), key[1024];
    assert_non_null(out);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        key_text(sp, st[i].key, key, sizeof key);
        if (diff)
            at += (size_t)snprintf(out + at, cap - at, "%s %lld(%+lld)/%lld(%+lld)\n", key,
                                   (long long)st[i].size, (long long)st[i].size_diff,
                                   (long long)st[i].count, (long long)st[i].count_diff);
        else
            at += (size_t)snprintf(out + at, cap - at, "%s %lld/%lld\n", key, (long long)st[i].size,
                                   (long long)st[i].count);
    }
    return out;
}

struct grouping {
    enum mem_by by;
    int cumulative;
    const char *const *include;
    size_t ninclude;
    const char *const *exclude;
    size_t nexclude;
};

/* Snapshot id of the run at path grouped as g says and sorted, as text; totals in *t. */
static char *statistics(const char *path, int64_t id, const struct grouping *g,
                        struct mem_group *out_totals)
{
    struct mem_options o = {g->by,      g->cumulative, g->include, g->ninclude,
                            g->exclude, g->nexclude,   0};
    struct mem_space *sp;
    struct mem_group grp;
    sqlite3 *db = open_run(path);
    assert_int_equal(mem_space_new(&o, &sp), 0);
    assert_int_equal(mem_group(sp, db, id, &grp), 0);
    assert_int_equal(mem_sort(sp, grp.stats, grp.n), 0);
    char *text = stats_text(sp, grp.stats, grp.n, 0);
    if (out_totals) {
        *out_totals = grp;
        out_totals->stats = NULL;
    }
    mem_group_release(&grp);
    mem_space_free(sp);
    vdb_close(db);
    return text;
}

/* new against old (path:id each), as text. */
static char *compare(const char *newpath, int64_t newid, const char *oldpath, int64_t oldid,
                     const struct grouping *g)
{
    struct mem_options o = {g->by,      g->cumulative, g->include, g->ninclude,
                            g->exclude, g->nexclude,   0};
    struct mem_space *sp;
    struct mem_group a, b;
    struct mem_stat *d;
    size_t n;
    sqlite3 *newdb = open_run(newpath),
            *olddb = strcmp(newpath, oldpath) ? open_run(oldpath) : newdb;
    assert_int_equal(mem_space_new(&o, &sp), 0);
    assert_int_equal(mem_group(sp, olddb, oldid, &a), 0);
    assert_int_equal(mem_group(sp, newdb, newid, &b), 0);
    assert_int_equal(mem_compare(sp, &b, &a, &d, &n), 0);
    char *text = stats_text(sp, d, n, 1);
    free(d);
    mem_group_release(&a);
    mem_group_release(&b);
    mem_space_free(sp);
    if (olddb != newdb)
        vdb_close(olddb);
    vdb_close(newdb);
    return text;
}

#define assert_text(text, expected)                                                                \
    do {                                                                                           \
        char *t_ = (text);                                                                         \
        assert_string_equal(t_, expected);                                                         \
        free(t_);                                                                                  \
    } while (0)

static char run_path[PATH_MAX], reordered_path[PATH_MAX];

static int setup_runs(void **state)
{
    if (setup(state) < 0)
        return -1;
    make_run("run.db", NULL, run_path, sizeof run_path);
    make_run("reordered.db", reorder_sql, reordered_path, sizeof reordered_path);
    return 0;
}

/* ---- patterns ---- */

static void test_filename_match(void **state)
{
    /* pattern, file name, what tracemalloc.Filter(True, pattern) says of a frame there */
    static const struct {
        const char *pattern, *filename;
        int match;
    } cases[] = {
        {"*.py", "/a/b.py", 1},
        {"*.py", "/a/b.pyc", 1},
        {"*.pyc", "/a/b.py", 1},
        {"*/lib/*", "/x/lib/y.py", 1},
        {"*/lib/*", "/x/lib", 0},
        {"/a/?.py", "/a/b.py", 1},
        {"/a/?.py", "/a/\xc3\xa9.py", 1},
        {"/a/?.py", "/a/bc.py", 0},
        {"[ab]*", "a.py", 1},
        {"[!ab]*", "a.py", 0},
        {"[!ab]*", "c.py", 1},
        {"[a-c]", "b", 1},
        {"[c-a]", "b", 0},
        {"[c-a]", "c", 0},
        {"[a-]", "-", 1},
        {"[-a]", "-", 1},
        {"[!]", "[!]", 1},
        {"[!]x]", "]", 0},
        {"[!]x]", "y", 1},
        {"[]]", "]", 1},
        {"[", "[", 1},
        {"x[", "x[", 1},
        {"\\*", "\\x", 1},
        {"\\*", "*", 0},
        {"[^a]", "^", 1},
        {"[^a]", "b", 0},
        {"a-b-c", "a-b-c", 1},
        {"[a-b-c]", "-", 1},
        {"[a-b-c]", "c", 1},
        {"[a-b-c]", "b", 1},
        {"[c-b-a]", "-", 1},
        {"[c-b-a]", "b", 0},
        {"[xb-ay]", "x", 1},
        {"[xb-ay]", "b", 0},
        {"[!b-a]", "q", 1},
        {"*", "", 1},
        {"", "", 1},
        {"", "a", 0},
        {"**a", "ba", 1},
        {"*a*b*c", "aXbYbc", 1},
        {"*a*b*c", "aXbYbcd", 0},
        {"<frozen *>", "<frozen importlib._bootstrap>", 1},
        {"<unknown>", "<unknown>", 1},
        {"\xc3\xa9*", "\xc3\xa9z", 1},
        {"?", "\xc3\xa9", 1},
        {"[\xc3\xa9]", "\xc3\xa9", 1},
        {"[\xc3\xa0-\xc3\xaa]", "\xc3\xa9", 1},
        {"a?c", "a\nc", 1},
        {"*.PY", "x.py", 0},
        {"[[:alpha:]]", "a", 0},
        {"[[:alpha:]]", ":]", 1},
        {"x.pyc", "x.py", 1},
        {"x.py", "x.pyc", 1},
        {"*c", "x.pyc", 0},
        {"[&~|]", "&", 1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (fnpattern_match(cases[i].pattern, cases[i].filename) != cases[i].match)
            fail_msg("'%s' against '%s': expected %d", cases[i].pattern, cases[i].filename,
                     cases[i].match);
}

/* ---- snapshots ---- */

static void test_snapshots(void **state)
{
    struct memsnap *s, one;
    size_t n;
    int64_t pid = 200;
    (void)state;
    sqlite3 *db = open_run(run_path);

    assert_int_equal(memsnap_list(db, NULL, &s, &n), 0);
    assert_int_equal(n, 4);
    /* by time */
    assert_int_equal(s[0].id, 4);
    assert_int_equal(s[1].id, 1);
    assert_int_equal(s[1].pid, 100);
    assert_string_equal(s[1].label, "start");
    assert_string_equal(s[1].trigger, "api");
    assert_int_equal(s[1].t_ns, 100);
    assert_int_equal(s[1].traced_bytes, 2064);
    assert_int_equal(s[1].traced_blocks, 21);
    assert_int_equal(s[1].rss_bytes, 31457280);
    assert_int_equal(s[2].rss_bytes, -1);
    assert_null(s[3].label);
    assert_int_equal(s[3].traced_bytes, -1);
    memsnap_list_free(s, n);

    assert_int_equal(memsnap_list(db, &pid, &s, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].id, 3);
    assert_int_equal(s[0].process_id, 2);
    memsnap_list_free(s, n);

    assert_int_equal(memsnap_get(db, 2, &one), 0);
    assert_string_equal(one.label, "end");
    assert_string_equal(one.trigger, "exit");
    memsnap_release(&one);
    assert_int_equal(memsnap_get(db, 5, &one), PYSCOPE_ENOTFOUND);
    assert_int_equal(vdb_has_pid(db, 100), 1);
    assert_int_equal(vdb_has_pid(db, 7), 0);
    vdb_close(db);
}

/* ---- grouping ---- */

static void test_lineno(void **state)
{
    struct grouping g = {.by = MEM_BY_LINENO};
    struct mem_group t;
    (void)state;
    /* stacks 10 and 11 both end at load@9; the lambda and main share line 4 */
    assert_text(statistics(run_path, 2, &g, &t), "app.py:9 3150/32\n"
                                                 "lib/helper.py:3 200/2\n"
                                                 "app.py:17 64/1\n"
                                                 "app.py:4 40/2\n"
                                                 "app.py:0 8/1\n");
    assert_int_equal(t.all.size, 3462);
    assert_int_equal(t.all.count, 38);
    assert_int_equal(t.selected.size, 3462);
    assert_int_equal(t.n, 5);
    assert_text(statistics(run_path, 1, &g, NULL), "app.py:9 1000/10\n"
                                                   "app.py:12 500/5\n"
                                                   "<unknown>:0 300/3\n"
                                                   "lib/helper.py:3 200/2\n"
                                                   "app.py:17 64/1\n");
    assert_text(statistics(run_path, 3, &g, &t), "");
    assert_int_equal(t.all.count, 0);
}

static void test_filename(void **state)
{
    struct grouping g = {.by = MEM_BY_FILENAME};
    (void)state;
    assert_text(statistics(run_path, 2, &g, NULL), "app.py:0 3262/36\n"
                                                   "lib/helper.py:0 200/2\n");
}

static void test_traceback(void **state)
{
    struct mem_options o = {.by = MEM_BY_TRACEBACK};
    struct grouping g = {.by = MEM_BY_TRACEBACK};
    struct mem_space *sp;
    struct mem_group grp;
    (void)state;
    /* [truncated]>load@9 and load@9 are one key */
    assert_text(statistics(run_path, 2, &g, NULL),
                "app.py:4 > app.py:9 3000/30\n"
                "app.py:5 > app.py:12 > lib/helper.py:3 200/2\n"
                "app.py:9 150/2\n"
                "app.py:4 > app.py:16 > app.py:16 > app.py:17 64/1\n"
                "app.py:4 40/2\n"
                "app.py:0 8/1\n");

    sqlite3 *db = open_run(run_path);
    assert_int_equal(mem_space_new(&o, &sp), 0);
    assert_int_equal(mem_group(sp, db, 2, &grp), 0);
    assert_int_equal(mem_sort(sp, grp.stats, grp.n), 0);
    assert_int_equal(mem_key_truncated(sp, grp.stats[0].key), 0);
    assert_int_equal(mem_key_truncated(sp, grp.stats[2].key), 1);
    struct mem_frame f = mem_key_frame(sp, grp.stats[1].key, 2);
    assert_string_equal(f.filename, "/p/lib/helper.py");
    assert_int_equal(f.line, 3);
    assert_string_equal(f.function, "Helper.work");
    f = mem_key_frame(sp, grp.stats[0].key, 0);
    assert_string_equal(f.function, "main");
    f = mem_key_frame(sp, grp.stats[5].key, 0);
    assert_int_equal(f.line, 0);
    assert_int_equal(mem_key_nframes(sp, grp.stats[3].key), 4);
    mem_group_release(&grp);
    mem_space_free(sp);
    vdb_close(db);
}

static void test_cumulative(void **state)
{
    struct grouping g = {.by = MEM_BY_LINENO, .cumulative = 1};
    struct mem_options o = {.by = MEM_BY_TRACEBACK, .cumulative = 1};
    struct mem_space *sp = NULL;
    (void)state;
    /* rec@16 is twice in one traceback: its block counts twice there */
    assert_text(statistics(run_path, 2, &g, NULL), "app.py:9 3150/32\n"
                                                   "app.py:4 3104/33\n"
                                                   "lib/helper.py:3 200/2\n"
                                                   "app.py:12 200/2\n"
                                                   "app.py:5 200/2\n"
                                                   "app.py:16 128/2\n"
                                                   "app.py:17 64/1\n"
                                                   "app.py:0 8/1\n");
    /* and by file, a block counts once per frame in the file */
    g.by = MEM_BY_FILENAME;
    assert_text(statistics(run_path, 2, &g, NULL), "app.py:0 6854/73\n"
                                                   "lib/helper.py:0 200/2\n");
    assert_int_equal(mem_space_new(&o, &sp), PYSCOPE_EINVAL);
    assert_null(sp);
}

static void test_filters(void **state)
{
    static const char *const lib[] = {"*/lib/*"}, *const pyc[] = {"*/helper.pyc"};
    static const char *const none[] = {"*/nothing/*"}, *const two[] = {"<unknown>", "*/lib/*"};
    static const char *const py[] = {"*.py"};
    struct grouping g = {.by = MEM_BY_LINENO, .include = lib, .ninclude = 1};
    struct mem_group t;
    (void)state;
    assert_text(statistics(run_path, 2, &g, &t), "lib/helper.py:3 200/2\n");
    assert_int_equal(t.all.size, 3462);
    assert_int_equal(t.selected.size, 200);
    assert_int_equal(t.selected.count, 2);
    g.include = pyc;
    assert_text(statistics(run_path, 2, &g, NULL), "lib/helper.py:3 200/2\n");
    g.include = none;
    assert_text(statistics(run_path, 2, &g, NULL), "");
    /* the most recent frame decides, even when cumulative */
    g = (struct grouping){.by = MEM_BY_LINENO, .cumulative = 1, .exclude = lib, .nexclude = 1};
    assert_text(statistics(run_path, 2, &g, NULL), "app.py:9 3150/32\n"
                                                   "app.py:4 3104/33\n"
                                                   "app.py:16 128/2\n"
                                                   "app.py:17 64/1\n"
                                                   "app.py:0 8/1\n");
    g = (struct grouping){
        .by = MEM_BY_TRACEBACK, .include = py, .ninclude = 1, .exclude = two, .nexclude = 2};
    assert_text(statistics(run_path, 1, &g, NULL), "app.py:4 > app.py:9 1000/10\n"
                                                   "app.py:5 > app.py:12 500/5\n"
                                                   "app.py:4 > app.py:16 > app.py:16 > "
                                                   "app.py:17 64/1\n");
}

static void test_compare(void **state)
{
    struct grouping g = {.by = MEM_BY_LINENO};
    (void)state;
    /* gone groups have size 0; unchanged ones come last, by size */
    assert_text(compare(run_path, 2, run_path, 1, &g), "app.py:9 3150(+2150)/32(+22)\n"
                                                       "app.py:12 0(-500)/0(-5)\n"
                                                       "<unknown>:0 0(-300)/0(-3)\n"
                                                       "app.py:4 40(+40)/2(+2)\n"
                                                       "app.py:0 8(+8)/1(+1)\n"
                                                       "lib/helper.py:3 200(+0)/2(+0)\n"
                                                       "app.py:17 64(+0)/1(+0)\n");
    g.by = MEM_BY_TRACEBACK;
    assert_text(compare(run_path, 2, run_path, 1, &g),
                "app.py:4 > app.py:9 3000(+2000)/30(+20)\n"
                "app.py:5 > app.py:12 0(-500)/0(-5)\n"
                "<unknown>:0 0(-300)/0(-3)\n"
                "app.py:9 150(+150)/2(+2)\n"
                "app.py:4 40(+40)/2(+2)\n"
                "app.py:0 8(+8)/1(+1)\n"
                "app.py:5 > app.py:12 > lib/helper.py:3 200(+0)/2(+0)\n"
                "app.py:4 > app.py:16 > app.py:16 > app.py:17 64(+0)/1(+0)\n");
    g = (struct grouping){.by = MEM_BY_FILENAME, .cumulative = 1};
    assert_text(compare(run_path, 2, run_path, 1, &g), "app.py:0 6854(+3198)/73(+35)\n"
                                                       "<unknown>:0 0(-300)/0(-3)\n"
                                                       "lib/helper.py:0 200(+0)/2(+0)\n");
    /* an empty snapshot against one: everything gone */
    g = (struct grouping){.by = MEM_BY_FILENAME};
    assert_text(compare(run_path, 3, run_path, 2, &g), "app.py:0 0(-3262)/0(-36)\n"
                                                       "lib/helper.py:0 0(-200)/0(-2)\n");
}

/*
 * Rows that point nowhere: a stack that does not exist is a block with no
 * frame; a frame that does not exist, or whose function does not, is in
 * "<unknown>"; a traceback of the marker alone has no frame either.
 */
static void test_missing_rows(void **state)
{
    struct grouping g = {.by = MEM_BY_TRACEBACK};
    (void)state;
    assert_text(statistics(run_path, 4, &g, NULL), "<unknown>:0 50/5\n"
                                                   "<unknown>:7 30/3\n"
                                                   "app.py:4 > <unknown>:0 20/2\n");
    g.by = MEM_BY_LINENO;
    assert_text(statistics(run_path, 4, &g, NULL), "<unknown>:0 70/7\n"
                                                   "<unknown>:7 30/3\n");
    g.cumulative = 1;
    assert_text(statistics(run_path, 4, &g, NULL), "<unknown>:0 70/7\n"
                                                   "<unknown>:7 30/3\n"
                                                   "app.py:4 20/2\n");
}

/*
 * Stack ids in another order (parents after their children, with gaps)
 * give the same answers: the stacks are read past the snapshot's highest
 * id, and cumulative statistics walk each traceback.
 */
static void test_reordered_ids(void **state)
{
    static const struct grouping modes[] = {
        {.by = MEM_BY_LINENO},
        {.by = MEM_BY_FILENAME},
        {.by = MEM_BY_TRACEBACK},
        {.by = MEM_BY_LINENO, .cumulative = 1},
        {.by = MEM_BY_FILENAME, .cumulative = 1},
    };
    (void)state;
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        for (int64_t id = 1; id <= 4; id++) {
            char *a = statistics(run_path, id, &modes[m], NULL);
            char *b = statistics(reordered_path, id, &modes[m], NULL);
            assert_string_equal(a, b);
            free(a);
            free(b);
        }
        char *a = compare(run_path, 2, run_path, 1, &modes[m]);
        char *b = compare(reordered_path, 2, reordered_path, 1, &modes[m]);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
}

/* Two databases: frames match by file and line, whatever their ids. */
static void test_two_databases(void **state)
{
    struct grouping g = {.by = MEM_BY_TRACEBACK};
    (void)state;
    assert_text(compare(reordered_path, 2, run_path, 2, &g),
                "app.py:4 > app.py:9 3000(+0)/30(+0)\n"
                "app.py:5 > app.py:12 > lib/helper.py:3 200(+0)/2(+0)\n"
                "app.py:9 150(+0)/2(+0)\n"
                "app.py:4 > app.py:16 > app.py:16 > app.py:17 64(+0)/1(+0)\n"
                "app.py:4 40(+0)/2(+0)\n"
                "app.py:0 8(+0)/1(+0)\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filename_match), cmocka_unit_test(test_snapshots),
        cmocka_unit_test(test_lineno),         cmocka_unit_test(test_filename),
        cmocka_unit_test(test_traceback),      cmocka_unit_test(test_cumulative),
        cmocka_unit_test(test_filters),        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_missing_rows),   cmocka_unit_test(test_reordered_ids),
        cmocka_unit_test(test_two_databases),
    };
    return cmocka_run_group_tests(tests, setup_runs, teardown);
}
