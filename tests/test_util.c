/*
 * Unit tests of util.h's integer parsing: the one rule the viewer's options
 * and thread filters share.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_name),
        cmocka_unit_test(test_parse_i64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
