/*
 * Interning tables, in the shape of Lua's string table: hash, walk the
 * bucket, reuse or insert, grow when full. The recorder maps what the
 * target sends (code keys, line numbers, stack prefixes) to row ids so each
 * function, frame and stack node is written once; the call profiler numbers
 * builtins and caller → callee pairs with them. Two tables, two prefixes:
 * imap_ (integer keys) and smap_ (string keys).
 */
#ifndef PYSCOPE_INTERN_H
#define PYSCOPE_INTERN_H

#include <stddef.h>
#include <stdint.h>

/* A map from a pair of 64-bit keys to a 64-bit value. */
struct imap;

struct imap *imap_new(void);
void imap_free(struct imap *m);
/* 1 and *value when (a, b) is present, else 0. */
int imap_get(const struct imap *m, uint64_t a, uint64_t b, int64_t *value);
/* Insert or replace. 0 or PYSCOPE_ENOMEM. */
int imap_put(struct imap *m, uint64_t a, uint64_t b, int64_t value);
/* The value under (a, b) in *found; when absent, insert value first. One
 * probe either way. 0 or PYSCOPE_ENOMEM (nothing inserted). */
int imap_intern(struct imap *m, uint64_t a, uint64_t b, int64_t value, int64_t *found);
size_t imap_count(const struct imap *m);
/* The memory it holds. */
size_t imap_bytes(const struct imap *m);

/* A map from byte strings (copied) to a 64-bit value. */
struct smap;

struct smap *smap_new(void);
void smap_free(struct smap *m);
int smap_get(const struct smap *m, const void *key, size_t len, int64_t *value);
int smap_put(struct smap *m, const void *key, size_t len, int64_t value);

#endif
