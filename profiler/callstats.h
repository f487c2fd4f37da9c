/*
 * Target side: deterministic call statistics with cProfile's accounting
 * (`pyscope profile --calls`). The interpreter's profile callback runs on
 * every thread started after callstats_start; it counts calls per function
 * and per caller → callee pair, with cProfile's primitive calls, tottime and
 * cumtime, in tables of the thread's own. Counting begins when the main
 * module starts to run, so the interpreter's start-up is left out as
 * cProfile leaves it out.
 *
 * Every function here needs the GIL: it is what keeps the tables and the
 * function registry consistent between threads.
 */
#ifndef PYSCOPE_CALLSTATS_H
#define PYSCOPE_CALLSTATS_H

#include <stddef.h>
#include <stdint.h>

struct ring;

/*
 * What is counted: every call (the interpreter's profile callback, on each
 * thread: cProfile's events), or Python functions only (the interpreter's
 * frame-evaluation hook, for the whole interpreter: no builtins, and far
 * cheaper, since the interpreter then runs at full speed between calls).
 */
enum callstats_mode { CALLSTATS_ALL, CALLSTATS_PYTHON };

/* Start counting from the calling (main) thread. 0 or PYSCOPE_ENOMEM. */
int callstats_start(enum callstats_mode mode);

/* A new thread, before it runs its target: install the callback. */
void callstats_thread_begin(void);

/* A thread that is about to end: its table is sent with the next flush. */
void callstats_thread_end(void);

/* Stop counting (the program is ending); the tables stay to be flushed. */
void callstats_stop(void);

/* The profile function the call counter gives PyEval_SetProfile when it
 * counts with one (pyframe_in_profile_call tells its events' time apart). */
void *callstats_profile_function(void);

/*
 * Queue the statistics counted since the last flush as WIRE_FUNCTION and
 * WIRE_CALLS records in the calls ring. Returns 0 when everything went,
 * 1 when the ring filled first (the rest stays for the next call).
 */
int callstats_flush(void);

/*
 * Whether some thread has counts that no flush has queued yet. Any thread,
 * no GIL: the emitter asks it before it asks for a flush (done at the next
 * event of a counted thread) or, when no event has come for a period, takes
 * the GIL to flush, so that a process killed while its threads wait (a pool
 * worker terminated between tasks) loses at most two flush periods of
 * statistics.
 */
int callstats_wants_flush(void);

/* The ring the emitter drains, or NULL before callstats_start. */
struct ring *callstats_ring(void);

/*
 * In the child of a fork: forget the other threads' tables and what the
 * parent counted; calls the forking thread had begun are not counted when
 * they end in the child.
 */
void callstats_fork_child(void);

#endif
