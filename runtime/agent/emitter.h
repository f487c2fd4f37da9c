/*
 * Target side: the emitter thread. It drains every registered thread's ring
 * onto the recorder's channel (channel.h), without the GIL, every
 * EMITTER_PERIOD_MS, and runs the work the recorders give it (with the GIL)
 * between drains.
 */
#ifndef PYSCOPE_EMITTER_H
#define PYSCOPE_EMITTER_H

#include <stddef.h>

#define EMITTER_PERIOD_MS 10

struct ring;

/*
 * Work a recorder has the emitter do with the GIL (queue its call tables,
 * take a snapshot that is due): run(last) every every-th period (0: only
 * at the last flush, emitter_last_flush) and at the last flush, when
 * wanted(last), asked without the GIL, says there is some. Tasks run in
 * the order they were added.
 */
struct emitter_task {
    unsigned every;
    int (*wanted)(int last);
    void (*run)(int last);
};

/* Add a task (again: nothing). Before emitter_start. 0 or PYSCOPE_ENOMEM. */
int emitter_add_task(const struct emitter_task *t);

/* Add a ring of no thread to drain (the call profiler's): ring() gives it,
 * or NULL while there is none. Before emitter_start. 0 or PYSCOPE_ENOMEM. */
int emitter_add_ring(struct ring *(*ring)(void));

/* Start the emitter on the channel. 0 or a negative PYSCOPE_E*. */
int emitter_start(void);

/*
 * Stop and join the emitter, if running. Safe to call more than once.
 * bounded: give up after two seconds (the caller may hold the GIL the
 * emitter waits for); PYSCOPE_EIO then, and the emitter may still run, so
 * the caller must not flush.
 */
int emitter_stop(int bounded);

/*
 * Drain everything queued now and send it, from the calling thread.
 * The emitter must be stopped. may_resolve: the GIL may be taken (or is
 * held) to describe new code objects; without it their samples are
 * dropped. Returns 0, or PYSCOPE_EIO once the recorder is gone (records are
 * then discarded).
 */
int emitter_flush(int may_resolve);

/* Drain now rather than at the next period (not from signal handlers). */
void emitter_wake(void);

/* The interpreter is finalizing: the emitter must not take the GIL any more. */
void emitter_python_gone(void);

/*
 * From a thread of pyscope's own: have the emitter run its tasks as at the
 * last flush (the call tables, the memory tracer's exit snapshots), send
 * everything now, and wait up to timeout_ms for it.
 * 0 when it was done, PYSCOPE_EIO when not (no emitter, or time ran out).
 */
int emitter_last_flush(int timeout_ms);

/* In the child of a fork: forget the parent's emitter thread without joining it. */
void emitter_fork_child(void);

#endif
