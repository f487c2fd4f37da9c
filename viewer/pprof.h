/*
 * A run in pprof's profile format, gzip-compressed, for `pyscope export
 * --format pprof`: the format the pprof tool, Grafana Pyroscope, Parca,
 * Datadog and Google Cloud Profiler read (the messages pyscope fills are
 * in pprof.proto). Its prefix is pprof_.
 *
 * Samples: one pprof sample per thread, stack and state, with three
 * values, samples (a count), cpu and wall (nanoseconds; cpu the default a
 * viewer shows), and labels naming the thread ("thread", "thread_id"), its
 * process ("pid") and the state ("state": running, native, idle, gil,
 * runnable), so a fleet profiler can slice by them. A memory snapshot: one
 * sample per allocation traceback, with the live blocks ("inuse_objects")
 * and bytes ("inuse_space", the default), as Go's heap profiles name them.
 * A function is named by its qualname, with its own name as the system
 * name, its file and first line; a location is a function at a line.
 */
#ifndef PYSCOPE_VIEWER_PPROF_H
#define PYSCOPE_VIEWER_PPROF_H

#include "samples.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>

/* Which values a profile of samples holds. */
enum pprof_kind {
    PPROF_ALL,  /* samples, cpu and wall: the export's */
    PPROF_CPU,  /* samples and cpu, of the stacks that used CPU only, its period
                 * typed cpu: a CPU profile as Go's are */
    PPROF_WALL, /* samples and wall, every state */
};

/*
 * The samples of db that f selects (its clock is not used), as a profile of
 * kind, to out. Its time is at_ns (nanoseconds since the epoch), or the
 * run's start when at_ns is 0. path names the database in messages. 0, or
 * a negative PYSCOPE_E* code with one line in msg (PYSCOPE_ENOTFOUND when f
 * selects no thread; PYSCOPE_EDB, PYSCOPE_ENOMEM, PYSCOPE_EIO for a failed
 * write).
 */
int pprof_write_samples(FILE *out, sqlite3 *db, const char *path, const struct smp_filter *f,
                        enum pprof_kind kind, int64_t at_ns, char *msg, size_t msglen);

/* The snapshot profile p (smp_load_snapshot) of db, to out, its time at_ns
 * as above. 0 or a negative PYSCOPE_E* code, with one line in msg. */
int pprof_write_snapshot(FILE *out, sqlite3 *db, const struct smp_profile *p, int64_t at_ns,
                         char *msg, size_t msglen);

#endif
