/*
 * The live-block table of blocks.h. Every allocation the tracer sees lands
 * here, so it is kept small and flat: a 16-byte entry (address, size, and
 * traceback id) in linear-probing segments, at most three quarters full,
 * deleted by shifting the run back rather than leaving tombstones. The top
 * byte of an address's hash picks the segment; each segment doubles on its
 * own, so a resize copies 1/256 of the table and peak memory stays close to
 * the steady state. Sizes that do not fit 32 bits are rare and live on a
 * side list.
 */
#include "blocks.h"
#include "error.h"

#include <stdlib.h>

#define NSEGS 256
#define SEG_MIN 16
#define SIZE_BIG UINT32_MAX /* the size is on the big list */

struct bentry {
    uintptr_t ptr; /* 0: empty */
    uint32_t size;
    uint32_t trace;
};

struct seg {
    struct bentry *e;
    size_t mask; /* capacity - 1; capacity 0 until first use */
    size_t n;
};

struct big {
    uintptr_t ptr;
    size_t size;
    struct big *next;
};

struct blocks {
    struct seg segs[NSEGS];
    size_t count;
    struct big *bigs;
    size_t nbigs;
};

static uint64_t hash_ptr(uintptr_t p)
{
    return (uint64_t)(p >> 3) * 0x9E3779B97F4A7C15ull;
}

static struct seg *seg_of(struct blocks *t, uint64_t h)
{
    return &t->segs[h >> 56];
}

static const struct seg *cseg_of(const struct blocks *t, uint64_t h)
{
    return &t->segs[h >> 56];
}

static size_t home_of(const struct seg *s, uint64_t h)
{
    return (size_t)(h >> 16) & s->mask;
}

struct blocks *blocks_new(void)
{
    return calloc(1, sizeof(struct blocks));
}

void blocks_free(struct blocks *t)
{
    if (!t)
        return;
    for (int i = 0; i < NSEGS; i++)
        free(t->segs[i].e);
    while (t->bigs) {
        struct big *next = t->bigs->next;
        free(t->bigs);
        t->bigs = next;
    }
    free(t);
}

static int grow(struct seg *s)
{
    size_t cap = s->e ? (s->mask + 1) * 2 : SEG_MIN;
    struct bentry *e = calloc(cap, sizeof *e);
    if (!e)
        return PYSCOPE_ENOMEM;
    struct seg ns = {e, cap - 1, s->n};
    for (size_t i = 0; s->e && i <= s->mask; i++) {
        if (!s->e[i].ptr)
            continue;
        size_t j = home_of(&ns, hash_ptr(s->e[i].ptr));
        while (e[j].ptr)
            j = (j + 1) & ns.mask;
        e[j] = s->e[i];
    }
    free(s->e);
    *s = ns;
    return 0;
}

static struct big **big_find(struct blocks *t, uintptr_t ptr)
{
    struct big **b = &t->bigs;
    while (*b && (*b)->ptr != ptr)
        b = &(*b)->next;
    return b;
}

static size_t big_take(struct blocks *t, uintptr_t ptr)
{
    struct big **b = big_find(t, ptr), *found = *b;
    if (!found)
        return 0;
    size_t size = found->size;
    *b = found->next;
    free(found);
    t->nbigs--;
    return size;
}

int blocks_put(struct blocks *t, uintptr_t ptr, size_t size, uint32_t trace, size_t *old_size,
               uint32_t *old_trace)
{
    uint64_t h = hash_ptr(ptr);
    struct seg *s = seg_of(t, h);
    if ((!s->e || (s->n + 1) * 4 > (s->mask + 1) * 3) && grow(s) < 0)
        return PYSCOPE_ENOMEM;
    struct big *b = NULL;
    if (size >= SIZE_BIG && !(b = malloc(sizeof *b)))
        return PYSCOPE_ENOMEM;
    size_t i = home_of(s, h);
    while (s->e[i].ptr && s->e[i].ptr != ptr)
        i = (i + 1) & s->mask;
    int replaced = s->e[i].ptr == ptr;
    if (replaced) {
        *old_size = s->e[i].size == SIZE_BIG ? big_take(t, ptr) : s->e[i].size;
        *old_trace = s->e[i].trace;
    } else {
        s->n++;
        t->count++;
    }
    s->e[i] = (struct bentry){ptr, size >= SIZE_BIG ? SIZE_BIG : (uint32_t)size, trace};
    if (b) {
        *b = (struct big){ptr, size, t->bigs};
        t->bigs = b;
        t->nbigs++;
    }
    return replaced;
}

int blocks_get(const struct blocks *t, uintptr_t ptr, size_t *size, uint32_t *trace)
{
    uint64_t h = hash_ptr(ptr);
    const struct seg *s = cseg_of(t, h);
    if (!s->e)
        return 0;
    for (size_t i = home_of(s, h); s->e[i].ptr; i = (i + 1) & s->mask) {
        if (s->e[i].ptr != ptr)
            continue;
        *trace = s->e[i].trace;
        if (s->e[i].size != SIZE_BIG) {
            *size = s->e[i].size;
        } else {
            const struct big *b = t->bigs;
            while (b && b->ptr != ptr)
                b = b->next;
            *size = b ? b->size : 0;
        }
        return 1;
    }
    return 0;
}

int blocks_take(struct blocks *t, uintptr_t ptr, size_t *size, uint32_t *trace)
{
    uint64_t h = hash_ptr(ptr);
    struct seg *s = seg_of(t, h);
    if (!s->e)
        return 0;
    size_t i = home_of(s, h);
    while (s->e[i].ptr != ptr) {
        if (!s->e[i].ptr)
            return 0;
        i = (i + 1) & s->mask;
    }
    *size = s->e[i].size == SIZE_BIG ? big_take(t, ptr) : s->e[i].size;
    *trace = s->e[i].trace;
    /* Shift the rest of the run back over the hole. */
    for (size_t j = (i + 1) & s->mask; s->e[j].ptr; j = (j + 1) & s->mask) {
        size_t k = home_of(s, hash_ptr(s->e[j].ptr));
        if (((j - k) & s->mask) >= ((j - i) & s->mask)) {
            s->e[i] = s->e[j];
            i = j;
        }
    }
    s->e[i].ptr = 0;
    s->n--;
    t->count--;
    return 1;
}

size_t blocks_count(const struct blocks *t)
{
    return t->count;
}

size_t blocks_footprint(const struct blocks *t)
{
    size_t bytes = sizeof *t + t->nbigs * sizeof(struct big);
    for (int i = 0; i < NSEGS; i++)
        if (t->segs[i].e)
            bytes += (t->segs[i].mask + 1) * sizeof(struct bentry);
    return bytes;
}
