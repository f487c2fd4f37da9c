/*
 * The live-block table of blocks.h. Every allocation the tracer sees lands
 * here, so it is kept small and flat: a 16-byte entry (address, size, and
 * traceback id) in linear-probing segments, at most three quarters full,
 * deleted by shifting the run back rather than leaving tombstones. The top
 * byte of an address's hash picks the segment; each segment doubles on its
 * own, so a resize copies 1/256 of the table and peak memory stays close to
 * the steady state. Sizes that do not fit 32 bits are rare and live on a
 * side list.
 *
 * Addresses are hashed, so each entry of a large table is a miss in the
 * processor's caches: measured on an allocation-heavy program, those two
 * misses per block (its allocation and its free) were most of the tracer's
 * time. Most blocks die young, so a table made with a nursery
 * (blocks_new_nursery) puts new entries in one small fixed segment first,
 * which stays in the cache: a block freed soon after it was made is found
 * there and never reaches the large segments. When the nursery is three
 * quarters full its entries all move into the large segments, with each
 * one's slot prefetched a few entries ahead so the misses overlap.
 *
 * In front of the nursery, a small direct-mapped table (the front) takes
 * each new entry: the interpreter's allocator hands a block just freed out
 * again at once, so most blocks come and go in the slot their address
 * picks, for a compare and a store each, with no hashing into the nursery
 * and no run to shift back. An entry the front's slot held goes on to the
 * nursery, where an older entry of its address is replaced. The front, the
 * nursery and the large segments hold an address at most once each, the
 * youngest entry first in that order (take and get look in that order): an
 * older entry is found only when the newer one moves back past it. Looking
 * for one in the nursery at every put would cost a cache miss each time,
 * and older entries are rare (a free the tracer did not see).
 */
#include "blocks.h"
#include "error.h"

#include <stdlib.h>

#define NSEGS 256
#define SEG_MIN 16
#define NURSERY 32768 /* entries: 512 KiB, about a core's L2 cache */
#define FRONT 256     /* entries: 4 KiB, in the L1 cache */
#define PREFETCH_AHEAD 8
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
    size_t count; /* entries in segs */
    struct big *bigs;
    size_t nbigs;
    struct seg nursery; /* mask 0 when there is none */
    struct bentry *front; /* FRONT entries, with the nursery */
    size_t nfront;
    void (*replaced)(void *ctx, size_t size, uint32_t trace);
    void *replaced_ctx;
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

/* ptr's slot in the front: blocks are 16-byte aligned, and pools of one
 * size a few KiB apart. */
static struct bentry *front_of(const struct blocks *t, uintptr_t ptr)
{
    return &t->front[(ptr >> 4 ^ ptr >> 12) & (FRONT - 1)];
}

struct blocks *blocks_new(void)
{
    return calloc(1, sizeof(struct blocks));
}

struct blocks *blocks_new_nursery(void (*replaced)(void *ctx, size_t size, uint32_t trace),
                                  void *ctx)
{
    struct blocks *t = blocks_new();
    if (!t)
        return NULL;
    t->nursery.e = calloc(NURSERY, sizeof *t->nursery.e);
    t->front = calloc(FRONT, sizeof *t->front);
    if (!t->nursery.e || !t->front) {
        free(t->nursery.e);
        free(t->front);
        free(t);
        return NULL;
    }
    t->nursery.mask = NURSERY - 1;
    t->replaced = replaced;
    t->replaced_ctx = ctx;
    return t;
}

