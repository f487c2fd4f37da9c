/*
 * The lock-free record ring of ring.h. head and tail grow without bound and
 * are reduced modulo the capacity on use. A record never wraps: when it does
 * not fit before the end, the rest of the end is filled with a WIRE_PAD record
 * and the record starts at offset 0.
 */
#include "ring.h"
#include "error.h"
#include "wire.h"

#include <stdatomic.h>
#include <stdlib.h>

struct ring {
    _Atomic size_t head; /* written by the producer */
    _Atomic size_t tail; /* written by the consumer */
    _Atomic uint64_t dropped;
    size_t cap;
    size_t pending_pad; /* pad bytes to commit with the next record */
    uint8_t *buf;
};

struct ring *ring_new(size_t cap)
{
    if (cap < 64 || (cap & (cap - 1)))
        return NULL;
    struct ring *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->buf = malloc(cap);
    if (!r->buf) {
        free(r);
        return NULL;
    }
    r->cap = cap;
    return r;
}

void ring_free(struct ring *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

void *ring_reserve(struct ring *r, size_t n)
{
    if (n == 0 || n % WIRE_ALIGN || n > r->cap / 2)
        goto drop;
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t off = head & (r->cap - 1);
    size_t to_end = r->cap - off;
    size_t pad = to_end < n ? to_end : 0;
    if (r->cap - (head - tail) < pad + n)
        goto drop;
    if (pad)
        wire_encode_pad(r->buf + off, pad);
    r->pending_pad = pad;
    return r->buf + ((head + pad) & (r->cap - 1));
drop:
    atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
    return NULL;
}

void ring_commit(struct ring *r, size_t n)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->head, head + r->pending_pad + n, memory_order_release);
    r->pending_pad = 0;
}

int ring_put(struct ring *r, unsigned type, const void *fixed, size_t fixed_size,
             const struct wire_str *strs, unsigned nstr)
{
    size_t n = wire_size(fixed_size, strs, nstr);
    void *p = ring_reserve(r, n);
    if (!p)
        return PYSCOPE_EFULL;
    wire_encode(p, n, type, fixed, fixed_size, strs, nstr);
    ring_commit(r, n);
    return 0;
}

size_t ring_peek(struct ring *r, const uint8_t **p)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t off = tail & (r->cap - 1);
    size_t avail = head - tail;
    if (avail > r->cap - off)
        avail = r->cap - off;
    *p = r->buf + off;
    return avail;
}

void ring_consume(struct ring *r, size_t n)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
}

void ring_clear(struct ring *r)
{
    if (!r)
        return;
    atomic_store_explicit(&r->tail, atomic_load_explicit(&r->head, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&r->dropped, 0, memory_order_relaxed);
    r->pending_pad = 0;
}

uint64_t ring_dropped(const struct ring *r)
{
    return atomic_load_explicit(&((struct ring *)r)->dropped, memory_order_relaxed);
}

size_t ring_used(const struct ring *r)
{
    struct ring *m = (struct ring *)r;
    return atomic_load_explicit(&m->head, memory_order_acquire) -
           atomic_load_explicit(&m->tail, memory_order_relaxed);
}
