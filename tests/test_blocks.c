/* Unit tests for the memory tracer's live-block table: insert, replace,
 * remove with the run shifted back, sizes beyond 32 bits, its size per
 * block, and the nursery in front of it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "blocks.h"

static void test_put_get_take(void **state)
{
    struct blocks *t = blocks_new();
    size_t size, old_size;
    uint32_t trace, old_trace;
    assert_non_null(t);
    assert_int_equal(blocks_put(t, 0x1000, 24, 7, &old_size, &old_trace), 0);
    assert_int_equal(blocks_get(t, 0x1000, &size, &trace), 1);
    assert_int_equal(size, 24);
    assert_int_equal(trace, 7);
    assert_int_equal(blocks_get(t, 0x1010, &size, &trace), 0);
    /* The same address again: replaced, and the old values come back. */
    assert_int_equal(blocks_put(t, 0x1000, 48, 9, &old_size, &old_trace), 1);
    assert_int_equal(old_size, 24);
    assert_int_equal(old_trace, 7);
    assert_int_equal(blocks_count(t), 1);
    assert_int_equal(blocks_take(t, 0x1000, &size, &trace), 1);
    assert_int_equal(size, 48);
    assert_int_equal(trace, 9);
    assert_int_equal(blocks_take(t, 0x1000, &size, &trace), 0);
    assert_int_equal(blocks_count(t), 0);
    blocks_free(t);
}

static void test_sizes_beyond_32_bits(void **state)
{
    struct blocks *t = blocks_new();
    size_t size, old_size;
    uint32_t trace, old_trace;
    const size_t huge = (size_t)5 << 32;
    assert_int_equal(blocks_put(t, 0x2000, huge, 1, &old_size, &old_trace), 0);
    assert_int_equal(blocks_put(t, 0x3000, UINT32_MAX, 2, &old_size, &old_trace), 0);
    assert_int_equal(blocks_get(t, 0x2000, &size, &trace), 1);
    assert_true(size == huge);
    assert_int_equal(blocks_put(t, 0x2000, 16, 3, &old_size, &old_trace), 1);
    assert_true(old_size == huge);
    assert_int_equal(blocks_take(t, 0x3000, &size, &trace), 1);
    assert_true(size == UINT32_MAX);
    assert_int_equal(blocks_take(t, 0x2000, &size, &trace), 1);
    assert_int_equal(size, 16);
    blocks_free(t);
}

/* A random mix of inserts and removals, checked against a plain array:
 * exercises growth and the backward shift on crowded runs. */
static void test_random_against_reference(void **state)
{
    enum { N = 200000 };
    struct blocks *t = blocks_new();
    uint32_t *ref = calloc(N, sizeof *ref); /* trace + 1 for each live address, 0 if none */
    assert_non_null(ref);
    srand(12345);
    size_t live = 0, size, old_size;
    uint32_t trace, old_trace;
    for (int step = 0; step < 1000000; step++) {
        size_t i = (size_t)rand() % N;
        uintptr_t ptr = 0x10000 + i * 16; /* aligned like allocator blocks */
        if (rand() % 3) {
            int r = blocks_put(t, ptr, i, (uint32_t)step, &old_size, &old_trace);
            assert_int_equal(r, ref[i] != 0);
            if (r)
                assert_int_equal(old_trace, ref[i] - 1);
            else
                live++;
            ref[i] = (uint32_t)step + 1;
        } else {
            int r = blocks_take(t, ptr, &size, &trace);
            assert_int_equal(r, ref[i] != 0);
            if (r) {
                assert_int_equal(size, i);
                assert_int_equal(trace, ref[i] - 1);
                live--;
            }
            ref[i] = 0;
        }
    }
    assert_int_equal(blocks_count(t), live);
    for (size_t i = 0; i < N; i++) {
        int r = blocks_get(t, 0x10000 + i * 16, &size, &trace);
        assert_int_equal(r, ref[i] != 0);
        if (r)
            assert_int_equal(trace, ref[i] - 1);
    }
    free(ref);
    blocks_free(t);
}

/* What a table with a nursery reported replaced, summed: in the tracer,
 * the sizes of the blocks whose free it missed. */
