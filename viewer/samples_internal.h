/*
 * What the sampling profile's files share inside (samples.c loads a
 * profile, smp_tree.c builds its merged tree): the profile's layout and
 * the (a, b) -> index maps they both intern with. Not for the commands:
 * they read a profile through samples.h.
 */
#ifndef PYSCOPE_VIEWER_SAMPLES_INTERNAL_H
#define PYSCOPE_VIEWER_SAMPLES_INTERNAL_H

#include "error.h"
#include "intern.h"
#include "smp_types.h"

#include <stddef.h>
#include <stdint.h>

struct stacks;

#define MAX_DEPTH 65536 /* longer parent chains are taken as damaged and cut */

/* ---- (a, b) -> index maps: intern.h's imap, made on the first insert ---- */

struct pmap {
    struct imap *m;
};

static inline void pmap_release(struct pmap *m)
{
    imap_free(m->m);
    m->m = NULL;
}

/*
 * The value under (a, b) in *v; when absent, insert v_new and set *v to it.
 * 0 or PYSCOPE_ENOMEM.
 */
static inline int pmap_intern(struct pmap *m, int64_t a, int64_t b, uint32_t v_new, uint32_t *v)
{
    int64_t got;
    if (!m->m && !(m->m = imap_new()))
        return PYSCOPE_ENOMEM;
    int err = imap_intern(m->m, (uint64_t)a, (uint64_t)b, v_new, &got);
    if (!err)
        *v = (uint32_t)got;
    return err;
}

/* ---- the profile ---- */

struct frame {
    uint32_t fn;
    uint32_t lineidx; /* into lines */
    int64_t line;     /* 0 when unknown */
};

struct linekey {
    uint32_t fn;
    int64_t line;
};

/* One distinct (thread, stack): the samples summed; or one traceback of a snapshot. */
struct agg {
    uint32_t thread; /* 0 in a snapshot, which has no threads */
    int state;       /* samples.state, with smp_filter.by_state; else -1 */
    uint32_t leaf;   /* stack node */
    int64_t stack_id;
    int64_t count, cpu_count, cpu_ns; /* a snapshot's blocks are its count */
    int64_t bytes;                    /* a snapshot's live bytes */
    int64_t samples, weight;          /* as the clock counts them */
};

/* A thread's samples: ticks in all, the first row's time, the last row's
 * time and ticks. */
struct span {
    int64_t count, first, last, last_ticks;
};

struct smp_profile {
    struct stacks *st; /* the run's stack tables; the functions' names are borrowed from it */
    enum smp_clock clock;
    unsigned states; /* the filter's: 1 << state of each kept, 0 for all */
    char *cwd;       /* without a trailing slash; NULL when unknown or "/" */
    size_t cwdlen;
    int has_filter_fn;
    int with_own; /* smp_filter.with_own */
    int by_state; /* smp_filter.by_state */

    struct smp_function *fns;
    size_t nfns, capfns;
    size_t nreal_fns;                     /* fns[0 .. nreal_fns) are the functions table's, by id */
    uint32_t special_fn[SMP_OWN + 1]; /* index of each pseudo-function, SMP_NONE */

    struct frame *frames;
    size_t nframes, capframes;
    uint32_t unknown_frame;

    struct linekey *lines;
    size_t nlines, caplines;

    uint32_t *node_parent, *node_frame; /* the stack tree */
    size_t nnodes, capnodes;
    uint32_t nostack_node, unknown_node;

    struct smp_thread *threads;
    size_t nthreads, capthreads;
    struct span *spans; /* per thread */

    struct agg *aggs;
    size_t naggs, capaggs;

    struct smp_totals totals;

    struct smp_snapshot snap; /* with clock SMP_CLOCK_BYTES; owns label and trigger */
};

/*
 * The longest walk up a stack: no real chain is longer than the tree has
 * nodes, so a longer one loops (a damaged file) and is cut there.
 */
static inline size_t walk_cap(const struct smp_profile *p)
{
    return p->nnodes < MAX_DEPTH ? p->nnodes : MAX_DEPTH;
}

#endif
