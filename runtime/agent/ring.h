/*
 * Per-thread record buffer: a single-producer, single-consumer ring of wire
 * records. The producer is the thread that owns it (its hooks and, through a
 * second ring, its signal handlers); the consumer is the emitter thread. No
 * locks: the two sides meet through two atomic counters.
 */
#ifndef PYSCOPE_RING_H
#define PYSCOPE_RING_H

#include <stddef.h>
#include <stdint.h>

struct wire_str;

struct ring;

/* A ring of cap bytes (a power of two, at least 64). NULL without memory. */
struct ring *ring_new(size_t cap);
void ring_free(struct ring *r);

/*
 * Producer: room for one record of n bytes (a multiple of 8, at most half the
 * capacity), contiguous. Returns NULL when the ring is full; the record is
 * then dropped and counted. Async-signal-safe. Follow with ring_commit(r, n).
 */
void *ring_reserve(struct ring *r, size_t n);
void ring_commit(struct ring *r, size_t n);

/* Producer: encode and append one record; 0 or PYSCOPE_EFULL (counted). */
int ring_put(struct ring *r, unsigned type, const void *fixed, size_t fixed_size,
             const struct wire_str *strs, unsigned nstr);

/*
 * Consumer: the readable bytes that are contiguous, as whole records
 * (WIRE_PAD records included, which the consumer skips).
 */
size_t ring_peek(struct ring *r, const uint8_t **p);
void ring_consume(struct ring *r, size_t n);

/*
 * In a fork child, with no other thread left: forget every record queued
 * and every drop counted (the parent's), without touching the buffer.
 */
void ring_clear(struct ring *r);

/* Records dropped because the ring was full, since it was made or cleared. */
uint64_t ring_dropped(const struct ring *r);

/* Bytes waiting to be read. */
size_t ring_used(const struct ring *r);

#endif