struct replaced_sum {
    size_t calls, size;
    uint64_t traces;
};

static void on_replaced(void *ctx, size_t size, uint32_t trace)
{
    struct replaced_sum *r = ctx;
    r->calls++;
    r->size += size;
    r->traces += trace;
}

/* With a nursery, the table answers as the plain one does: every address
 * put and not taken is found with its last values, blocks that came and
 * went are gone, and each older entry of an address put again is reported
 * exactly once, at once or when its newer entry leaves the nursery. */
static void test_nursery_against_reference(void **state)
{
    enum { N = 300000 };
    struct replaced_sum rs = {0};
    struct blocks *t = blocks_new_nursery(on_replaced, &rs);
    assert_non_null(t);
    uint32_t *ref = calloc(N, sizeof *ref);
    assert_non_null(ref);
    srand(777);
    size_t size, old_size, expect_replaced = 0, told_at_once = 0;
    uint32_t trace, old_trace;
    for (int step = 0; step < 2000000; step++) {
        /* Mostly young blocks (a narrow window of recent addresses), some
         * anywhere: both the nursery and the large segments are used. */
        size_t i = rand() % 4 ? ((size_t)step / 8 + (size_t)rand() % 2000) % N
                              : (size_t)rand() % N;
        uintptr_t ptr = 0x10000 + i * 16;
        int op = rand() % 16;
        if (op < 8) {
            int r = blocks_put(t, ptr, i + 1, (uint32_t)step, &old_size, &old_trace);
            assert_true(r == 0 || r == 1);
            if (ref[i])
                expect_replaced++;
            if (r == 1) {
                assert_non_null(ref[i]);
                assert_int_equal(old_trace, ref[i] - 1);
                assert_int_equal(old_size, i + 1);
                told_at_once++;
            }
            ref[i] = (uint32_t)step + 1;
        } else if (op == 8 && ref[i]) {
            /* A block whose free is missed: its address is put again later. */
        } else {
            int r = blocks_take(t, ptr, &size, &trace);
            if (ref[i]) {
                assert_int_equal(r, 1);
                assert_int_equal(size, i + 1);
                assert_int_equal(trace, ref[i] - 1);
            }
            ref[i] = 0;
            /* An older entry the missed free left in the large segments may
             * still be there under the one just taken: take it too, as the
             * tracer's next put of the address would replace it. */
            while (blocks_take(t, ptr, &size, &trace))
                expect_replaced--;
        }
        if (step % 100000 == 0) {
            for (size_t k = 0; k < N; k += 97) {
                int r = blocks_get(t, 0x10000 + k * 16, &size, &trace);
                if (ref[k]) {
                    assert_int_equal(r, 1);
                    assert_int_equal(trace, ref[k] - 1);
                }
            }
        }
    }
    for (size_t i = 0; i < N; i++) {
        int r = blocks_get(t, 0x10000 + i * 16, &size, &trace);
        if (ref[i]) {
            assert_int_equal(r, 1);
            assert_int_equal(trace, ref[i] - 1);
            assert_int_equal(size, i + 1);
        }
    }
    assert_true(rs.calls > 0);
    assert_true(told_at_once > 0);
    /* Each older entry either was told at once, or is reported, or is still
     * in the large segments under its newer one (counted twice until the
     * newer one leaves the nursery). */
    size_t live = 0;
    for (size_t i = 0; i < N; i++)
        live += ref[i] != 0;
    assert_true(told_at_once + rs.calls <= expect_replaced);
    assert_int_equal(blocks_count(t) - live, expect_replaced - told_at_once - rs.calls);
    free(ref);
    blocks_free(t);
}

/* A big size with a younger entry of its address in the nursery replaces
 * it; sizes beyond 32 bits never wait in the nursery. */
