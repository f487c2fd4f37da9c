/* Unit tests for the recorder: wire messages in, rows out. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "recorder.h"
#include "store.h"
#include "wire.h"

#define ORIGIN 1000000000ull
#define MAIN_PID 4242

struct fixture {
    char dir[64];
    char path[128];
    struct store *st;
    struct recorder *rec;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pyscope-test-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/run.db", f->dir);
    const char *err;
    f->st = store_create(f->path, &err);
    f->rec = recorder_new(f->st, (int64_t)ORIGIN, MAIN_PID);
    *state = f;
    return f->st && f->rec ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    recorder_free(f->rec);
    store_close(f->st);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Finish writing and run one query returning a single text value. */
static char *query(struct fixture *f, const char *sql)
{
    if (f->st) {
        recorder_free(f->rec);
        f->rec = NULL;
        store_close(f->st);
        f->st = NULL;
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    char *out = NULL;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(stmt, 0);
        out = strdup(t ? (const char *)t : "NULL");
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
}

static void assert_query(struct fixture *f, const char *sql, const char *want)
{
    char *got = query(f, sql);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static size_t hello(uint8_t *buf, uint32_t pid, uint32_t ppid, uint32_t flags)
{
    struct wire_hello h = {.magic = WIRE_MAGIC,
                           .version = WIRE_VERSION,
                           .pid = pid,
                           .ppid = ppid,
                           .flags = flags,
                           .mono_ns = ORIGIN + 5000};
    static const char cmd[] = "python3.11\0app.py\0two words";
    struct wire_str s[4] = {
        {"3.11.2", 6}, {"/usr/bin/python3.11", 19}, {"/tmp", 4}, {cmd, sizeof cmd - 1}};
    return wire_encode(buf, 512, WIRE_HELLO, &h, sizeof h, s, 4);
}

static size_t thread_start(uint8_t *buf, uint64_t tid, const char *name, int is_main)
{
    struct wire_thread_start t = {
        .tid = tid, .ident = tid * 10, .t_ns = ORIGIN + 7000, .is_main = (uint32_t)is_main};
    struct wire_str s = {name, name ? (uint32_t)strlen(name) : 0};
    return wire_encode(buf, 256, WIRE_THREAD_START, &t, sizeof t, &s, name ? 1 : 0);
}

static size_t thread_end(uint8_t *buf, uint64_t tid, const char *name)
{
    struct wire_thread_end t = {.tid = tid, .t_ns = ORIGIN + 9000};
    struct wire_str s = {name, name ? (uint32_t)strlen(name) : 0};
    return wire_encode(buf, 256, WIRE_THREAD_END, &t, sizeof t, &s, name ? 1 : 0);
}

static size_t process_exit(uint8_t *buf, int how, int code)
{
    struct wire_process_exit e = {.t_ns = ORIGIN + 20000, .how = how, .code = code};
    return wire_encode(buf, 64, WIRE_PROCESS_EXIT, &e, sizeof e, NULL, 0);
}

static void test_main_process_and_threads(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[4096];
    size_t n = hello(msg, MAIN_PID, 1, 0);
    n += thread_start(msg + n, 100, "MainThread", 1);
    n += thread_start(msg + n, 101, "worker", 0);
    n += thread_start(msg + n, 102, NULL, 0);
    int c = recorder_conn_open(f->rec);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), 0);
    n = thread_end(msg, 101, "renamed");
    n += thread_end(msg + n, 102, NULL);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), 0);
    recorder_conn_close(f->rec, c);
    /* The connection closed before waitpid said how the program ended. */
    recorder_main_exited(f->rec, 3 << 8);
    assert_query(f, "select pid || ' ' || argv || ' ' || started_ns from processes",
                 "4242 python3.11 app.py 'two words' 5000");
    assert_query(f, "select exit_code || ' ' || coalesce(signal, 'none') from processes", "3 none");
    assert_query(f,
                 "select group_concat(coalesce(name, '-'), ',') from "
                 "(select name from threads order by os_tid)",
                 "MainThread,renamed,-");
    assert_query(f, "select count(*) from threads where ended_ns is null", "0");
    assert_query(f, "select ended_ns from threads where os_tid = 101", "9000");
}

