/* Unit tests for the record ring: order, wrap-around, drops, and a
 * producer and consumer on two threads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "error.h"
#include "ring.h"
#include "wire.h"

static int put_seq(struct ring *r, uint64_t seq)
{
    struct wire_thread_end t = {.tid = seq, .t_ns = seq * 3};
    return ring_put(r, WIRE_THREAD_END, &t, sizeof t, NULL, 0);
}

/* Read every record available; check they are consecutive from *next. */
static size_t drain(struct ring *r, uint64_t *next)
{
    size_t got = 0;
    const uint8_t *p;
    size_t avail;
    while ((avail = ring_peek(r, &p)) > 0) {
        size_t off = 0;
        while (off < avail) {
            struct wire_rec rec;
            long n = wire_decode(p + off, avail - off, &rec);
            assert_true(n > 0);
            if (rec.type == WIRE_THREAD_END) {
                struct wire_thread_end t;
                wire_fixed(&rec, &t, sizeof t);
                assert_int_equal(t.tid, *next);
                assert_int_equal(t.t_ns, *next * 3);
                (*next)++;
                got++;
            } else {
                assert_int_equal(rec.type, WIRE_PAD);
            }
            off += (size_t)n;
        }
        ring_consume(r, avail);
    }
    return got;
}

static void test_rejects_bad_capacity(void **state)
{
    assert_null(ring_new(100));
    assert_null(ring_new(32));
}

static void test_fifo_and_wrap(void **state)
{
    struct ring *r = ring_new(256);
    assert_non_null(r);
    uint64_t written = 0, next = 0;
    /* Records of 24 bytes do not divide 256: every lap pads at the end. */
    for (int round = 0; round < 100; round++) {
        for (int k = 0; k < 5; k++)
            assert_int_equal(put_seq(r, written++), 0);
        assert_int_equal(drain(r, &next), 5);
    }
    assert_int_equal(next, written);
    assert_int_equal(ring_dropped(r), 0);
    assert_int_equal(ring_used(r), 0);
    ring_free(r);
}

static void test_full_ring_drops_and_counts(void **state)
{
    struct ring *r = ring_new(128);
    int ok = 0, full = 0;
    for (int i = 0; i < 20; i++) {
        if (put_seq(r, (uint64_t)ok) == 0)
            ok++;
        else
            full++;
    }
    assert_true(ok > 0 && full > 0);
    assert_int_equal(ring_dropped(r), (uint64_t)full);
    uint64_t next = 0;
    assert_int_equal(drain(r, &next), (size_t)ok);
    /* room again after draining */
    assert_int_equal(put_seq(r, next), 0);
    ring_free(r);
}

/* A fork child's ring: what was queued and dropped is forgotten, and the
 * next record comes out first, wherever the ring stood. */
static void test_clear_forgets_queued_and_dropped(void **state)
{
    struct ring *r = ring_new(128);
    uint64_t next = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(put_seq(r, next++), 0);
    assert_int_equal(drain(r, &(uint64_t){0}), 3); /* the ring stands mid-way */
    for (int i = 0; i < 20; i++)
        put_seq(r, next++);
    assert_true(ring_used(r) > 0 && ring_dropped(r) > 0);
    ring_clear(r);
    assert_int_equal(ring_used(r), 0);
    assert_int_equal(ring_dropped(r), 0);
    assert_int_equal(put_seq(r, 100), 0);
    uint64_t first = 100;
    assert_int_equal(drain(r, &first), 1);
    ring_clear(NULL);
    ring_free(r);
}

static void test_oversized_record_is_dropped(void **state)
{
    struct ring *r = ring_new(64);
    assert_null(ring_reserve(r, 40)); /* more than half the ring */
    assert_null(ring_reserve(r, 12)); /* not a multiple of 8 */
    assert_int_equal(ring_dropped(r), 2);
    ring_free(r);
}

#define SPSC_COUNT 200000

static void *producer(void *arg)
{
    struct ring *r = arg;
    for (uint64_t seq = 0; seq < SPSC_COUNT;) {
        if (put_seq(r, seq) == 0)
            seq++;
    }
    return NULL;
}

static void test_two_threads(void **state)
{
    struct ring *r = ring_new(4096);
    pthread_t t;
    pthread_create(&t, NULL, producer, r);
    uint64_t next = 0;
    while (next < SPSC_COUNT)
        drain(r, &next);
    pthread_join(t, NULL);
    assert_int_equal(next, SPSC_COUNT);
    ring_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects_bad_capacity),
        cmocka_unit_test(test_fifo_and_wrap),
        cmocka_unit_test(test_full_ring_drops_and_counts),
        cmocka_unit_test(test_clear_forgets_queued_and_dropped),
        cmocka_unit_test(test_oversized_record_is_dropped),
        cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
