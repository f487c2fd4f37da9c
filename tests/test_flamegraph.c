/*
 * Tests for the renderers of sampled stacks: the SVG flame graph
 * (viewer/flamegraph.h) and the folded and speedscope files
 * (viewer/stackfmt.h), plus the source-line cache (viewer/source.h). The
 * fixture has names that must be escaped wherever they land (a function
 * called <script>&"x", one with a ';', control characters and bytes that
 * are not UTF-8) and known sums.
 */
#define _GNU_SOURCE /* nftw, open_memstream */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"
#include "flamegraph.h"
#include "samples.h"
#include "source.h"
#include "stackfmt.h"
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
 * Stacks (outermost first): 1 main, 2 main>a, 3 main>evil, 4 main>semi,
 * 5 main>ctl. Samples, thread 1: a x3 (1 ms CPU each), evil x1 (2 ms);
 * thread 2: semi x2 (0.5 ms), ctl x1 (idle). Snapshot 1 (pid 100, a label
 * to escape): a 3000 B in 3 blocks, evil 1000/1, main itself 96/2, 4 KiB in
 * all; snapshot 2 holds nothing.
 */
static const char fixture_sql[] =
    "INSERT INTO meta VALUES ('cwd', '/home/u/proj'), ('sample_rate_hz', '1000');\n"
    "INSERT INTO processes (id, pid, started_ns) VALUES (1, 100, 0);\n"
    "INSERT INTO threads (id, process_id, os_tid, name, is_main, started_ns) VALUES\n"
    "  (1, 1, 100, 'MainThread', 1, 0), (2, 1, 101, 'w<1>', 0, 0);\n"
    "INSERT INTO functions VALUES\n"
    "  (1, 'python', '/home/u/proj/app.py', 'main', 'main', 1),\n"
    "  (2, 'python', '/home/u/proj/app.py', 'a', 'a', 10),\n"
    "  (3, 'python', '/tmp/e&v\"il.py', '<script>&\"x\"', '<script>&\"x\"', 1),\n"
    "  (4, 'builtin', NULL, 'x;y', NULL, NULL),\n"
    "  (5, 'native', '/lib/libc.so.6', 'ctl' || char(10) || char(1) || 'z' || "
    "CAST(x'ff' AS TEXT), NULL, NULL);\n"
    "INSERT INTO frames VALUES (1, 1, 5), (2, 2, 11), (3, 3, 2), (4, 4, NULL), (5, 5, NULL);\n"
    "INSERT INTO stacks VALUES (1, NULL, 1), (2, 1, 2), (3, 1, 3), (4, 1, 4), (5, 1, 5);\n"
    "INSERT INTO samples VALUES (1, 2, 1000000, 1000000, 0, 1), (1, 2, 2000000, 1000000, 0, 1),\n"
    "  (1, 2, 3000000, 1000000, 0, 1), (1, 3, 4000000, 2000000, 0, 1),\n"
    "  (2, 4, 1000000, 500000, 1, 1), (2, 4, 2000000, 500000, 1, 1), (2, 5, 3000000, 0, 2, 1);\n"
    "INSERT INTO snapshots (id, process_id, label, t_ns, trigger, traced_bytes,"
    " traced_blocks, peak_bytes, rss_bytes) VALUES (1, 1, 'l<1>&', 2500000000, 'api', 4096, 6, 5000, NULL),\n"
    "  (2, 1, NULL, 3000000000, 'exit', 0, 0, 5000, NULL);\n"
    "INSERT INTO snapshot_traces VALUES (1, 2, 3000, 3), (1, 3, 1000, 1), (1, 1, 96, 2);\n";

