/*
 * The command table and the top-level argument handling of the pyscope
 * executable: `pyscope --help`, `--version`, `help CMD`, `CMD --help`, and
 * dispatch. An unknown command prints the usage and exits 2.
 */
#include "cli.h"
#include "cmd.h"
#include "launcher.h"
#include "pyname.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int cmd_help(int argc, char **argv);

static const char cmd_help_usage[] = "usage: pyscope help [COMMAND]\n"
                                     "\n"
                                     "Show the list of commands, or the help of one command.\n";

const struct cli_command cli_commands[] = {
    {"profile", cmd_profile, "run a Python program and record it", cmd_profile_usage},
    {"summary", cmd_summary, "say what a recorded run holds", cmd_summary_usage},
    {"top", cmd_top, "the functions: cProfile's table, or by sampled self time", cmd_top_usage},
    {"callers", cmd_callers, "what called a function, pair by pair (needs --calls)",
     cmd_callers_usage},
    {"callees", cmd_callees, "what a function called, pair by pair (needs --calls)",
     cmd_callees_usage},
    {"hot", cmd_hot, "the hottest source lines, with their code", cmd_hot_usage},
    {"flamegraph", cmd_flamegraph, "draw the sampled stacks as an SVG flame graph",
     cmd_flamegraph_usage},
    {"export", cmd_export, "write the samples as folded stacks or speedscope JSON",
     cmd_export_usage},
    {"snapshots", cmd_snapshots, "list the memory snapshots of a run (needs --memory)",
     cmd_snapshots_usage},
    {"stats", cmd_stats, "a snapshot's live memory by line, file or traceback", cmd_stats_usage},
    {"diff", cmd_diff, "what grew or shrank between two snapshots", cmd_diff_usage},
    {"cycles", cmd_cycles, "reference cycles the garbage collector would free (needs --heap)",
     cmd_cycles_usage},
    {"gc", cmd_gc, "the garbage collector's collections and pauses (needs --gc)", cmd_gc_usage},
    {"help", cmd_help, "show help for a command", cmd_help_usage},
    {NULL, NULL, NULL, NULL},
};

void cli_error(const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    fputs("pyscope: ", stderr);
    /* A path or a name from the command line need not be UTF-8: a byte
     * that is not is written \xNN, as the viewer writes it. */
    for (size_t i = 0; i < len;) {
        size_t k = (unsigned char)msg[i] < 0x80 ? 1 : pyname_utf8_len(msg + i, len - i);
        if (k)
            fwrite(msg + i, 1, k, stderr);
        else
            fprintf(stderr, "\\x%02x", (unsigned char)msg[i]);
        i += k ? k : 1;
    }
    fputc('\n', stderr);
}

int cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

const struct cli_command *cli_find(const char *name)
{
    for (const struct cli_command *c = cli_commands; c->name; c++)
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
    for (const struct cli_command *c = cli_commands; c->name; c++)
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
    const struct cli_command *c = cli_find(argv[1]);
    if (!c) {
        cli_error("'%s' is not a pyscope command; see 'pyscope --help'", argv[1]);
        return CLI_USAGE;
    }
    fputs(c->usage, stdout);
    return CLI_OK;
}

int cli_main(int argc, char **argv)
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
        printf("pyscope %s\n", PYSCOPE_VERSION);
        return CLI_OK;
    }
    const struct cli_command *c = cli_find(name);
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
