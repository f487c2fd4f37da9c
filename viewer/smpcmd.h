/*
 * What the sampling-profile commands (hot, top, flamegraph, export) share
 * on the command side: their common options (--clock, --thread, --process,
 * --function, --limit, --json, -o, and --memory for the commands that draw
 * a snapshot's live memory instead), opening the run and loading its
 * samples or snapshot, and the output file. These print their own one-line errors
 * through cli_error and return the command's exit status.
 */
#ifndef PYSCOPE_VIEWER_SMPCMD_H
#define PYSCOPE_VIEWER_SMPCMD_H

#include "opts.h"
#include "samples.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>

/* The common options a command takes. */
enum {
    SMPCMD_CLOCK = 1 << 0,
    SMPCMD_THREAD = 1 << 1,
    SMPCMD_PROCESS = 1 << 2,
    SMPCMD_FUNCTION = 1 << 3,
    SMPCMD_LIMIT = 1 << 4,
    SMPCMD_JSON = 1 << 5,
    SMPCMD_OUTPUT = 1 << 6,
    SMPCMD_MEMORY = 1 << 7, /* --memory SNAP: a snapshot's allocations, not the samples */
    SMPCMD_NATIVE = 1 << 8, /* --no-native */
};

struct smpcmd {
    /* set by the command */
    const char *name;  /* "hot" */
    const char *usage; /* its whole usage text */
    unsigned accepts;  /* SMPCMD_* */

    /* from the arguments */
    const char *path; /* the database */
    int npos;
    struct smp_filter filter;
    int64_t limit; /* -1 when not given */
    int json;
    const char *output;       /* NULL or "-" for stdout */
    int64_t snapshot;         /* --memory's snapshot id; 0 when not given */
    const char *sampling_opt; /* the first option given that is for samples only */

    /* from smpcmd_open, released by smpcmd_close */
    sqlite3 *db;
    struct smp_profile *prof;
    FILE *out;
    int out_regular;                     /* the output opened is a regular file ... */
    unsigned long long out_dev, out_ino; /* ... this one */
};

/*
 * Parse a --state list ("running,gil": names of samples.state codes) into
 * a mask of 1 << state. Returns 0, or -1 for an empty or unknown name.
 */
int smpcmd_parse_states(const char *list, unsigned *states);

/* "WHAT of 'run.db', thread 'x', pid 3": what the command reads, as its heading starts. */
void smpcmd_put_source(const struct smpcmd *c, const char *what);

/* A function's members in JSON ("id", "kind", "name", "qualname", "filename",
 * "firstlineno"), without the braces. */
void smpcmd_json_function(FILE *out, const struct smp_function *fn);

/* The usage lines of the options every report shares. */
#define SMPCMD_HELP_CLOCK                                                                          \
    "   --clock cpu|wall     cpu (default): weigh each sample by the CPU time its\n"               \
    "                        thread used; wall: every sample is one sampling\n"                    \
    "                        interval of wall time, idle or not\n"
#define SMPCMD_HELP_STATE                                                                          \
    "   --state LIST         only samples in these states, comma-separated:\n"                     \
    "                        running (Python, holding the GIL), native (on a CPU\n"                \
    "                        without the GIL), gil (waiting for it), idle\n"               \
    "   --with-pyscope       keep the samples taken in pyscope's own work (its\n"               \
    "                        hooks: [pyscope] under the line that set them off)\n"
#define SMPCMD_HELP_NATIVE                                                                         \
    "   --no-native          fold native frames (recorded with --native) into the\n"              \
    "                        Python line that called them\n"
#define SMPCMD_HELP_SELECT                                                                         \
    "   --thread ID|NAME     only that thread (its threads.id or its name)\n"                      \
    "   --process PID        only the threads of that process\n"

/* Zero c and set what the command provides. */
void smpcmd_init(struct smpcmd *c, const char *name, const char *usage, unsigned accepts);

/* --limit N, the count of rows a report shows, into the int64_t at to. */
#define SMPCMD_OPT_LIMIT(to)                                                                       \
    {                                                                                              \
        .name = "--limit", .kind = OPTS_INT, .dest = (to), .min = 0, .max = LONG_MAX,              \
        .bad = "'--limit' needs a number of rows (0 for all), not '%s'"                            \
    }

