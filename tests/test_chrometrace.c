/*
 * Tests for viewer/chrometrace.h: a run database made by the recorder's own
 * store_create, filled from SQL with known answers, exported, and the
 * events looked for as they must be written: a thread's samples as nested
 * state and function events, events closed together outermost first, a gap
 * in the samples ending the events, the process's lifetime, snapshots and
 * collections on their own tracks, and the selection.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chrometrace.h"
#include "db.h"
#include "error.h"
#include "rundb.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Process 100 ("app.py", exit 3), MainThread (tid 100) and worker (tid
 * 101), at 1 kHz. Functions main (app.py:1), A.a (app.py:10), b
 * (app.py:20); stacks 1 main, 2 main>a, 3 main>b. MainThread: running at
 * 1 ms and 2 ms in main>a, at 3 ms in main>b, idle at 4 ms in main for 2
 * ticks, then, after a gap, running at 20 ms in main. worker: native at
 * 2 ms without a stack. A snapshot at 5 ms and a collection from 3.5 ms for
 * 0.25 ms.
 */
static const char run_sql[] =
    "INSERT INTO meta VALUES ('sample_rate_hz', '1000'), ('argv', 'app.py');\n"
    "INSERT INTO processes (id, pid, argv, started_ns, ended_ns, exit_code)\n"
    "  VALUES (1, 100, 'python3 app.py', 500000, 30000000, 3);\n"
    "INSERT INTO threads (id, process_id, os_tid, name, is_main, started_ns) VALUES\n"
    "  (1, 1, 100, 'MainThread', 1, 500000), (2, 1, 101, 'worker', 0, 1000000);\n"
    "INSERT INTO functions VALUES\n"
    "  (1, 'python', '/p/app.py', 'main', 'main', 1),\n"
    "  (2, 'python', '/p/app.py', 'a', 'A.a', 10),\n"
    "  (3, 'python', '/p/app.py', 'b', 'b', 20);\n"
    "INSERT INTO frames VALUES (1, 1, 5), (2, 2, 11), (3, 3, 21);\n"
    "INSERT INTO stacks VALUES (1, NULL, 1), (2, 1, 2), (3, 1, 3);\n"
    "INSERT INTO samples VALUES (1, 2, 1000000, 900000, 0, 1), (1, 2, 2000000, 900000, 0, 1),\n"
    "  (1, 3, 3000000, 900000, 0, 1), (1, 1, 4000000, 0, 2, 2), (1, 1, 20000000, 900000, 0, 1),\n"
    "  (2, NULL, 2000000, 500000, 1, 1);\n"
    "INSERT INTO snapshots (id, process_id, label, t_ns, trigger, traced_bytes, traced_blocks,\n"
    "  rss_bytes) VALUES (1, 1, 'kept', 5000000, 'api', 950, 4, 8192);\n"
    "INSERT INTO gc_collections VALUES (1, 2, 3500000, 250000, 7, 0, 1, NULL);\n";

static char path[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    return rundb_make(path, sizeof path, "chrometrace", run_sql);
}

static int teardown(void **state)
{
    (void)state;
    return unlink(path);
}

