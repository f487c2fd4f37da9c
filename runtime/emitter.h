/*
 * Target side: the emitter thread. It drains every registered thread's ring
 * onto the recorder connection, without the GIL, every few milliseconds.
 */
#ifndef PYSCOPE_EMITTER_H
#define PYSCOPE_EMITTER_H

#include <stddef.h>

/* Start the emitter on connection fd (borrowed). 0 or a negative PYSCOPE_E*. */
int emitter_start(int fd);

/*
 * Stop and join the emitter, if running. Safe to call more than once.
 * bounded: give up after two seconds (the caller may hold the GIL the
 * emitter waits for); PYSCOPE_EIO then, and the emitter may still run, so
 * the caller must not flush.
 */
int emitter_stop(int bounded);

/*
 * Drain everything queued now and send it on fd, from the calling thread.
 * The emitter must be stopped. may_resolve: the GIL may be taken (or is
 * held) to describe new code objects; without it their samples are
 * dropped. Returns 0, or PYSCOPE_EIO once the recorder is gone (records are
 * then discarded).
 */
int emitter_flush(int fd, int may_resolve);

/* Drain now rather than at the next period (not from signal handlers). */
void emitter_wake(void);

/* The interpreter is finalizing: the emitter must not take the GIL any more. */
void emitter_python_gone(void);

/*
 * From a thread of pyscope's own: have the emitter queue the call
 * statistics, send the memory tracer's exit snapshots and everything else
 * now, and wait up to timeout_ms for it.
 * 0 when it was done, PYSCOPE_EIO when not (no emitter, or time ran out).
 */
int emitter_last_flush(int timeout_ms);

/* Send one message (whole records, at most WIRE_MSG_MAX bytes) on fd. */
int emitter_send(int fd, const void *msg, size_t len);

/* In the child of a fork: forget the parent's emitter thread without joining it. */
void emitter_after_fork_child(void);

#endif