static char tmpdir[256];
static char dbpath[PATH_MAX];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    const char *msg = NULL;
    sqlite3 *db;
    char *err = NULL;
    (void)state;

    snprintf(tmpdir, sizeof tmpdir, "%s/pyscope-test-flame-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(dbpath, sizeof dbpath, "%s/run.db", tmpdir);
    struct store *st = store_create(dbpath, &msg);
    if (!st || store_close(st) != 0)
        return -1;
    if (sqlite3_open(dbpath, &db) != SQLITE_OK)
        return -1;
    int rc = sqlite3_exec(db, fixture_sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "fixture SQL failed: %s\n", err);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct rendered {
    sqlite3 *db;
    struct smp_profile *p;
    struct smp_tree *t;
    char *text;
    size_t len;
};

enum { SVG, FOLDED, SPEEDSCOPE };

static void render(struct rendered *r, enum smp_clock clock, int flags, int what)
{
    struct smp_filter f = {.clock = clock};
    char msg[512];
    FILE *out;

    memset(r, 0, sizeof *r);
    assert_int_equal(vdb_open(dbpath, &r->db, msg, sizeof msg), 0);
    assert_int_equal(smp_load(r->db, dbpath, &f, &r->p, msg, sizeof msg), 0);
    assert_int_equal(smp_tree_build(r->p, flags, &r->t), 0);
    assert_non_null(out = open_memstream(&r->text, &r->len));
    if (what == SVG)
        assert_int_equal(flame_write_svg(out, r->p, r->t, NULL), 0);
    else if (what == FOLDED)
        assert_int_equal(stackfmt_folded(out, r->p, r->t), 0);
    else
        assert_int_equal(stackfmt_speedscope(out, r->p, r->t, "run.db"), 0);
    assert_int_equal(fclose(out), 0);
}

/* As render, for the live memory of snapshot id. */
static void render_memory(struct rendered *r, int64_t id, int flags, int what)
{
    char msg[512];
    FILE *out;

    memset(r, 0, sizeof *r);
    assert_int_equal(vdb_open(dbpath, &r->db, msg, sizeof msg), 0);
    assert_int_equal(smp_load_snapshot(r->db, dbpath, id, NULL, &r->p, msg, sizeof msg), 0);
    assert_int_equal(smp_tree_build(r->p, flags, &r->t), 0);
    assert_non_null(out = open_memstream(&r->text, &r->len));
    if (what == SVG)
        assert_int_equal(flame_write_svg(out, r->p, r->t, NULL), 0);
    else if (what == FOLDED)
        assert_int_equal(stackfmt_folded(out, r->p, r->t), 0);
    else
        assert_int_equal(stackfmt_speedscope(out, r->p, r->t, "run.db"), 0);
    assert_int_equal(fclose(out), 0);
}

static void release(struct rendered *r)
{
    smp_tree_free(r->t);
    smp_free(r->p);
    vdb_close(r->db);
    free(r->text);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle))
        n++;
    return n;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected '%s' in:\n%s", needle, hay);
}

static void test_xml_escape(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    (void)state;

    flame_put_xml(out, "<a href=\"x\">&'</a>\n\t\x01 \xc3\xa9 \xff \xef\xbf\xbe \xed\xa0\x80!");
    flame_put_xml(out, NULL);
    fclose(out);
    /* A byte that is not UTF-8 is shown as the terminal shows it, \xNN:
     * two such names stay two names. */
    assert_string_equal(buf, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;   "
                             " \xc3\xa9 \\xff \xef\xbf\xbd \\xed\\xa0\\x80!");
    free(buf);
}

