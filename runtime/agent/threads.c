/*
 * The thread registry of threads.h. Entries live in a singly linked list
 * guarded by one mutex, taken only on registration, by the emitter's drain
 * and around fork: never in a hook. A hook finds its thread's ring through a
 * static-TLS pointer, so it needs no lock at all.
 */
#define _GNU_SOURCE
#include "threads.h"
#include "util.h"
#include "error.h"
#include "ownwork.h"
#include "ring.h"
#include "wire.h"

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define THREAD_RING_BYTES (64 * 1024)
#define SAMPLE_RING_BYTES (512 * 1024)
#define BATCH_FIRST 64 /* threads drained in one round; more than most programs run */

struct thread_entry {
    struct ring *ring;
    uint64_t tid;
    _Atomic int ended; /* set by the owner after its last record */
    struct thread_sampling sampling;
    struct thread_entry *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_entry *registry;
static uint64_t dropped_records, dropped_samples, missed_ticks, torn_samples; /* of freed threads */
static __thread struct thread_entry *self;

/* The kernel's CPU-time clock of a thread, by thread id (see clock_getcpuclockid). */
static clockid_t thread_cpu_clock(uint64_t tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 6);
}

static void entry_free(struct thread_entry *e)
{
    if (e->sampling.syscall_fd >= 0)
        close(e->sampling.syscall_fd);
    if (e->sampling.trap_fd >= 0)
        close(e->sampling.trap_fd);
    ring_free(e->ring);
    ring_free(e->sampling.sring);
    free(e);
}

static int entry_rings(struct thread_entry *e)
{
    e->ring = ring_new(THREAD_RING_BYTES);
    e->sampling.sring = ring_new(SAMPLE_RING_BYTES);
    return e->ring && e->sampling.sring ? 0 : PYSCOPE_ENOMEM;
}

/* The top of the calling thread's stack, where its outermost C frames are;
 * 0 when the thread library cannot say. */
static uintptr_t own_stack_top(void)
{
    pthread_attr_t attr;
    void *base;
    size_t size;
    uintptr_t top = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return 0;
    if (pthread_attr_getstack(&attr, &base, &size) == 0)
        top = (uintptr_t)base + size;
    pthread_attr_destroy(&attr);
    return top;
}

/* On the thread itself. */
static void entry_identify(struct thread_entry *e)
{
    e->tid = (uint64_t)syscall(SYS_gettid);
    e->sampling.stack_top = own_stack_top();
    e->sampling.own_depth = &ownwork_depth;
    e->sampling.tid = e->tid;
    e->sampling.cpu_clock = thread_cpu_clock(e->tid);
    e->sampling.syscall_fd = -1;
    e->sampling.trap_fd = -1;
    struct timespec ts;
    if (clock_gettime(e->sampling.cpu_clock, &ts) == 0)
        e->sampling.last_cpu_ns = e->sampling.cpu_charged_ns =
            (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
        .t_ns = (uint64_t)util_mono_ns(),
        .is_main = (uint32_t)is_main,
    };
    struct wire_str s;
    unsigned n = name_str(name, &s);
    ring_put(e->ring, WIRE_THREAD_START, &rec, sizeof rec, &s, n);
}

int threads_register(const char *name, int is_main, void *tstate)
{
    if (self)
        return PYSCOPE_EEXISTS;
    struct thread_entry *e = calloc(1, sizeof *e);
    if (!e)
        return PYSCOPE_ENOMEM;
    e->sampling.syscall_fd = e->sampling.trap_fd = -1;
    if (entry_rings(e) < 0) {
        entry_free(e);
        return PYSCOPE_ENOMEM;
    }
    entry_identify(e);
    e->sampling.tstate = tstate;
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
    struct wire_thread_end rec = {.tid = e->tid, .t_ns = (uint64_t)util_mono_ns()};
    struct wire_str s;
    unsigned n = name_str(name, &s);
    ring_put(e->ring, WIRE_THREAD_END, &rec, sizeof rec, &s, n);
    /* From here on the signal handler ignores this thread (self is NULL).
     * The lock makes the sampler finish any look at the thread's state
     * (its PyThreadState, freed soon after this returns) before it ends. */
    self = NULL;
    pthread_mutex_lock(&registry_lock);
    atomic_store_explicit(&e->ended, 1, memory_order_release);
    pthread_mutex_unlock(&registry_lock);
}

