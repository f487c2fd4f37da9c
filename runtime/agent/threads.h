/*
 * Target side: the registry of traced threads. Each registered thread owns a
 * record ring (ring.h) that its hooks write into and the emitter drains. A
 * thread registers itself when it starts and unregisters when it ends; the
 * registry frees its entry once the emitter has drained what it left.
 */
#ifndef PYSCOPE_THREADS_H
#define PYSCOPE_THREADS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct ring;

/*
 * What the sampler needs of a thread. The sampler thread and the thread's
 * own signal handler take turns as the producer of sring: pending is set to
 * 1 by the sampler before it signals the thread, taken from 1 to 2 by the
 * handler and cleared when it is done, and the sampler writes to sring only
 * while pending is clear. The sampler may also take it back from 1 to 0: a
 * signal that comes after that finds it clear and does nothing.
 */
struct thread_sampling {
    uint64_t tid;            /* kernel thread id */
    clockid_t cpu_clock;     /* the thread's CPU-time clock */
    void *tstate;            /* its PyThreadState, for the frame walk */
    uintptr_t stack_top;     /* the top of its stack (stacks grow down here); 0 unknown */
    struct ring *sring;      /* samples; drained by the emitter */
    uint64_t last_cpu_ns;    /* CPU time when the last sample was done */
    uint64_t cpu_charged_ns; /* CPU time counted in samples so far */
    uint64_t pending_t_ns;   /* sampler to handler: when, and CPU used */
    uint64_t pending_cpu_ns;
    void *last_frame; /* where the handler found the thread: innermost frame */
    void *last_instr; /* and its instruction */
    _Atomic int pending;
    _Atomic uint64_t missed; /* ticks skipped: the previous signal was still pending */
    /* Of those, the ticks that found the thread waiting for a CPU, and in a
     * system call: the handler records them when it runs at last. */
    _Atomic uint32_t late_runnable, late_idle;
    _Atomic uint64_t torn; /* samples lost: a frame chain caught half-built, no room on the stack */
    /* Idle ticks lost with their record, beyond the one the ring counts. */
    _Atomic uint64_t lost_ticks;
    /* The idle ticks not sent yet, all in one state (sampler.c's put_idle):
     * the sampler thread's, under the registry lock, where the emitter
     * reads idle_ticks too before it frees an ended thread's entry. */
    uint64_t idle_first_ns, idle_last_ns;
    uint32_t idle_ticks, idle_run_state;
    /* Sampler only: what an idle thread is waiting for. */
    int syscall_fd;       /* its /proc .../syscall, opened on first need; -1 none */
    uint64_t idle_cpu_ns; /* CPU time when that was last read */
    uint32_t idle_state;  /* WIRE_STATE_IDLE, _GIL or _RUNNABLE, as read then */
    /* Sampler only: whether the thread ran by its last reading, and the
     * ticks since its CPU clock was last read. */
    uint32_t ran;
    uint32_t unread_ticks;
    /* Sampler only: a sample with the thread's frames has been taken, so
     * its idle ticks have a stack to repeat. */
    uint32_t walked;
    /* Sampler only: the user trap (usertrap.h) that signals the thread for
     * native stacks; -1 not opened yet, -2 refused. */
    int trap_fd;
    /* The thread's ownwork_depth (ownwork.h): read by the sampler thread. */
    const _Atomic uint32_t *own_depth;
};

/*
 * Register the calling thread under name (may be NULL) and queue its
 * WIRE_THREAD_START record. Allocates: call from normal context, not from a
 * hook. Returns 0, PYSCOPE_EEXISTS when already registered, or PYSCOPE_ENOMEM.
 */
int threads_register(const char *name, int is_main, void *tstate);

/*
 * Queue the calling thread's WIRE_THREAD_END record (with its final name,
 * which may be NULL) and detach it from the registry; the emitter frees the
 * entry after draining it. No-op for an unregistered thread.
 */
void threads_unregister(const char *name);

/* The calling thread's ring, or NULL when it is not registered. Async-signal-safe. */
struct ring *threads_ring(void);

/* The calling thread's sampling state, or NULL. Async-signal-safe. */
struct thread_sampling *threads_self_sampling(void);

/*
 * Call fn on the sampling state of every registered thread that has not
 * ended, with the registry locked: fn must not register threads.
 */
void threads_for_each(void (*fn)(struct thread_sampling *s, void *ctx), void *ctx);

/* As threads_for_each, in the same pass calling ended_fn (when not NULL) on
 * each thread that has ended but whose entry is still kept: its records
 * not all drained, or idle ticks of its not sent yet. */
void threads_for_each_kept(void (*fn)(struct thread_sampling *s, void *ctx),
                           void (*ended_fn)(struct thread_sampling *s, void *ctx), void *ctx);

/*
 * Emitter: the drain callback sees each queued record (WIRE_PAD skipped)
 * and returns how many bytes of dst it used, or -1 when dst is too small;
 * the record then stays queued for the next call.
 */
typedef long (*threads_sink)(const uint8_t *rec, size_t len, uint8_t *dst, size_t cap, void *ctx);

/*
 * Emitter: pass every queued record of every thread (its own ring first,
 * then its samples) through sink into buf, at most cap bytes, and free the
 * entries of ended threads once empty. Returns the bytes written; call again
 * while it returns non-zero.
 */
size_t threads_drain(uint8_t *buf, size_t cap, threads_sink sink, void *ctx);

/* Emitter: the same for a ring of no thread (the call profiler's; r may be NULL). */
size_t threads_drain_ring(struct ring *r, uint8_t *buf, size_t cap, threads_sink sink, void *ctx);

/* What could not be recorded, over every thread so far: *records lost to
 * full rings, *samples lost to full sample rings or torn frame chains (of
 * them, *torn to the frame chains), *missed ticks that found a thread's
 * previous signal still pending. */
void threads_dropped(uint64_t *records, uint64_t *samples, uint64_t *missed, uint64_t *torn);

/* Fork protocol: lock before fork, unlock in the parent, reset in the child. */
void threads_fork_prepare(void);
void threads_fork_parent(void);

/*
 * In the child of a fork (registry locked by threads_fork_prepare): forget
 * every thread but the caller, drop the records queued before the fork (the
 * parent sends them), and unlock.
 */
void threads_fork_child(void);

/* Queue the calling thread's WIRE_THREAD_START again, as the main thread of
 * the new connection (a fork child's). */
void threads_announce_main(const char *name);

/*
 * Start a thread of pyscope's own (the emitter, the sampler, ...) running
 * fn(arg): with every signal blocked, and running what threads_set_own_init
 * set before fn. attr may be NULL. 0 or PYSCOPE_ENOMEM.
 */
int threads_start_own(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

/* How many threads of pyscope's own are running now (a fork child has
 * none until it starts its own). */
int threads_own_running(void);

/* What each thread of pyscope's own runs first (the memory tracer marks it
 * as one it does not trace). Once, at start. */
void threads_set_own_init(void (*init)(void));

#endif
