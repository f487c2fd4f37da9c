/*
 * The contract of every command of the pyscope executable (the recorder's
 * `profile` and the viewer's): a command is one function, int (int argc,
 * char **argv) with argv[0] its name, in its own file with its own usage
 * text; it returns an exit status below and says what went wrong in one
 * line through cli_error. The table of commands is in main.c.
 */
#ifndef PYSCOPE_CLI_H
#define PYSCOPE_CLI_H

/* Exit statuses of the commands. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Print "pyscope: <message>\n" to stderr, printf-style; a byte of the
 * message that is not UTF-8 as "\xNN". */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when arg is -h or --help. */
int cli_is_help(const char *arg);

#endif
