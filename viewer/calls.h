/*
 * The call profiler's tables (call_stats and calls) as the viewer reads
 * them: summed over the threads a filter selects, per function and per
 * caller → callee pair, as pstats merges the statistics of several runs.
 *
 * Its prefix is cls_.
 */
#ifndef PYSCOPE_VIEWER_CALLS_H
#define PYSCOPE_VIEWER_CALLS_H

#include "samples.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* cProfile's numbers for one function, or for one caller's calls of it. */
struct cls_stat {
    int64_t ncalls, pcalls; /* all calls, primitive (not recursive) calls */
    int64_t tottime_ns;     /* in the function itself */
    int64_t cumtime_ns;     /* with its callees, recursive calls counted once */
};

struct cls_function {
    int64_t id; /* functions.id */
    struct cls_stat s;
};

struct cls_pair {
    int64_t caller_id; /* 0: the root (no caller) */
    int64_t callee_id;
    struct cls_stat s;
};

struct cls_profile {
    struct cls_function *fns; /* by id */
    size_t nfns;
    struct cls_pair *pairs; /* by caller, then callee */
    size_t npairs;
    int64_t calls;      /* ncalls summed over every function */
    int64_t tottime_ns; /* tottime summed: the time the counted calls took */
    int64_t nthreads;   /* threads with call statistics among those selected */
};

/*
 * Load the call statistics of the threads f selects (its thread and pid;
 * the clock, states and function pattern do not apply here) into *out:
 * the functions, and the pairs too when with_pairs. A database without
 * them gives an empty profile. 0, PYSCOPE_EDB or PYSCOPE_ENOMEM.
 */
int cls_load(sqlite3 *db, const struct smp_filter *f, int with_pairs, struct cls_profile *out);
void cls_release(struct cls_profile *p);

/* cProfile's ncalls column: "12", or "3193/1" when some calls were recursive. */
char *cls_ncalls_text(const struct cls_stat *s, char *buf, size_t len);

#endif
