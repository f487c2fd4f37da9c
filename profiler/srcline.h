/*
 * Source lines of native code, from the DWARF debug information of the
 * process's objects (their own, or their separate debug files found by
 * build id under /usr/lib/debug), read with elfutils' libdwfl after
 * sampling, never in a signal handler. Not thread-safe: the caller locks.
 */
#ifndef PYSCOPE_SRCLINE_H
#define PYSCOPE_SRCLINE_H

#include <stdint.h>

struct srcline;

struct srcline *srcline_new(void);
void srcline_free(struct srcline *s);

/*
 * Where the instruction at addr is in the source of the function it is
 * in: 1 with *file (the function's source file, owned by s, valid until
 * srcline_free) and *line (for code inlined into the function, the line of
 * the outermost inlined call) set, 0 when no debug information says.
 * *function_file says whether the debug information named the function;
 * when it did not, *file is the line table's file (which may be a header
 * the code was inlined from).
 * Objects loaded since the last look are reported again when addr is in
 * none of those known.
 */
int srcline_lookup(struct srcline *s, uintptr_t addr, const char **file, int *line,
                   int *function_file);

/* Objects were unloaded: forget every answer and the objects gone. */
void srcline_forget(struct srcline *s);

/* Whether files a and b are the same: equal, or one a path relative to the
 * compilation directory that ends the other ("../Objects/listobject.c"). */
int srcline_same_file(const char *a, const char *b);

#endif
