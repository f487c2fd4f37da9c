/*
 * The viewer commands' option parser (opts.h). One pass over argv, left to
 * right, stopping at the first mistake: what a command reports first is
 * what the user typed first. Nothing is allocated; values point into argv.
 */
#include "opts.h"
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The spec whose long name is the n bytes at name, or NULL. */
static const struct opts_spec *find_long(const struct opts_spec *specs, size_t nspecs,
                                         const char *name, size_t n)
{
    for (size_t i = 0; i < nspecs; i++)
        if (specs[i].name && strlen(specs[i].name) == n && !strncmp(specs[i].name, name, n))
            return &specs[i];
    return NULL;
}

static const struct opts_spec *find_short(const struct opts_spec *specs, size_t nspecs, char c)
{
    for (size_t i = 0; i < nspecs; i++)
        if (specs[i].short_name && specs[i].short_name == c)
            return &specs[i];
    return NULL;
}

static int bad_value(const struct opts_spec *o, const char *value)
{
    cli_error(o->bad, value);
    return OPTS_ERROR;
}

/* An integer as util_parse_i64 reads it, or as strtol does with OPTS_LOOSE. */
static int parse_int(const struct opts_spec *o, const char *v, int64_t *out)
{
    if (!(o->flags & OPTS_LOOSE))
        return util_parse_i64(v, out);
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno)
        return -1;
    *out = n;
    return 0;
}

/* Check value and store it where o says. 0 or OPTS_ERROR after the message. */
static int take(const struct opts_spec *o, const char *v)
{
    if ((o->flags & OPTS_NONEMPTY) && !*v)
        return bad_value(o, v);
    switch (o->kind) {
    case OPTS_FLAG:
        *(int *)o->dest = 1;
        break;
    case OPTS_INT: {
        int64_t n;
        if (parse_int(o, v, &n) < 0 || n < o->min || n > o->max)
            return bad_value(o, v);
        *(int64_t *)o->dest = n;
        break;
    }
    case OPTS_DOUBLE: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (!*v || *end || errno || !(d >= o->dmin && d <= o->dmax))
            return bad_value(o, v);
        *(double *)o->dest = d;
        break;
    }
    case OPTS_STRING:
        *(const char **)o->dest = v;
        break;
    case OPTS_ENUM: {
        int k = 0;
        while (o->choices[k] && strcmp(v, o->choices[k]))
            k++;
        if (!o->choices[k])
            return bad_value(o, v);
        *(int *)o->dest = k;
        break;
    }
    case OPTS_CALLBACK:
        if (o->cb(v, o->ctx) < 0)
            return bad_value(o, v);
        break;
    }
    return 0;
}

static int unknown(const struct opts_cmd *cmd, const char *arg)
{
    cli_error("unknown option '%s'; see 'pyscope %s --help'", arg, cmd->name);
    return OPTS_ERROR;
}

/*
 * The option at argv[*i] (not a positional, not "--", not help): find its
 * spec, its value (consuming the next argument when it is separate) and
 * take it.
 */
static int option(const struct opts_cmd *cmd, const struct opts_spec *specs, size_t nspecs,
                  int argc, char **argv, int *i)
{
    const char *a = argv[*i], *value = NULL;
    const struct opts_spec *o;
    int short_form = a[1] != '-';

    if (short_form) {
        if (!(o = find_short(specs, nspecs, a[1])))
            return unknown(cmd, a);
        if (a[2])
            value = a + 2;
    } else {
        const char *eq = strchr(a, '=');
        if (!(o = find_long(specs, nspecs, a, eq ? (size_t)(eq - a) : strlen(a))))
            return unknown(cmd, a);
        if (eq)
            value = eq + 1;
    }
    if (o->kind == OPTS_FLAG) {
        if (value)
            return unknown(cmd, a); /* "--json=1", "-jx" */
    } else if (!value) {
        if (*i + 1 < argc) {
            value = argv[++*i];
        } else if (short_form || (o->flags & OPTS_MISSING_IS_BAD)) {
            return bad_value(o, "");
        } else {
            cli_error("'%s' needs a value", o->name);
            return OPTS_ERROR;
        }
    }
    if (o->note && !*o->note)
        *o->note = o->name;
    return take(o, value ? value : "");
}

int opts_parse(const struct opts_cmd *cmd, const struct opts_spec *specs, size_t n, int argc,
               char **argv)
{
    int npos = 0, opts_done = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (opts_done || a[0] != '-' || !a[1]) {
            if (cmd->max_pos && npos == cmd->max_pos) {
                opts_usage_error(cmd);
                return OPTS_ERROR;
            }
            argv[1 + npos++] = a; /* never past i: options only ever drop out */
        } else if (!strcmp(a, "--")) {
            opts_done = 1;
        } else if (cli_is_help(a)) {
            fputs(cmd->usage, stdout);
            return OPTS_HELP;
        } else if (option(cmd, specs, n, argc, argv, &i) < 0) {
            return OPTS_ERROR;
        }
    }
    return npos;
}

int opts_status(int result)
{
    return result == OPTS_HELP ? CLI_OK : CLI_USAGE;
}

void opts_usage_error(const struct opts_cmd *cmd)
{
    const char *u = cmd->usage, *end;
    size_t n = strcspn(u, "\n");
    if (cmd->usage_lines && (end = strstr(u, "\n\n")) != NULL)
        n = (size_t)(end - u); /* the "usage:" line and the "or:" lines after it */
    fprintf(stderr, "%.*s\n", (int)n, u);
}
