/*
 * The object graph of a snapshot, read back from heap_objects and
 * heap_edges, and the analysis `pyscope cycles` makes of it: which objects
 * the cyclic garbage collector would free (CPython's own rule, run
 * offline), the reference cycles among them (strongly connected
 * components), and those cycles grouped by shape and allocation site.
 *
 * Its prefix is hg_.
 */
#ifndef PYSCOPE_VIEWER_HEAPGRAPH_H
#define PYSCOPE_VIEWER_HEAPGRAPH_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct hg {
    size_t n;                       /* objects */
    uint64_t *addr;                 /* address of each */
    uint32_t *type;                 /* index into types */
    int64_t *size, *refcnt, *stack; /* stack 0: allocation not traced */
    char **types;
    size_t ntypes;
    size_t m;      /* references */
    uint32_t *off; /* references of object i: dst[off[i] .. off[i+1]) */
    uint32_t *dst;
    uint32_t *label; /* index into labels; labels[0] is "" (no name) */
    char **labels;
    size_t nlabels;
    uint8_t *garbage; /* 1: the collector would free it */
    size_t ngarbage;
};

/*
 * Load snapshot snapshot_id's graph from db into *g. 0, PYSCOPE_ENOTFOUND
 * when the snapshot has no graph, PYSCOPE_ENOMEM or PYSCOPE_EDB.
 */
int hg_load(sqlite3 *db, int64_t snapshot_id, struct hg *g);
void hg_release(struct hg *g);

/*
 * Mark what a full collection would free, as CPython's collector decides:
 * each object's reference count minus the references from tracked objects;
 * what is left above zero is referenced from outside, and everything
 * reachable from those objects survives. Fills g->garbage, g->ngarbage.
 */
int hg_find_garbage(struct hg *g);

/* One reference cycle: a strongly connected component of two or more
 * objects, or of one that refers to itself. */
struct hg_cycle {
    uint32_t *members; /* object indexes */
    size_t nmembers;
    size_t nheld;  /* garbage objects only it keeps, outside any cycle */
    int64_t bytes; /* members' and held objects' sizes */
    int garbage;   /* its objects are garbage */
    size_t group;  /* index into hg_groups.groups */
};

/* Cycles of the same shape (member types and the names of the references
 * inside) made at the same place (the allocation stacks of the members
 * hg_site_reliable trusts, or of all when it trusts none). */
struct hg_group {
    char *key;
    size_t first; /* the first cycle of the group: its example */
    size_t ncycles, nobjects;
    int64_t bytes;
    int garbage;
};

struct hg_cycles {
    struct hg_cycle *cycles;
    size_t ncycles;
    struct hg_group *groups; /* largest first: garbage before reachable, then by bytes */
    size_t ngroups;
};

/*
 * The cycles of g (garbage ones, and with all also those still reachable)
 * and their groups. Among reachable objects, references to classes and
 * modules and a function's .__globals__ and .__builtins__ are left out:
 * they tie every live object into one cycle. hg_find_garbage must have run.
 * 0 or PYSCOPE_ENOMEM.
 */
int hg_cycles(const struct hg *g, int all, struct hg_cycles *out);
void hg_cycles_release(struct hg_cycles *c);

/*
 * How many members of cycle c have the type of member i, when member i is
 * the first of its type; 0 for the others. A loop over i with it lists each
 * type once, in member order, with its count.
 */
size_t hg_type_count_at(const struct hg *g, const struct hg_cycle *c, size_t i);

/* "2 x __main__.Node, 1 x dict" for cycle c into buf (cap bytes, cut to fit). */
char *hg_cycle_types(const struct hg *g, const struct hg_cycle *c, char *buf, size_t cap);

/*
 * Whether object v's allocation stack says where it was made: lists, dicts
 * and tuples are reused from free lists without the allocator, so theirs
 * may be an earlier object's.
 */
int hg_site_reliable(const struct hg *g, uint32_t v);

/*
 * A path around cycle c from its first member back to it, as object
 * indexes (*n + 1 of them, the first repeated last) with the label of each
 * step in labels[i] (from path[i] to path[i + 1]). Caller frees both.
 */
int hg_cycle_path(const struct hg *g, const struct hg_cycle *c, uint32_t **path, uint32_t **labels,
                  size_t *n);

#endif