static void test_fork_child_links_parent_and_exit_record(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[1024];
    int parent = recorder_conn_open(f->rec);
    size_t n = hello(msg, MAIN_PID, 1, 0);
    assert_int_equal(recorder_conn_message(f->rec, parent, msg, n), 0);
    int child = recorder_conn_open(f->rec);
    n = hello(msg, 5000, MAIN_PID, WIRE_HELLO_FORKED);
    n += process_exit(msg + n, WIRE_EXIT_CODE, 7);
    assert_int_equal(recorder_conn_message(f->rec, child, msg, n), 0);
    recorder_conn_close(f->rec, child);
    recorder_main_exited(f->rec, SIGKILL); /* killed while its connection is open */
    recorder_conn_close(f->rec, parent);
    assert_query(f,
                 "select parent_id || ' ' || forked || ' ' || exit_code || ' ' || ended_ns "
                 "from processes where pid = 5000",
                 "1 1 7 20000");
    assert_query(f,
                 "select coalesce(exit_code, 'null') || ' ' || signal from processes "
                 "where pid = 4242",
                 "null 9");
}

static void test_records_before_hello_are_refused(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[256];
    int c = recorder_conn_open(f->rec);
    size_t n = thread_start(msg, 1, "x", 1);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), PYSCOPE_EPROTO);
    assert_int_equal(recorder_protocol_errors(f->rec), 1);
}

static void test_malformed_and_wrong_version(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[1024];
    int c = recorder_conn_open(f->rec);
    size_t n = hello(msg, MAIN_PID, 1, 0);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n - 8), PYSCOPE_EPROTO);

    struct wire_hello h;
    n = hello(msg, MAIN_PID, 1, 0);
    memcpy(&h, msg + sizeof(struct wire_hdr), sizeof h);
    h.version = WIRE_VERSION + 1;
    memcpy(msg + sizeof(struct wire_hdr), &h, sizeof h);
    int c2 = recorder_conn_open(f->rec);
    assert_int_equal(recorder_conn_message(f->rec, c2, msg, n), PYSCOPE_EPROTO);
    assert_query(f, "select count(*) from processes", "0");
}

static void test_unknown_record_types_are_skipped(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[1024];
    int c = recorder_conn_open(f->rec);
    size_t n = hello(msg, MAIN_PID, 1, 0);
    uint64_t future[3] = {1, 2, 3};
    n += wire_encode(msg + n, sizeof msg - n, 77, future, sizeof future, NULL, 0);
    n += thread_start(msg + n, 9, "t", 1);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), 0);
    assert_query(f, "select count(*) from threads", "1");
}

static void test_meta_record(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[1024];
    int c = recorder_conn_open(f->rec);
    size_t n = hello(msg, MAIN_PID, 1, 0);
    struct wire_str kv[2] = {{"answer", 6}, {"42", 2}};
    n += wire_encode(msg + n, sizeof msg - n, WIRE_META, NULL, 0, kv, 2);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), 0);
    assert_query(f, "select value from meta where key = 'answer'", "42");
}

static size_t code_rec(uint8_t *buf, uint64_t key, const char *name, int firstlineno)
{
    struct wire_code c = {.key = key, .firstlineno = firstlineno};
    struct wire_str s[3] = {
        {"app.py", 6}, {name, (uint32_t)strlen(name)}, {name, (uint32_t)strlen(name)}};
    return wire_encode(buf, 256, WIRE_CODE, &c, sizeof c, s, 3);
}

/* A sample of thread tid; frames innermost first as (code key, line) pairs. */
static size_t sample_rec(uint8_t *buf, uint64_t tid, uint64_t t, uint64_t cpu, uint32_t flags,
                         const uint64_t *codes, const int *lines, int n)
{
    struct wire_frame frames[16];
    for (int i = 0; i < n; i++)
        frames[i] = (struct wire_frame){.code = codes[i], .line = lines[i]};
    struct wire_sample smp = {.tid = tid, .t_ns = ORIGIN + t, .cpu_ns = cpu, .flags = flags};
    struct wire_str str = {(const char *)frames, (uint32_t)(n * sizeof *frames)};
    return wire_encode(buf, 1024, WIRE_SAMPLE, &smp, sizeof smp, &str, 1);
}

