/*
 * Tests for viewer/pprof.h: a run database made by the recorder's own
 * store_create, filled from SQL with known answers, exported, then read
 * back as a reader would: gunzipped and decoded with protobuf-c. Samples of
 * two threads in two states become one pprof sample per thread, stack and
 * state, with their labels and the three values; functions and locations
 * are shared between samples; a snapshot exports its live blocks and
 * bytes.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"
#include "pprof.h"
#include "samples.h"
#include "rundb.h"

#include <pprof.pb-c.h>

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/*
 * Process 100, threads MainThread (tid 100) and worker (tid 101).
 * Functions main (app.py:1), A.a (app.py:10) and one whose name is not
 * UTF-8 (b, 0xff, c); stacks 1 main@5, 2 main@5>a@11 and 3 main@5>b?c@21.
 * MainThread: 3 ticks of a, running, 1 ms of CPU each, in one run row, and
 * 2 ticks idle at main. worker: 1 tick of a, running, 4 ms of CPU, and one
 * of b?c, native, 2 ms. Snapshot 1: 3 blocks of 300 bytes at a, 1 of 50 at
 * main.
 */
static const char run_sql[] =
    "INSERT INTO meta VALUES ('start_wall_ns', '1700000000000000000'),\n"
    "  ('duration_ns', '5000000'), ('argv', 'app.py 3'), ('python_version', '3.12.1'),\n"
    "  ('sample_rate_hz', '1000');\n"
    "INSERT INTO processes (id, pid, started_ns) VALUES (1, 100, 0);\n"
    "INSERT INTO threads (id, process_id, os_tid, name, is_main, started_ns) VALUES\n"
    "  (1, 1, 100, 'MainThread', 1, 0), (2, 1, 101, 'worker', 0, 0);\n"
    "INSERT INTO functions VALUES\n"
    "  (1, 'python', '/p/app.py', 'main', 'main', 1),\n"
    "  (2, 'python', '/p/app.py', 'a', 'A.a', 10),\n"
    "  (3, 'python', '/p/app.py', CAST(X'62ff63' AS TEXT), CAST(X'62ff63' AS TEXT), 20);\n"
    "INSERT INTO frames VALUES (1, 1, 5), (2, 2, 11), (3, 3, 21);\n"
    "INSERT INTO stacks VALUES (1, NULL, 1), (2, 1, 2), (3, 1, 3);\n"
    "INSERT INTO samples VALUES (1, 2, 1000000, 3000000, 0, 3),\n"
    "  (1, 1, 4000000, 0, 2, 2), (2, 2, 1000000, 4000000, 0, 1), (2, 3, 2000000, 2000000, 1, 1);\n"
    "INSERT INTO snapshots (id, process_id, t_ns, trigger, traced_bytes, traced_blocks)\n"
    "  VALUES (1, 1, 4000000, 'api', 950, 4);\n"
    "INSERT INTO snapshot_traces VALUES (1, 2, 900, 3), (1, 1, 50, 1);\n";

static char path[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    return rundb_make(path, sizeof path, "pprof", run_sql);
}

static int teardown(void **state)
{
    (void)state;
    return unlink(path);
}

/* Export through write (samples of kind, or the snapshot when snap), at
 * at_ns, and decode. */
