/*
 * Target side: native call stacks (--native), for the sampler's signal
 * handler and the memory tracer's hook. libunwind does the work; this
 * module keeps it from starting while a fork is under way (its lock would
 * stay taken in the child) and from reading the dynamic loader's lists
 * while a thread changes them.
 */
#ifndef PYSCOPE_UNWIND_H
#define PYSCOPE_UNWIND_H

#include <stdint.h>

/* The unwinder's first use, before any handler or hook can need it: it
 * allocates, and it opens a pipe it keeps (put out of the program's way).
 * At start-up only; once per process. */
void unwind_warm(void);

/* Find where the dynamic loader's code and locks are (the first call
 * only), before the first unwind_interrupted. */
void unwind_find_loader(void);

/* The native stack of the calling thread, innermost first, unless a fork
 * is under way: the number of addresses (at most max). Signal-safe. */
int unwind_backtrace(void **ips, int max);

/*
 * The same from a signal handler, uc its context: none (0) while the
 * interrupted thread tid runs the dynamic loader or code it called (a
 * constructor, an allocation while it unloads an object), whose lists of
 * objects may be half changed under the lock that thread holds.
 */
int unwind_interrupted(const void *uc, void **ips, int max, uint64_t tid);

/* Around fork(): wait for the unwinds under way and let none start; after
 * it, let them start again in the parent and the child. */
void unwind_fork_prepare(void);
void unwind_fork_parent(void);
void unwind_fork_child(void);

#endif
