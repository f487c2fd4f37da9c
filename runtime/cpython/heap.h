/*
 * Target side: the object graph. Walks every object the cyclic garbage
 * collector tracks and every reference from one to another, naming each
 * reference as a person would write it (.attr, ['key'], [3], .__closure__).
 * The walk takes no reference, runs no Python code, allocates nothing
 * through Python's allocators and changes no object. heap.c serves every
 * version; where an instance keeps its attributes is heapattr.h's.
 */
#ifndef PYSCOPE_HEAP_H
#define PYSCOPE_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct heap_obj {
    const void *obj;
    const void *type;  /* its type object: a key for heap_type_name */
    const void *block; /* where its memory block starts (before the GC header) */
    uint64_t size;     /* as sys.getsizeof counts it, without running __sizeof__ */
    int64_t refcnt;
};

/* Called for each object; nonzero stops the walk with that value. */
typedef int (*heap_obj_fn)(const struct heap_obj *o, void *ctx);
/* Called for each reference between tracked objects; label is len bytes
 * (len 0: no better name than the referent's type). */
typedef int (*heap_edge_fn)(const void *src, const void *dst, const char *label, size_t len,
                            void *ctx);

/*
 * Walk the graph: every tracked object, then every reference. Needs the GIL.
 * Returns 0, what a callback returned, PYSCOPE_EBUSY while a collection is
 * running, or PYSCOPE_ENOMEM.
 */
int heap_walk(heap_obj_fn on_obj, heap_edge_fn on_edge, void *ctx);

/* How many objects the collector tracks: what a walk would visit. GIL held. */
size_t heap_tracked_count(void);

/* The qualified name of type object type ("module.Qualname"; builtins by
 * their own name) into buf of cap bytes; returns its length. GIL held. */
size_t heap_type_name(const void *type, char *buf, size_t cap);

#endif