/*
 * Parse argv (opts.h) for the common options c accepts and the command's
 * own (nown specs at own): the positional arguments are left in argv[1..],
 * c->npos counts them and c->path is the last one. Returns their count, or
 * OPTS_HELP / OPTS_ERROR as opts_parse does.
 */
int smpcmd_parse(struct smpcmd *c, const struct opts_spec *own, size_t nown, int argc, char **argv);

/* The arguments of a command that takes RUN.db, --process PID, --limit N and --json. */
struct smpcmd_run_args {
    const char *path;
    int64_t pid;
    int has_pid, json;
    long limit; /* -1 when not given */
};

/*
 * Parse them for command name (argv[0]) with the usage text usage: CLI_OK,
 * CLI_USAGE after printing why, or -1 when --help printed the usage.
 */
int smpcmd_run_args(int argc, char **argv, const char *usage, struct smpcmd_run_args *out);

/*
 * After the arguments: check that there was exactly one database (else
 * the usage line), that --memory comes without options that select
 * samples (--clock, --state, --thread, --process and a command's own
 * whose spec notes itself in c->sampling_opt), and that the output, when one was named, can be
 * written, without creating it. Then open the database, load the samples
 * (the filter of c) or with --memory the snapshot (smp_load_snapshot,
 * through the filter's function), and open the output (stdout when none).
 * CLI_OK, or the exit status after one line on stderr: CLI_USAGE for a bad
 * database, a thread, process or snapshot that does not exist, an output
 * that cannot be written.
 */
int smpcmd_open(struct smpcmd *c);

/*
 * Finish: flush and close the output (a failed write is reported, the
 * partial file removed and CLI_FAIL returned), release everything.
 * status is the command's status so far, returned unless writing failed.
 */
int smpcmd_close(struct smpcmd *c, int status);

/* "cpu" or "wall". */
const char *smpcmd_clock_name(enum smp_clock clock);

/*
 * The first line of a text report, to c->out: what was selected and how
 * much, e.g. "cpu time of 'run.db', thread 'MainThread': 1,234 samples,
 * 1.23 s". When nothing was selected it says so and why, and returns 0;
 * else 1.
 */
int smpcmd_heading(const struct smpcmd *c);

/* The notes after a text report (stacks cut at the depth limit), to c->out. */
void smpcmd_notes(const struct smpcmd *c);

/* Rows shown of n: the limit, 20 for text and all for JSON when not given. */
size_t smpcmd_shown(const struct smpcmd *c, size_t n);

/* "(showing 20 of 345 NOUN; --limit 0 shows all)" when rows were left out. */
void smpcmd_more(const struct smpcmd *c, size_t shown, size_t n, const char *noun);

/*
 * A time or, when the wall clock's interval is unknown, a sample count,
 * for weight: into buf, which is returned.
 */
char *smpcmd_weight_text(const struct smpcmd *c, int64_t weight, char *buf, size_t len);

/*
 * s cut to maxcols code points by dropping its start, at a '/' when that
 * keeps at least half: "...python3.11/threading.py:1125".
 */
char *smpcmd_cut_left(char *buf, size_t len, const char *s, size_t maxcols);

/*
 * A function as the reports name it: "file:line (qualname)", the location
 * cut at the left to maxcols columns (0: whole); the qualname alone for
 * builtins and pseudo-functions. Into buf, which is returned.
 */
char *smpcmd_function_text(const struct smp_profile *p, const struct smp_function *fn,
                           size_t maxcols, char *buf, size_t len);

/*
 * The JSON members every report starts with, to c->out, after "{": the
 * database, the clock, the filter, the interval and the totals, each line
 * ending in ",\n".
 */
void smpcmd_json_head(const struct smpcmd *c);

/* A share as a JSON number with two decimals; 0 when whole is 0. */
void smpcmd_json_pct(FILE *out, int64_t part, int64_t whole);

/* An int64 time in ns, or null when negative (unknown). */
void smpcmd_json_ns(FILE *out, int64_t ns);

#endif
