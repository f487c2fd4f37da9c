/*
 * What keeps memory alive in a snapshot's object graph (heapgraph.h): the
 * dominator tree, each object's retained size, and those sizes grouped.
 *
 * An object is held from outside the graph when its reference count is
 * above the references the graph has to it (a frame's local, a C global,
 * the interpreter's modules), as the cyclic collector reckons it; those
 * objects hang from one root. Object d dominates object v when every path
 * from the root to v passes through d: were d freed, v would go with it.
 * v's retained size is its own size and that of every object it
 * dominates. Objects the collector would free (garbage cycles) are not
 * reachable from the root and are not in the tree. Its prefix is ret_.
 */
#ifndef PYSCOPE_VIEWER_RETAINED_H
#define PYSCOPE_VIEWER_RETAINED_H

#include "heapgraph.h"

#include <stddef.h>
#include <stdint.h>

#define RET_ROOT UINT32_MAX       /* the immediate dominator of an object held from outside */
#define RET_NONE (UINT32_MAX - 1) /* ... of one not reachable: garbage */

struct ret_tree {
    size_t n;          /* the graph's objects */
    uint32_t *idom;    /* each object's immediate dominator, RET_ROOT or RET_NONE */
    int64_t *retained; /* each object's retained size; 0 for garbage */
    uint32_t *count;   /* the objects it retains, itself included; 0 for garbage */
    int64_t total;     /* the size of every reachable object */
    size_t nroots;     /* objects held from outside */
};

/*
 * The dominator tree of g and each object's retained size, into *t
 * (release with ret_release). Cooper, Harvey and Kennedy's iterative
 * algorithm over a depth-first order from the root. 0 or PYSCOPE_ENOMEM.
 */
int ret_build(const struct hg *g, struct ret_tree *t);
void ret_release(struct ret_tree *t);

/*
 * The objects of a group (a type, an allocation site) retain together what
 * its members retain that no other member retains: the sum over the
 * members no other member of the group dominates. key[v] is object v's
 * group (nkeys of them); into out[k] (retained bytes) and members[k]
 * (objects, garbage left out) for each group k. 0 or PYSCOPE_ENOMEM.
 */
int ret_group(const struct hg *g, const struct ret_tree *t, const uint32_t *key, size_t nkeys,
              int64_t *out, uint32_t *members);

#endif
