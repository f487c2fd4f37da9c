/*
 * `pyscope callers RUN.db PATTERN` and `pyscope callees RUN.db PATTERN`:
 * pstats' print_callers and print_callees over the call statistics. For
 * each function matching PATTERN, its own numbers, then one row per caller
 * (or callee) with what that pair counted: ncalls (all/primitive), tottime
 * and cumtime of the callee within those calls.
 */
#include "calls.h"
#include "cli.h"
#include "cmd.h"
#include "error.h"
#include "format.h"
#include "samples.h"
#include "smpcmd.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#define USAGE_BODY(what, dir)                                                                      \
    "\n"                                                                                           \
    "For each function whose qualname or name matches the shell pattern PATTERN\n"              \
    "('parse', 'Parser.*', '*sorted*'), its call statistics and the functions " what ",\n"      \
    "one row per pair: ncalls (all/primitive when some were recursive), and the\n"             \
    "tottime and cumtime of the calls made " dir ". Needs a run recorded with\n"                \
    "'pyscope profile --calls'; threads and processes are merged unless selected.\n"           \
    "\n"                                                                                           \
    "options:\n"                                                                                   \
    SMPCMD_HELP_SELECT                                                                             \
    "   --limit N            show N matching functions (text: 20 by default; JSON:\n"           \
    "                        all; 0: all)\n"                                                     \
    "   --json               print one JSON object instead of the text\n"                        \
    "   -h, --help           show this help\n"

const char cmd_callers_usage[] = "usage: pyscope callers [options] RUN.db PATTERN\n" USAGE_BODY(
    "that called it", "by each caller");
const char cmd_callees_usage[] = "usage: pyscope callees [options] RUN.db PATTERN\n" USAGE_BODY(
    "it called", "to each callee");

#define LOC_COLS 50

struct link {
    const struct smp_function *fn; /* NULL: the root (no caller) */
    const struct cls_stat *s;
};

static int by_cumtime(const void *x, const void *y)
{
    const struct link *a = x, *b = y;
    if (a->s->cumtime_ns != b->s->cumtime_ns)
        return a->s->cumtime_ns > b->s->cumtime_ns ? -1 : 1;
    return (a->s->ncalls < b->s->ncalls) - (a->s->ncalls > b->s->ncalls);
}

static char *fn_text(struct smpcmd *c, const struct smp_function *fn, char *buf, size_t len)
{
    if (!fn) {
        snprintf(buf, len, "[root]");
        return buf;
    }
    return smpcmd_function_text(c->prof, fn, LOC_COLS, buf, len);
}

/* The pairs of p that name fid on our side, as links to the other side. */
static size_t collect(struct smpcmd *c, const struct cls_profile *p, int64_t fid, int callers,
                      struct link *out)
{
    size_t n = 0;
    for (size_t i = 0; i < p->npairs; i++) {
        const struct cls_pair *e = &p->pairs[i];
        if ((callers ? e->callee_id : e->caller_id) != fid)
            continue;
        int64_t other = callers ? e->caller_id : e->callee_id;
        out[n++] = (struct link){other ? smp_function_by_id(c->prof, other) : NULL, &e->s};
    }
    qsort(out, n, sizeof *out, by_cumtime);
    return n;
}

static void json_fn(FILE *out, const struct smp_function *fn)
{
    if (!fn) {
        fputs("null", out);
        return;
    }
    putc('{', out);
    smpcmd_json_function(out, fn);
    putc('}', out);
}

static void json_stat(FILE *out, const struct cls_stat *s)
{
    fprintf(out, "\"ncalls\": %lld, \"pcalls\": %lld, \"tottime_ns\": %lld, \"cumtime_ns\": %lld",
            (long long)s->ncalls, (long long)s->pcalls, (long long)s->tottime_ns,
            (long long)s->cumtime_ns);
}