static void test_samples_intern_functions_frames_and_stacks(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[8192];
    size_t n = hello(msg, MAIN_PID, 1, 0);
    n += thread_start(msg + n, 100, "MainThread", 1);
    n += code_rec(msg + n, 1, "main", 1);
    n += code_rec(msg + n, 2, "work", 10);
    uint64_t codes[2] = {2, 1};
    int lines[2] = {12, 3};
    n += sample_rec(msg + n, 100, 1000, 500, 0, codes, lines, 2);
    n += sample_rec(msg + n, 100, 2000, 700, 0, codes, lines, 2);
    lines[0] = 13;
    n += sample_rec(msg + n, 100, 3000, 900, 0, codes, lines, 2);
    struct wire_sample_idle idle = {.tid = 100, .t_ns = ORIGIN + 4000};
    n += wire_encode(msg + n, sizeof msg - n, WIRE_SAMPLE_IDLE, &idle, sizeof idle, NULL, 0);
    int c = recorder_conn_open(f->rec);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), 0);

    /* A second process names the same function under another key: one row. */
    n = hello(msg, 5000, MAIN_PID, 0);
    n += code_rec(msg + n, 77, "work", 10);
    uint64_t other[1] = {77};
    int other_lines[1] = {12};
    n += sample_rec(msg + n, 200, 1500, 100, 0, other, other_lines, 1);
    int c2 = recorder_conn_open(f->rec);
    assert_int_equal(recorder_conn_message(f->rec, c2, msg, n), 0);

    struct recorder_counts counts;
    recorder_counts(f->rec, &counts);
    assert_int_equal(counts.samples, 5);
    assert_query(f, "select count(*) from functions", "2");
    assert_query(f, "select count(*) from frames", "3"); /* work:12, work:13, main:3 */
    /* main -> work:12, main -> work:13 and the root-level work:12 of process 2 */
    assert_query(f, "select count(*) from stacks", "4");
    /* the first two samples have one stack and state: one row of two ticks */
    assert_query(f,
                 "select group_concat(state || ':' || cpu_ns || 'x' || ticks, ' ') from "
                 "(select * from samples order by t_ns)",
                 "0:1200x2 0:100x1 0:900x1 2:0x1");
    /* the idle sample repeats the last stack: work line 13 under main */
    assert_query(f,
                 "select fr.line || ' ' || fn.name || ' ' || pfn.name from samples s "
                 "join stacks st on st.id = s.stack_id join frames fr on fr.id = st.frame_id "
                 "join functions fn on fn.id = fr.function_id "
                 "join stacks ps on ps.id = st.parent_id join frames pf on pf.id = ps.frame_id "
                 "join functions pfn on pfn.id = pf.function_id where s.state = 2",
                 "13 work main");
}

static void test_truncated_stack_hangs_under_marker(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[4096];
    size_t n = hello(msg, MAIN_PID, 1, 0);
    n += code_rec(msg + n, 1, "down", 5);
    uint64_t codes[3] = {1, 1, 1};
    int lines[3] = {6, 7, 7};
    n += sample_rec(msg + n, 100, 1000, 10, WIRE_SAMPLE_TRUNCATED, codes, lines, 3);
    int c = recorder_conn_open(f->rec);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), 0);
    assert_query(f,
                 "select fn.name from stacks st join frames fr on fr.id = st.frame_id "
                 "join functions fn on fn.id = fr.function_id where st.parent_id is null",
                 "[truncated]");
    assert_query(f, "select count(*) from stacks", "4");
}

/* A sample taken in pyscope's own work ends in a "[pyscope]" leaf under the
 * frames the thread was at; an idle sample after it repeats those frames,
 * not the leaf. */
static void test_own_work_hangs_a_pyscope_leaf(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[4096];
    size_t n = hello(msg, MAIN_PID, 1, 0);
    n += code_rec(msg + n, 1, "make", 5);
    uint64_t codes[1] = {1};
    int lines[1] = {6};
    n += sample_rec(msg + n, 100, 1000, 10, WIRE_SAMPLE_OWN, codes, lines, 1);
    n += sample_rec(msg + n, 100, 2000, 10, 0, codes, lines, 1);
    n += sample_rec(msg + n, 100, 3000, 10, WIRE_SAMPLE_OWN, codes, lines, 1);
    struct wire_sample_idle idle = {.tid = 100, .t_ns = ORIGIN + 4000};
    n += wire_encode(msg + n, sizeof msg - n, WIRE_SAMPLE_IDLE, &idle, sizeof idle, NULL, 0);
    int c = recorder_conn_open(f->rec);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), 0);
    assert_query(f,
                 "select group_concat(fn.name || ':' || coalesce(pfn.name, '-'), ' ') from samples s "
                 "join stacks st on st.id = s.stack_id join frames fr on fr.id = st.frame_id "
                 "join functions fn on fn.id = fr.function_id "
                 "left join stacks ps on ps.id = st.parent_id left join frames pf on pf.id = ps.frame_id "
                 "left join functions pfn on pfn.id = pf.function_id order by s.t_ns",
                 "[pyscope]:make make:- [pyscope]:make make:-");
    assert_query(f, "select count(*) from functions where name = '[pyscope]' and filename is null",
                 "1");
}

/* An idle record stands for the ticks it counts, and the recorder counts
 * them as samples; idle ticks in a row, sent in two records, are one row. */
