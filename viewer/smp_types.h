/*
 * The types of a sampling profile (samples.h) that the profile's own
 * files share with its readers: what a function, a thread, a snapshot and
 * a row of a view are. Its prefix is smp_.
 */
#ifndef PYSCOPE_VIEWER_SMP_TYPES_H
#define PYSCOPE_VIEWER_SMP_TYPES_H

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
    SMP_OWN,       /* "[pyscope]": the leaf of a sample taken in pyscope's own work */
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
    int with_own;         /* keep the samples taken in pyscope's own work ([pyscope]) */
    int by_state;         /* a stack once per state it was sampled in, not once in all */
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
    /* Samples taken in pyscope's own work, left out (without with_own) or
     * kept: their [pyscope] leaf under the frames the thread was at. */
    int64_t own_samples, own_weight;
    int64_t interval_ns;                         /* mean sampling interval; 0 when unknown */
    size_t nstacks;                              /* distinct (thread, stack) pairs selected */
    int64_t by_state[SMP_NSTATES]; /* samples of the selected threads in each state, any clock,
                                      before the state and function filters */
};

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

#endif