static void test_svg(void **state)
{
    struct rendered r;
    (void)state;

    render(&r, SMP_CLOCK_WALL, 0, SVG);
    const char *s = r.text;
    assert_true(!strncmp(s, "<?xml version=\"1.0\"", 19));
    /* Our one script element, and the evil name only escaped. */
    assert_int_equal(count(s, "<script"), 1);
    assert_int_equal(count(s, "]]>"), 2); /* the style's and the script's CDATA */
    assert_contains(s, "<title>&lt;script&gt;&amp;&quot;x&quot;\n/tmp/e&amp;v&quot;il.py:1\n");
    assert_contains(s, ">&lt;script&gt;&amp;&quot;x&quot;</text>");
    assert_null(strstr(s, "<script>&"));
    /* Control characters and bad bytes never reach the file. */
    assert_contains(s, "<title>ctl  z\\xff\n/lib/libc.so.6\n");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\n')
            fail_msg("control character 0x%02x in the SVG", *p);
    /* all, main, a, evil, semi, ctl: one frame each, widths in samples. */
    assert_int_equal(count(s, "<g class=\"f\""), 6);
    assert_contains(s, "fg:total=\"7\"");
    assert_contains(s, "<g class=\"f\" fg:x=\"0\" fg:w=\"7\"><title>all\n7 samples, 7.0 ms, "
                       "100.00%</title>");
    assert_contains(s, "<title>a\napp.py:10\n3 samples, 3.0 ms, 42.86%</title>");
    /* The builtin has no location line. */
    assert_contains(s, "<title>x;y\n2 samples, 2.0 ms, 28.57%</title>");
    release(&r);

    /* cpu: the idle frame is gone, widths in ns. */
    render(&r, SMP_CLOCK_CPU, SMP_TREE_THREADS, SVG);
    /* all, 2 threads, main in each, a, evil, x;y */
    assert_int_equal(count(r.text, "<g class=\"f\""), 8);
    assert_contains(r.text, "fg:total=\"6000000\"");
    assert_contains(r.text, "<title>w&lt;1&gt; (pid 100, tid 101)\n2 samples, 1.0 ms, 16.67%");
    assert_null(strstr(r.text, "<title>ctl"));
    release(&r);
}

static void test_svg_empty(void **state)
{
    struct smp_filter f = {.clock = SMP_CLOCK_CPU, .function = "nothing"};
    struct smp_profile *p;
    struct smp_tree *t;
    sqlite3 *db;
    char msg[512], *buf = NULL;
    size_t len;
    (void)state;

    assert_int_equal(vdb_open(dbpath, &db, msg, sizeof msg), 0);
    assert_int_equal(smp_load(db, dbpath, &f, &p, msg, sizeof msg), 0);
    assert_int_equal(smp_tree_build(p, 0, &t), 0);
    FILE *out = open_memstream(&buf, &len);
    struct flame_opts o = {.title = "T <&>", .subtitle = "S", .width = 600};
    assert_int_equal(flame_write_svg(out, p, t, &o), 0);
    fclose(out);
    assert_contains(buf, ">no samples</text>");
    assert_contains(buf, ">T &lt;&amp;&gt;</text>");
    assert_contains(buf, "width=\"600\"");
    assert_int_equal(count(buf, "<g class=\"f\""), 0);
    free(buf);
    smp_tree_free(t);
    smp_free(p);
    vdb_close(db);
}

/* Sum of the values of folded text, checking each line's shape. */
static long long folded_sum(const char *text, size_t *nlines)
{
    long long sum = 0;
    *nlines = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        const char *sp = end;
        while (sp > line && sp[-1] != ' ')
            sp--;
        assert_true(sp > line + 1);
        char *num_end;
        long long v = strtoll(sp, &num_end, 10);
        assert_ptr_equal(num_end, end);
        assert_true(v > 0);
        sum += v;
        (*nlines)++;
        line = end + 1;
    }
    return sum;
}

static void test_folded(void **state)
{
    struct rendered r;
    size_t n;
    (void)state;

    render(&r, SMP_CLOCK_WALL, 0, FOLDED);
    assert_int_equal(folded_sum(r.text, &n), 7); /* the sample count */
    assert_int_equal(n, 4);
    assert_contains(r.text, "main (app.py:1);a (app.py:10) 3\n");
    assert_contains(r.text, "main (app.py:1);<script>&\"x\" (/tmp/e&v\"il.py:1) 1\n");
    assert_contains(r.text, "main (app.py:1);x,y 2\n"); /* ';' in a name is not a separator */
    assert_contains(r.text, "main (app.py:1);ctl  z\\xff [libc.so.6] 1\n");
    release(&r);

    render(&r, SMP_CLOCK_CPU, SMP_TREE_THREADS | SMP_TREE_LINES, FOLDED);
    assert_int_equal(folded_sum(r.text, &n), 6000); /* CPU microseconds */
    assert_contains(r.text, "MainThread (pid 100, tid 100);main (app.py:5);a (app.py:11) 3000\n");
    assert_contains(r.text, "w<1> (pid 100, tid 101);main (app.py:5);x,y 1000\n");
    release(&r);
}

