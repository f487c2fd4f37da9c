/*
 * Tests for viewer/format.h: unit boundaries and rounding of sizes and
 * durations, percentages, counts, signal names, local times, UTF-8 aware
 * widths and cutting, JSON escaping, and table alignment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "format.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* fmt_json_str(s) as a malloc'd string. */
static char *capture_json(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    fmt_json_str(out, s);
    fclose(out);
    return buf;
}

static void test_bytes(void **state)
{
    char b[FMT_BUFSZ];
    (void)state;
    assert_string_equal(fmt_bytes(b, sizeof b, 0), "0 B");
    assert_string_equal(fmt_bytes(b, sizeof b, 1023), "1023 B");
    assert_string_equal(fmt_bytes(b, sizeof b, 1024), "1.0 KiB");
    assert_string_equal(fmt_bytes(b, sizeof b, 1536), "1.5 KiB");
    assert_string_equal(fmt_bytes(b, sizeof b, 1572864), "1.5 MiB");
    /* Rounding that reaches 1024 moves to the next unit. */
    assert_string_equal(fmt_bytes(b, sizeof b, 1048575), "1.0 MiB");
    assert_string_equal(fmt_bytes(b, sizeof b, 1048524), "1023.9 KiB");
    assert_string_equal(fmt_bytes(b, sizeof b, 3435973837LL), "3.2 GiB");
    assert_string_equal(fmt_bytes(b, sizeof b, 1099511627776LL), "1.0 TiB");
    assert_string_equal(fmt_bytes(b, sizeof b, -1536), "-1.5 KiB");
    assert_string_equal(fmt_bytes(b, sizeof b, INT64_MIN), "-8.0 EiB");
    assert_string_equal(fmt_bytes(b, sizeof b, INT64_MAX), "8.0 EiB");
    assert_string_equal(fmt_bytes_delta(b, sizeof b, 1536), "+1.5 KiB");
    assert_string_equal(fmt_bytes_delta(b, sizeof b, -10), "-10 B");
    assert_string_equal(fmt_bytes_delta(b, sizeof b, 0), "0 B");
    /* A short buffer is cut, never overrun. */
    char tiny[4];
    assert_string_equal(fmt_bytes(tiny, sizeof tiny, 1536), "1.5");
}

static void test_duration(void **state)
{
    char b[FMT_BUFSZ];
    (void)state;
    assert_string_equal(fmt_duration(b, sizeof b, 0), "0 ns");
    assert_string_equal(fmt_duration(b, sizeof b, 850), "850 ns");
    assert_string_equal(fmt_duration(b, sizeof b, 999), "999 ns");
    assert_string_equal(fmt_duration(b, sizeof b, 1000), "1.0 us");
    assert_string_equal(fmt_duration(b, sizeof b, 12345), "12.3 us");
    assert_string_equal(fmt_duration(b, sizeof b, 999949), "999.9 us");
    assert_string_equal(fmt_duration(b, sizeof b, 999950), "1.0 ms");
    assert_string_equal(fmt_duration(b, sizeof b, 4200000), "4.2 ms");
    assert_string_equal(fmt_duration(b, sizeof b, 999960000), "1.00 s");
    assert_string_equal(fmt_duration(b, sizeof b, 1250000000), "1.25 s");
    assert_string_equal(fmt_duration(b, sizeof b, 59994000000LL), "59.99 s");
    assert_string_equal(fmt_duration(b, sizeof b, 59996000000LL), "1 min 00 s");
    assert_string_equal(fmt_duration(b, sizeof b, 123000000000LL), "2 min 03 s");
    assert_string_equal(fmt_duration(b, sizeof b, 3599400000000LL), "59 min 59 s");
    assert_string_equal(fmt_duration(b, sizeof b, 3720000000000LL), "1 h 02 min");
    assert_string_equal(fmt_duration(b, sizeof b, -4200000), "-4.2 ms");
    fmt_duration(b, sizeof b, INT64_MIN); /* no overflow; UBSan checks */
    assert_true(b[0] == '-');
}

