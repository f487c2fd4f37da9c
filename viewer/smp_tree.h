/*
 * The merged call tree of a sampling profile (samples.h), which the flame
 * graph and the stack exports (stackfmt.h) draw: every selected stack
 * merged from the root, frame by frame.
 */
#ifndef PYSCOPE_VIEWER_SMP_TREE_H
#define PYSCOPE_VIEWER_SMP_TREE_H

#include "samples.h"

#include <stddef.h>
#include <stdint.h>

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
