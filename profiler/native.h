/*
 * Target side: the native frames of samples and allocations taken with
 * --native. Each return address becomes a native function once (symbols.h)
 * and says what to do with it when merging native and Python stacks: show
 * it, hide it (the interpreter's own workings), replace it by the Python
 * frames it runs (the eval loop), or drop it and everything it called (the
 * signal trampoline, above which are pyscope's own handler frames, and
 * pyscope's own code). Thread-safe: the code registry merges samples (on
 * the emitter thread), the memory tracer allocation tracebacks.
 */
#ifndef PYSCOPE_NATIVE_H
#define PYSCOPE_NATIVE_H

#include "wire.h"

#include <stddef.h>
#include <stdint.h>

enum native_kind { NATIVE_SHOW, NATIVE_HIDE, NATIVE_EVAL, NATIVE_TRAMPOLINE, NATIVE_OWN };

#define NATIVE_KEY_BIT (1ull << 62) /* native keys never meet code-object keys */

/* 0 or PYSCOPE_ENOMEM; show_all: hide no interpreter frame (--native-all). */
int native_init(int show_all);

#define NATIVE_MERGE_MAX 256 /* native frames merged at most */

/*
 * One stack from a native one and a Python one, both innermost first, into
 * out (room for n + nips frames): each eval-loop frame of ips is replaced
 * by the group of Python frames it runs (py[i] with entry[i] set ends a
 * group), native frames to show become frames of their function's key
 * (also appended to keys), the rest go. after_signal: ips were taken in a
 * signal handler, so the frame after the trampoline is the interrupted one,
 * not a return address. truncated: py lost its outermost frames. Returns
 * the number of frames.
 */
size_t native_merge(const uint64_t *ips, size_t nips, int after_signal, const struct wire_frame *py,
                    const uint8_t *entry, size_t n, int truncated, struct wire_frame *out,
                    uint64_t *keys, size_t *nkeys);

/* Who tells the recorder about native functions: each keeps its own record
 * of what it told, as their records may reach the recorder in any order. */
enum native_writer { NATIVE_WRITER_SAMPLES, NATIVE_WRITER_MEMORY };

/* The WIRE_NATIVE record of key into dst (cap bytes) unless writer told the
 * recorder already: its size, 0 when already told, -1 when cap is too
 * small. pending: only report the size, send nothing. */
long native_put(uint64_t key, enum native_writer writer, uint8_t *dst, size_t cap, int pending);

/* Around fork(): the child must not start with the tables (or the debug
 * information reader) caught half-way by another thread. Taken last. The
 * child has a new connection: it tells every function again. */
void native_fork_prepare(void);
void native_fork_parent(void);
void native_fork_child(void);

#endif