struct ring *threads_ring(void)
{
    return self ? self->ring : NULL;
}

struct thread_sampling *threads_self_sampling(void)
{
    return self ? &self->sampling : NULL;
}

/* The samples entry e could not record so far. */
static uint64_t entry_lost_samples(const struct thread_entry *e)
{
    return ring_dropped(e->sampling.sring) + atomic_load(&e->sampling.torn) +
           atomic_load(&e->sampling.lost_ticks);
}

void threads_for_each_kept(void (*fn)(struct thread_sampling *s, void *ctx),
                           void (*ended_fn)(struct thread_sampling *s, void *ctx), void *ctx)
{
    pthread_mutex_lock(&registry_lock);
    for (struct thread_entry *e = registry; e; e = e->next) {
        if (!atomic_load_explicit(&e->ended, memory_order_acquire))
            fn(&e->sampling, ctx);
        else if (ended_fn)
            ended_fn(&e->sampling, ctx);
    }
    pthread_mutex_unlock(&registry_lock);
}

void threads_for_each(void (*fn)(struct thread_sampling *s, void *ctx), void *ctx)
{
    threads_for_each_kept(fn, NULL, ctx);
}

/* Pass whole records from r through sink into dst; returns bytes written.
 * Stops early, leaving records queued, when dst is full. */
static size_t drain_ring_unlocked(struct ring *r, uint8_t *dst, size_t cap, threads_sink sink,
                                  void *ctx)
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
                long n = sink(p + used, h.size, dst + out, cap - out, ctx);
                if (n < 0)
                    break;
                out += (size_t)n;
            }
            used += h.size;
        }
        ring_consume(r, used);
        if (used < avail)
            return out; /* dst is full */
    }
}

size_t threads_drain_ring(struct ring *r, uint8_t *buf, size_t cap, threads_sink sink, void *ctx)
{
    return r ? drain_ring_unlocked(r, buf, cap, sink, ctx) : 0;
}

/*
 * The sink runs without the registry's lock: naming what was sampled can
 * take a while (native symbols, debug information), and the sampler needs
 * the lock on every tick. Entries are freed only here (and in a fork child,
 * where the emitter is not running), so the ones taken stay valid.
 */
size_t threads_drain(uint8_t *buf, size_t cap, threads_sink sink, void *ctx)
{
    static struct thread_entry **batch; /* the emitter's */
    static size_t capbatch;
    size_t out = 0, n = 0;
    pthread_mutex_lock(&registry_lock);
    for (struct thread_entry *e = registry; e; e = e->next) {
        if (util_reserve((void **)&batch, &capbatch, n + 1, sizeof *batch, BATCH_FIRST) < 0)
            break; /* the rest wait for the next round */
        batch[n++] = e;
    }
    pthread_mutex_unlock(&registry_lock);
    for (size_t i = 0; i < n && cap - out >= WIRE_MSG_MAX / 8; i++) {
        out += drain_ring_unlocked(batch[i]->ring, buf + out, cap - out, sink, ctx);
        out += drain_ring_unlocked(batch[i]->sampling.sring, buf + out, cap - out, sink, ctx);
    }
    pthread_mutex_lock(&registry_lock);
    struct thread_entry **link = &registry;
    while (*link) {
        struct thread_entry *e = *link;
        /* A signal still pending for an ended thread finds self NULL and
         * leaves the entry alone, so it can go once drained. */
        if (atomic_load_explicit(&e->ended, memory_order_acquire) && ring_used(e->ring) == 0 &&
            ring_used(e->sampling.sring) == 0 && !e->sampling.idle_ticks) {
            dropped_records += ring_dropped(e->ring);
            dropped_samples += entry_lost_samples(e);
            missed_ticks += atomic_load(&e->sampling.missed);
            torn_samples += atomic_load(&e->sampling.torn);
            *link = e->next;
            entry_free(e);
            continue;
        }
        link = &e->next;
    }
    pthread_mutex_unlock(&registry_lock);
    return out;
}

