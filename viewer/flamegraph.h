/*
 * The interactive SVG flame graph: one self-contained file, frames as
 * rectangles (width by weight, the root at the bottom), coloured by kind
 * and file, with static embedded JavaScript for click-to-zoom, search and
 * details on hover. Every name is XML-escaped where it lands; the script
 * carries no data, so nothing from the program ever reaches JavaScript
 * source.
 *
 * Its prefix is flame_.
 */
#ifndef PYSCOPE_VIEWER_FLAMEGRAPH_H
#define PYSCOPE_VIEWER_FLAMEGRAPH_H

#include "smp_tree.h"

#include <stdio.h>

struct flame_opts {
    const char *title;    /* NULL: "Flame graph" */
    const char *subtitle; /* NULL: none */
    int width;            /* in pixels; 0 for 1200 */
    double min_px;        /* frames narrower are left out; 0 for 0.1 */
};

/*
 * Write the flame graph of tree t (built from p) to out. Tooltips give each
 * frame's samples, time and share; for a snapshot's profile its bytes (in
 * fmt_bytes units), blocks and share of all the bytes the snapshot traced.
 * Frames narrower than o->min_px at full width are left out (with their
 * callees), as flamegraph.pl does: they could not be seen or clicked.
 * Write errors are left in ferror(out) for the caller. 0 or PYSCOPE_ENOMEM.
 */
int flame_write_svg(FILE *out, const struct smp_profile *p, const struct smp_tree *t,
                    const struct flame_opts *o);

/*
 * Write s to out as XML character data that is also safe inside a quoted
 * attribute: & < > " ' escaped, control characters (newlines too) as
 * spaces, a byte that is not UTF-8 as the text "\xNN" (format.h), the
 * characters XML forbids (U+FFFE, U+FFFF) as U+FFFD. NULL writes nothing.
 */
void flame_put_xml(FILE *out, const char *s);

#endif
