/* Unit tests for the interning maps: lookups, replacement, growth. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "intern.h"

static void test_imap_pairs_and_growth(void **state)
{
    struct imap *m = imap_new();
    assert_non_null(m);
    for (uint64_t i = 0; i < 50000; i++)
        assert_int_equal(imap_put(m, i, i * 7, (int64_t)i + 1), 0);
    assert_int_equal(imap_count(m), 50000);
    for (uint64_t i = 0; i < 50000; i++) {
        int64_t v;
        assert_true(imap_get(m, i, i * 7, &v));
        assert_int_equal(v, (int64_t)i + 1);
    }
    int64_t v;
    assert_false(imap_get(m, 1, 8, &v)); /* (1, 7) is there, (1, 8) is not */
    assert_false(imap_get(m, 7, 1, &v)); /* order matters */
    assert_int_equal(imap_put(m, 3, 21, -5), 0);
    assert_true(imap_get(m, 3, 21, &v));
    assert_int_equal(v, -5);
    assert_int_equal(imap_count(m), 50000);
    imap_free(m);
}

/* Get or insert: the first value stays; growth keeps every key. */
static void test_imap_intern(void **state)
{
    (void)state;
    struct imap *m = imap_new();
    int64_t v;
    assert_non_null(m);
    for (uint64_t i = 0; i < 5000; i++) {
        assert_int_equal(imap_intern(m, i, i * 7, (int64_t)i, &v), 0);
        assert_int_equal(v, (int64_t)i);
    }
    for (uint64_t i = 0; i < 5000; i++) {
        assert_int_equal(imap_intern(m, i, i * 7, -1, &v), 0);
        assert_int_equal(v, (int64_t)i); /* found, not replaced */
    }
    assert_int_equal(imap_count(m), 5000);
    assert_int_equal(imap_intern(m, 1, 0, 42, &v), 0); /* (1, 0) is not (1, 7) */
    assert_int_equal(v, 42);
    assert_int_equal(imap_count(m), 5001);
    imap_free(m);
}

static void test_smap_bytes_keys(void **state)
{
    struct smap *m = smap_new();
    assert_non_null(m);
    char key[32];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(key, sizeof key, "fn%d", i);
        assert_int_equal(smap_put(m, key, (size_t)n, i), 0);
    }
    int64_t v;
    assert_true(smap_get(m, "fn9999", 6, &v));
    assert_int_equal(v, 9999);
    assert_false(smap_get(m, "fn10000", 7, &v));
    /* keys may hold NUL bytes: "a\0b" and "a\0c" differ */
    assert_int_equal(smap_put(m, "a\0b", 3, 1), 0);
    assert_int_equal(smap_put(m, "a\0c", 3, 2), 0);
    assert_true(smap_get(m, "a\0b", 3, &v));
    assert_int_equal(v, 1);
    assert_true(smap_get(m, "a\0c", 3, &v));
    assert_int_equal(v, 2);
    assert_false(smap_get(m, "a", 1, &v));
    assert_int_equal(smap_put(m, "", 0, 42), 0);
    assert_true(smap_get(m, "", 0, &v));
    assert_int_equal(v, 42);
    smap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_imap_pairs_and_growth),
        cmocka_unit_test(test_imap_intern),
        cmocka_unit_test(test_smap_bytes_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
