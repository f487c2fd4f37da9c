/*
 * Unit tests of util.h: the integer parsing the viewer's options and thread
 * filters share, signal names, and the growing arrays every module uses.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "error.h"
#include "util.h"

static void test_parse_i64(void **state)
{
    int64_t v = 7;
    (void)state;
    assert_int_equal(util_parse_i64("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(util_parse_i64("-3", &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(util_parse_i64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(util_parse_i64("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);

    v = 7;
    const char *bad[] = {"", "-", "+1", " 1", "1 ", "1x", "x1", "0x10", "--1",
                         "9223372036854775808", "MainThread"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(util_parse_i64(bad[i], &v), -1);
    assert_int_equal(util_parse_i64(NULL, &v), -1);
    assert_int_equal(v, 7); /* untouched on failure */
}

static void test_signal_name(void **state)
{
    (void)state;
    assert_string_equal(util_signal_name(SIGKILL), "SIGKILL");
    assert_string_equal(util_signal_name(SIGSEGV), "SIGSEGV");
    assert_string_equal(util_signal_name(SIGTERM), "SIGTERM");
    assert_string_equal(util_signal_name(SIGINT), "SIGINT");
    assert_string_equal(util_signal_name(SIGABRT), "SIGABRT");
#ifdef __linux__
    assert_string_equal(util_signal_name(9), "SIGKILL");
    assert_string_equal(util_signal_name(11), "SIGSEGV");
#endif
    assert_null(util_signal_name(0));
    assert_null(util_signal_name(-1));
    assert_null(util_signal_name(1000));
}

static void test_grow(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(util_grow((void **)&a, &cap, 0, sizeof *a), 0);
    assert_int_equal(cap, UTIL_GROW_FIRST);
    for (size_t n = 0; n < 100; n++) {
        assert_int_equal(util_grow((void **)&a, &cap, n, sizeof *a), 0);
        a[n] = (int)n;
    }
    assert_int_equal(cap, 128); /* 16, doubled three times */
    for (size_t n = 0; n < 100; n++)
        assert_int_equal(a[n], (int)n);
    /* Room already: nothing moves. */
    int *before = a;
    assert_int_equal(util_grow((void **)&a, &cap, 100, sizeof *a), 0);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 128);
    free(a);
}

static void test_reserve(void **state)
{
    (void)state;
    char *a = NULL;
    size_t cap = 0;
    /* The first capacity is the caller's. */
    assert_int_equal(util_reserve((void **)&a, &cap, 1, 1, 4096), 0);
    assert_int_equal(cap, 4096);
    /* Enough: unchanged. */
    assert_int_equal(util_reserve((void **)&a, &cap, 4096, 1, 4096), 0);
    assert_int_equal(cap, 4096);
    /* Far past the end: doubled as often as it takes, the contents kept. */
    a[4095] = 'x';
    assert_int_equal(util_reserve((void **)&a, &cap, 20000, 1, 4096), 0);
    assert_int_equal(cap, 32768);
    assert_int_equal(a[4095], 'x');
    /* An empty array asked for more than its first capacity. */
    long *b = NULL;
    size_t bcap = 0;
    assert_int_equal(util_reserve((void **)&b, &bcap, 100, sizeof *b, 64), 0);
    assert_int_equal(bcap, 128);
    b[99] = 7;
    /* Sizes past what a size_t holds fail, the array left as it was. */
    long *keep = b;
    assert_int_equal(util_reserve((void **)&b, &bcap, SIZE_MAX / 4, sizeof *b, 64), PYSCOPE_ENOMEM);
    assert_int_equal(util_reserve((void **)&b, &bcap, SIZE_MAX, 1, 64), PYSCOPE_ENOMEM);
    assert_ptr_equal(b, keep);
    assert_int_equal(bcap, 128);
    assert_int_equal(b[99], 7);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_name),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