static void test_speedscope(void **state)
{
    struct rendered r;
    (void)state;

    render(&r, SMP_CLOCK_CPU, SMP_TREE_THREADS, SPEEDSCOPE);
    const char *s = r.text;
    assert_contains(s, "{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\",\n");
    assert_contains(s, "\"name\": \"run.db (cpu time)\"");
    /* Frames in the order met: main, a, evil, then x;y; stacks sorted by name ('<' < 'a'). */
    assert_contains(s, "\"shared\": {\"frames\": [\n   {\"name\": \"main\", \"file\": "
                       "\"/home/u/proj/app.py\", \"line\": 1},\n   {\"name\": \"a\"");
    assert_contains(s, "{\"name\": \"\\u003cscript\\u003e\\u0026\\\"x\\\"\", \"file\": "
                       "\"/tmp/e\\u0026v\\\"il.py\", \"line\": 1}");
    assert_contains(s, "{\"name\": \"x;y\"}");
    assert_contains(s, "{\"type\": \"sampled\", \"name\": \"MainThread (pid 100, tid 100)\", "
                       "\"unit\": \"nanoseconds\", \"startValue\": 0, \"endValue\": 5000000,\n"
                       "   \"samples\": [[0,2], [0,1]],\n   \"weights\": [2000000, 3000000]}");
    assert_contains(s, "\"name\": \"w\\u003c1\\u003e (pid 100, tid 101)\", \"unit\": "
                       "\"nanoseconds\", \"startValue\": 0, \"endValue\": 1000000,\n"
                       "   \"samples\": [[0,3]],\n   \"weights\": [1000000]}");
    assert_contains(s, "\"activeProfileIndex\": 0");
    release(&r);

    /* wall with a known rate: nanoseconds of samples times the interval */
    render(&r, SMP_CLOCK_WALL, SMP_TREE_THREADS, SPEEDSCOPE);
    assert_contains(r.text, "\"weights\": [1000000, 3000000]}");
    assert_contains(r.text, "\"samples\": [[0,4], [0,3]],\n   \"weights\": [1000000, 2000000]}");
    release(&r);
}

