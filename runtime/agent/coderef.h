/*
 * Target side: the code-object registry. Samples name code objects by
 * address; an address is turned into a function and lines once, off the
 * hot path, and the recorder learns each code object once (WIRE_CODE)
 * under a key that is never reused. Code objects are not kept alive: one
 * that dies while samples naming it are still queued is described on its
 * way out, and an epoch counter tells samples of the dead object from
 * samples of a new one at the same address.
 */
#ifndef PYSCOPE_CODEREF_H
#define PYSCOPE_CODEREF_H

#include <stddef.h>
#include <stdint.h>

struct wire_frame;

/* Install the code dealloc hook (again: nothing). Needs the GIL. */
int coderef_install(void);

/* The current epoch, stamped on every sample. Async-signal-safe. */
uint64_t coderef_epoch(void);

/*
 * How many code objects have been deallocated so far. A sampler reading
 * another thread's frames reads it before the walk and again after marking
 * the walk's code objects (and a seq_cst fence): when it has not moved,
 * every code object the walk read from a frame that was live during the
 * walk was still alive when its mark was set, so its death, whenever it
 * comes, finds the mark. Async-signal-safe.
 */
uint64_t coderef_deaths(void);

/*
 * The signal handler, around one sample: enter returns the in-flight filter
 * to mark, mark_sampled notes that the sample names code, leave follows the
 * sample's commit. Async-signal-safe.
 */
unsigned coderef_enter(void);
void coderef_mark_sampled(unsigned filter, void *code);
void coderef_leave(unsigned filter);

/*
 * Emitter, before each drain: start a new cycle, freeing entries no queued
 * sample can name. python_usable: code objects can still be described.
 */
void coderef_cycle(int python_usable);

/* After a drain: whether coderef_settle may retire the previous filter,
 * and retire it when every sample it covers has been through the sink. */
int coderef_settle_ready(void);
void coderef_settle(void);

/*
 * A threads_sink (threads.h) for the emitter: passes records through, and
 * turns RAWREC_SAMPLE into WIRE_CODE records for code objects the
 * recorder has not seen and one WIRE_SAMPLE. A sample naming a code object
 * not described yet stays queued (returns -1) and the object is put on the
 * list coderef_resolve works through; ctx is unused.
 */
long coderef_sink(const uint8_t *rec, size_t len, uint8_t *dst, size_t cap, void *ctx);

/*
 * How the native return addresses of a --native sample join its Python
 * frames, and how the native functions they name are told to the recorder
 * (the native frames' module, native.h, which lies above this one: the
 * session sets it). Without it, samples keep their Python frames only.
 */
struct coderef_natives {
    /* as native_merge */
    size_t (*merge)(const uint64_t *ips, size_t nips, int after_signal, const struct wire_frame *py,
                    const uint8_t *entry, size_t n, int truncated, struct wire_frame *out,
                    uint64_t *keys, size_t *nkeys);
    /* as native_put, for samples */
    long (*put)(uint64_t key, uint8_t *dst, size_t cap, int pending);
};
void coderef_set_natives(const struct coderef_natives *ops);

/* Whether samples wait for coderef_resolve. */
int coderef_pending(void);

/*
 * Describe the code objects samples wait for. Takes the GIL when Python can
 * still run code on other threads (allow_gil); otherwise the samples that
 * wait are dropped. Call without the registry locks held.
 */
void coderef_resolve(int allow_gil);

/* Samples dropped because their code could not be described. */
uint64_t coderef_dropped(void);

/* Fork protocol (the registry survives fork; the new connection must be
 * told every code object again). */
void coderef_fork_prepare(void);
void coderef_fork_parent(void);
void coderef_fork_child(void);

#endif
