/*
 * `pyscope export RUN.db --format FORMAT [-o FILE]`: the sampled stacks in
 * a file format other tools read (stackfmt.h): folded stacks for
 * flamegraph.pl and inferno, speedscope's JSON, pprof's profile format for
 * the pprof tool and fleet profilers (pprof.h), and the call statistics as
 * pstats. With --memory SNAP the folded, speedscope and pprof files hold a
 * memory snapshot's live bytes by allocation stack instead of the samples.
 */
#include "calls.h"
#include "chrometrace.h"
#include "cli.h"
#include "cmd.h"
#include "error.h"
#include "smp_tree.h"
#include "pprof.h"
#include "pstats.h"
#include "smpcmd.h"
#include "stackfmt.h"

#include <string.h>

const char cmd_export_usage[] =
    "usage: pyscope export [options] RUN.db --format folded|speedscope|pprof|pstats|chrome\n"
    "                      [-o FILE]\n"
    "\n"
    "Write the sampled stacks, or the call statistics, for other tools:\n"
    "   folded       one line per distinct stack, 'outer;...;inner VALUE', for\n"
    "                flamegraph.pl and inferno. VALUE is the number of samples\n"
    "                with --clock wall, and the CPU time in microseconds with\n"
    "                --clock cpu. A frame is 'qualname (file:line)'.\n"
    "   speedscope   a speedscope JSON file (https://www.speedscope.app), one\n"
    "                profile per thread, weights in nanoseconds\n"
    "   pprof        pprof's profile format, gzip-compressed, for the pprof tool\n"
    "                and the profilers that take it (Pyroscope, Parca, ...): one\n"
    "                sample per thread, stack and state, with the values samples,\n"
    "                cpu and wall (nanoseconds) and the labels thread, thread_id,\n"
    "                pid and state; --clock does not apply; needs -o\n"
    "   pstats       the call statistics (profile --calls) as cProfile writes\n"
    "                them, for pstats.Stats, snakeviz and gprof2dot; every\n"
    "                selected thread and process merged; needs -o\n"
    "   chrome       the timeline as a Chrome trace event file (JSON), for\n"
    "                Perfetto (ui.perfetto.dev) and chrome://tracing: on each\n"
    "                thread's track its states and, in them, its stacks over\n"
    "                time; per process a track with its lifetime and snapshots,\n"
    "                one with its garbage collections, and its memory as a\n"
    "                counter; --thread and --process select, the other options\n"
    "                do not apply\n"
    "\n"
    "With --memory SNAP, folded, speedscope and pprof hold the live memory of\n"
    "snapshot SNAP by allocation stack: VALUE and the weights are bytes; pprof's\n"
    "values are inuse_objects (blocks) and inuse_space (bytes).\n"
    "\n"
    "options:\n"
    "   --format FORMAT      folded, speedscope, pprof, pstats or chrome (required)\n"
    "   -o, --output FILE    write to FILE (default: standard output)\n"
    "   --memory SNAP        the live memory of snapshot SNAP (its id; see\n"
    "                        'pyscope snapshots'), not the samples; --clock,\n"
    "                        --state, --thread, --process and --by-thread do not\n"
    "                        apply\n" SMPCMD_HELP_CLOCK SMPCMD_HELP_STATE SMPCMD_HELP_SELECT
        SMPCMD_HELP_NATIVE
    "   --function PATTERN   only the stacks through a function whose qualname or\n"
    "                        name matches the shell pattern\n"
    "   --by-thread          folded: start each stack with its thread\n"
    "   --lines              one frame per function and line, not per function\n"
    "   -h, --help           show this help\n";

enum format { FMT_NONE = -1, FMT_FOLDED, FMT_SPEEDSCOPE, FMT_PSTATS, FMT_PPROF, FMT_CHROME };

/* --format's values, by enum format; NULL-terminated for the option table. */
static const char *const format_names[] = {"folded", "speedscope", "pstats",
                                           "pprof",  "chrome",     NULL};

