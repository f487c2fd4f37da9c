/*
 * A run's timeline as a Chrome trace event file (JSON), for `pyscope export
 * --format chrome`: what Perfetto (ui.perfetto.dev) and chrome://tracing
 * open. Its prefix is ctrace_.
 *
 * Each process is a process of the trace (its pid), each thread a thread
 * (its OS thread id), named as pyscope names them. On a thread's track the
 * samples, in time order, make nested complete events: the thread's state
 * (running, native, idle, gil, runnable) outermost, and in it the Python
 * functions of the stack it had, outermost first; samples in a row that
 * share a state and the outer frames of their stacks share those events. A
 * gap longer than a sampling interval between two samples of a thread
 * (the sampler kept off its CPU) ends every event at the last sample. A
 * function's event has its file and first line in its arguments, so that
 * a viewer that tells events apart by their arguments too (speedscope)
 * keeps one function one.
 *
 * Two more tracks per process: "process", with the process's lifetime
 * (how it ended in its arguments) and its memory snapshots as instants,
 * and "gc", with each garbage collection as an event as long as its pause.
 * The snapshots' traced and resident bytes are also counters of the
 * process. Times are whole microseconds since the run started, as the
 * database's are (in nanoseconds), rounded down.
 */
#ifndef PYSCOPE_VIEWER_CHROMETRACE_H
#define PYSCOPE_VIEWER_CHROMETRACE_H

#include "smp_types.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>

/*
 * The timeline of db's threads and processes that f selects (its thread
 * and process; the clock, states and function do not apply), to out. path
 * names the database in messages. 0, or a negative PYSCOPE_E* code with
 * one line in msg (PYSCOPE_ENOTFOUND when f selects no thread).
 */
int ctrace_write(FILE *out, sqlite3 *db, const char *path, const struct smp_filter *f, char *msg,
                 size_t msglen);

#endif
