/* Unit tests for interpreter discovery: the probe's output and the checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- the cache of probes ---------------------------------------------- */

static char cache_dir[] = "/tmp/pyscope-test-interp-XXXXXX";

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    assert_int_equal(chmod(to, 0755), 0);
}

/* Replace the version of every cache line whose path field is path. */
static void rewrite_version(const char *cache, const char *path, const char *version)
{
    FILE *f = fopen(cache, "r");
    assert_non_null(f);
    char lines[8][8192];
    int n = 0;
    while (n < 8 && fgets(lines[n], sizeof lines[n], f))
        n++;
    fclose(f);
    f = fopen(cache, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        char *field[10];
        int k = 0;
        char *save;
        for (char *p = strtok_r(lines[i], "\t\n", &save); p && k < 10;
             p = strtok_r(NULL, "\t\n", &save))
            field[k++] = p;
        assert_int_equal(k, 10);
        fprintf(f, "%s", field[0]);
        for (int j = 1; j < 10; j++)
            fprintf(f, "\t%s", j == 8 && !strcmp(field[6], path) ? version : field[j]);
        fputc('\n', f);
    }
    fclose(f);
}

/* The cache file's path, the file removed: each test starts without one. */
static const char *empty_cache(void)
{
    static char cache[4096];
    assert_int_equal(interp_cache_path(cache, sizeof cache), 0);
    unlink(cache);
    return cache;
}

static int cache_setup(void **state)
{
    assert_non_null(mkdtemp(cache_dir));
    setenv("XDG_CACHE_HOME", cache_dir, 1);
    return 0;
}

static int cache_teardown(void **state)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_probe_is_cached(void **state)
{
    char msg[512];
    const char *cache = empty_cache();
    assert_non_null(strstr(cache, "/pyscope/interpreters"));
    struct interp first, again;
    assert_int_equal(interp_probe(PYSCOPE_TEST_PYTHON, &first, msg, sizeof msg), 0);
    assert_int_equal(count_lines(cache), 1);
    assert_int_equal(interp_probe(PYSCOPE_TEST_PYTHON, &again, msg, sizeof msg), 0);
    assert_int_equal(count_lines(cache), 1);
    assert_string_equal(first.version, again.version);
    assert_string_equal(first.path, again.path);
    /* the answer comes from the file: what it says is believed */
    rewrite_version(cache, PYSCOPE_TEST_PYTHON, "3.12.0");
    assert_int_equal(interp_probe(PYSCOPE_TEST_PYTHON, &again, msg, sizeof msg), PYSCOPE_EINVAL);
    assert_non_null(strstr(msg, "CPython 3.12.0; pyscope needs CPython 3.11"));
    unlink(cache);
}

static void test_changed_executable_is_probed_again(void **state)
{
    char fake[4096], msg[512];
    const char *cache = empty_cache();
    /* an ELF file that says, through the cache, that it is CPython 3.11 */
    snprintf(fake, sizeof fake, "%s/python", cache_dir);
    copy_file(PYSCOPE_TEST_PYTHON, fake);
    struct interp in;
    assert_int_equal(interp_probe(fake, &in, msg, sizeof msg), 0);
    copy_file("/bin/true", fake); /* another file at the same path */
    assert_int_equal(interp_probe(fake, &in, msg, sizeof msg), PYSCOPE_EINVAL);
    assert_non_null(strstr(msg, "is not a Python interpreter"));
    copy_file(PYSCOPE_TEST_PYTHON, fake);
    assert_int_equal(interp_probe(fake, &in, msg, sizeof msg), 0);
    assert_int_equal(count_lines(cache), 1); /* one entry per path */
    unlink(fake);
    unlink(cache);
}

static void test_scripts_are_not_cached(void **state)
{
    char shim[4096], msg[512];
    const char *cache = empty_cache();
    snprintf(shim, sizeof shim, "%s/shim", cache_dir);
    FILE *f = fopen(shim, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\nexec '%s' \"$@\"\n", PYSCOPE_TEST_PYTHON);
    fclose(f);
    assert_int_equal(chmod(shim, 0755), 0);
    struct interp in;
    assert_int_equal(interp_probe(shim, &in, msg, sizeof msg), 0);
    assert_int_equal(count_lines(cache), -1);
    unlink(shim);
}

static void test_unwritable_cache_only_costs_a_probe(void **state)
{
    char msg[512];
    setenv("XDG_CACHE_HOME", "/proc/no-such-dir", 1);
    struct interp in;
    assert_int_equal(interp_probe(PYSCOPE_TEST_PYTHON, &in, msg, sizeof msg), 0);
    assert_true(interp_supported(&in));
    setenv("XDG_CACHE_HOME", cache_dir, 1);
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
        cmocka_unit_test(test_probe_is_cached),
        cmocka_unit_test(test_changed_executable_is_probed_again),
        cmocka_unit_test(test_scripts_are_not_cached),
        cmocka_unit_test(test_unwritable_cache_only_costs_a_probe),
    };
    return cmocka_run_group_tests(tests, cache_setup, cache_teardown);
}