static void test_source_lines(void **state)
{
    char path[PATH_MAX], buf[64];
    (void)state;

    snprintf(path, sizeof path, "%s/mod.py", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("def f():\n    x = 1\t+ 2   \r\n\n\t\treturn 'a very long line that will need to be "
          "cut somewhere'\nlast",
          f);
    fclose(f);
    struct src_cache *c = src_cache_new(tmpdir);
    assert_non_null(c);
    assert_string_equal(src_line(c, path, 1, buf, sizeof buf, 60), "def f():");
    assert_string_equal(src_line(c, path, 2, buf, sizeof buf, 60), "x = 1 + 2");
    assert_string_equal(src_line(c, path, 3, buf, sizeof buf, 60), "");
    assert_string_equal(src_line(c, path, 4, buf, sizeof buf, 20), "return 'a very lo...");
    assert_string_equal(src_line(c, path, 5, buf, sizeof buf, 60), "last");
    assert_null(src_line(c, path, 6, buf, sizeof buf, 60));
    assert_null(src_line(c, path, 0, buf, sizeof buf, 60));
    /* Relative to the run's directory. */
    assert_string_equal(src_line(c, "mod.py", 1, buf, sizeof buf, 60), "def f():");
    assert_null(src_line(c, "<string>", 1, buf, sizeof buf, 60));
    assert_null(src_line(c, "/no/such/file.py", 1, buf, sizeof buf, 60));
    assert_null(src_line(c, tmpdir, 1, buf, sizeof buf, 60)); /* a directory */
    assert_null(src_line(c, NULL, 1, buf, sizeof buf, 60));
    /* Read once: the cached text is used even after the file changes. */
    f = fopen(path, "w");
    fputs("changed\n", f);
    fclose(f);
    assert_string_equal(src_line(c, path, 1, buf, sizeof buf, 60), "def f():");
    src_cache_free(c);
    src_cache_free(NULL);
}

/* A snapshot through the same renderers: widths, values and weights in bytes. */
static void test_memory(void **state)
{
    struct rendered r;
    size_t n;
    (void)state;

    render_memory(&r, 1, 0, SVG);
    const char *s = r.text;
    assert_contains(s, "fg:total=\"4096\"");
    assert_int_equal(count(s, "<g class=\"f\""), 4); /* all, main, a, evil */
    assert_contains(s, "<title>all\n4.0 KiB in 6 blocks, 100.00%</title>");
    assert_contains(s, "<title>main\napp.py:1\n4.0 KiB in 6 blocks, 100.00%</title>");
    assert_contains(s, "<title>a\napp.py:10\n2.9 KiB in 3 blocks, 73.24%</title>");
    assert_contains(s, "<title>&lt;script&gt;&amp;&quot;x&quot;\n/tmp/e&amp;v&quot;il.py:1\n"
                       "1000 B in 1 block, 24.41%</title>");
    assert_null(strstr(s, "<script>&"));
    assert_null(strstr(s, "sample"));
    release(&r);

    /* Folded: bytes, adding up to the snapshot's; --by-thread has nothing to add. */
    render_memory(&r, 1, SMP_TREE_THREADS, FOLDED);
    assert_int_equal(folded_sum(r.text, &n), 4096);
    assert_int_equal(n, 3);
    assert_contains(r.text, "main (app.py:1) 96\n");
    assert_contains(r.text, "main (app.py:1);a (app.py:10) 3000\n");
    assert_contains(r.text, "main (app.py:1);<script>&\"x\" (/tmp/e&v\"il.py:1) 1000\n");
    release(&r);

    render_memory(&r, 1, SMP_TREE_THREADS, SPEEDSCOPE);
    assert_contains(r.text, "\"name\": \"run.db (snapshot 1)\"");
    assert_contains(r.text, "\"activeProfileIndex\": 0");
    assert_contains(r.text, "\"profiles\": [\n  {\"type\": \"sampled\", \"name\": \"snapshot 1 "
                            "'l\\u003c1\\u003e\\u0026' (api), pid 100\", \"unit\": \"bytes\", "
                            "\"startValue\": 0, \"endValue\": 4096,\n"
                            "   \"samples\": [[0], [0,2], [0,1]],\n"
                            "   \"weights\": [96, 1000, 3000]}\n ]\n}\n");
    assert_int_equal(count(r.text, "\"type\": \"sampled\""), 1);
    release(&r);

    /* An empty snapshot: a picture that says so, one empty profile. */
    render_memory(&r, 2, 0, SVG);
    assert_contains(r.text, ">no live allocations</text>");
    assert_int_equal(count(r.text, "<g class=\"f\""), 0);
    release(&r);
    render_memory(&r, 2, 0, SPEEDSCOPE);
    assert_contains(r.text, "\"unit\": \"bytes\", \"startValue\": 0, \"endValue\": 0,\n"
                            "   \"samples\": [],\n   \"weights\": []}");
    release(&r);
    render_memory(&r, 2, 0, FOLDED);
    assert_string_equal(r.text, "");
    release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_escape), cmocka_unit_test(test_svg),
        cmocka_unit_test(test_svg_empty),  cmocka_unit_test(test_folded),
        cmocka_unit_test(test_speedscope), cmocka_unit_test(test_source_lines),
        cmocka_unit_test(test_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