static void test_pct(void **state)
{
    char b[FMT_BUFSZ];
    (void)state;
    assert_string_equal(fmt_pct(b, sizeof b, 1, 8), "12.5%");
    assert_string_equal(fmt_pct(b, sizeof b, 3, 3), "100.0%");
    assert_string_equal(fmt_pct(b, sizeof b, 0, 3), "0.0%");
    assert_string_equal(fmt_pct(b, sizeof b, 1, 10000), "<0.1%");
    assert_string_equal(fmt_pct(b, sizeof b, -1, 10000), ">-0.1%");
    assert_string_equal(fmt_pct(b, sizeof b, -1, 4), "-25.0%");
    assert_string_equal(fmt_pct(b, sizeof b, 1, 0), "-");
    assert_string_equal(fmt_pct(b, sizeof b, 1, -5), "-");
}

static void test_int(void **state)
{
    char b[FMT_BUFSZ];
    (void)state;
    assert_string_equal(fmt_int(b, sizeof b, 0), "0");
    assert_string_equal(fmt_int(b, sizeof b, 999), "999");
    assert_string_equal(fmt_int(b, sizeof b, 1000), "1,000");
    assert_string_equal(fmt_int(b, sizeof b, 1234567), "1,234,567");
    assert_string_equal(fmt_int(b, sizeof b, -123456), "-123,456");
    assert_string_equal(fmt_int(b, sizeof b, INT64_MIN), "-9,223,372,036,854,775,808");
}

static void test_times(void **state)
{
    char b[FMT_BUFSZ];
    (void)state;
    /* Pin the zone so the expected text does not depend on the machine. */
    setenv("TZ", "UTC", 1);
    tzset();
    int64_t t = 1795341600LL * 1000000000 + 123456789; /* 2026-11-22 10:00:00.123 UTC */
    assert_string_equal(fmt_datetime(b, sizeof b, t), "2026-11-22 10:00:00");
    assert_string_equal(fmt_time_of_day(b, sizeof b, t), "10:00:00.123");
    /* Before the epoch the fraction still counts forward within the second. */
    assert_string_equal(fmt_time_of_day(b, sizeof b, -1), "23:59:59.999");
    assert_string_equal(fmt_datetime(b, sizeof b, -1), "1969-12-31 23:59:59");
}

static void test_width_and_ellipsize(void **state)
{
    char b[FMT_BUFSZ];
    (void)state;
    assert_int_equal(fmt_width(""), 0);
    assert_int_equal(fmt_width("abc"), 3);
    assert_int_equal(fmt_width("h\xc3\xa9llo"), 5);                 /* héllo */
    assert_int_equal(fmt_width("\xe2\x82\xac\xf0\x9f\x98\x80"), 2); /* euro, emoji */
    assert_int_equal(fmt_width("bad\xff.py"), 10);                  /* bad\xff.py */
    assert_int_equal(fmt_width("\xed\xa0\x80"), 12);

    assert_string_equal(fmt_ellipsize(b, sizeof b, "short", 10), "short");
    assert_string_equal(fmt_ellipsize(b, sizeof b, "exactly10!", 10), "exactly10!");
    assert_string_equal(fmt_ellipsize(b, sizeof b, "python3.11 -c from multiprocessing", 20),
                        "python3.11 -c fro...");
    assert_int_equal(fmt_width(fmt_ellipsize(b, sizeof b, "abcdefghijklmnop", 8)), 8);
    /* Cut between code points, never inside one. */
    assert_string_equal(fmt_ellipsize(b, sizeof b, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 4),
                        "\xc3\xa9...");
    assert_string_equal(fmt_ellipsize(b, sizeof b, "abcdef", 2), "..");
    /* A byte shown as \xNN is four columns, kept whole or not at all. */
    const char *bad = "ab\xff\xfe"
                      "cdef";
    assert_string_equal(fmt_ellipsize(b, sizeof b, bad, 9), "ab\xff...");
    assert_string_equal(fmt_ellipsize(b, sizeof b, bad, 8), "ab...");
    assert_int_equal(fmt_width(fmt_ellipsize(b, sizeof b, bad, 9)), 9);
    assert_string_equal(fmt_ellipsize(b, sizeof b, "ab\xff\xfe", 10), "ab\xff\xfe");
    assert_string_equal(fmt_ellipsize(b, sizeof b, "abcdef", 0), "");
    /* A buffer smaller than the text cuts it too, with the dots inside the buffer. */
    char small[8];
    assert_string_equal(fmt_ellipsize(small, sizeof small, "abcdefghijkl", 100), "abcd...");
    assert_string_equal(fmt_ellipsize(small, sizeof small, "ab\xc3\xa9\xc3\xa9xyz", 100),
                        "ab\xc3\xa9...");
}