void threads_dropped(uint64_t *records, uint64_t *samples, uint64_t *missed, uint64_t *torn)
{
    pthread_mutex_lock(&registry_lock);
    *records = dropped_records;
    *samples = dropped_samples;
    *missed = missed_ticks;
    *torn = torn_samples;
    for (struct thread_entry *e = registry; e; e = e->next) {
        *records += ring_dropped(e->ring);
        *samples += entry_lost_samples(e);
        *missed += atomic_load(&e->sampling.missed);
        *torn += atomic_load(&e->sampling.torn);
    }
    pthread_mutex_unlock(&registry_lock);
}

void threads_fork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
}

void threads_fork_parent(void)
{
    pthread_mutex_unlock(&registry_lock);
}

static _Atomic int own_running; /* threads of pyscope's own alive now */

void threads_fork_child(void)
{
    atomic_store(&own_running, 0); /* not copied into the child */
    struct thread_entry *keep = self;
    struct thread_entry *e = registry;
    while (e) {
        struct thread_entry *next = e->next;
        if (e != keep)
            entry_free(e);
        e = next;
    }
    registry = NULL;
    dropped_records = dropped_samples = missed_ticks = torn_samples = 0;
    if (keep) {
        /* Records queued before the fork are the parent's to send: the
         * rings are kept, emptied. */
        ring_clear(keep->ring);
        ring_clear(keep->sampling.sring);
        keep->next = NULL;
        void *tstate = keep->sampling.tstate;
        struct ring *sring = keep->sampling.sring;
        /* Both name the parent's thread. */
        if (keep->sampling.syscall_fd >= 0)
            close(keep->sampling.syscall_fd);
        if (keep->sampling.trap_fd >= 0)
            close(keep->sampling.trap_fd);
        memset((void *)&keep->sampling, 0, sizeof keep->sampling);
        keep->sampling.tstate = tstate;
        keep->sampling.sring = sring;
        keep->sampling.syscall_fd = keep->sampling.trap_fd = -1;
        entry_identify(keep);
        registry = keep;
    }
    pthread_mutex_unlock(&registry_lock);
}

void threads_announce_main(const char *name)
{
    if (self)
        put_start(self, name, 1);
}

/* ---- pyscope's own threads --------------------------------------------- */

static void (*own_init)(void);

struct own_start {
    void *(*fn)(void *);
    void *arg;
};

static void *own_main(void *p)
{
    struct own_start start = *(struct own_start *)p;
    free(p);
    if (own_init)
        own_init();
    void *res = start.fn(start.arg);
    atomic_fetch_sub(&own_running, 1);
    return res;
}

int threads_own_running(void)
{
    return atomic_load(&own_running);
}

void threads_set_own_init(void (*init)(void))
{
    own_init = init;
}

int threads_start_own(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    struct own_start *start = malloc(sizeof *start);
    if (!start)
        return PYSCOPE_ENOMEM;
    *start = (struct own_start){fn, arg};
    /* The program's signals must go to its own threads: a process-directed
     * one may pick any thread that does not block it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    atomic_fetch_add(&own_running, 1);
    int rc = pthread_create(t, attr, own_main, start);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_fetch_sub(&own_running, 1);
        free(start);
        return PYSCOPE_ENOMEM;
    }
    return 0;
}