static void test_nursery_and_big_sizes(void **state)
{
    struct replaced_sum rs = {0};
    struct blocks *t = blocks_new_nursery(on_replaced, &rs);
    size_t size, old_size;
    uint32_t trace, old_trace;
    const size_t huge = (size_t)3 << 32;
    assert_int_equal(blocks_put(t, 0x4000, 32, 1, &old_size, &old_trace), 0);
    assert_int_equal(blocks_put(t, 0x4000, huge, 2, &old_size, &old_trace), 1);
    assert_int_equal(old_size, 32);
    assert_int_equal(old_trace, 1);
    assert_int_equal(blocks_count(t), 1);
    assert_int_equal(blocks_put(t, 0x4000, 64, 3, &old_size, &old_trace), 0);
    assert_int_equal(blocks_take(t, 0x4000, &size, &trace), 1);
    assert_int_equal(size, 64);
    assert_int_equal(blocks_take(t, 0x4000, &size, &trace), 1);
    assert_true(size == huge);
    assert_int_equal(trace, 2);
    assert_int_equal(blocks_count(t), 0);
    assert_int_equal(rs.calls, 0);
    blocks_free(t);
}

/* An address put again after its entry moved on behind the front (other
 * blocks took its slot): both are counted, get and take find the newer one,
 * and the older one is reported once the newer one moves on too. */
static void test_front_moves_on(void **state)
{
    struct replaced_sum rs = {0};
    struct blocks *t = blocks_new_nursery(on_replaced, &rs);
    size_t size, old_size;
    uint32_t trace, old_trace;
    const uintptr_t a = 0x7000, others = 0x100000;
    enum { N = 4096 }; /* consecutive blocks: every slot of the front */
    assert_int_equal(blocks_put(t, a, 48, 1, &old_size, &old_trace), 0);
    for (uintptr_t p = others; p < others + N * 16; p += 16)
        assert_int_equal(blocks_put(t, p, 16, 2, &old_size, &old_trace), 0);
    assert_int_equal(blocks_put(t, a, 80, 3, &old_size, &old_trace), 0);
    assert_int_equal(blocks_count(t), N + 2);
    assert_int_equal(blocks_get(t, a, &size, &trace), 1);
    assert_int_equal(size, 80);
    assert_int_equal(trace, 3);
    for (uintptr_t p = others; p < others + N * 16; p += 16) {
        assert_int_equal(blocks_take(t, p, &size, &trace), 1);
        assert_int_equal(blocks_put(t, p, 16, 2, &old_size, &old_trace), 0);
    }
    assert_int_equal(rs.calls, 1);
    assert_int_equal(rs.size, 48);
    assert_int_equal(rs.traces, 1);
    assert_int_equal(blocks_count(t), N + 1);
    /* The same address, in and out of one slot, many times over. */
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(blocks_take(t, a, &size, &trace), 1);
        assert_int_equal(size, i ? 32 : 80);
        assert_int_equal(blocks_get(t, a, &size, &trace), 0);
        assert_int_equal(blocks_put(t, a, 32, 4, &old_size, &old_trace), 0);
    }
    assert_int_equal(blocks_take(t, a, &size, &trace), 1);
    assert_int_equal(blocks_take(t, a, &size, &trace), 0);
    for (uintptr_t p = others; p < others + N * 16; p += 16) {
        assert_int_equal(blocks_get(t, p, &size, &trace), 1);
        assert_int_equal(blocks_take(t, p, &size, &trace), 1);
    }
    assert_int_equal(blocks_count(t), 0);
    assert_int_equal(rs.calls, 1);
    blocks_free(t);
}

/* The table's own memory stays well under 48 bytes per block at any count. */
static void test_footprint(void **state)
{
    struct blocks *t = blocks_new();
    size_t old_size;
    uint32_t old_trace;
    size_t worst = 0;
    for (size_t i = 1; i <= 2000000; i++) {
        assert_true(blocks_put(t, i * 32, 64, 1, &old_size, &old_trace) == 0);
        if (i >= 100000 && i % 1000 == 0) {
            size_t per = blocks_footprint(t) / i;
            worst = per > worst ? per : worst;
        }
    }
    assert_true(worst <= 48);
    blocks_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_take),
        cmocka_unit_test(test_sizes_beyond_32_bits),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_footprint),
        cmocka_unit_test(test_nursery_against_reference),
        cmocka_unit_test(test_nursery_and_big_sizes),
        cmocka_unit_test(test_front_moves_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