static void test_json_str(void **state)
{
    char *s;
    (void)state;
    assert_string_equal(s = capture_json(NULL), "null");
    free(s);
    assert_string_equal(s = capture_json(""), "\"\"");
    free(s);
    assert_string_equal(s = capture_json("plain text"), "\"plain text\"");
    free(s);
    assert_string_equal(s = capture_json("say \"hi\" \\ bye"), "\"say \\\"hi\\\" \\\\ bye\"");
    free(s);
    assert_string_equal(s = capture_json("a\nb\tc\rd\be\ff\x01g\x1fh\x7fi"),
                        "\"a\\nb\\tc\\rd\\be\\ff\\u0001g\\u001fh\\u007fi\"");
    free(s);
    /* HTML-significant characters never appear raw. */
    assert_string_equal(s = capture_json("</script><script>alert(1)&"),
                        "\"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u0026\"");
    free(s);
    /* Valid UTF-8 passes through; JS line separators are escaped. */
    assert_string_equal(s = capture_json("h\xc3\xa9 \xf0\x9f\x98\x80"),
                        "\"h\xc3\xa9 \xf0\x9f\x98\x80\"");
    free(s);
    assert_string_equal(s = capture_json("a\xe2\x80\xa8"
                                         "b\xe2\x80\xa9"),
                        "\"a\\u2028b\\u2029\"");
    free(s);
    /* A byte that is not UTF-8 is the text \xNN, as backslashreplace and the
     * terminal show it: a lone continuation, a truncated sequence, an
     * overlong '/', a surrogate, a byte above U+10FFFF. Two such names stay
     * two names. */
    assert_string_equal(s = capture_json("a\x80z"), "\"a\\\\x80z\"");
    free(s);
    assert_string_equal(s = capture_json("a\xc3"), "\"a\\\\xc3\"");
    free(s);
    assert_string_equal(s = capture_json("\xc0\xaf"), "\"\\\\xc0\\\\xaf\"");
    free(s);
    assert_string_equal(s = capture_json("\xed\xa0\x80"), "\"\\\\xed\\\\xa0\\\\x80\"");
    free(s);
    assert_string_equal(s = capture_json("\xf5\x80\x80\x80"), "\"\\\\xf5\\\\x80\\\\x80\\\\x80\"");
    free(s);
    assert_string_equal(s = capture_json("bad\xfe.py"), "\"bad\\\\xfe.py\"");
    free(s);
}

static void test_put_text(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    (void)state;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    /* ESC, newline, tab, DEL and the one-byte CSI (U+009B) go; UTF-8 text stays. */
    fmt_put_text(out, "a\x1b[31mb\nc\td\x7f"
                      "e\xc2\x9b"
                      "2Jf h\xc3\xa9 \xc2\xa0.");
    fclose(out);
    assert_string_equal(buf, "a?[31mb?c?d?e?2Jf h\xc3\xa9 \xc2\xa0.");
    free(buf);

    /* A byte that is not UTF-8 is written \xNN, never raw. */
    out = open_memstream(&buf, &len);
    assert_non_null(out);
    fmt_put_text(out, "bad\xff.py \xed\xa0\x80 h\xc3\xa9\xc3 \x80\x1b");
    fclose(out);
    assert_string_equal(buf, "bad\\xff.py \\xed\\xa0\\x80 h\xc3\xa9\\xc3 \\x80?");
    free(buf);
}

static char *print_table(const struct fmt_table *t, const char *indent, int *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    *err = fmt_table_print(t, out, indent);
    fclose(out);
    return buf;
}

/* Well-formed UTF-8 for pprof's strings: kept as it is; other bytes, and
 * a name's U+0000 (C0 80), as the text \xNN. */