static Pyscope__Pprof__Profile *export_as(int snap, const struct smp_filter *f,
                                          enum pprof_kind kind, int64_t at_ns)
{
    sqlite3 *db;
    char msg[512];
    assert_int_equal(vdb_open(path, &db, msg, sizeof msg), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    if (snap) {
        struct smp_profile *p;
        assert_int_equal(smp_load_snapshot(db, path, 1, NULL, &p, msg, sizeof msg), 0);
        assert_int_equal(pprof_write_snapshot(out, db, p, at_ns, msg, sizeof msg), 0);
        smp_free(p);
    } else {
        assert_int_equal(pprof_write_samples(out, db, path, f, kind, at_ns, msg, sizeof msg), 0);
    }
    fclose(out);
    vdb_close(db);
    /* gzip's magic, then the message */
    assert_true(len > 2 && (uint8_t)buf[0] == 0x1f && (uint8_t)buf[1] == 0x8b);
    uint8_t *raw = malloc(1 << 20);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (uint8_t *)buf;
    z.avail_in = (uInt)len;
    z.next_out = raw;
    z.avail_out = 1 << 20;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    Pyscope__Pprof__Profile *prof =
        pyscope__pprof__profile__unpack(NULL, (1 << 20) - z.avail_out, raw);
    inflateEnd(&z);
    free(raw);
    free(buf);
    assert_non_null(prof);
    return prof;
}

static Pyscope__Pprof__Profile *export(int snap, const struct smp_filter *f)
{
    return export_as(snap, f, PPROF_ALL, 0);
}

static const char *str(const Pyscope__Pprof__Profile *p, int64_t i)
{
    assert_true(i >= 0 && (size_t)i < p->n_string_table);
    return p->string_table[i];
}

/* The label of s under key: its string, or its number in *num. */
static const char *label(const Pyscope__Pprof__Profile *p, const Pyscope__Pprof__Sample *s,
                         const char *key, int64_t *num)
{
    for (size_t i = 0; i < s->n_label; i++)
        if (!strcmp(str(p, s->label[i]->key), key)) {
            if (num)
                *num = s->label[i]->num;
            return str(p, s->label[i]->str);
        }
    fail_msg("no label %s", key);
    return NULL;
}

/* The qualname of the function of location id. */
static const char *location_name(const Pyscope__Pprof__Profile *p, uint64_t id, int64_t *line)
{
    assert_true(id >= 1 && id <= p->n_location);
    const Pyscope__Pprof__Location *loc = p->location[id - 1];
    assert_int_equal(loc->id, id);
    assert_int_equal(loc->n_line, 1);
    *line = loc->line[0]->line;
    uint64_t fid = loc->line[0]->function_id;
    assert_true(fid >= 1 && fid <= p->n_function);
    const Pyscope__Pprof__Function *fn = p->function[fid - 1];
    assert_int_equal(fn->id, fid);
    assert_string_equal(str(p, fn->filename), "/p/app.py");
    /* pprof demangles a name equal to its system name as C++: a Python
     * function's system name is only there when it differs */
    if (!strcmp(str(p, fn->name), "A.a"))
        assert_string_equal(str(p, fn->system_name), "a");
    else
        assert_string_equal(str(p, fn->system_name), "");
    return str(p, fn->name);
}

static void test_samples(void **state)
{
    (void)state;
    struct smp_filter f = {0};
    Pyscope__Pprof__Profile *p = export(0, &f);
    assert_string_equal(str(p, 0), "");
    assert_int_equal(p->n_sample_type, 3);
    assert_string_equal(str(p, p->sample_type[0]->type), "samples");
    assert_string_equal(str(p, p->sample_type[0]->unit), "count");
    assert_string_equal(str(p, p->sample_type[1]->type), "cpu");
    assert_string_equal(str(p, p->sample_type[2]->unit), "nanoseconds");
    assert_string_equal(str(p, p->default_sample_type), "cpu");
    assert_int_equal(p->period, 1000000);
    assert_string_equal(str(p, p->period_type->type), "wall");
    assert_int_equal(p->time_nanos, 1700000000000000000);
    assert_int_equal(p->duration_nanos, 5000000);
    assert_int_equal(p->n_comment, 1);
    assert_string_equal(str(p, p->comment[0]), "pyscope run of: app.py 3 (CPython 3.12.1)");
    /* main, A.a and b?c, at main@5, a@11 and b?c@21: shared by the samples */
    assert_int_equal(p->n_function, 3);
    assert_int_equal(p->n_location, 3);
    assert_int_equal(p->n_sample, 4);
    int seen = 0;
    for (size_t i = 0; i < p->n_sample; i++) {
        const Pyscope__Pprof__Sample *s = p->sample[i];
        int64_t tid, pid, line;
        const char *thread = label(p, s, "thread", NULL), *st = label(p, s, "state", NULL);
        label(p, s, "thread_id", &tid);
        label(p, s, "pid", &pid);
        assert_int_equal(pid, 100);
        assert_int_equal(s->n_value, 3);
        const char *leaf = location_name(p, s->location_id[0], &line);
        const char *root = location_name(p, s->location_id[s->n_location_id - 1], &line);
        assert_string_equal(root, "main");
        assert_int_equal(line, 5);
        if (!strcmp(thread, "MainThread") && !strcmp(st, "running")) {
            assert_int_equal(tid, 100);
            assert_string_equal(leaf, "A.a");
            assert_int_equal(s->n_location_id, 2);
            assert_int_equal(s->value[0], 3);
            assert_int_equal(s->value[1], 3000000);
            assert_int_equal(s->value[2], 3000000);
            seen |= 1;
        } else if (!strcmp(thread, "MainThread") && !strcmp(st, "idle")) {
            assert_int_equal(s->n_location_id, 1);
            assert_int_equal(s->value[0], 2);
            assert_int_equal(s->value[1], 0);
            assert_int_equal(s->value[2], 2000000);
            seen |= 2;
        } else if (!strcmp(thread, "worker") && !strcmp(st, "running")) {
            assert_int_equal(tid, 101);
            assert_string_equal(leaf, "A.a");
            assert_int_equal(s->value[0], 1);
            assert_int_equal(s->value[1], 4000000);
            seen |= 4;
        } else if (!strcmp(thread, "worker") && !strcmp(st, "native")) {
            /* pprof's strings are UTF-8: the byte is the text \xff */
            assert_string_equal(leaf, "b\\xffc");
            assert_int_equal(s->value[1], 2000000);
            seen |= 8;
        }
    }
    assert_int_equal(seen, 15);
    pyscope__pprof__profile__free_unpacked(p, NULL);
}

/* The filter's states and thread select, as for the other exports. */
static void test_filtered(void **state)
{
    (void)state;
    struct smp_filter f = {.states = 1u << SMP_STATE_IDLE};
    Pyscope__Pprof__Profile *p = export(0, &f);
    assert_int_equal(p->n_sample, 1);
    assert_string_equal(label(p, p->sample[0], "state", NULL), "idle");
    pyscope__pprof__profile__free_unpacked(p, NULL);
    f = (struct smp_filter){.thread = "worker", .states = 1u << SMP_STATE_RUNNING};
    p = export(0, &f);
    assert_int_equal(p->n_sample, 1);
    assert_string_equal(label(p, p->sample[0], "thread", NULL), "worker");
    pyscope__pprof__profile__free_unpacked(p, NULL);
}

static void test_snapshot(void **state)
{
    (void)state;
    Pyscope__Pprof__Profile *p = export(1, NULL);
    assert_int_equal(p->n_sample_type, 2);
    assert_string_equal(str(p, p->sample_type[0]->type), "inuse_objects");
    assert_string_equal(str(p, p->sample_type[1]->type), "inuse_space");
    assert_string_equal(str(p, p->sample_type[1]->unit), "bytes");
    assert_string_equal(str(p, p->default_sample_type), "inuse_space");
    assert_int_equal(p->n_sample, 2);
    int64_t blocks = 0, bytes = 0, line;
    for (size_t i = 0; i < p->n_sample; i++) {
        const Pyscope__Pprof__Sample *s = p->sample[i];
        assert_int_equal(s->n_label, 0);
        blocks += s->value[0];
        bytes += s->value[1];
        if (!strcmp(location_name(p, s->location_id[0], &line), "A.a"))
            assert_int_equal(s->value[1], 900);
    }
    assert_int_equal(blocks, 4);
    assert_int_equal(bytes, 950);
    pyscope__pprof__profile__free_unpacked(p, NULL);
}

/* A CPU profile (push's): samples and cpu, the stacks that used CPU only,
 * its period typed cpu; a wall one: samples and wall, every state; each at
 * the time given. */
static void test_kinds(void **state)
{
    (void)state;
    struct smp_filter f = {0};
    Pyscope__Pprof__Profile *p = export_as(0, &f, PPROF_CPU, 42);
    assert_int_equal(p->n_sample_type, 2);
    assert_string_equal(str(p, p->sample_type[1]->type), "cpu");
    assert_string_equal(str(p, p->default_sample_type), "cpu");
    assert_string_equal(str(p, p->period_type->type), "cpu");
    assert_int_equal(p->time_nanos, 42);
    assert_int_equal(p->n_sample, 3); /* not MainThread's idle ticks */
    int64_t cpu = 0, samples = 0;
    for (size_t i = 0; i < p->n_sample; i++) {
        assert_int_equal(p->sample[i]->n_value, 2);
        assert_string_not_equal(label(p, p->sample[i], "state", NULL), "idle");
        samples += p->sample[i]->value[0];
        cpu += p->sample[i]->value[1];
    }
    assert_int_equal(samples, 5);
    assert_int_equal(cpu, 9000000);
    pyscope__pprof__profile__free_unpacked(p, NULL);
    p = export_as(0, &f, PPROF_WALL, 0);
    assert_int_equal(p->n_sample_type, 2);
    assert_string_equal(str(p, p->sample_type[1]->type), "wall");
    assert_string_equal(str(p, p->default_sample_type), "wall");
    assert_int_equal(p->time_nanos, 1700000000000000000);
    assert_int_equal(p->n_sample, 4);
    int64_t wall = 0;
    for (size_t i = 0; i < p->n_sample; i++)
        wall += p->sample[i]->value[1];
    assert_int_equal(wall, 7000000);
    pyscope__pprof__profile__free_unpacked(p, NULL);
    p = export_as(1, NULL, PPROF_ALL, 7);
    assert_int_equal(p->time_nanos, 7);
    pyscope__pprof__profile__free_unpacked(p, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_filtered),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_kinds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
