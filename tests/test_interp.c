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
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

extern char **environ;
#include "interp.h"

static void test_parse_cpython(void **state)
{
    struct interp in;
    assert_int_equal(interp_parse("cpython\n3.11.2\n/usr/bin/python3.11\n\n", &in), 0);
    assert_string_equal(in.implementation, "cpython");
    assert_string_equal(in.version, "3.11.2");
    assert_string_equal(in.path, "/usr/bin/python3.11");
    assert_true(interp_supported(&in));
}

static void test_other_versions_are_not_supported(void **state)
{
    struct interp in;
    assert_int_equal(interp_parse("cpython\n3.10.13\n/usr/bin/python3.10\n\n", &in), 0);
    assert_false(interp_supported(&in));
    assert_int_equal(interp_parse("pypy\n3.11.0\n/usr/bin/pypy3\n\n", &in), 0);
    assert_false(interp_supported(&in));
}

/* ---- the versions of a build ---------------------------------------- */

static const int all_three[] = {11, 12, 13};
static const int two[] = {11, 12};
static const char *const two_boots[] = {"sitecustomize.cpython-311-x86_64-linux-gnu.so",
                                        "sitecustomize.cpython-312-x86_64-linux-gnu.so"};
/* the version layer has 3.11 to 3.13, the build extensions for 3.11 and 3.12 */
static const struct interp_build partial = {all_three, 3, two, two_boots, 2};

static struct interp parsed(const char *text)
{
    struct interp in;
    assert_int_equal(interp_parse(text, &in), 0);
    return in;
}

static void test_build_has_its_versions_only(void **state)
{
    struct interp in = parsed("cpython\n3.11.7\n/x/python3.11\n\n");
    assert_true(interp_build_has(&partial, &in));
    assert_string_equal(interp_boot_file(&partial, &in), two_boots[0]);
    in = parsed("cpython\n3.12.1\n/x/python3.12\n\n");
    assert_true(interp_build_has(&partial, &in));
    assert_string_equal(interp_boot_file(&partial, &in), two_boots[1]);
    const char *others[] = {"cpython\n3.13.0\n/x/python3.13\n\n", /* supported, not built */
                            "cpython\n3.10.13\n/x/python3.10\n\n",
                            "cpython\n3.14.0\n/x/python3.14\n\n",
                            "cpython\n2.11.0\n/x/python2\n\n", "pypy\n3.11.0\n/x/pypy3\n\n"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        in = parsed(others[i]);
        assert_false(interp_build_has(&partial, &in));
        assert_null(interp_boot_file(&partial, &in));
    }
}

static void test_refusal_names_the_versions(void **state)
{
    char msg[512];
    struct interp in = parsed("cpython\n3.10.13\n/x/python3.10\n\n");
    interp_refusal(&partial, "/x/python3.10", &in, msg, sizeof msg);
    assert_string_equal(msg, "'/x/python3.10' is CPython 3.10.13; pyscope supports CPython "
                             "3.11\u20133.13, and this build has 3.11, 3.12");
    in = parsed("cpython\n3.13.0\n/x/python3.13\n\n");
    interp_refusal(&partial, "/x/python3.13", &in, msg, sizeof msg);
    assert_string_equal(msg, "'/x/python3.13' is CPython 3.13.0; pyscope supports CPython "
                             "3.11\u20133.13, and this build has 3.11, 3.12");
    in = parsed("pypy\n3.11.0\n/x/pypy3\n\n");
    interp_refusal(&partial, "pypy3", &in, msg, sizeof msg);
    assert_string_equal(msg, "'pypy3' is pypy 3.11.0; pyscope supports CPython "
                             "3.11\u20133.13, and this build has 3.11, 3.12");
    /* one version; two; a gap: listed, not a range */
    static const int gap[] = {11, 13};
    struct interp_build one = {two, 1, two, two_boots, 1}, pair = {two, 2, two, two_boots, 1},
                        holed = {gap, 2, two, two_boots, 1};
    in = parsed("cpython\n3.12.1\n/x/python3.12\n\n");
    interp_refusal(&one, "/x/python3.12", &in, msg, sizeof msg);
    assert_string_equal(msg, "'/x/python3.12' is CPython 3.12.1; pyscope supports CPython 3.11, "
                             "and this build has 3.11");
    interp_refusal(&pair, "/x/python3.12", &in, msg, sizeof msg);
    assert_string_equal(msg, "'/x/python3.12' is CPython 3.12.1; pyscope supports CPython "
                             "3.11, 3.12, and this build has 3.11");
    interp_refusal(&holed, "/x/python3.12", &in, msg, sizeof msg);
    assert_string_equal(msg, "'/x/python3.12' is CPython 3.12.1; pyscope supports CPython "
                             "3.11, 3.13, and this build has 3.11");
    char versions[64];
    interp_build_versions(&partial, versions, sizeof versions);
    assert_string_equal(versions, "3.11, 3.12");
}

