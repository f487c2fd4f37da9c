/*
 * Target side: the interpreter's free lists of objects, kept empty while
 * the memory tracer traces allocations, so that every object made is a new
 * block the allocator hooks see, with the traceback of the line that made
 * it (where tracemalloc charges it). One implementation per Python version
 * (freelist311.c).
 */
#ifndef PYSCOPE_FREELIST_H
#define PYSCOPE_FREELIST_H

/*
 * Empty the free lists and keep them empty from now on. Needs the GIL.
 * 0, or PYSCOPE_EINVAL when the interpreter's state is not laid out as
 * expected (nothing changed then).
 */
int freelist_bypass(void);

/* Let the free lists fill again (tracing stopped). Needs the GIL. */
void freelist_restore(void);

/*
 * A full collection lets the interpreter reset a free list's state: an
 * allocator hook holding the GIL calls this to empty it again. Cheap when
 * nothing changed.
 */
void freelist_check(void);

#endif