void blocks_free(struct blocks *t)
{
    if (!t)
        return;
    for (int i = 0; i < NSEGS; i++)
        free(t->segs[i].e);
    free(t->nursery.e);
    free(t->front);
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

/* ptr's slot in s, or the empty slot that ends its run. */
static size_t slot_of(const struct seg *s, uintptr_t ptr, uint64_t h)
{
    size_t i = home_of(s, h);
    while (s->e[i].ptr && s->e[i].ptr != ptr)
        i = (i + 1) & s->mask;
    return i;
}

/* Empty slot i of s, shifting the rest of its run back over the hole. */
static void remove_at(struct seg *s, size_t i)
{
    for (size_t j = (i + 1) & s->mask; s->e[j].ptr; j = (j + 1) & s->mask) {
        size_t k = home_of(s, hash_ptr(s->e[j].ptr));
        if (((j - k) & s->mask) >= ((j - i) & s->mask)) {
            s->e[i] = s->e[j];
            i = j;
        }
    }
    s->e[i].ptr = 0;
    s->n--;
}

/* An entry's size, and its big-list record taken. */
static size_t take_size(struct blocks *t, const struct bentry *e)
{
    return e->size == SIZE_BIG ? big_take(t, e->ptr) : e->size;
}

static size_t get_size(const struct blocks *t, const struct bentry *e)
{
    if (e->size != SIZE_BIG)
        return e->size;
    const struct big *b = t->bigs;
    while (b && b->ptr != e->ptr)
        b = b->next;
    return b ? b->size : 0;
}

/*
 * Put entry e in the large segments; 1 with the old values when its address
 * was there (its big-list record taken), else 0. A big size's record is
 * linked by the caller once this succeeded.
 */
static int put_main(struct blocks *t, struct bentry e, size_t *old_size, uint32_t *old_trace)
{
    uint64_t h = hash_ptr(e.ptr);
    struct seg *s = seg_of(t, h);
    if ((!s->e || (s->n + 1) * 4 > (s->mask + 1) * 3) && grow(s) < 0)
        return PYSCOPE_ENOMEM;
    size_t i = slot_of(s, e.ptr, h);
    int replaced = s->e[i].ptr == e.ptr;
    if (replaced) {
        *old_size = take_size(t, &s->e[i]);
        *old_trace = s->e[i].trace;
    } else {
        s->n++;
        t->count++;
    }
    s->e[i] = e;
    return replaced;
}

/*
 * Move the nursery's entries into the large segments, each one's slot there
 * prefetched PREFETCH_AHEAD entries before it is needed. Removing an entry
 * shifts only later entries of its run back, possibly into the slot just
 * emptied, which is looked at again; slots already passed stay empty. When
 * the large segments cannot grow, the rest stay in the nursery.
 */
static void flush_nursery(struct blocks *t)
{
    struct seg *n = &t->nursery;
    for (size_t i = 0; i <= n->mask;) {
        uintptr_t ahead = i + PREFETCH_AHEAD <= n->mask ? n->e[i + PREFETCH_AHEAD].ptr : 0;
        if (ahead) {
            uint64_t h = hash_ptr(ahead);
            const struct seg *s = seg_of(t, h);
            if (s->e)
                __builtin_prefetch(&s->e[home_of(s, h)], 1);
        }
        if (!n->e[i].ptr) {
            i++;
            continue;
        }
        size_t old_size;
        uint32_t old_trace;
        int r = put_main(t, n->e[i], &old_size, &old_trace);
        if (r < 0)
            return;
        if (r == 1 && t->replaced)
            t->replaced(t->replaced_ctx, old_size, old_trace);
        remove_at(n, i);
    }
}

/* Put entry e (not big) in the nursery, emptying it first when it is three
 * quarters full: 1 with the old values when its address was there, 0, or -1
 * when there was no room (the large segments could not grow). */
static int nursery_put(struct blocks *t, struct bentry e, size_t *old_size, uint32_t *old_trace)
{
    struct seg *n = &t->nursery;
    if ((n->n + 1) * 4 > (n->mask + 1) * 3)
        flush_nursery(t);
    if ((n->n + 1) * 4 > (n->mask + 1) * 3)
        return -1;
    size_t i = slot_of(n, e.ptr, hash_ptr(e.ptr));
    int replaced = n->e[i].ptr == e.ptr;
    if (replaced) {
        *old_size = n->e[i].size;
        *old_trace = n->e[i].trace;
    } else {
        n->n++;
    }
    n->e[i] = e;
    return replaced;
}

/* Take ptr's entry out of the nursery: 1 with its values, else 0. */
static int nursery_take(struct blocks *t, uintptr_t ptr, size_t *size, uint32_t *trace)
{
    struct seg *n = &t->nursery;
    size_t i = slot_of(n, ptr, hash_ptr(ptr));
    if (n->e[i].ptr != ptr)
        return 0;
    *size = n->e[i].size;
    *trace = n->e[i].trace;
    remove_at(n, i);
    return 1;
}

/* Put entry e (not big) in the front; 1 with the old values when its
 * address was in the front, else 0. */
static int front_put(struct blocks *t, struct bentry e, size_t *old_size, uint32_t *old_trace)
{
    struct bentry *f = front_of(t, e.ptr);
    if (f->ptr == e.ptr) {
        *old_size = f->size;
        *old_trace = f->trace;
        *f = e;
        return 1;
    }
    int replaced = 0;
    if (f->ptr) { /* the slot's entry moves on to the nursery */
        size_t osize;
        uint32_t otrace;
        int r = nursery_put(t, *f, &osize, &otrace);
        if (r < 0) {
            /* No room behind it: the new entry waits in the nursery's
             * stead, where put_main takes it. */
            int m = put_main(t, e, &osize, &otrace);
            if (m < 0)
                return m;
            if (m == 1 && t->replaced)
                t->replaced(t->replaced_ctx, osize, otrace);
            return replaced;
        }
        if (r == 1 && t->replaced)
            t->replaced(t->replaced_ctx, osize, otrace);
        t->nfront--;
    }
    *f = e;
    t->nfront++;
    return replaced;
}

int blocks_put(struct blocks *t, uintptr_t ptr, size_t size, uint32_t trace, size_t *old_size,
               uint32_t *old_trace)
{
    int big = size >= SIZE_BIG;
    struct bentry e = {ptr, big ? SIZE_BIG : (uint32_t)size, trace};
    if (t->front && !big)
        return front_put(t, e, old_size, old_trace);
    struct big *b = NULL;
    if (big && !(b = malloc(sizeof *b)))
        return PYSCOPE_ENOMEM;
    int replaced = put_main(t, e, old_size, old_trace);
    if (replaced < 0) {
        free(b);
        return replaced;
    }
    /* A big size goes straight to the large segments; an entry of its
     * address in the front or the nursery is an older one, replaced too. */
    if (t->front) {
        size_t osize;
        uint32_t otrace;
        struct bentry *f = front_of(t, ptr);
        int younger = 0;
        if (f->ptr == ptr) {
            osize = f->size;
            otrace = f->trace;
            f->ptr = 0;
            t->nfront--;
            younger = 1;
        } else {
            younger = nursery_take(t, ptr, &osize, &otrace);
        }
        if (younger) {
            if (replaced && t->replaced)
                t->replaced(t->replaced_ctx, *old_size, *old_trace);
            *old_size = osize;
            *old_trace = otrace;
            replaced = 1;
        }
    }
    if (b) {
        *b = (struct big){ptr, size, t->bigs};
        t->bigs = b;
        t->nbigs++;
    }
    return replaced;
}

int blocks_get(const struct blocks *t, uintptr_t ptr, size_t *size, uint32_t *trace)
{
    if (t->front) {
        const struct bentry *f = front_of(t, ptr);
        if (f->ptr == ptr) {
            *size = f->size;
            *trace = f->trace;
            return 1;
        }
    }
    uint64_t h = hash_ptr(ptr);
    const struct seg *segs[2] = {&t->nursery, cseg_of(t, h)};
    for (int k = 0; k < 2; k++) {
        const struct seg *s = segs[k];
        if (!s->e)
            continue;
        size_t i = slot_of(s, ptr, h);
        if (s->e[i].ptr == ptr) {
            *trace = s->e[i].trace;
            *size = get_size(t, &s->e[i]);
            return 1;
        }
    }
    return 0;
}

int blocks_take(struct blocks *t, uintptr_t ptr, size_t *size, uint32_t *trace)
{
    if (t->front) {
        struct bentry *f = front_of(t, ptr);
        if (f->ptr == ptr) {
            *size = f->size;
            *trace = f->trace;
            f->ptr = 0;
            t->nfront--;
            return 1;
        }
    }
    uint64_t h = hash_ptr(ptr);
    struct seg *segs[2] = {&t->nursery, seg_of(t, h)};
    for (int k = 0; k < 2; k++) {
        struct seg *s = segs[k];
        if (!s->e)
            continue;
        size_t i = slot_of(s, ptr, h);
        if (s->e[i].ptr != ptr)
            continue;
        *size = take_size(t, &s->e[i]);
        *trace = s->e[i].trace;
        remove_at(s, i);
        if (k == 1)
            t->count--;
        return 1;
    }
    return 0;
}

size_t blocks_count(const struct blocks *t)
{
    return t->count + t->nursery.n + t->nfront;
}

size_t blocks_footprint(const struct blocks *t)
{
    size_t bytes = sizeof *t + t->nbigs * sizeof(struct big);
    if (t->nursery.e)
        bytes += (t->nursery.mask + 1 + FRONT) * sizeof(struct bentry);
    for (int i = 0; i < NSEGS; i++)
        if (t->segs[i].e)
            bytes += (t->segs[i].mask + 1) * sizeof(struct bentry);
    return bytes;
}
