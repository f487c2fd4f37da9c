/*
 * Target side: the memory tracer. Hooks the RAW, MEM and OBJ allocator
 * domains (chaining to the allocators installed before, so tracemalloc still
 * works inside the program), keeps every live block with its size and
 * allocation traceback, and sends snapshots of the live blocks grouped by
 * traceback to the recorder: on request from the program, on a signal, on an
 * interval, at exit, and the breakdown at the peak of traced memory.
 */
#ifndef PYSCOPE_TRACEMEM_H
#define PYSCOPE_TRACEMEM_H

#include <stdint.h>

#define TRACEMEM_MAX_DEPTH 512

/* The environment the launcher passes: frames per traceback (absent or 0:
 * off), the snapshot signal's number (0: none), the interval in ms. */
#define TRACEMEM_ENV_DEPTH "PYSCOPE_MEMORY_DEPTH"
#define TRACEMEM_ENV_SIGNAL "PYSCOPE_SNAPSHOT_SIGNAL"
#define TRACEMEM_ENV_INTERVAL "PYSCOPE_SNAPSHOT_INTERVAL_MS"
#define TRACEMEM_ENV_HEAP "PYSCOPE_HEAP" /* "1": snapshots record the object graph */

/*
 * Start taking snapshots: on signal sig (0: none; only taken over when its
 * action is the default), every interval_ms (0: never), at exit and when the
 * program asks. With depth > 0, trace allocations with tracebacks of up to
 * depth frames, and with native the native stack too (native_init first);
 * with heap, each snapshot also records the object graph. Needs the GIL, and no other thread may be
 * using the RAW domain yet. 0 or a negative PYSCOPE_E*.
 */
int tracemem_start(int depth, int sig, uint64_t interval_ms, int heap, int native);

/* Whether snapshots are being taken. */
int tracemem_active(void);

/* Whether snapshots can be sent (the channel is open); going to no waits
 * for a snapshot being sent to finish. */
void tracemem_set_connected(int yes);

/*
 * Take a snapshot now and send it. Needs the GIL. trigger: WIRE_TRIGGER_*;
 * label may be NULL. With wait, waits for the recorder's id and returns it
 * (> 0); otherwise, or when it did not come, 0. Negative PYSCOPE_E* when not
 * tracing or the recorder is gone.
 */
int64_t tracemem_snapshot(int trigger, const char *label, int wait);

/* Whether a signal or interval snapshot is due (the emitter asks each period). */
int tracemem_due(void);

/* Holding the GIL: take the snapshots that are due. */
void tracemem_take_due(void);

/*
 * The process ends (GIL held, the interpreter still whole): send the exit
 * snapshot and the peak, then stop tracing. Only the first call acts.
 */
void tracemem_finish(void);

/* Blocks left untraced because the tables could not grow. */
uint64_t tracemem_untracked(void);

/* Fork protocol, around fork() with the GIL held. */
void tracemem_fork_prepare(void);
void tracemem_fork_parent(void);
void tracemem_fork_child(void);

#endif
