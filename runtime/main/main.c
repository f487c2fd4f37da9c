/*
 * The pyscope executable: the command table and the top-level argument
 * handling, in the style of git.c (`pyscope --help`, `--version`,
 * `help CMD`, `CMD --help`, and dispatch). The recorder's `profile` and the
 * viewer's commands are the entries; an unknown command prints the usage
 * and exits 2.
 */
#include "cli.h"
#include "cmd.h"
#include "launcher.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
    const char *summary;               /* one line for `pyscope --help` */
    const char *usage;                 /* the whole `pyscope CMD --help` text */
};

static int cmd_help(int argc, char **argv);

/* After a recorded run, the summary, on stderr: the program's own output
 * stays on stdout. */
static void print_summary(const char *db_path)
{
    fflush(stdout);
    summary_print(db_path, stderr);
}

static int cmd_profile(int argc, char **argv)
{
    return launcher_profile(argc, argv, print_summary);
}

static const char cmd_help_usage[] = "usage: pyscope help [COMMAND]\n"
                                     "\n"
                                     "Show the list of commands, or the help of one command.\n";

static const struct command commands[] = {
    {"profile", cmd_profile, "run a Python program and record it", launcher_usage},
    {"summary", cmd_summary, "say what a recorded run holds", cmd_summary_usage},
    {"top", cmd_top, "the functions: cProfile's table, or by sampled self time", cmd_top_usage},
    {"callers", cmd_callers, "what called a function, pair by pair (needs --calls)",
     cmd_callers_usage},
    {"callees", cmd_callees, "what a function called, pair by pair (needs --calls)",
     cmd_callees_usage},
    {"hot", cmd_hot, "the hottest source lines, with their code", cmd_hot_usage},
    {"flamegraph", cmd_flamegraph, "draw the sampled stacks as an SVG flame graph",
     cmd_flamegraph_usage},
    {"export", cmd_export,
     "write the samples as folded stacks, speedscope, pprof or a Chrome trace", cmd_export_usage},
    {"report", cmd_report, "the whole run as one HTML page for a browser", cmd_report_usage},
    {"push", cmd_push, "send the profiles to a Pyroscope server", cmd_push_usage},
    {"snapshots", cmd_snapshots, "list the memory snapshots of a run (needs --memory)",
     cmd_snapshots_usage},
    {"stats", cmd_stats, "a snapshot's live memory by line, file or traceback", cmd_stats_usage},
    {"diff", cmd_diff, "what grew or shrank between two snapshots", cmd_diff_usage},
    {"cycles", cmd_cycles, "reference cycles the garbage collector would free (needs --heap)",
     cmd_cycles_usage},
    {"retained", cmd_retained, "what keeps memory alive: retained sizes (needs --heap)",
     cmd_retained_usage},
    {"gc", cmd_gc, "the garbage collector's collections and pauses (needs --gc)", cmd_gc_usage},
    {"help", cmd_help, "show help for a command", cmd_help_usage},
    {NULL, NULL, NULL, NULL},
};

static const struct command *find(const char *name)
{
    for (const struct command *c = commands; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

static void print_main_usage(FILE *out)
{
    fputs("usage: pyscope [--version] [--help] COMMAND [ARGS]\n"
          "\n"
          "Profile Python programs: sampled stacks, call statistics, allocations and\n"
          "the object graph, recorded into one SQLite database.\n"
          "\n"
          "commands:\n",
          out);
    for (const struct command *c = commands; c->name; c++)
        fprintf(out, "   %-10s %s\n", c->name, c->summary);
    fputs("\n'pyscope help COMMAND' or 'pyscope COMMAND --help' shows a command's options.\n", out);
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_main_usage(stdout);
        return CLI_OK;
    }
    if (argc > 2) {
        fputs(cmd_help_usage, stderr);
        return CLI_USAGE;
    }
    const struct command *c = find(argv[1]);
    if (!c) {
        cli_error("'%s' is not a pyscope command; see 'pyscope --help'", argv[1]);
        return CLI_USAGE;
    }
    fputs(c->usage, stdout);
    return CLI_OK;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        print_main_usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (cli_is_help(name)) {
        print_main_usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("pyscope %s (CPython %s)\n", PYSCOPE_VERSION, launcher_pythons);
        return CLI_OK;
    }
    const struct command *c = find(name);
    if (!c) {
        if (name[0] == '-')
            cli_error("unknown option '%s'", name);
        else
            cli_error("'%s' is not a pyscope command", name);
        print_main_usage(stderr);
        return CLI_USAGE;
    }
    /* `pyscope CMD --help`; later arguments may be the program's own. */
    if (argc > 2 && cli_is_help(argv[2])) {
        fputs(c->usage, stdout);
        return CLI_OK;
    }
    return c->run(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    /* Each thread of pyscope uses its own connection: SQLite need not count
     * its memory under a global lock at every allocation. Before any other
     * SQLite call. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return dispatch(argc, argv);
}