int cmd_export(int argc, char **argv)
{
    struct smpcmd c;
    struct smp_tree *tree = NULL;
    int format = FMT_NONE, by_thread = 0, lines = 0;
    int status, err, flags;

    smpcmd_init(&c, "export", cmd_export_usage,
                SMPCMD_CLOCK | SMPCMD_THREAD | SMPCMD_PROCESS | SMPCMD_FUNCTION | SMPCMD_NATIVE | SMPCMD_OUTPUT |
                    SMPCMD_MEMORY);
    const struct opts_spec own[] = {
        {.name = "--by-thread", .kind = OPTS_FLAG, .dest = &by_thread, .note = &c.sampling_opt},
        {.name = "--lines", .kind = OPTS_FLAG, .dest = &lines},
        {.name = "--format",
         .kind = OPTS_ENUM,
         .dest = &format,
         .choices = format_names,
         .bad = "'--format' is folded, speedscope, pprof, pstats or chrome, not '%s'"},
    };
    int npos = smpcmd_parse(&c, own, sizeof own / sizeof *own, argc, argv);
    if (npos < 0)
        return opts_status(npos);
    flags = (by_thread ? SMP_TREE_THREADS : 0) | (lines ? SMP_TREE_LINES : 0);
    if (format == FMT_NONE && c.npos == 1) {
        cli_error("'--format' is required: folded, speedscope, pprof, pstats or chrome");
        return CLI_USAGE;
    }
    if ((format == FMT_PSTATS || format == FMT_CHROME) && c.snapshot && c.npos == 1) {
        cli_error("'--format %s' writes %s; '--memory' takes folded, speedscope or pprof",
                  format_names[format],
                  format == FMT_PSTATS ? "call statistics" : "the run's timeline");
        return CLI_USAGE;
    }
    /* the timeline holds every sample as it came: what weighs, folds or
     * filters the stacks does not apply */
    const char *unused = c.filter.function                 ? "--function"
                         : c.filter.states                 ? "--state"
                         : c.filter.clock != SMP_CLOCK_CPU ? "--clock"
                         : c.filter.with_own               ? "--with-pyscope"
                         : c.filter.no_native              ? "--no-native"
                         : by_thread                       ? "--by-thread"
                         : lines                           ? "--lines"
                                                           : NULL;
    if (format == FMT_CHROME && unused && c.npos == 1) {
        cli_error("'%s' does not apply to '--format chrome', which writes every sample as it came",
                  unused);
        return CLI_USAGE;
    }
    if ((format == FMT_PSTATS || format == FMT_PPROF) && (!c.output || !strcmp(c.output, "-"))) {
        cli_error("'--format %s' writes a binary file: name it with -o", format_names[format]);
        return CLI_USAGE;
    }
    if ((status = smpcmd_open(&c)) != CLI_OK)
        return smpcmd_close(&c, status);
    if (format == FMT_PSTATS) {
        struct cls_profile calls;
        if ((err = cls_load(c.db, &c.filter, 1, &calls)) < 0)
            goto out;
        if (!calls.nfns) {
            cli_error("no call statistics in '%s' (record them with 'pyscope profile --calls')",
                      c.path);
            status = CLI_USAGE;
        } else {
            err = pstats_write(c.out, c.prof, &calls);
        }
        cls_release(&calls);
        goto out;
    }
    if (format == FMT_PPROF) {
        char msg[512] = "";
        err = c.snapshot ? pprof_write_snapshot(c.out, c.db, c.prof, 0, msg, sizeof msg)
                         : pprof_write_samples(c.out, c.db, c.path, &c.filter, PPROF_ALL, 0, msg,
                                               sizeof msg);
        if (err < 0) {
            cli_error("%s", msg[0] ? msg : pyscope_strerror(err));
            status = CLI_FAIL;
        }
        goto done;
    }
    if (format == FMT_CHROME) {
        char msg[512] = "";
        if ((err = ctrace_write(c.out, c.db, c.path, &c.filter, msg, sizeof msg)) < 0) {
            cli_error("%s", msg[0] ? msg : pyscope_strerror(err));
            status = err == PYSCOPE_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
        }
        goto done;
    }
    if (format == FMT_SPEEDSCOPE)
        flags |= SMP_TREE_THREADS; /* one profile per thread; a snapshot's is one */
    if ((err = smp_tree_build(c.prof, flags, &tree)) < 0)
        goto out;
    if (format == FMT_FOLDED)
        err = stackfmt_folded(c.out, c.prof, tree);
    else
        err = stackfmt_speedscope(c.out, c.prof, tree, c.path);
out:
    if (err < 0) {
        cli_error("%s", pyscope_strerror(err));
        status = CLI_FAIL;
    }
done:
    smp_tree_free(tree);
    return smpcmd_close(&c, status);
}