/* The export of f's selection, or NULL with the error in *err and msg. */
static char *export(const struct smp_filter *f, int *err, char *msg, size_t msglen)
{
    sqlite3 *db;
    assert_int_equal(vdb_open(path, &db, msg, msglen), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    *err = ctrace_write(out, db, path, f, msg, msglen);
    fclose(out);
    vdb_close(db);
    if (*err) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Where event (an exact piece of the file) is, failing when it is not. */
static const char *find(const char *doc, const char *event)
{
    const char *at = strstr(doc, event);
    if (!at)
        fail_msg("no %s in:\n%s", event, doc);
    return at;
}

#define EV(name, tid, cat_args, ts, dur)                                                           \
    "{\"ph\":\"X\",\"name\":\"" name "\",\"pid\":100,\"tid\":" tid "," cat_args ",\"ts\":" ts      \
    ",\"dur\":" dur "}"
#define PY(line) "\"cat\":\"python\",\"args\":{\"file\":\"/p/app.py\",\"first_line\":" line "}"
#define STATE "\"cat\":\"state\""

static void test_samples_nest(void **state)
{
    (void)state;
    int err;
    char msg[256];
    char *doc = export(NULL, &err, msg, sizeof msg);
    assert_non_null(doc);
    /* main>a for two samples, then main>b: a closes alone at 3 ms */
    const char *a = find(doc, EV("A.a", "100", PY("10"), "1000", "2000"));
    /* the state changes at 4 ms: running and main close, outermost first */
    const char *running = find(doc, EV("running", "100", STATE, "1000", "3000"));
    const char *main = find(doc, EV("main", "100", PY("1"), "1000", "3000"));
    const char *b = find(doc, EV("b", "100", PY("20"), "3000", "1000"));
    assert_true(a < running && running < main && main < b);
    /* the idle run's two ticks, then a gap: ended with its ticks */
    find(doc, EV("idle", "100", STATE, "4000", "2000"));
    find(doc, EV("main", "100", PY("1"), "4000", "2000"));
    /* the last sample: one interval */
    find(doc, EV("running", "100", STATE, "20000", "1000"));
    /* a sample without a stack is its state alone */
    find(doc, EV("native", "101", STATE, "2000", "1000"));
    /* the threads named and ordered, the main one first */
    const char *m = find(doc, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":100,\"tid\":100,"
                              "\"args\":{\"name\":\"MainThread\"}}");
    const char *w = find(doc, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":100,\"tid\":101,"
                              "\"args\":{\"name\":\"worker\"}}");
    assert_true(m < w);
    free(doc);
}

static void test_process_tracks(void **state)
{
    (void)state;
    int err;
    char msg[256];
    char *doc = export(NULL, &err, msg, sizeof msg);
    assert_non_null(doc);
    find(doc, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":100,\"tid\":0,"
              "\"args\":{\"name\":\"python3 app.py\"}}");
    find(doc, "{\"ph\":\"X\",\"name\":\"python3 app.py\",\"pid\":100,\"tid\":1073741824,"
              "\"cat\":\"process\",\"args\":{\"pid\":100,\"ended\":true,\"exit_code\":3},"
              "\"ts\":500,\"dur\":29500}");
    find(doc, "{\"ph\":\"i\",\"name\":\"snapshot 1 (api)\",\"pid\":100,\"tid\":1073741824,"
              "\"s\":\"t\",\"cat\":\"snapshot\",\"args\":{\"label\":\"kept\",\"traced_bytes\":950,"
              "\"traced_blocks\":4,\"rss_bytes\":8192},\"ts\":5000}");
    find(doc, "{\"ph\":\"C\",\"name\":\"memory\",\"pid\":100,\"tid\":1073741824,"
              "\"args\":{\"traced\":950,\"rss\":8192},\"ts\":5000}");
    find(doc, "{\"ph\":\"X\",\"name\":\"gc gen 2\",\"pid\":100,\"tid\":1073741825,\"cat\":\"gc\","
              "\"args\":{\"collected\":7,\"uncollectable\":0,\"thread\":\"MainThread\"},"
              "\"ts\":3500,\"dur\":250}");
    free(doc);
}

static void test_selection(void **state)
{
    (void)state;
    int err;
    char msg[256];
    struct smp_filter f = {.thread = "worker"};
    char *doc = export(&f, &err, msg, sizeof msg);
    assert_non_null(doc);
    assert_null(strstr(doc, "\"tid\":100,"));
    find(doc, EV("native", "101", STATE, "2000", "1000"));
    free(doc);
    /* by id, as a number, as the other commands take it */
    f = (struct smp_filter){.thread = "02"};
    doc = export(&f, &err, msg, sizeof msg);
    assert_non_null(doc);
    find(doc, EV("native", "101", STATE, "2000", "1000"));
    assert_null(strstr(doc, "\"tid\":100,"));
    free(doc);
    f = (struct smp_filter){.has_pid = 1, .pid = 7};
    assert_null(export(&f, &err, msg, sizeof msg));
    assert_int_equal(err, PYSCOPE_ENOTFOUND);
    assert_non_null(strstr(msg, "no thread"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_nest),
        cmocka_unit_test(test_process_tracks),
        cmocka_unit_test(test_selection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
