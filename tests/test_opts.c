/*
 * Tests for viewer/opts.h, the viewer commands' option parser: each kind
 * of option in each spelling, the positional arguments left in argv in
 * order, and every mistake reported as its one exact line on stderr with
 * the parse stopped there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli.h"
#include "opts.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] = "usage: pyscope demo [options] RUN.db [SNAP]\n"
                            "   or: pyscope demo [options] A.db:1 B.db:2\n"
                            "\n"
                            "options:\n"
                            "   --json   JSON\n";

/* Where the options land. */
struct dest {
    int json, clock, called;
    int64_t limit, width;
    double scale;
    const char *output, *title, *noted, *seen[4];
    size_t nseen;
};

static int remember(const char *value, void *ctx)
{
    struct dest *d = ctx;
    if (!strcmp(value, "no"))
        return -1;
    d->seen[d->nseen++] = value;
    return 0;
}

/* The output of one parse: its result, stdout and stderr. */
struct run {
    int rc;
    char out[4096], err[4096];
};

/* What the temporary file f holds, into buf; f is closed. */
static void slurp(FILE *f, char *buf, size_t len)
{
    rewind(f);
    size_t got = fread(buf, 1, len - 1, f);
    buf[got] = '\0';
    fclose(f);
}

/* Parse args (NULL-terminated, the command name first) into d, as cmd. */
static struct run parse_as(const struct opts_cmd *cmd, struct dest *d, char **args)
{
    static const char *const clocks[] = {"cpu", "wall", NULL};
    const struct opts_spec specs[] = {
        {.name = "--json", .kind = OPTS_FLAG, .dest = &d->json},
        {.name = "--clock",
         .kind = OPTS_ENUM,
         .dest = &d->clock,
         .choices = clocks,
         .bad = "'--clock' is cpu or wall, not '%s'",
         .note = &d->noted},
        {.name = "--limit",
         .kind = OPTS_INT,
         .dest = &d->limit,
         .min = 0,
         .max = 100,
         .bad = "'--limit' needs a number of rows, not '%s'",
         .note = &d->noted},
        {.name = "--width",
         .kind = OPTS_INT,
         .flags = OPTS_LOOSE | OPTS_MISSING_IS_BAD,
         .dest = &d->width,
         .min = 200,
         .max = 1000,
         .bad = "'--width' needs pixels, not '%s'"},
        {.name = "--scale",
         .kind = OPTS_DOUBLE,
         .dest = &d->scale,
         .dmin = DBL_TRUE_MIN,
         .dmax = 10,
         .bad = "'--scale' needs a number above 0, not '%s'"},
        {.name = "--output",
         .short_name = 'o',
         .kind = OPTS_STRING,
         .flags = OPTS_NONEMPTY,
         .dest = &d->output,
         .bad = "'-o' needs a file name"},
        {.name = "--title", .kind = OPTS_STRING, .dest = &d->title},
        {.name = "--include",
         .kind = OPTS_CALLBACK,
         .cb = remember,
         .ctx = d,
         .bad = "'--include' takes no '%s'"},
    };
    struct run r;
    int argc = 0;
    while (args[argc])
        argc++;
    FILE *o = tmpfile(), *e = tmpfile();
    assert_non_null(o);
    assert_non_null(e);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(o), 1);
    dup2(fileno(e), 2);
    r.rc = opts_parse(cmd, specs, sizeof specs / sizeof *specs, argc, args);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    slurp(o, r.out, sizeof r.out);
    slurp(e, r.err, sizeof r.err);
    return r;
}

static struct run parse(struct dest *d, char **args)
{
    const struct opts_cmd cmd = {.name = "demo", .usage = usage};
    return parse_as(&cmd, d, args);
}

#define ARGS(...) ((char *[]){"demo", __VA_ARGS__, NULL})

static void test_flags_and_values(void **state)
{
    struct dest d = {.limit = -1};
    (void)state;
    struct run r = parse(&d, ARGS("--json", "run.db", "--limit", "7", "--clock=wall",
                                  "--title=", "--scale", "0.5", "--width", " +300"));
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "");
    assert_string_equal(r.out, "");
    assert_int_equal(d.json, 1);
    assert_int_equal(d.limit, 7);
    assert_int_equal(d.clock, 1);
    assert_string_equal(d.title, "");
    assert_true(d.scale == 0.5);
    assert_int_equal(d.width, 300);          /* OPTS_LOOSE reads as strtol does */
    assert_string_equal(d.noted, "--limit"); /* the first noting option given */
}

static void test_positionals(void **state)
{
    struct dest d = {0};
    (void)state;
    char **args = ARGS("a.db", "--json", "-", "-o", "x", "b", "--", "--limit", "-h");
    struct run r = parse(&d, args);
    assert_int_equal(r.rc, 5);
    assert_string_equal(args[1], "a.db");
    assert_string_equal(args[2], "-");
    assert_string_equal(args[3], "b");
    assert_string_equal(args[4], "--limit");
    assert_string_equal(args[5], "-h");
    assert_string_equal(d.output, "x");
    assert_int_equal(d.limit, 0); /* after "--": not an option */
}

static void test_short_forms(void **state)
{
    struct dest d = {0};
    (void)state;
    struct run r = parse(&d, ARGS("-ofile.svg", "run.db"));
    assert_int_equal(r.rc, 1);
    assert_string_equal(d.output, "file.svg");
    r = parse(&d, ARGS("-o", "--json"));
    assert_int_equal(r.rc, 0);
    assert_string_equal(d.output, "--json"); /* a separate value is taken as it is */
    r = parse(&d, ARGS("--output=out.txt"));
    assert_string_equal(d.output, "out.txt");
}

