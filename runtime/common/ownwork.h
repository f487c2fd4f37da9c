/*
 * pyscope's own work on a thread of the program: marked, so that the
 * sampler charges it to a [pyscope] frame rather than to the line the
 * thread is at, and timed, so that the call profiler leaves it out of the
 * thread's clock. In the lowest layer, so that every layer of the
 * extension can mark what it does (the version layer's free-list wrappers
 * too). Per thread, lock-free, async-signal-safe to read.
 */
#ifndef PYSCOPE_OWNWORK_H
#define PYSCOPE_OWNWORK_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * pyscope's own work on the calling thread, by depth: a hook of pyscope's
 * running (the call counter's callbacks, the allocator hooks, the
 * collector's callbacks, a snapshot) between ownwork_begin and
 * ownwork_end. A sample that finds the thread inside is marked as
 * pyscope's (WIRE_SAMPLE_OWN): that time is the profiler's, not the line's
 * the thread is at. Only the thread itself changes it; its signal handler
 * and the sampler thread read it. Async-signal-safe.
 */
extern __thread _Atomic uint32_t ownwork_depth __attribute__((tls_model("initial-exec")));

static inline void ownwork_begin(void)
{
    uint32_t d = atomic_load_explicit(&ownwork_depth, memory_order_relaxed);
    atomic_store_explicit(&ownwork_depth, d + 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
}

static inline void ownwork_end(void)
{
    atomic_signal_fence(memory_order_seq_cst);
    uint32_t d = atomic_load_explicit(&ownwork_depth, memory_order_relaxed);
    atomic_store_explicit(&ownwork_depth, d - 1, memory_order_relaxed);
}

/*
 * The time the calling thread spent in pyscope's own work that the call
 * profiler does not time itself (the memory tracer's hooks and snapshots,
 * the collector's callbacks), for the call profiler to leave out of the
 * thread's clock as it leaves out its own: otherwise every allocation's
 * tracing would be charged to the function that allocated. Kept only once
 * the call profiler has set ownwork_clock (its clock; never unset):
 * work marked with ownwork_timed_begin/end then reads it when the
 * thread enters and leaves its outermost own work (one piece in
 * OWNWORK_STRIDE). The call profiler takes the sum at its next event on
 * the thread.
 */
extern __thread int64_t ownwork_ns __attribute__((tls_model("initial-exec")));
extern __thread uint32_t ownwork_random __attribute__((tls_model("initial-exec"))); /* a random state */
extern int64_t (*_Atomic ownwork_clock)(void);
extern int64_t ownwork_clock_ns; /* what a clock read adds to an interval it ends */

/*
 * Two clock reads cost a traced allocation a quarter more: one piece of
 * work in OWNWORK_STRIDE, drawn at random, is timed, and counts that
 * many times; a function's time is the sum over many. At random, not every
 * sixteenth: a program's allocations and frees come in repeating patterns
 * (a call that allocates once and frees once), and a fixed stride would
 * time only the allocations of one and only the frees of another.
 */
#define OWNWORK_STRIDE 16

/* A timed piece longer than this was held up (the thread preempted, a
 * snapshot): it stands for itself only, not for OWNWORK_STRIDE pieces, or a
 * preemption in one hook would take milliseconds off the function that
 * allocated (a CI run under load: a function's time fell by half). */
#define OWNWORK_LONG_NS 50000

/* ownwork_begin, timed: the value for ownwork_timed_end. */
static inline int64_t ownwork_timed_begin(void)
{
    int64_t (*clock)(void) = atomic_load_explicit(&ownwork_clock, memory_order_relaxed);
    int timed = 0;
    if (clock && atomic_load_explicit(&ownwork_depth, memory_order_relaxed) == 0) {
        uint32_t x = ownwork_random; /* xorshift32: never 0 once seeded */
        x = x ? x : 0x9e3779b9u;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        ownwork_random = x;
        timed = x % OWNWORK_STRIDE == 0;
    }
    ownwork_begin();
    return timed ? clock() : -1;
}

/* The end of a timed piece is read after a full fence: the piece must be
 * done, its stores too, before the clock is read. Without it, a piece a
 * few dozen nanoseconds long (a traced allocation, no lock in it) came out
 * well short, and the rest of it fell on the function that allocated. */
static inline void ownwork_timed_end(int64_t t0)
{
    if (t0 >= 0) {
        atomic_thread_fence(memory_order_seq_cst);
        int64_t took = atomic_load_explicit(&ownwork_clock, memory_order_relaxed)() - t0 -
                       ownwork_clock_ns;
        if (took > 0)
            ownwork_ns += took > OWNWORK_LONG_NS ? took : OWNWORK_STRIDE * took;
    }
    ownwork_end();
}

#endif
