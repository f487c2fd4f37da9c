/*
 * Target side: the registry of traced threads. Each registered thread owns a
 * record ring (ring.h) that its hooks write into and the emitter drains. A
 * thread registers itself when it starts and unregisters when it ends; the
 * registry frees its entry once the emitter has drained what it left.
 */
#ifndef PYSCOPE_THREADS_H
#define PYSCOPE_THREADS_H

#include <stddef.h>
#include <stdint.h>

struct ring;

/*
 * Register the calling thread under name (may be NULL) and queue its
 * WIRE_THREAD_START record. Allocates: call from normal context, not from a
 * hook. Returns 0, PYSCOPE_EEXISTS when already registered, or PYSCOPE_ENOMEM.
 */
int threads_register(const char *name, int is_main);

/*
 * Queue the calling thread's WIRE_THREAD_END record (with its final name,
 * which may be NULL) and detach it from the registry; the emitter frees the
 * entry after draining it. No-op for an unregistered thread.
 */
void threads_unregister(const char *name);

/* The calling thread's ring, or NULL when it is not registered. Async-signal-safe. */
struct ring *threads_ring(void);

/*
 * Emitter: copy whole queued records (WIRE_PAD skipped) of every thread into
 * buf, at most cap bytes, and free the entries of ended threads once empty.
 * Returns the bytes written; call again while it returns non-zero.
 */
size_t threads_drain(uint8_t *buf, size_t cap);

/* Records dropped because a ring was full, over every thread so far. */
uint64_t threads_dropped(void);

/* Fork protocol: lock before fork, unlock in the parent, reset in the child. */
void threads_lock(void);
void threads_unlock(void);

/*
 * In the child of a fork (registry locked by threads_lock): forget every
 * thread but the caller, drop the records queued before the fork (the parent
 * sends them), unlock, and queue the caller's WIRE_THREAD_START again as the
 * child's main thread.
 */
void threads_after_fork_child(const char *name);

#endif