/* This build's list is the one CMake built extensions for. */
static void test_this_build(void **state)
{
    const struct interp_build *b = interp_this_build();
    static const int layer[] = {PYSCOPE_TEST_LAYER_MINORS};
    assert_int_equal(b->nsupported, sizeof layer / sizeof layer[0]);
    assert_memory_equal(b->supported, layer, sizeof layer);
    char versions[256];
    interp_build_versions(b, versions, sizeof versions);
    assert_string_equal(versions, PYSCOPE_TEST_BUILT_VERSIONS);
    assert_true(b->nbuilt >= 1);
    for (size_t i = 0; i < b->nbuilt; i++) {
        char text[128], boot[64];
        snprintf(text, sizeof text, "cpython\n3.%d.0\n/x/python\n\n", b->built[i]);
        struct interp in = parsed(text);
        assert_true(interp_supported(&in));
        snprintf(boot, sizeof boot, "sitecustomize.cpython-3%d-", b->built[i]);
        assert_ptr_equal(strstr(interp_boot_file(b, &in), boot), interp_boot_file(b, &in));
        if (i)
            assert_true(b->built[i] > b->built[i - 1]);
    }
}

static void test_parse_rejects_garbage(void **state)
{
    struct interp in;
    assert_int_equal(interp_parse("", &in), PYSCOPE_EPROTO);
    assert_int_equal(interp_parse("cpython\n3.11\n/x\n\n", &in), PYSCOPE_EPROTO);
    assert_int_equal(interp_parse("cpython\n3.11.2\n", &in), PYSCOPE_EPROTO);
    assert_int_equal(interp_parse("\n3.11.2\n/x\n\n", &in), PYSCOPE_EPROTO);
    /* an older probe's answer, without abiflags: asked again */
    assert_int_equal(interp_parse("cpython\n3.11.2\n/x\n", &in), PYSCOPE_EPROTO);
}

static void test_free_threaded_is_refused(void **state)
{
    char msg[512];
    struct interp in = parsed("cpython\n3.13.0\n/x/python3.13t\nt\n");
    assert_string_equal(in.abiflags, "t");
    assert_false(interp_build_has(&partial, &in));
    assert_false(interp_supported(&in));
    interp_refusal(&partial, "/x/python3.13t", &in, msg, sizeof msg);
    assert_string_equal(msg, "'/x/python3.13t' is CPython 3.13.0 built free-threaded (without the "
                             "GIL); pyscope supports the default build of CPython 3.11\u20133.13, "
                             "and this build has 3.11, 3.12");
    /* a debug build shares the default build's layout and extensions */
    in = parsed("cpython\n3.11.2\n/x/python3.11d\nd\n");
    assert_true(interp_build_has(&partial, &in));
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
        char *field[12] = {0}, *rest = lines[i];
        int k = 0;
        rest[strcspn(rest, "\n")] = '\0';
        for (char *p; k < 12 && (p = strsep(&rest, "\t"));) /* empty fields too */
            field[k++] = p;
        assert_true(k >= 10); /* the key's seven fields, implementation, version, abiflags */
        fprintf(f, "%s", field[0]);
        for (int j = 1; j < k; j++)
            fprintf(f, "\t%s", j == 8 && !strcmp(field[6], path) ? version : field[j]);
        fputc('\n', f);
    }
    fclose(f);
}

