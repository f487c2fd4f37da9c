/* Unit tests for the wire format: round trips and hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "error.h"
#include "wire.h"

static void test_roundtrip_thread_start(void **state)
{
    uint8_t buf[256];
    struct wire_thread_start t = {.tid = 42, .ident = 7, .t_ns = 1000, .is_main = 1};
    struct wire_str name = {"worker-1", 8};
    size_t n = wire_encode(buf, sizeof buf, WIRE_THREAD_START, &t, sizeof t, &name, 1);
    assert_int_equal(n, wire_size(sizeof t, &name, 1));
    assert_int_equal(n % 8, 0);

    struct wire_rec rec;
    assert_int_equal(wire_decode(buf, n, &rec), (long)n);
    assert_int_equal(rec.type, WIRE_THREAD_START);
    assert_int_equal(rec.nstr, 1);
    struct wire_thread_start back;
    wire_fixed(&rec, &back, sizeof back);
    assert_int_equal(back.tid, 42);
    assert_int_equal(back.ident, 7);
    assert_int_equal(back.t_ns, 1000);
    assert_int_equal(back.is_main, 1);
    struct wire_str s;
    assert_int_equal(wire_string(&rec, 0, &s), 0);
    assert_int_equal(s.len, 8);
    assert_memory_equal(s.p, "worker-1", 8);
    assert_int_equal(wire_string(&rec, 1, &s), PYSCOPE_EPROTO);
}

static void test_several_strings_and_empty(void **state)
{
    uint8_t buf[256];
    struct wire_str strs[3] = {{"a", 1}, {"", 0}, {"x\0y", 3}};
    size_t n = wire_encode(buf, sizeof buf, WIRE_META, NULL, 0, strs, 3);
    assert_true(n > 0);
    struct wire_rec rec;
    assert_int_equal(wire_decode(buf, n, &rec), (long)n);
    struct wire_str s;
    assert_int_equal(wire_string(&rec, 1, &s), 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(wire_string(&rec, 2, &s), 0);
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.p, "x\0y", 3);
}

static void test_encode_refuses_small_buffer(void **state)
{
    uint8_t buf[16];
    struct wire_thread_end t = {1, 2};
    assert_int_equal(wire_encode(buf, sizeof buf, WIRE_THREAD_END, &t, sizeof t, NULL, 0), 0);
    /* a fixed part that is not a multiple of 8 is refused */
    uint8_t odd[5] = {0};
    uint8_t big[64];
    assert_int_equal(wire_encode(big, sizeof big, WIRE_META, odd, sizeof odd, NULL, 0), 0);
}

static void test_decode_rejects_truncated_and_malformed(void **state)
{
    uint8_t buf[128];
    struct wire_process_exit e = {.t_ns = 5, .how = WIRE_EXIT_SIGNAL, .code = 9};
    size_t n = wire_encode(buf, sizeof buf, WIRE_PROCESS_EXIT, &e, sizeof e, NULL, 0);
    struct wire_rec rec;
    for (size_t len = 0; len < n; len++)
        assert_int_equal(wire_decode(buf, len, &rec), PYSCOPE_EPROTO);

    /* size not a multiple of 8 */
    struct wire_hdr h;
    memcpy(&h, buf, sizeof h);
    h.size = 12;
    memcpy(buf, &h, sizeof h);
    assert_int_equal(wire_decode(buf, n, &rec), PYSCOPE_EPROTO);

    /* a known type whose fixed part is too short */
    h.size = 8;
    h.fixed8 = 0;
    h.type = WIRE_HELLO;
    memcpy(buf, &h, sizeof h);
    assert_int_equal(wire_decode(buf, n, &rec), PYSCOPE_EPROTO);

    /* a string longer than the record */
    struct wire_str s = {"abcd", 4};
    n = wire_encode(buf, sizeof buf, WIRE_META, NULL, 0, &s, 1);
    uint32_t huge = 1000;
    memcpy(buf + sizeof h, &huge, 4);
    assert_int_equal(wire_decode(buf, n, &rec), PYSCOPE_EPROTO);

    /* more strings announced than present */
    n = wire_encode(buf, sizeof buf, WIRE_META, NULL, 0, &s, 1);
    memcpy(&h, buf, sizeof h);
    h.nstr = 3;
    memcpy(buf, &h, sizeof h);
    assert_int_equal(wire_decode(buf, n, &rec), PYSCOPE_EPROTO);
}

static void test_unknown_type_passes_through(void **state)
{
    uint8_t buf[64];
    uint64_t fixed[2] = {1, 2};
    size_t n = wire_encode(buf, sizeof buf, 999, fixed, sizeof fixed, NULL, 0);
    struct wire_rec rec;
    assert_int_equal(wire_decode(buf, n, &rec), (long)n);
    assert_int_equal(rec.type, 999);
    assert_int_equal(rec.fixed_size, sizeof fixed);
}

static void test_longer_fixed_part_is_accepted(void **state)
{
    /* A newer target may append fields; older readers take the prefix. */
    uint8_t buf[128];
    uint64_t fixed[4] = {11, 22, 33, 44};
    size_t n = wire_encode(buf, sizeof buf, WIRE_THREAD_END, fixed, sizeof fixed, NULL, 0);
    struct wire_rec rec;
    assert_int_equal(wire_decode(buf, n, &rec), (long)n);
    struct wire_thread_end t;
    wire_fixed(&rec, &t, sizeof t);
    assert_int_equal(t.tid, 11);
    assert_int_equal(t.t_ns, 22);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_thread_start),
        cmocka_unit_test(test_several_strings_and_empty),
        cmocka_unit_test(test_encode_refuses_small_buffer),
        cmocka_unit_test(test_decode_rejects_truncated_and_malformed),
        cmocka_unit_test(test_unknown_type_passes_through),
        cmocka_unit_test(test_longer_fixed_part_is_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