static int run(int argc, char **argv, int callers)
{
    const char *name = callers ? "callers" : "callees";
    const char *usage = callers ? cmd_callers_usage : cmd_callees_usage;
    struct smpcmd c;
    struct cls_profile p = {0};
    struct link *links = NULL;
    const char *pattern = NULL;
    int status, err = 0;

    smpcmd_init(&c, name, usage, SMPCMD_THREAD | SMPCMD_PROCESS | SMPCMD_LIMIT | SMPCMD_JSON);
    int npos = smpcmd_parse(&c, NULL, 0, argc, argv);
    if (npos < 0)
        return opts_status(npos);
    if (npos >= 2) { /* RUN.db PATTERN; more is the usage error of smpcmd_open */
        pattern = argv[2];
        c.npos = npos - 1;
        c.path = argv[1];
    }
    if (c.npos == 1 && !pattern) {
        cli_error("'pyscope %s' needs a function name or pattern after the database", name);
        return CLI_USAGE;
    }
    if ((status = smpcmd_open(&c)) != CLI_OK)
        return smpcmd_close(&c, status);
    if ((err = cls_load(c.db, &c.filter, 1, &p)) < 0)
        goto out;
    if (!p.nfns) {
        cli_error("no call statistics in '%s' (record them with 'pyscope profile --calls')", c.path);
        status = CLI_USAGE;
        goto out;
    }
    if (!(links = malloc((p.npairs ? p.npairs : 1) * sizeof *links))) {
        err = PYSCOPE_ENOMEM;
        goto out;
    }
    size_t matched = 0;
    for (size_t i = 0; i < p.nfns; i++) {
        const struct smp_function *fn = smp_function_by_id(c.prof, p.fns[i].id);
        matched += fn && (!fnmatch(pattern, fn->qualname, 0) || !fnmatch(pattern, fn->name, 0));
    }
    if (!matched) {
        cli_error("no function called '%s' in '%s'", pattern, c.path);
        status = CLI_USAGE;
        goto out;
    }
    size_t limit = c.limit < 0 ? (c.json ? 0 : 20) : (size_t)c.limit, shown = 0;
    char a[FMT_BUFSZ], b[FMT_BUFSZ], d[FMT_BUFSZ], buf[1024];
    if (c.json) {
        fputs("{\n  \"database\": ", c.out);
        fmt_json_str(c.out, c.path);
        fputs(",\n  \"pattern\": ", c.out);
        fmt_json_str(c.out, pattern);
        fputs(",\n  \"functions\": [", c.out);
    }
    for (size_t i = 0; i < p.nfns && (!limit || shown < limit); i++) {
        const struct smp_function *fn = smp_function_by_id(c.prof, p.fns[i].id);
        if (!fn || (fnmatch(pattern, fn->qualname, 0) && fnmatch(pattern, fn->name, 0)))
            continue;
        size_t n = collect(&c, &p, fn->id, callers, links);
        if (c.json) {
            fputs(shown ? ",\n    {\"function\": " : "\n    {\"function\": ", c.out);
            json_fn(c.out, fn);
            fputs(",\n     ", c.out);
            json_stat(c.out, &p.fns[i].s);
            fprintf(c.out, ",\n     \"%s\": [", name);
            for (size_t k = 0; k < n; k++) {
                fputs(k ? ",\n       {\"function\": " : "\n       {\"function\": ", c.out);
                json_fn(c.out, links[k].fn);
                fputs(", ", c.out);
                json_stat(c.out, links[k].s);
                putc('}', c.out);
            }
            fputs(n ? "\n     ]}" : "]}", c.out);
        } else {
            fprintf(c.out, "%s", shown ? "\n" : "");
            fmt_put_text(c.out, fn_text(&c, fn, buf, sizeof buf));
            fprintf(c.out, ": %s call%s, tottime %s, cumtime %s\n",
                    cls_ncalls_text(&p.fns[i].s, a, sizeof a), p.fns[i].s.ncalls == 1 ? "" : "s",
                    fmt_duration(b, sizeof b, p.fns[i].s.tottime_ns),
                    fmt_duration(d, sizeof d, p.fns[i].s.cumtime_ns));
            struct fmt_table *tab = fmt_table_new("rrrl");
            if (!tab) {
                err = PYSCOPE_ENOMEM;
                goto out;
            }
            fmt_table_add(tab, "ncalls");
            fmt_table_add(tab, "tottime");
            fmt_table_add(tab, "cumtime");
            fmt_table_add(tab, callers ? "called by" : "called");
            for (size_t k = 0; k < n; k++) {
                fmt_table_add(tab, cls_ncalls_text(links[k].s, a, sizeof a));
                fmt_table_add(tab, fmt_duration(b, sizeof b, links[k].s->tottime_ns));
                fmt_table_add(tab, fmt_duration(d, sizeof d, links[k].s->cumtime_ns));
                fmt_table_add(tab, fn_text(&c, links[k].fn, buf, sizeof buf));
            }
            if (n)
                err = fmt_table_print(tab, c.out, "    ");
            else
                fprintf(c.out, "    %s\n", callers ? "(no callers)" : "(no calls)");
            fmt_table_free(tab);
            if (err < 0)
                goto out;
        }
        shown++;
    }
    if (c.json)
        fprintf(c.out, "\n  ],\n  \"count\": %zu\n}\n", matched);
    else if (shown < matched)
        fprintf(c.out, "(showing %zu of %zu matching functions; --limit 0 shows all)\n", shown,
                matched);
out:
    if (err < 0) {
        cli_error("%s", pyscope_strerror(err));
        status = CLI_FAIL;
    }
    free(links);
    cls_release(&p);
    return smpcmd_close(&c, status);
}

int cmd_callers(int argc, char **argv)
{
    return run(argc, argv, 1);
}

int cmd_callees(int argc, char **argv)
{
    return run(argc, argv, 0);
}