/*
 * Tamper with the cache: every entry's answer ends, after the version, with
 * exe as the executable to run, whatever the entry held there before.
 */
static void point_entries_at(const char *cache, const char *exe)
{
    FILE *f = fopen(cache, "r");
    assert_non_null(f);
    char lines[8][8192];
    int n = 0;
    while (n < 8 && fgets(lines[n], sizeof lines[n], f))
        n++;
    fclose(f);
    assert_true(n > 0);
    f = fopen(cache, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        char *p = lines[i];
        for (int tabs = 0; *p && tabs < 9; p++)
            tabs += *p == '\t';
        if (p[-1] == '\t') /* a field after the version: replace it */
            p[-1] = '\0';
        else
            p[strcspn(p, "\n")] = '\0';
        fprintf(f, "%s\t%s\n", lines[i], exe);
    }
    fclose(f);
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The file the launcher would start for in: its descriptor, else its path. */
static void runs_file(const struct interp *in, struct stat *st)
{
    if (in->fd >= 0)
        assert_int_equal(fstat(in->fd, st), 0);
    else
        assert_int_equal(stat(in->path, st), 0);
}

/* Start in as the launcher does, with -c code; its exit status. */
static int run_interp(const struct interp *in, const char *code)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[] = {(char *)in->path, "-c", (char *)code, NULL};
        if (in->fd >= 0)
            fexecve(in->fd, argv, environ);
        else
            execv(in->path, argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
    rewrite_version(cache, PYSCOPE_TEST_PYTHON, "3.10.0");
    assert_int_equal(interp_probe(PYSCOPE_TEST_PYTHON, &again, msg, sizeof msg), PYSCOPE_EINVAL);
    assert_non_null(strstr(msg, "CPython 3.10.0; pyscope supports CPython 3.11"));
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

/* What the cache says is an answer about one file: never which file to run. */
static void test_cache_cannot_name_another_executable(void **state)
{
    char fake[4096], msg[512];
    const char *cache = empty_cache();
    snprintf(fake, sizeof fake, "%s/python", cache_dir);
    copy_file(PYSCOPE_TEST_PYTHON, fake);
    struct stat asked, runs;
    assert_int_equal(stat(fake, &asked), 0);
    struct interp in;
    assert_int_equal(interp_probe(fake, &in, msg, sizeof msg), 0);
    assert_int_equal(count_lines(cache), 1);
    point_entries_at(cache, "/bin/false");
    assert_int_equal(interp_probe(fake, &in, msg, sizeof msg), 0);
    runs_file(&in, &runs);
    assert_true(same_file(&runs, &asked));
    unlink(fake);
    unlink(cache);
}

/* A file put in the interpreter's place after it was asked is not what runs. */
static void test_file_replaced_after_the_probe_is_not_run(void **state)
{
    char fake[4096], other[4096], msg[512];
    const char *cache = empty_cache();
    snprintf(fake, sizeof fake, "%s/python", cache_dir);
    snprintf(other, sizeof other, "%s/other", cache_dir);
    for (int cached = 0; cached < 2; cached++) { /* asked afresh, then from the cache */
        copy_file(PYSCOPE_TEST_PYTHON, fake);
        struct stat asked, runs;
        assert_int_equal(stat(fake, &asked), 0);
        struct interp in;
        if (cached)
            assert_int_equal(interp_probe(fake, &in, msg, sizeof msg), 0);
        assert_int_equal(interp_probe(fake, &in, msg, sizeof msg), 0);
        assert_int_equal(count_lines(cache), 1);
        copy_file("/bin/true", other);
        assert_int_equal(rename(other, fake), 0);
        runs_file(&in, &runs);
        assert_true(same_file(&runs, &asked));
        assert_int_equal(run_interp(&in, "raise SystemExit(7)"), 7);
        interp_release(&in);
        assert_int_equal(in.fd, -1);
        unlink(fake);
        unlink(cache);
    }
}

/*
 * An ELF executable whose interpreter says it is another file (a launcher
 * that starts python): its answer names another executable, so it is asked
 * each time and never kept. The test binary plays that launcher (see main).
 */
static void test_answer_naming_another_file_is_not_cached(void **state)
{
    char self[4096], msg[512];
    const char *cache = empty_cache();
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    struct stat python, runs;
    assert_int_equal(stat(PYSCOPE_TEST_PYTHON, &python), 0);
    struct interp in;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(interp_probe(self, &in, msg, sizeof msg), 0);
        assert_true(interp_supported(&in));
        runs_file(&in, &runs);
        assert_true(same_file(&runs, &python)); /* the launcher itself is skipped */
        assert_true(count_lines(cache) <= 0);
    }
}

/* A cache file someone else could have written is not believed. */
static void test_cache_others_can_write_is_ignored(void **state)
{
    char msg[512];
    const char *cache = empty_cache();
    struct interp in;
    assert_int_equal(interp_probe(PYSCOPE_TEST_PYTHON, &in, msg, sizeof msg), 0);
    rewrite_version(cache, PYSCOPE_TEST_PYTHON, "3.10.0");
    assert_int_equal(chmod(cache, 0622), 0);
    assert_int_equal(interp_probe(PYSCOPE_TEST_PYTHON, &in, msg, sizeof msg), 0);
    assert_true(interp_supported(&in));
    unlink(cache);
    if (geteuid() == 0) { /* owned by another user */
        assert_int_equal(interp_probe(PYSCOPE_TEST_PYTHON, &in, msg, sizeof msg), 0);
        rewrite_version(cache, PYSCOPE_TEST_PYTHON, "3.10.0");
        assert_int_equal(chown(cache, 12345, 12345), 0);
        assert_int_equal(interp_probe(PYSCOPE_TEST_PYTHON, &in, msg, sizeof msg), 0);
        assert_true(interp_supported(&in));
        unlink(cache);
    }
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

int main(int argc, char **argv)
{
    /* Asked as an interpreter (see test_answer_naming_another_file_is_not_cached):
     * start the real one, which then names itself as sys.executable. */
    if (argc > 1 && !strcmp(argv[1], "-I")) {
        argv[0] = PYSCOPE_TEST_PYTHON;
        execv(PYSCOPE_TEST_PYTHON, argv);
        return 127;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_cpython),
        cmocka_unit_test(test_other_versions_are_not_supported),
        cmocka_unit_test(test_build_has_its_versions_only),
        cmocka_unit_test(test_refusal_names_the_versions),
        cmocka_unit_test(test_this_build),
        cmocka_unit_test(test_parse_rejects_garbage),
        cmocka_unit_test(test_free_threaded_is_refused),
        cmocka_unit_test(test_probe_the_build_interpreter),
        cmocka_unit_test(test_probe_refuses_non_python),
        cmocka_unit_test(test_which),
        cmocka_unit_test(test_explicit_missing_interpreter),
        cmocka_unit_test(test_probe_is_cached),
        cmocka_unit_test(test_changed_executable_is_probed_again),
        cmocka_unit_test(test_scripts_are_not_cached),
        cmocka_unit_test(test_cache_cannot_name_another_executable),
        cmocka_unit_test(test_file_replaced_after_the_probe_is_not_run),
        cmocka_unit_test(test_answer_naming_another_file_is_not_cached),
        cmocka_unit_test(test_cache_others_can_write_is_ignored),
        cmocka_unit_test(test_unwritable_cache_only_costs_a_probe),
    };
    return cmocka_run_group_tests(tests, cache_setup, cache_teardown);
}