static void test_idle_record_counts_its_ticks(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[4096];
    size_t n = hello(msg, MAIN_PID, 1, 0);
    n += code_rec(msg + n, 1, "wait", 5);
    uint64_t codes[1] = {1};
    int lines[1] = {6};
    n += sample_rec(msg + n, 100, 1000, 10, 0, codes, lines, 1);
    struct wire_sample_idle idle = {
        .tid = 100, .t_ns = ORIGIN + 2000, .last_ns = ORIGIN + 6000, .ticks = 5};
    n += wire_encode(msg + n, sizeof msg - n, WIRE_SAMPLE_IDLE, &idle, sizeof idle, NULL, 0);
    idle = (struct wire_sample_idle){
        .tid = 100, .t_ns = ORIGIN + 7000, .last_ns = ORIGIN + 9000, .ticks = 3};
    n += wire_encode(msg + n, sizeof msg - n, WIRE_SAMPLE_IDLE, &idle, sizeof idle, NULL, 0);
    idle = (struct wire_sample_idle){.tid = 100,
                                     .t_ns = ORIGIN + 10000,
                                     .last_ns = ORIGIN + 11000,
                                     .state = WIRE_STATE_GIL,
                                     .ticks = 2};
    n += wire_encode(msg + n, sizeof msg - n, WIRE_SAMPLE_IDLE, &idle, sizeof idle, NULL, 0);
    int c = recorder_conn_open(f->rec);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), 0);
    struct recorder_counts counts;
    recorder_counts(f->rec, &counts);
    assert_int_equal(counts.samples, 11);
    assert_query(f,
                 "select group_concat(state || 'x' || ticks, ' ') from "
                 "(select * from samples order by t_ns)",
                 "0x1 2x8 3x2");
}

/* A thread found waiting at the first ticks it is sampled (a loaded machine
 * gave the starting program no CPU yet) has no stack seen: its ticks are
 * the thread's all the same, with no stack, not lost. */
static void test_idle_ticks_before_any_stack_are_kept(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[4096];
    size_t n = hello(msg, MAIN_PID, 1, 0);
    struct wire_sample_idle idle = {.tid = 100,
                                    .t_ns = ORIGIN + 2000,
                                    .last_ns = ORIGIN + 3000,
                                    .state = WIRE_STATE_RUNNABLE,
                                    .ticks = 2};
    n += wire_encode(msg + n, sizeof msg - n, WIRE_SAMPLE_IDLE, &idle, sizeof idle, NULL, 0);
    n += code_rec(msg + n, 1, "main", 5);
    uint64_t codes[1] = {1};
    int lines[1] = {6};
    n += sample_rec(msg + n, 100, 4000, 10, 0, codes, lines, 1);
    int c = recorder_conn_open(f->rec);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), 0);
    struct recorder_counts counts;
    recorder_counts(f->rec, &counts);
    assert_int_equal(counts.samples, 3);
    assert_query(f,
                 "select group_concat(state || 'x' || ticks || ':' || (stack_id is null), ' ')"
                 " from (select * from samples order by t_ns)",
                 "4x2:1 0x1:0");
}

static void test_sample_with_unknown_code_is_refused(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[2048];
    size_t n = hello(msg, MAIN_PID, 1, 0);
    uint64_t codes[1] = {42};
    int lines[1] = {1};
    n += sample_rec(msg + n, 100, 1000, 10, 0, codes, lines, 1);
    int c = recorder_conn_open(f->rec);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), PYSCOPE_EPROTO);
}

static void test_samples_after_thread_end_keep_their_thread(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[4096];
    size_t n = hello(msg, MAIN_PID, 1, 0);
    n += thread_start(msg + n, 300, "worker", 0);
    n += thread_end(msg + n, 300, NULL);
    n += code_rec(msg + n, 1, "run", 1);
    uint64_t codes[1] = {1};
    int lines[1] = {2};
    n += sample_rec(msg + n, 300, 1000, 10, 0, codes, lines, 1);
    int c = recorder_conn_open(f->rec);
    assert_int_equal(recorder_conn_message(f->rec, c, msg, n), 0);
    assert_query(f, "select count(*) from threads", "1");
    assert_query(f, "select t.name from samples s join threads t on t.id = s.thread_id", "worker");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_main_process_and_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_child_links_parent_and_exit_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_records_before_hello_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_and_wrong_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_record_types_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_samples_intern_functions_frames_and_stacks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncated_stack_hangs_under_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_own_work_hangs_a_pyscope_leaf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_record_counts_its_ticks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_ticks_before_any_stack_are_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_with_unknown_code_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_samples_after_thread_end_keep_their_thread, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
