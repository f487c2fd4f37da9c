/*
 * The thread registry of threads.h. Entries live in a singly linked list
 * guarded by one mutex, taken only on registration, by the emitter's drain
 * and around fork: never in a hook. A hook finds its thread's ring through a
 * static-TLS pointer, so it needs no lock at all.
 */
#define _GNU_SOURCE
#include "threads.h"
#include "error.h"
#include "ring.h"
#include "wire.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define THREAD_RING_BYTES (256 * 1024)

struct thread_entry {
    struct ring *ring;
    uint64_t tid;
    _Atomic int ended; /* set by the owner after its last record */
    struct thread_entry *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_entry *registry;
static uint64_t dropped_by_ended; /* drops of threads already freed */
static __thread struct thread_entry *self;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned name_str(const char *name, struct wire_str *s)
{
    if (!name)
        return 0;
    s->p = name;
    s->len = (uint32_t)strlen(name);
    return 1;
}

static void put_start(struct thread_entry *e, const char *name, int is_main)
{
    struct wire_thread_start rec = {
        .tid = e->tid,
        .ident = (uint64_t)pthread_self(),
        .t_ns = mono_ns(),
        .is_main = (uint32_t)is_main,
    };
    struct wire_str s;
    unsigned n = name_str(name, &s);
    ring_put(e->ring, WIRE_THREAD_START, &rec, sizeof rec, &s, n);
}

int threads_register(const char *name, int is_main)
{
    if (self)
        return PYSCOPE_EEXISTS;
    struct thread_entry *e = calloc(1, sizeof *e);
    if (!e)
        return PYSCOPE_ENOMEM;
    e->ring = ring_new(THREAD_RING_BYTES);
    if (!e->ring) {
        free(e);
        return PYSCOPE_ENOMEM;
    }
    e->tid = (uint64_t)syscall(SYS_gettid);
    put_start(e, name, is_main);

    pthread_mutex_lock(&registry_lock);
    e->next = registry;
    registry = e;
    pthread_mutex_unlock(&registry_lock);
    self = e;
    return 0;
}

void threads_unregister(const char *name)
{
    struct thread_entry *e = self;
    if (!e)
        return;
    struct wire_thread_end rec = {.tid = e->tid, .t_ns = mono_ns()};
    struct wire_str s;
    unsigned n = name_str(name, &s);
    ring_put(e->ring, WIRE_THREAD_END, &rec, sizeof rec, &s, n);
    self = NULL;
    atomic_store_explicit(&e->ended, 1, memory_order_release);
}

struct ring *threads_ring(void)
{
    return self ? self->ring : NULL;
}

/* Copy whole records from r into dst; returns bytes copied. */
static size_t drain_ring_unlocked(struct ring *r, uint8_t *dst, size_t cap)
{
    size_t out = 0;
    for (;;) {
        const uint8_t *p;
        size_t avail = ring_peek(r, &p);
        if (!avail)
            return out;
        size_t used = 0;
        while (used < avail) {
            struct wire_hdr h;
            memcpy(&h, p + used, sizeof h);
            if (h.type != WIRE_PAD) {
                if (h.size > cap - out)
                    break;
                memcpy(dst + out, p + used, h.size);
                out += h.size;
            }
            used += h.size;
        }
        ring_consume(r, used);
        if (used < avail)
            return out; /* dst is full */
    }
}

size_t threads_drain(uint8_t *buf, size_t cap)
{
    size_t out = 0;
    pthread_mutex_lock(&registry_lock);
    struct thread_entry **link = &registry;
    while (*link) {
        struct thread_entry *e = *link;
        int ended = atomic_load_explicit(&e->ended, memory_order_acquire);
        out += drain_ring_unlocked(e->ring, buf + out, cap - out);
        if (ended && ring_used(e->ring) == 0) {
            dropped_by_ended += ring_dropped(e->ring);
            *link = e->next;
            ring_free(e->ring);
            free(e);
            continue;
        }
        link = &e->next;
        if (out == cap)
            break;
    }
    pthread_mutex_unlock(&registry_lock);
    return out;
}

uint64_t threads_dropped(void)
{
    pthread_mutex_lock(&registry_lock);
    uint64_t n = dropped_by_ended;
    for (struct thread_entry *e = registry; e; e = e->next)
        n += ring_dropped(e->ring);
    pthread_mutex_unlock(&registry_lock);
    return n;
}

void threads_lock(void)
{
    pthread_mutex_lock(&registry_lock);
}

void threads_unlock(void)
{
    pthread_mutex_unlock(&registry_lock);
}

void threads_after_fork_child(const char *name)
{
    struct thread_entry *keep = self;
    struct thread_entry *e = registry;
    while (e) {
        struct thread_entry *next = e->next;
        if (e != keep) {
            ring_free(e->ring);
            free(e);
        }
        e = next;
    }
    registry = NULL;
    dropped_by_ended = 0;
    if (keep) {
        /* Records queued before the fork are the parent's to send. */
        ring_free(keep->ring);
        keep->ring = ring_new(THREAD_RING_BYTES);
        keep->tid = (uint64_t)syscall(SYS_gettid);
        keep->next = NULL;
        if (keep->ring) {
            registry = keep;
            put_start(keep, name, 1);
        } else {
            free(keep);
            self = NULL;
        }
    }
    pthread_mutex_unlock(&registry_lock);
}
