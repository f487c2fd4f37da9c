/* Unit tests for interpreter discovery: the probe's output and the checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "interp.h"

static void test_parse_cpython(void **state)
{
    struct interp in;
    assert_int_equal(interp_parse("cpython\n3.11.2\n/usr/bin/python3.11\n", &in), 0);
    assert_string_equal(in.implementation, "cpython");
    assert_string_equal(in.version, "3.11.2");
    assert_string_equal(in.path, "/usr/bin/python3.11");
    assert_true(interp_supported(&in));
}

static void test_other_versions_are_not_supported(void **state)
{
    struct interp in;
    assert_int_equal(interp_parse("cpython\n3.12.1\n/usr/bin/python3.12\n", &in), 0);
    assert_false(interp_supported(&in));
    assert_int_equal(interp_parse("pypy\n3.11.0\n/usr/bin/pypy3\n", &in), 0);
    assert_false(interp_supported(&in));
}

static void test_parse_rejects_garbage(void **state)
{
    struct interp in;
    assert_int_equal(interp_parse("", &in), PYSCOPE_EPROTO);
    assert_int_equal(interp_parse("cpython\n3.11\n/x\n", &in), PYSCOPE_EPROTO);
    assert_int_equal(interp_parse("cpython\n3.11.2\n", &in), PYSCOPE_EPROTO);
    assert_int_equal(interp_parse("\n3.11.2\n/x\n", &in), PYSCOPE_EPROTO);
}

static void test_probe_the_build_interpreter(void **state)
{
    struct interp in;
    char msg[512];
    assert_int_equal(interp_probe(PYSCOPE_TEST_PYTHON, &in, msg, sizeof msg), 0);
    assert_true(interp_supported(&in));
}

static void test_probe_refuses_non_python(void **state)
{
    struct interp in;
    char msg[512];
    assert_int_equal(interp_probe("/bin/true", &in, msg, sizeof msg), PYSCOPE_EINVAL);
    assert_non_null(strstr(msg, "'/bin/true' is not a Python interpreter"));
}

static void test_which(void **state)
{
    char out[4096];
    setenv("PATH", "/nonexistent:/bin:/usr/bin", 1);
    assert_int_equal(interp_which("sh", out, sizeof out), 0);
    assert_string_equal(out, "/bin/sh");
    assert_int_equal(interp_which("no-such-program-here", out, sizeof out), PYSCOPE_ENOTFOUND);
    assert_int_equal(interp_which("/no/such/python", out, sizeof out), PYSCOPE_ENOTFOUND);
}

static void test_explicit_missing_interpreter(void **state)
{
    struct interp in;
    char msg[512];
    assert_int_equal(interp_choose("/no/such/python", &in, msg, sizeof msg), PYSCOPE_ENOTFOUND);
    assert_string_equal(msg, "cannot find the interpreter '/no/such/python'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_cpython),
        cmocka_unit_test(test_other_versions_are_not_supported),
        cmocka_unit_test(test_parse_rejects_garbage),
        cmocka_unit_test(test_probe_the_build_interpreter),
        cmocka_unit_test(test_probe_refuses_non_python),
        cmocka_unit_test(test_which),
        cmocka_unit_test(test_explicit_missing_interpreter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
