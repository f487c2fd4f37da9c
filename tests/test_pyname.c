/* Unit tests for names as bytes: every code point and every short byte
 * string goes through the mapping and back; the known forms byte by byte. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "pyname.h"

/* The bytes of s read as code points and written again. */
static size_t round_trip(const char *s, size_t n, char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t used = pyname_next(s + i, n - i, &cp);
        assert_true(used >= 1 && used <= 4 && used <= n - i);
        assert_true(cp <= 0x10FFFF);
        len += pyname_put(cp, out + len);
        i += used;
    }
    return len;
}

/* A code point alone comes back as itself. */
static void test_every_code_point(void **state)
{
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        char b[PYNAME_MAX_BYTES];
        uint32_t back;
        size_t n = pyname_put(cp, b);
        assert_true(n >= 1 && n <= PYNAME_MAX_BYTES);
        assert_int_equal(pyname_next(b, n, &back), n);
        assert_int_equal(back, cp);
        /* text without surrogates or U+0000 is plain UTF-8, and only it;
         * no code point is kept as a 0 byte */
        assert_null(memchr(b, 0, n));
        int surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        assert_int_equal(pyname_is_utf8(b, n), !surrogate && cp != 0);
        if (!surrogate && cp != 0) {
            char u[PYNAME_MAX_BYTES];
            assert_int_equal(pyname_utf8(cp, u), n);
            assert_memory_equal(u, b, n);
        }
    }
}

/* Bytes read and written again are the same bytes, whatever they are
 * (but 0, which no name holds). */
static void test_every_short_byte_string(void **state)
{
    char s[3], out[3 * PYNAME_MAX_BYTES];
    for (unsigned v = 0; v < 1u << 24; v++) {
        s[0] = (char)(v >> 16);
        s[1] = (char)(v >> 8);
        s[2] = (char)v;
        for (size_t n = 1; n <= 3; n++) {
            if ((n == 1 && (v & 0xFFFF)) || (n == 2 && (v & 0xFF)))
                continue; /* each shorter one once: the first bytes of s */
            if (memchr(s, 0, n))
                continue;
            size_t len = round_trip(s, n, out);
            assert_int_equal(len, n);
            assert_memory_equal(out, s, n);
        }
    }
}

static void test_the_forms(void **state)
{
    char b[PYNAME_MAX_BYTES];
    uint32_t cp;
    /* a file name's undecodable byte is that byte */
    assert_int_equal(pyname_put(0xDCFF, b), 1);
    assert_int_equal((unsigned char)b[0], 0xFF);
    assert_int_equal(pyname_put(0xDC80, b), 1);
    assert_int_equal((unsigned char)b[0], 0x80);
    /* other surrogates: three bytes, as surrogatepass */
    assert_int_equal(pyname_put(0xD800, b), 3);
    assert_memory_equal(b, "\xed\xa0\x80", 3);
    assert_int_equal(pyname_put(0xDC7F, b), 3);
    assert_memory_equal(b, "\xed\xb1\xbf", 3);
    assert_int_equal(pyname_put(0xDD00, b), 3);
    assert_memory_equal(b, "\xed\xb4\x80", 3);
    assert_int_equal(pyname_put(0xE9, b), 2);
    assert_memory_equal(b, "\xc3\xa9", 2);
    /* U+0000 as C0 80, read back as itself; C0 alone or before another
     * byte stays a byte */
    assert_int_equal(pyname_put(0, b), 2);
    assert_memory_equal(b, "\xc0\x80", 2);
    assert_int_equal(pyname_next("\xc0\x80", 2, &cp), 2);
    assert_int_equal(cp, 0);
    assert_int_equal(pyname_next("\xc0\x81", 2, &cp), 1);
    assert_int_equal(cp, 0xDCC0);
    assert_int_equal(pyname_next("\xc0", 1, &cp), 1);
    assert_int_equal(cp, 0xDCC0);
    /* marshal's form escapes nothing */
    assert_int_equal(pyname_utf8(0xDCFF, b), 3);
    assert_memory_equal(b, "\xed\xb3\xbf", 3);

    assert_int_equal(pyname_next("\xff", 1, &cp), 1);
    assert_int_equal(cp, 0xDCFF);
    assert_int_equal(pyname_next("\xed\xa0\x80", 3, &cp), 3);
    assert_int_equal(cp, 0xD800);
    /* the three-byte form of an escape surrogate is three escaped bytes */
    assert_int_equal(pyname_next("\xed\xb3\xbf", 3, &cp), 1);
    assert_int_equal(cp, 0xDCED);
    /* cut short: the lead byte alone */
    assert_int_equal(pyname_next("\xc3", 1, &cp), 1);
    assert_int_equal(cp, 0xDCC3);
    assert_int_equal(pyname_next("\xed\xa0", 2, &cp), 1);
    assert_int_equal(cp, 0xDCED);
    assert_int_equal(pyname_next("\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    /* overlong and beyond U+10FFFF are bytes */
    assert_int_equal(pyname_next("\xc0\xaf", 2, &cp), 1);
    assert_int_equal(cp, 0xDCC0);
    assert_int_equal(pyname_next("\xf4\x90\x80\x80", 4, &cp), 1);
    assert_int_equal(cp, 0xDCF4);

    assert_true(pyname_is_utf8("", 0));
    assert_true(pyname_is_utf8("bad.py", 6));
    assert_true(pyname_is_utf8("caf\xc3\xa9", 5));
    assert_false(pyname_is_utf8("bad\xff.py", 7));
    assert_false(pyname_is_utf8("\xed\xa0\x80", 3));
    assert_false(pyname_is_utf8("caf\xc3", 4));
}

/* A whole file name: bad\xff.py keeps its bytes, and a name mixing both
 * kinds of surrogate with text comes back whole. */
static void test_names(void **state)
{
    static const uint32_t name[] = {'q', 0xDCFF, 0xE9, 0xD800, 0x1F600, 0xDC80, '.'};
    char bytes[64], again[64];
    size_t n = 0;
    for (size_t i = 0; i < sizeof name / sizeof name[0]; i++)
        n += pyname_put(name[i], bytes + n);
    assert_int_equal(n, 1 + 1 + 2 + 3 + 4 + 1 + 1);
    assert_memory_equal(bytes, "q\xff\xc3\xa9\xed\xa0\x80\xf0\x9f\x98\x80\x80.", n);
    size_t k = 0;
    for (size_t i = 0; i < n; k++) {
        uint32_t cp;
        i += pyname_next(bytes + i, n - i, &cp);
        assert_int_equal(cp, name[k]);
    }
    assert_int_equal(k, sizeof name / sizeof name[0]);
    assert_int_equal(round_trip("bad\xff.py", 7, again), 7);
    assert_memory_equal(again, "bad\xff.py", 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_point),
        cmocka_unit_test(test_every_short_byte_string),
        cmocka_unit_test(test_the_forms),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
