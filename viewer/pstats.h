/*
 * The call statistics as a pstats file: the marshalled dictionary that
 * cProfile's Profile.dump_stats writes, so pstats.Stats, snakeviz and
 * gprof2dot read pyscope's counts as they read cProfile's.
 */
#ifndef PYSCOPE_VIEWER_PSTATS_H
#define PYSCOPE_VIEWER_PSTATS_H

#include "calls.h"
#include "samples.h"

#include <stdio.h>

/*
 * Write the statistics of calls (functions named through p) to out. A
 * function is keyed as pstats keys it, (filename, first line, name), a
 * builtin as ('~', 0, "<built-in method ...>"); functions with the same key
 * (several threads, processes, or code objects) are summed. Calls from the
 * root have no caller entry, as in cProfile. 0, PYSCOPE_ENOMEM or PYSCOPE_EIO.
 */
int pstats_write(FILE *out, const struct smp_profile *p, const struct cls_profile *calls);

#endif