static void test_add_utf8(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"plain", "plain"},
        {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"},
        {"a\xff", "a\\xff"},
        {"\xed\xa0\x80z", "\\xed\\xa0\\x80z"}, /* a lone surrogate */
        {"x\xc0\x80y", "x\\x00y"},
        {"\xc3", "\\xc3"}, /* cut short */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sbuf b = {0};
        assert_int_equal(fmt_add_utf8(&b, cases[i][0], 0), 0);
        assert_string_equal(sbuf_str(&b), cases[i][1]);
        sbuf_release(&b);
    }
    /* folded stacks': also ';' as ',' and control characters as spaces;
     * unfolded, those are kept */
    static const char *const folded[][3] = {
        {"a;b\tc\x7f" "d", "a,b c d", "a;b\tc\x7f" "d"},
        {"caf\xc3\xa9;\xff\xc0\x80", "caf\xc3\xa9,\\xff\\x00", "caf\xc3\xa9;\\xff\\x00"},
    };
    for (size_t i = 0; i < sizeof folded / sizeof *folded; i++) {
        struct sbuf b = {0}, u = {0};
        assert_int_equal(fmt_add_utf8(&b, folded[i][0], 1), 0);
        assert_string_equal(sbuf_str(&b), folded[i][1]);
        assert_int_equal(fmt_add_utf8(&u, folded[i][0], 0), 0);
        assert_string_equal(sbuf_str(&u), folded[i][2]);
        sbuf_release(&b);
        sbuf_release(&u);
    }
}

static void test_table(void **state)
{
    int err;
    char *s;
    (void)state;

    assert_null(fmt_table_new(""));
    assert_null(fmt_table_new("lx"));
    assert_null(fmt_table_new(NULL));

    struct fmt_table *t = fmt_table_new("lrl");
    assert_non_null(t);
    assert_int_equal(fmt_table_add(t, "name"), 0);
    assert_int_equal(fmt_table_add(t, "size"), 0);
    assert_int_equal(fmt_table_add(t, "where"), 0);
    assert_int_equal(fmt_table_add(t, "h\xc3\xa9"), 0);
    assert_int_equal(fmt_table_addf(t, "%d B", 12345), 0);
    assert_int_equal(fmt_table_add(t, "x.py:1"), 0);
    assert_int_equal(fmt_table_add(t, "longer name"), 0);
    assert_int_equal(fmt_table_add(t, "1 B"), 0);
    assert_int_equal(fmt_table_add(t, NULL), 0);      /* empty last cell: no trailing blanks */
    assert_int_equal(fmt_table_add(t, "sh\nort"), 0); /* a short last row, cleaned */
    assert_int_equal(fmt_table_rows(t), 4);
    s = print_table(t, "  ", &err);
    assert_int_equal(err, 0);
    assert_string_equal(s, "  name            size  where\n"
                           "  h\xc3\xa9           12345 B  x.py:1\n"
                           "  longer name      1 B\n"
                           "  sh?ort\n");
    free(s);
    fmt_table_free(t);

    t = fmt_table_new("r");
    assert_non_null(t);
    s = print_table(t, NULL, &err); /* empty table prints nothing */
    assert_int_equal(err, 0);
    assert_string_equal(s, "");
    free(s);
    fmt_table_add(t, "7");
    fmt_table_add(t, "1000");
    s = print_table(t, NULL, &err);
    assert_string_equal(s, "   7\n1000\n");
    free(s);
    fmt_table_free(t);

    /* A cell with a byte that is not UTF-8 is as wide as it is shown. */
    t = fmt_table_new("ll");
    assert_non_null(t);
    fmt_table_add(t, "bad\xff.py");
    fmt_table_add(t, "x");
    fmt_table_add(t, "ok.py");
    fmt_table_add(t, "y");
    s = print_table(t, NULL, &err);
    assert_int_equal(err, 0);
    assert_string_equal(s, "bad\\xff.py  x\nok.py       y\n");
    free(s);
    fmt_table_free(t);
    fmt_table_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),    cmocka_unit_test(test_duration),
        cmocka_unit_test(test_pct),      cmocka_unit_test(test_int),
        cmocka_unit_test(test_times),    cmocka_unit_test(test_width_and_ellipsize),
        cmocka_unit_test(test_json_str), cmocka_unit_test(test_put_text),
        cmocka_unit_test(test_add_utf8), cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
