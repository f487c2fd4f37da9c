/*
 * The viewer commands' option parser, in the spirit of git's parse-options:
 * a command describes its options in a table of specs (long name, short
 * name, kind, destination, the message for a bad value) and one call
 * parses its argv against it, so every command spells, checks and reports
 * its options the same way.
 *
 * The rules, the same for every command:
 *   - "--" ends the options; "-" alone and anything not starting with '-'
 *     is a positional argument (the database, a snapshot id, ...);
 *   - "-h" or "--help" prints the usage text to stdout and stops;
 *   - a long option takes its value as "--opt VALUE" or "--opt=VALUE", a
 *     short one as "-o VALUE" or "-oVALUE"; a flag takes none;
 *   - the first mistake is reported as one line on stderr and stops.
 * The usage texts stay the commands' own constants (the command table
 * prints them for `pyscope help CMD` too); this module only reads them.
 */
#ifndef PYSCOPE_VIEWER_OPTS_H
#define PYSCOPE_VIEWER_OPTS_H

#include <stddef.h>
#include <stdint.h>

enum opts_kind {
    OPTS_FLAG,     /* int *dest set to 1 */
    OPTS_INT,      /* int64_t *dest, from min to max */
    OPTS_DOUBLE,   /* double *dest, from dmin to dmax */
    OPTS_STRING,   /* const char **dest: the value, borrowed from argv */
    OPTS_ENUM,     /* int *dest: the index of the value in choices */
    OPTS_CALLBACK, /* cb(value, ctx) takes it */
};

/* opts_spec.flags */
enum {
    OPTS_NONEMPTY = 1 << 0,       /* an empty value is a bad value */
    OPTS_LOOSE = 1 << 1,          /* OPTS_INT read as strtol(3) reads it: blanks and '+' first */
    OPTS_MISSING_IS_BAD = 1 << 2, /* a missing value is reported as the bad value '' */
};

struct opts_spec {
    const char *name; /* "--limit"; NULL for an option that has only a short name */
    char short_name;  /* 'o' for -o, or 0 */
    enum opts_kind kind;
    void *dest;
    /*
     * The line printed for a bad value, a printf format whose one "%s", if
     * any, is the value: "'--limit' needs a number of rows (0 for all),
     * not '%s'". A missing value is "'--limit' needs a value" with the long
     * spelling, this line with the short one (or with OPTS_MISSING_IS_BAD).
     */
    const char *bad;
    unsigned flags;                          /* OPTS_* */
    int64_t min, max;                        /* OPTS_INT */
    double dmin, dmax;                       /* OPTS_DOUBLE */
    const char *const *choices;              /* OPTS_ENUM: the values, NULL-terminated */
    int (*cb)(const char *value, void *ctx); /* OPTS_CALLBACK: 0, or -1 for a bad value */
    void *ctx;                               /* ... */
    const char **note; /* when not NULL and *note is NULL, the option sets *note to name */
};

/* The command whose argv is parsed. */
struct opts_cmd {
    const char *name;  /* "hot": for "see 'pyscope hot --help'" */
    const char *usage; /* its whole usage text, printed for --help */
    int max_pos;       /* more positional arguments are a usage error at once; 0: any number */
    int usage_lines;   /* a usage error prints every usage line ("or: ..."), not the first */
};

/* Results of opts_parse besides a count of positional arguments. */
enum { OPTS_HELP = -1, OPTS_ERROR = -2 };

/*
 * Parse argv[1 .. argc) for cmd against the n specs. The positional
 * arguments are moved, in order, to argv[1 .. 1 + count) and their count
 * returned. OPTS_HELP after printing cmd->usage to stdout; OPTS_ERROR after
 * one line on stderr: an unknown option, a missing or bad value, or (with
 * max_pos) too many positional arguments (the usage line).
 */
int opts_parse(const struct opts_cmd *cmd, const struct opts_spec *specs, size_t n, int argc,
               char **argv);

/* The exit status for a result of opts_parse that is not a count: CLI_OK or CLI_USAGE. */
int opts_status(int result);

/* The usage error after the options: cmd's usage line (or lines) to stderr. */
void opts_usage_error(const struct opts_cmd *cmd);

#endif
