/*
 * The hold of arenas.h. The interpreter frees an arena (an object arena or
 * a data-stack chunk, both through its arena allocator) with the GIL held;
 * while holding, the freed arena goes on a lock-free stack instead, linked
 * through its own first bytes (its memory is no longer the interpreter's,
 * and a walk reading it finds a link where a chunk's header was, which it
 * checks like any other value). The sampler thread takes the whole stack at
 * once between its walks and frees each arena through the allocator that
 * was there before: an arena freed during a walk is freed after that walk.
 */
#include "arenas.h"

#include <Python.h>

#include <stdatomic.h>
#include <stddef.h>

struct held {
    struct held *next;
    size_t size;
};

static PyObjectArenaAllocator prev;
static int installed;
static _Atomic int holding;
static _Atomic(struct held *) held_top;

static void *hold_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return prev.alloc(prev.ctx, size);
}

static void hold_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (!ptr || size < sizeof(struct held) ||
        !atomic_load_explicit(&holding, memory_order_acquire)) {
        prev.free(prev.ctx, ptr, size);
        return;
    }
    struct held *h = ptr;
    h->size = size;
    h->next = atomic_load_explicit(&held_top, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&held_top, &h->next, h, memory_order_release,
                                                  memory_order_relaxed))
        ;
}

void arenas_hold_start(void)
{
    if (!installed) {
        PyObject_GetArenaAllocator(&prev);
        PyObjectArenaAllocator hold = {NULL, hold_alloc, hold_free};
        PyObject_SetArenaAllocator(&hold);
        installed = 1;
    }
    atomic_store_explicit(&holding, 1, memory_order_release);
}

void arenas_release(void)
{
    struct held *h = atomic_exchange_explicit(&held_top, NULL, memory_order_acquire);
    while (h) {
        struct held *next = h->next;
        prev.free(prev.ctx, h, h->size);
        h = next;
    }
}

void arenas_hold_stop(void)
{
    atomic_store_explicit(&holding, 0, memory_order_release);
    if (installed)
        arenas_release();
}