static void test_help(void **state)
{
    struct dest d = {0};
    (void)state;
    struct run r = parse(&d, ARGS("run.db", "-h", "--bogus"));
    assert_int_equal(r.rc, OPTS_HELP);
    assert_string_equal(r.out, usage);
    assert_string_equal(r.err, "");
    assert_int_equal(opts_status(r.rc), CLI_OK);
    r = parse(&d, ARGS("--help"));
    assert_int_equal(r.rc, OPTS_HELP);
    r = parse(&d, ARGS("--bogus", "--help"));
    assert_int_equal(r.rc, OPTS_ERROR); /* the first mistake stops the parse */
    assert_int_equal(opts_status(r.rc), CLI_USAGE);
    assert_string_equal(r.out, "");
}

/* Each mistake and its one line. */
static void test_errors(void **state)
{
    static const struct {
        char *args[4];
        const char *err;
    } cases[] = {
        {{"--bogus", "--limit", "x"},
         "pyscope: unknown option '--bogus'; see 'pyscope demo --help'\n"},
        {{"-x"}, "pyscope: unknown option '-x'; see 'pyscope demo --help'\n"},
        {{"-hx"}, "pyscope: unknown option '-hx'; see 'pyscope demo --help'\n"},
        {{"--json=1"}, "pyscope: unknown option '--json=1'; see 'pyscope demo --help'\n"},
        {{"--limi"}, "pyscope: unknown option '--limi'; see 'pyscope demo --help'\n"},
        {{"--limit"}, "pyscope: '--limit' needs a value\n"},
        {{"--limit="}, "pyscope: '--limit' needs a number of rows, not ''\n"},
        {{"--limit", "101"}, "pyscope: '--limit' needs a number of rows, not '101'\n"},
        {{"--limit", "-1"}, "pyscope: '--limit' needs a number of rows, not '-1'\n"},
        {{"--limit", " 5"}, "pyscope: '--limit' needs a number of rows, not ' 5'\n"},
        {{"--limit", "+5"}, "pyscope: '--limit' needs a number of rows, not '+5'\n"},
        {{"--limit", "99999999999999999999"},
         "pyscope: '--limit' needs a number of rows, not '99999999999999999999'\n"},
        {{"--width"}, "pyscope: '--width' needs pixels, not ''\n"},
        {{"--width=12x"}, "pyscope: '--width' needs pixels, not '12x'\n"},
        {{"--scale", "0"}, "pyscope: '--scale' needs a number above 0, not '0'\n"},
        {{"--scale", "nan"}, "pyscope: '--scale' needs a number above 0, not 'nan'\n"},
        {{"--scale", "10.5"}, "pyscope: '--scale' needs a number above 0, not '10.5'\n"},
        {{"--clock", "gpu"}, "pyscope: '--clock' is cpu or wall, not 'gpu'\n"},
        {{"-o"}, "pyscope: '-o' needs a file name\n"},
        {{"-o", ""}, "pyscope: '-o' needs a file name\n"},
        {{"--output"}, "pyscope: '--output' needs a value\n"},
        {{"--output="}, "pyscope: '-o' needs a file name\n"},
        {{"--include", "no"}, "pyscope: '--include' takes no 'no'\n"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct dest d = {0};
        char *args[6] = {"demo"};
        memcpy(args + 1, cases[i].args, sizeof cases[i].args);
        struct run r = parse(&d, args);
        assert_int_equal(r.rc, OPTS_ERROR);
        assert_string_equal(r.err, cases[i].err);
        assert_string_equal(r.out, "");
    }
}

static void test_callback(void **state)
{
    struct dest d = {0};
    (void)state;
    struct run r = parse(&d, ARGS("--include", "a*", "x.db", "--include=b*"));
    assert_int_equal(r.rc, 1);
    assert_int_equal(d.nseen, 2);
    assert_string_equal(d.seen[0], "a*");
    assert_string_equal(d.seen[1], "b*");
}

static void test_max_pos(void **state)
{
    struct dest d = {0};
    (void)state;
    /* Too many positional arguments stop the parse where the extra one is. */
    struct opts_cmd cmd = {.name = "demo", .usage = usage, .max_pos = 2, .usage_lines = 1};
    struct run r = parse_as(&cmd, &d, ARGS("a", "b", "c", "--bogus"));
    assert_int_equal(r.rc, OPTS_ERROR);
    assert_string_equal(r.err, "usage: pyscope demo [options] RUN.db [SNAP]\n"
                               "   or: pyscope demo [options] A.db:1 B.db:2\n");
    r = parse_as(&cmd, &d, ARGS("a", "--bogus", "b", "c"));
    assert_string_equal(r.err, "pyscope: unknown option '--bogus'; see 'pyscope demo --help'\n");
    cmd.usage_lines = 0;
    r = parse_as(&cmd, &d, ARGS("a", "b", "c"));
    assert_string_equal(r.err, "usage: pyscope demo [options] RUN.db [SNAP]\n");
    r = parse_as(&cmd, &d, ARGS("a", "b"));
    assert_int_equal(r.rc, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_and_values), cmocka_unit_test(test_positionals),
        cmocka_unit_test(test_short_forms),      cmocka_unit_test(test_help),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_callback),
        cmocka_unit_test(test_max_pos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
