/*
 * The command table of the pyscope executable, in the style of git.c: each
 * subcommand is one function in its own file with its own usage text.
 */
#ifndef PYSCOPE_CLI_H
#define PYSCOPE_CLI_H

/* Exit statuses of the viewer commands. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
    const char *summary;               /* one line for `pyscope --help` */
    const char *usage;                 /* the whole `pyscope CMD --help` text */
};

/* The commands, ending with an entry whose name is NULL. */
extern const struct cli_command cli_commands[];

/* The command called name, or NULL. */
const struct cli_command *cli_find(const char *name);

/* The program: dispatch argv to a command. Returns the exit status. */
int cli_main(int argc, char **argv);

/* Print "pyscope: <message>\n" to stderr, printf-style; a byte of the
 * message that is not UTF-8 as "\xNN". */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when arg is -h or --help. */
int cli_is_help(const char *arg);

#endif
