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
#include "samples.h"
#include "smpcmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
    int status, err, flags = 0;

    smpcmd_init(&c, "flamegraph", cmd_flamegraph_usage,
                SMPCMD_CLOCK | SMPCMD_THREAD | SMPCMD_PROCESS | SMPCMD_FUNCTION | SMPCMD_NATIVE | SMPCMD_OUTPUT |
                    SMPCMD_MEMORY);
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r = smpcmd_arg(&c, argc, argv, &i);
        if (r == SMPCMD_HELP)
            return CLI_OK;
        if (r == SMPCMD_ERROR)
            return CLI_USAGE;
        if (r == SMPCMD_TAKEN)
            continue;
        if (!strcmp(argv[i], "--by-thread")) {
            flags |= SMP_TREE_THREADS;
            smpcmd_sampling_opt(&c, "--by-thread");
        } else if (!strcmp(argv[i], "--lines")) {
            flags |= SMP_TREE_LINES;
        } else if ((r = smpcmd_value("--title", argc, argv, &i, &v)) != 0) {
            if (r < 0)
                return CLI_USAGE;
            o.title = v;
        } else if ((r = smpcmd_value("--width", argc, argv, &i, &v)) != 0) {
            char *end;
            long w;
            if (r < 0)
                return CLI_USAGE;
            errno = 0;
            w = strtol(v, &end, 10);
            if (!*v || *end || errno || w < 200 || w > 100000) {
                cli_error("'--width' needs a number of pixels from 200 to 100000, not '%s'", v);
                return CLI_USAGE;
            }
            o.width = (int)w;
        } else if ((r = smpcmd_value("--min-width", argc, argv, &i, &v)) != 0) {
            char *end;
            double px;
            if (r < 0)
                return CLI_USAGE;
            errno = 0;
            px = strtod(v, &end);
            if (!*v || *end || errno || !(px > 0 && px <= 1000)) {
                cli_error("'--min-width' needs a number of pixels above 0, not '%s'", v);
                return CLI_USAGE;
            }
            o.min_px = px;
        } else {
            return smpcmd_unknown(&c, argv[i]);
        }
    }
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
