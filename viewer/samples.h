/*
 * The read side of the sampling profiler: load a run's samples, selected by
 * thread, process and function, aggregated per distinct (thread, stack), and
 * the views the commands print from them: per function (top), per source
 * line (hot) and the merged call tree (flamegraph, folded, speedscope).
 *
 * A memory snapshot loads into the same profile (smp_load_snapshot): its
 * live allocations are stacks too, weighed in bytes and counted in blocks,
 * so the tree and its renderers serve both.
 *
 * A profile is loaded once and then read; it owns every string and array it
 * hands out, valid until smp_free. Nothing here prints: errors come back as
 * negative PYSCOPE_E* codes with one lowercase line in the caller's buffer.
 */
#ifndef PYSCOPE_VIEWER_SAMPLES_H
#define PYSCOPE_VIEWER_SAMPLES_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define SMP_NONE UINT32_MAX /* "no index": no parent, no frame, no line */

/*
 * How samples are weighed. cpu: by the CPU time the thread used since its
 * previous sample (cpu_ns), so idle samples weigh nothing; wall: one unit
 * per sample, each standing for one sampling interval of wall time. bytes
 * is a snapshot's (smp_load_snapshot, never a filter's): each allocation
 * traceback weighs the bytes still allocated from it, and its "samples"
 * are the blocks.
 */
enum smp_clock { SMP_CLOCK_CPU, SMP_CLOCK_WALL, SMP_CLOCK_BYTES };

enum smp_kind { SMP_KIND_PYTHON, SMP_KIND_BUILTIN, SMP_KIND_NATIVE };

/* Pseudo-functions the viewer shows in brackets. */
enum smp_special {
    SMP_REAL = 0,
    SMP_TRUNCATED, /* the "[truncated]" root of a stack cut at the depth limit */
    SMP_NOSTACK,   /* samples without a Python frame (stack_id NULL) */
    SMP_UNKNOWN,   /* a stack, frame or function id the database does not have */
};

/* Which samples to load and how to weigh them. Zero-initialise: all, cpu. */
struct smp_filter {
    enum smp_clock clock;
    const char *thread;   /* threads.id or threads.name; NULL for every thread */
    int has_pid;          /* select the processes with processes.pid == pid */
    int64_t pid;          /* ... */
    const char *function; /* fnmatch(3) pattern on qualname or name; NULL for all */
    unsigned states;      /* 1 << samples.state of each state kept; 0 keeps all */
    int no_native;        /* fold native frames into their Python caller */
};

/* samples.state */
enum {
    SMP_STATE_RUNNING,
    SMP_STATE_NATIVE,
    SMP_STATE_IDLE,
    SMP_STATE_GIL,
    SMP_STATE_RUNNABLE,
    SMP_NSTATES
};

struct smp_function {
    int64_t id; /* functions.id; 0 for pseudo-functions */
    enum smp_kind kind;
    enum smp_special special;
    const char *filename; /* NULL when none (builtins, pseudo-functions) */
    const char *name;     /* never NULL */
    const char *qualname; /* never NULL: the name when no qualname was recorded */
    int64_t firstlineno;  /* 0 when unknown */
    const char *source;   /* native: its source file from debug information; else NULL */
    int matched;          /* matches filter.function (every function without one) */
};

struct smp_thread {
    int64_t id;       /* threads.id */
    int64_t pid;      /* its process's pid; 0 when unknown */
    int64_t os_tid;   /* 0 when unknown */
    const char *name; /* NULL when unknown */
};

/* Samples and weight of one row of a view; weight is in the clock's unit. */
struct smp_stat {
    int64_t self_samples, total_samples; /* samples counted: see smp_totals */
    int64_t self_weight, total_weight;
};

/* A function's row for `top`. */
struct smp_fn_stat {
    const struct smp_function *fn;
    struct smp_stat s;
};

/* A source line's row for `hot`: a function at a line. */
struct smp_line_stat {
    const struct smp_function *fn;
    int64_t line; /* 0 when unknown */
    struct smp_stat s;
};

struct smp_totals {
    enum smp_clock clock;
    int64_t samples; /* selected samples counted: all for wall, with CPU time for cpu */
    int64_t weight;  /* their weight: the 100 % of every percentage */
    int64_t all_samples, all_weight;             /* the same before the function filter */
    int64_t truncated_samples, truncated_weight; /* of stacks cut at the depth limit */
    int64_t interval_ns;                         /* mean sampling interval; 0 when unknown */
    size_t nstacks;                              /* distinct (thread, stack) pairs selected */
    int64_t by_state[SMP_NSTATES]; /* samples of the selected threads in each state, any clock,
                                      before the state and function filters */
};

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

/* A memory snapshot as smp_load_snapshot found it in the snapshots table. */
struct smp_snapshot {
    int64_t id;           /* snapshots.id */
    int64_t process_id;   /* processes.id */
    int64_t pid;          /* its pid; 0 when unknown */
    const char *label;    /* NULL when none */
    const char *trigger;  /* api, signal, interval, peak or exit; never NULL */
    int64_t t_ns;         /* since the run started */
    int64_t traced_bytes; /* the columns; -1 when NULL */
    int64_t traced_blocks, peak_bytes, rss_bytes;
};

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
 * The merged call tree. Node 0 is the root ("all"); with SMP_TREE_THREADS
 * its children are one node per thread, under which the stacks of that
 * thread merge (a snapshot's profile has no threads: the flag is ignored).
 * Frames merge by function, or with SMP_TREE_LINES by function and line.
 * Children are sorted by name (then file and line), threads by id. Only
 * samples of positive weight are in it.
 */
enum { SMP_TREE_LINES = 1, SMP_TREE_THREADS = 2 };

enum smp_node_kind { SMP_NODE_ROOT, SMP_NODE_THREAD, SMP_NODE_FRAME };

struct smp_node {
    enum smp_node_kind kind;
    uint32_t parent;                 /* SMP_NONE for the root */
    uint32_t depth;                  /* 0 for the root */
    uint32_t first_kid, nkids;       /* children are kids[first_kid .. + nkids] */
    const struct smp_function *fn;   /* SMP_NODE_FRAME */
    const struct smp_thread *thread; /* SMP_NODE_THREAD */
    int64_t line; /* with SMP_TREE_LINES the frame's line, else 0; 0 when unknown */
    uint32_t key; /* SMP_NODE_FRAME: what it is (function, or function and line), < nkeys */
    struct smp_stat s;
};

struct smp_tree {
    struct smp_node *nodes;
    size_t nnodes;
    uint32_t *kids;
    uint32_t maxdepth;
    uint32_t nkeys; /* bound of smp_node.key: frames with the same key are the same frame */
};

/* Build the tree of p into *out (free with smp_tree_free). 0 or PYSCOPE_ENOMEM. */
int smp_tree_build(const struct smp_profile *p, int flags, struct smp_tree **out);

void smp_tree_free(struct smp_tree *t);

#endif
