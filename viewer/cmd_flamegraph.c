/*
 * `pyscope flamegraph RUN.db [-o FILE]`: the sampled stacks as a
 * self-contained interactive SVG flame graph (flamegraph.h), merged across
 * processes and threads unless --by-thread gives each thread its own root;
 * with --memory SNAP, the live bytes of a memory snapshot by allocation
 * stack, through the same tree and renderer. The output is checked before
 * any work is done, so a typo in the path costs nothing and leaves no file.
 */
#include "cli.h"
#include "cmd.h"
#include "error.h"
#include "flamegraph.h"
#include "format.h"
#include "smp_tree.h"
#include "smpcmd.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* --width and --min-width: what a browser can draw and a user can click. */
#define MIN_WIDTH_PX 200
#define MAX_WIDTH_PX 100000
#define MAX_MIN_WIDTH_PX 1000.0

const char cmd_flamegraph_usage[] =
    "usage: pyscope flamegraph [options] RUN.db [-o FILE.svg]\n"
    "\n"
    "Draw the sampled stacks as an interactive SVG flame graph: one box per frame,\n"
    "as wide as its share of the samples, callers below callees. Open it in a\n"
    "browser: click a frame to zoom into it, Ctrl-F or 'Search' to highlight\n"
    "functions or files by regular expression, hover for the details.\n"
    "\n"
    "With --memory, draw a memory snapshot instead: each allocation stack as wide\n"
    "as the bytes it still held when the snapshot was taken.\n"
    "\n"
    "options:\n"
    "   -o, --output FILE    write the SVG to FILE (default: standard output)\n"
    "   --memory SNAP        the live memory of snapshot SNAP (its id; see\n"
    "                        'pyscope snapshots'), not the samples; --clock,\n"
    "                        --state, --thread, --process and --by-thread do not\n"
    "                        apply\n"
    "   --clock cpu|wall     cpu (default): widths by the CPU time used; wall: by\n"
    "                        samples, each one sampling interval, idle or not\n"
    SMPCMD_HELP_STATE
    SMPCMD_HELP_SELECT
    SMPCMD_HELP_NATIVE
    "   --function PATTERN   only the stacks through a function whose qualname or\n"
    "                        name matches the shell pattern\n"
    "   --by-thread          one tower per thread instead of all merged\n"
    "   --lines              one frame per function and line, not per function\n"
    "   --title TEXT         the title at the top\n"
    "   --width PIXELS       the width of the picture (default 1200)\n"
    "   --min-width PIXELS   leave out frames narrower than this (default 0.1), for\n"
    "                        a smaller file from a profile of many small stacks\n"
    "   -h, --help           show this help\n";

int cmd_flamegraph(int argc, char **argv)
{
    struct smpcmd c;
    struct smp_tree *tree = NULL;
    struct flame_opts o = {0};
    char title[1024], label[768], sub[1024], num[FMT_BUFSZ], dur[FMT_BUFSZ];
    int status, err, flags;

    smpcmd_init(&c, "flamegraph", cmd_flamegraph_usage,
                SMPCMD_CLOCK | SMPCMD_THREAD | SMPCMD_PROCESS | SMPCMD_FUNCTION | SMPCMD_NATIVE | SMPCMD_OUTPUT |
                    SMPCMD_MEMORY);
    int64_t width = 0;
    int by_thread = 0, lines = 0;
    const struct opts_spec own[] = {
        {.name = "--by-thread", .kind = OPTS_FLAG, .dest = &by_thread, .note = &c.sampling_opt},
        {.name = "--lines", .kind = OPTS_FLAG, .dest = &lines},
        {.name = "--title", .kind = OPTS_STRING, .dest = &o.title},
        {.name = "--width",
         .kind = OPTS_INT,
         .flags = OPTS_LOOSE,
         .dest = &width,
         .min = MIN_WIDTH_PX,
         .max = MAX_WIDTH_PX,
         .bad = "'--width' needs a number of pixels from 200 to 100000, not '%s'"},
        {.name = "--min-width",
         .kind = OPTS_DOUBLE,
         .dest = &o.min_px,
         .dmin = DBL_TRUE_MIN, /* above 0 */
         .dmax = MAX_MIN_WIDTH_PX,
         .bad = "'--min-width' needs a number of pixels above 0, not '%s'"},
    };
    int npos = smpcmd_parse(&c, own, sizeof own / sizeof *own, argc, argv);
    if (npos < 0)
        return opts_status(npos);
    o.width = (int)width;
    flags = (by_thread ? SMP_TREE_THREADS : 0) | (lines ? SMP_TREE_LINES : 0);
    if ((status = smpcmd_open(&c)) != CLI_OK)
        return smpcmd_close(&c, status);
    if ((err = smp_tree_build(c.prof, flags, &tree)) < 0)
        goto out;

    const struct smp_totals *t = smp_totals(c.prof);
    const struct smp_snapshot *snap = smp_snapshot(c.prof);
    int64_t ns = smp_weight_ns(c.prof, t->weight);
    size_t n;
    if (snap) {
        char bytes[FMT_BUFSZ];
        n = (size_t)snprintf(sub, sizeof sub, "%s: %s live in %s block%s", c.path,
                             fmt_bytes(bytes, sizeof bytes, t->weight),
                             fmt_int(num, sizeof num, t->samples), t->samples == 1 ? "" : "s");
        if (snap->pid && n < sizeof sub)
            n += (size_t)snprintf(sub + n, sizeof sub - n, " of pid %lld", (long long)snap->pid);
        if (n < sizeof sub)
            n += (size_t)snprintf(sub + n, sizeof sub - n, " at %s",
                                  fmt_duration(dur, sizeof dur, snap->t_ns));
    } else {
        n = (size_t)snprintf(sub, sizeof sub, "%s: %s sample%s", c.path,
                             fmt_int(num, sizeof num, t->samples), t->samples == 1 ? "" : "s");
        if (ns >= 0 && n < sizeof sub)
            n += (size_t)snprintf(sub + n, sizeof sub - n, ", %s",
                                  fmt_duration(dur, sizeof dur, ns));
    }
    if (c.filter.thread && n < sizeof sub)
        n += (size_t)snprintf(sub + n, sizeof sub - n, "; thread '%s'", c.filter.thread);
    if (c.filter.has_pid && n < sizeof sub)
        n += (size_t)snprintf(sub + n, sizeof sub - n, "; pid %lld", (long long)c.filter.pid);
    if (c.filter.function && n < sizeof sub)
        snprintf(sub + n, sizeof sub - n, "; stacks through '%s'", c.filter.function);
    if (snap)
        snprintf(title, sizeof title, "Flame graph: live memory of %s",
                 smp_snapshot_label(snap, label, sizeof label));
    else
        snprintf(title, sizeof title, "Flame graph: %s time", smpcmd_clock_name(c.filter.clock));
    if (!o.title)
        o.title = title;
    o.subtitle = sub;
    err = flame_write_svg(c.out, c.prof, tree, &o);
out:
    if (err < 0) {
        cli_error("%s", pyscope_strerror(err));
        status = CLI_FAIL;
    }
    smp_tree_free(tree);
    return smpcmd_close(&c, status);
}
