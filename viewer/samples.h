/*
 * The read side of the sampling profiler: load a run's samples, selected by
 * thread, process and function, aggregated per distinct (thread, stack), and
 * the views the commands print from them: per function (top) and per
 * source line (hot); the merged call tree (flamegraph, folded, speedscope)
 * is smp_tree.h's. Its prefix is smp_.
 *
 * A memory snapshot loads into the same profile (smp_load_snapshot): its
 * live allocations are stacks too, weighed in bytes and counted in blocks,
 * so the tree and its renderers serve both.
 *
 * A profile is loaded once and then read; it owns every string and array it
 * hands out (the stack tables of stacks.h among them), valid until smp_free. Nothing here prints:
 * errors come back as negative PYSCOPE_E* codes with one lowercase line in the caller's buffer.
 */
#ifndef PYSCOPE_VIEWER_SAMPLES_H
#define PYSCOPE_VIEWER_SAMPLES_H

#include "smp_types.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct smp_profile;

/*
 * Load the samples of db selected by f (NULL: all, cpu clock) into *out, a
 * new profile to release with smp_free. The function, frame and stack
 * tables are read whole; samples are scanned once and grouped by (thread,
 * stack) in memory. path only names the database in messages. Returns 0,
 * or with *out NULL and one line in msg:
 *   PYSCOPE_ENOTFOUND  no thread or process matches the filter
 *   PYSCOPE_EDB        a query failed; PYSCOPE_ENOMEM.
 */
int smp_load(sqlite3 *db, const char *path, const struct smp_filter *f, struct smp_profile **out,
             char *msg, size_t msglen);

/*
 * Load the live allocations of the snapshot whose snapshots.id is id into
 * *out, a profile of clock SMP_CLOCK_BYTES to release with smp_free: one
 * aggregate per allocation traceback of snapshot_traces, weighing its size
 * (bytes), its count as the samples (blocks). function, when not NULL,
 * keeps only the tracebacks through a function it matches, as the filter's
 * function does. The profile has no threads. path only names the database
 * in messages. Returns 0, or with *out NULL and one line in msg:
 *   PYSCOPE_ENOTFOUND  no snapshot with that id (or none at all) in the run
 *   PYSCOPE_EDB        a query failed; PYSCOPE_ENOMEM.
 */
int smp_load_snapshot(sqlite3 *db, const char *path, int64_t id, const struct smp_filter *f,
                      struct smp_profile **out, char *msg, size_t msglen);

void smp_free(struct smp_profile *p);

/* The snapshot of a profile from smp_load_snapshot; NULL for samples. Borrowed from p. */
const struct smp_snapshot *smp_snapshot(const struct smp_profile *p);

/*
 * "snapshot 3 'after load' (api)" for s into buf (len bytes), which is
 * returned; without a label "snapshot 3 (peak)". The label is the
 * program's: escape it where it lands.
 */
char *smp_snapshot_label(const struct smp_snapshot *s, char *buf, size_t len);

/* A samples.state code's name, as --state, the JSON forms and the pprof
 * export spell it ("running", "native", "idle", "gil", "runnable"); ""
 * for a code that is none of them. */
const char *smp_state_name(int state);

/* Totals of the selected samples. Borrowed from p. */
const struct smp_totals *smp_totals(const struct smp_profile *p);

/*
 * The time weight stands for, in ns: cpu_ns itself for the cpu clock, for
 * wall weight times the mean interval; -1 when that is unknown, and for
 * bytes.
 */
int64_t smp_weight_ns(const struct smp_profile *p, int64_t weight);

/* The meta value cwd of the run, or NULL. Borrowed from p. */
const char *smp_cwd(const struct smp_profile *p);

/*
 * filename as the viewer shows it: relative to the run's directory when it
 * lies below it, else unchanged. Points into filename.
 */
const char *smp_short_path(const struct smp_profile *p, const char *filename);

/* The function whose functions.id is id, or NULL. */
const struct smp_function *smp_function_by_id(const struct smp_profile *p, int64_t id);

size_t smp_nthreads(const struct smp_profile *p);
const struct smp_thread *smp_thread(const struct smp_profile *p, size_t i);

/*
 * "MainThread (pid 42, tid 43)" for t into buf (len bytes), which is
 * returned; "thread 7 (...)" by its id when it has no name.
 */
char *smp_thread_label(const struct smp_thread *t, char *buf, size_t len);

/*
 * Where fn is, as shown: "file:line" with the short path and line (the
 * function's first line when line is 0), the file alone for native code,
 * "" for builtins and pseudo-functions. Into buf, which is returned.
 */
char *smp_location(const struct smp_profile *p, const struct smp_function *fn, int64_t line,
                   char *buf, size_t len);

/*
 * Per-function rows (self time in the function, total time with its
 * callees, each sample counted once however often the function recurs),
 * for every function with selected samples, unsorted, into *rows (n of
 * them; the caller frees the array). 0 or PYSCOPE_ENOMEM.
 */
int smp_functions(const struct smp_profile *p, struct smp_fn_stat **rows, size_t *n);

/*
 * Per-line rows: self is the samples whose innermost frame is at the line,
 * total the samples with the line anywhere on the stack (once per sample).
 * Pseudo-functions are left out, and with a function filter, lines of
 * functions that do not match. Unsorted, into *rows (n); the caller frees
 * the array. 0 or PYSCOPE_ENOMEM.
 */
int smp_lines(const struct smp_profile *p, struct smp_line_stat **rows, size_t *n);

/*
 * One selected stack of a profile, for an export that keeps stacks apart
 * (pprof) rather than merging them into a tree: its thread, its frames
 * innermost first, and what its samples add up to under every clock.
 */
struct smp_stack {
    const struct smp_thread *thread;       /* NULL in a snapshot */
    int state;                             /* samples.state (smp_each_state_stack); else -1 */
    int64_t stack_id;                      /* the stacks.id it was recorded as; 0 for none */
    int64_t interval_ns;                   /* the mean sampling interval; 0 when unknown */
    const struct smp_function *const *fns; /* depth of them, innermost first */
    const int64_t *lines;                  /* the line of each; 0 when unknown */
    size_t depth;
    int64_t samples;     /* ticks; a snapshot's blocks */
    int64_t cpu_samples; /* of them, the ticks that used CPU time (what --clock cpu counts) */
    int64_t cpu_ns;      /* the CPU time they stand for; 0 in a snapshot */
    int64_t bytes;   /* a snapshot's live bytes; 0 for samples */
};

/*
 * Call fn(ctx, s) for each selected stack of p, in the order the profile
 * holds them; s and what it points to are valid for that call only. Stops
 * at fn's first negative return, which it returns; else 0, or
 * PYSCOPE_ENOMEM.
 */
int smp_each_stack(const struct smp_profile *p, int (*fn)(void *ctx, const struct smp_stack *s),
                   void *ctx);

/*
 * The samples of db that f selects, stack by stack as smp_each_stack gives
 * them, each stack once per state it was sampled in (one scan, aggregated
 * by thread, stack and state: smp_filter.by_state): for exports that keep
 * the state of a sample (pprof, the HTML report). f's clock is not used: every sample counts. Stops
 * at fn's first negative return, which it returns; else 0, or an error of smp_load with one line in
 * msg.
 */
int smp_each_state_stack(sqlite3 *db, const char *path, const struct smp_filter *f,
                         int (*fn)(void *ctx, const struct smp_stack *s), void *ctx, char *msg,
                         size_t msglen);

#endif
