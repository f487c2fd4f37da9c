/*
 * Stack-sample file formats other tools read, written from the merged call
 * tree of samples.h: folded stacks (flamegraph.pl, inferno, speedscope's
 * importer) and speedscope's own JSON format. A snapshot's tree
 * (smp_load_snapshot) is written in bytes.
 */
#ifndef PYSCOPE_VIEWER_STACKFMT_H
#define PYSCOPE_VIEWER_STACKFMT_H

#include "smp_tree.h"

#include <stdio.h>

/*
 * Folded stacks: one line per distinct stack, frames outermost first
 * joined by ';', a space and the value: samples for the wall clock, CPU
 * microseconds (rounded; lines that round to 0 left out) for the cpu clock,
 * live bytes for a snapshot.
 * A frame is "qualname (file:line)"; ';' in names becomes ',', control
 * characters spaces and a byte that is not UTF-8 "\xNN", so every line
 * parses and the file is UTF-8. Thread nodes of a tree built
 * with SMP_TREE_THREADS become the outermost frame. Write errors are left
 * in ferror(out). 0 or PYSCOPE_ENOMEM.
 */
int stackfmt_folded(FILE *out, const struct smp_profile *p, const struct smp_tree *t);

/*
 * speedscope's file format (https://www.speedscope.app/file-format-schema.json):
 * the frames shared, one "sampled" profile per thread of t, which must be
 * built with SMP_TREE_THREADS, each distinct stack once with its weight.
 * Weights are nanoseconds for the cpu clock and for the wall clock when
 * the sampling interval is known (samples times interval), else sample
 * counts (unit "none"). A snapshot's tree, which has no threads, is one
 * profile in unit "bytes" (written even when empty). name names the file
 * set (the database). 0 or PYSCOPE_ENOMEM.
 */
int stackfmt_speedscope(FILE *out, const struct smp_profile *p, const struct smp_tree *t,
                        const char *name);

#endif
