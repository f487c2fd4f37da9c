/*
 * A table of memory blocks: address -> (size, a 32-bit number): the memory
 * tracer's live blocks with their tracebacks, the heap walk's set of objects.
 * Open addressing in 256 independently grown segments, so that growing
 * copies one segment at a time and the table never needs twice its size at
 * once; an entry is 16 bytes; optionally a nursery in front of them. Not
 * locked: the tracer's own lock (the GIL) guards it.
 * Allocates with the C library's malloc, never through Python's allocators.
 */
#ifndef PYSCOPE_BLOCKS_H
#define PYSCOPE_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

struct blocks;

struct blocks *blocks_new(void);

/*
 * A table for entries most of which are taken again soon after they were
 * put (the tracer's live blocks): new entries wait in a small nursery that
 * stays in the processor's cache (behind a smaller front, blocks.c), and
 * move to the large segments when it fills. blocks_put then finds an
 * address already present only while that entry is in the front, or when a
 * big size is put; an older entry found behind a newer one when the newer
 * one moves back (to the nursery, then to the large segments) is replaced,
 * and replaced(ctx, its size, its trace) is called. Until then both are
 * counted, and get and take find the newer one.
 */
struct blocks *blocks_new_nursery(void (*replaced)(void *ctx, size_t size, uint32_t trace),
                                  void *ctx);
void blocks_free(struct blocks *t);

/*
 * Record block ptr (not 0) of size bytes allocated from traceback trace. When
 * ptr was already present its old values are replaced and returned through
 * *old_size and *old_trace, and the result is 1; otherwise 0. PYSCOPE_ENOMEM
 * when the table could not grow (nothing recorded).
 */
int blocks_put(struct blocks *t, uintptr_t ptr, size_t size, uint32_t trace, size_t *old_size,
               uint32_t *old_trace);

/* 1 with ptr's size and traceback when it is recorded, else 0. */
int blocks_get(const struct blocks *t, uintptr_t ptr, size_t *size, uint32_t *trace);

/* Remove ptr: 1 with its size and traceback, or 0 when it was not recorded. */
int blocks_take(struct blocks *t, uintptr_t ptr, size_t *size, uint32_t *trace);

/* The number of blocks recorded. */
size_t blocks_count(const struct blocks *t);

/* The bytes the table itself uses. */
size_t blocks_footprint(const struct blocks *t);

#endif
