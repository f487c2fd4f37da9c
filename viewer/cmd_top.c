/*
 * `pyscope top RUN.db`: the sampled function table, one row per function
 * with its self time (it was the innermost frame), its total time (it was
 * on the stack; once per sample however deep it recursed), their shares,
 * and the sample counts behind them.
 *
 * The table is described by a list of columns over a row that holds each
 * source of evidence about a function as an optional member: today only
 * the sampler's statistics, so cProfile's call counts from the calls table
 * can join as one more member and a few more columns without touching the
 * rest.
 */
#include "cli.h"
#include "cmd.h"
#include "error.h"
#include "format.h"
#include "samples.h"
#include "smpcmd.h"

#include <stdlib.h>
#include <string.h>

const char cmd_top_usage[] =
    "usage: pyscope top [options] RUN.db\n"
    "\n"
    "The sampled functions: self time (the function was running), total time (it\n"
    "was on the stack, once per sample however deep it recursed), their shares of\n"
    "the whole, and the samples behind them.\n"
    "\n"
    "options:\n"
    "   --clock cpu|wall     cpu (default): weigh each sample by the CPU time its\n"
    "                        thread used; wall: every sample is one sampling\n"
    "                        interval of wall time, idle or not\n"
    "   --state LIST         only samples in these states, comma-separated:\n"
    "                        running (Python, holding the GIL), native (on a CPU\n"
    "                        without the GIL), gil (waiting for it), idle\n"
    "   --thread ID|NAME     only that thread (its threads.id or its name)\n"
    "   --process PID        only the threads of that process\n"
    "   --function PATTERN   only the samples whose stack holds a function whose\n"
    "                        qualname or name matches the shell pattern; the\n"
    "                        percentages are then of those samples\n"
    "   --sort KEY           self (default), total, samples (self samples, not\n"
    "                        weighed), name or file\n"
    "   --limit N            show N functions (text: 20 by default; JSON: all;\n"
    "                        0: all)\n"
    "   --json               print one JSON object instead of the table\n"
    "   -h, --help           show this help\n";

#define LOC_COLS 40

enum sort_key { SORT_SELF, SORT_TOTAL, SORT_SAMPLES, SORT_NAME, SORT_FILE };

static const char *const sort_names[] = {"self", "total", "samples", "name", "file"};

/* A function and what each source of evidence knows of it (NULL: nothing). */
struct top_row {
    const struct smp_function *fn;
    const struct smp_stat *sampled;
};

struct top_ctx {
    struct smpcmd *c;
    const struct smp_totals *t;
};

/* A column of the text table: its heading and how to make a row's cell. */
struct column {
    const char *header;
    char align;
    const char *(*cell)(const struct top_ctx *x, const struct top_row *r, char *buf, size_t len);
};

static const char *cell_self_pct(const struct top_ctx *x, const struct top_row *r, char *buf,
                                 size_t len)
{
    return r->sampled ? fmt_pct(buf, len, (double)r->sampled->self_weight, (double)x->t->weight)
                      : NULL;
}

static const char *cell_total_pct(const struct top_ctx *x, const struct top_row *r, char *buf,
                                  size_t len)
{
    return r->sampled ? fmt_pct(buf, len, (double)r->sampled->total_weight, (double)x->t->weight)
                      : NULL;
}

static const char *cell_self_time(const struct top_ctx *x, const struct top_row *r, char *buf,
                                  size_t len)
{
    return r->sampled ? smpcmd_weight_text(x->c, r->sampled->self_weight, buf, len) : NULL;
}

static const char *cell_total_time(const struct top_ctx *x, const struct top_row *r, char *buf,
                                   size_t len)
{
    return r->sampled ? smpcmd_weight_text(x->c, r->sampled->total_weight, buf, len) : NULL;
}

static const char *cell_samples(const struct top_ctx *x, const struct top_row *r, char *buf,
                                size_t len)
{
    char self[FMT_BUFSZ], total[FMT_BUFSZ];
    if (!r->sampled)
        return NULL;
    snprintf(buf, len, "%s/%s", fmt_int(self, sizeof self, r->sampled->self_samples),
             fmt_int(total, sizeof total, r->sampled->total_samples));
    return buf;
}

/* "file:line (qualname)", the file cut at the left; the name alone when it has no file. */
static const char *cell_function(const struct top_ctx *x, const struct top_row *r, char *buf,
                                 size_t len)
{
    char loc[1024], cut[256];
    if (!*smp_location(x->c->prof, r->fn, 0, loc, sizeof loc))
        snprintf(buf, len, "%s", r->fn->qualname);
    else
        snprintf(buf, len, "%s (%s)", smpcmd_cut_left(cut, sizeof cut, loc, LOC_COLS),
                 r->fn->qualname);
    return buf;
}

static const struct column columns[] = {
    {"self%", 'r', cell_self_pct},  {"total%", 'r', cell_total_pct},
    {"self", 'r', cell_self_time},  {"total", 'r', cell_total_time},
    {"samples", 'r', cell_samples}, {"function", 'l', cell_function},
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

static int64_t sampled(const struct smp_stat *s, enum sort_key key)
{
    if (!s)
        return -1;
    return key == SORT_TOTAL     ? s->total_weight
           : key == SORT_SAMPLES ? s->self_samples
                                 : s->self_weight;
}

static int str_cmp(const char *a, const char *b)
{
    if (!a || !b)
        return a ? -1 : b ? 1 : 0; /* no file last */
    return strcmp(a, b);
}

static int cmp_names(const struct top_row *a, const struct top_row *b)
{
    int c = strcmp(a->fn->qualname, b->fn->qualname);
    if (c || (c = str_cmp(a->fn->filename, b->fn->filename)))
        return c;
    return (a->fn->firstlineno > b->fn->firstlineno) - (a->fn->firstlineno < b->fn->firstlineno);
}

static int cmp_files(const struct top_row *a, const struct top_row *b)
{
    int c = str_cmp(a->fn->filename, b->fn->filename);
    if (c)
        return c;
    if (a->fn->firstlineno != b->fn->firstlineno)
        return a->fn->firstlineno < b->fn->firstlineno ? -1 : 1;
    return strcmp(a->fn->qualname, b->fn->qualname);
}

/* Biggest first by key, then by the other weights, then by name. */
static int cmp_weight(const struct top_row *a, const struct top_row *b, enum sort_key key)
{
    static const enum sort_key then[] = {SORT_SELF, SORT_TOTAL, SORT_SAMPLES};
    int64_t ka = sampled(a->sampled, key), kb = sampled(b->sampled, key);
    if (ka != kb)
        return ka > kb ? -1 : 1;
    for (size_t i = 0; i < sizeof then / sizeof then[0]; i++) {
        ka = sampled(a->sampled, then[i]);
        kb = sampled(b->sampled, then[i]);
        if (ka != kb)
            return ka > kb ? -1 : 1;
    }
    return cmp_names(a, b);
}

static int cmp_self(const void *x, const void *y)
{
    return cmp_weight(x, y, SORT_SELF);
}

static int cmp_total(const void *x, const void *y)
{
    return cmp_weight(x, y, SORT_TOTAL);
}

static int cmp_samples(const void *x, const void *y)
{
    return cmp_weight(x, y, SORT_SAMPLES);
}

static int cmp_name(const void *x, const void *y)
{
    return cmp_names(x, y);
}

static int cmp_file(const void *x, const void *y)
{
    return cmp_files(x, y);
}

static int (*const comparators[])(const void *, const void *) = {
    [SORT_SELF] = cmp_self, [SORT_TOTAL] = cmp_total, [SORT_SAMPLES] = cmp_samples,
    [SORT_NAME] = cmp_name, [SORT_FILE] = cmp_file,
};

static int print_text(const struct top_ctx *x, const struct top_row *rows, size_t n)
{
    char spec[NCOLUMNS + 1], buf[1024];
    size_t shown = smpcmd_shown(x->c, n);
    struct fmt_table *tab;
    int err;

    if (!smpcmd_heading(x->c))
        return 0;
    for (size_t k = 0; k < NCOLUMNS; k++)
        spec[k] = columns[k].align;
    spec[NCOLUMNS] = '\0';
    if (!(tab = fmt_table_new(spec)))
        return PYSCOPE_ENOMEM;
    for (size_t k = 0; k < NCOLUMNS; k++)
        fmt_table_add(tab, columns[k].header);
    for (size_t i = 0; i < shown; i++)
        for (size_t k = 0; k < NCOLUMNS; k++)
            fmt_table_add(tab, columns[k].cell(x, &rows[i], buf, sizeof buf));
    err = fmt_table_print(tab, x->c->out, "  ");
    fmt_table_free(tab);
    if (!err) {
        smpcmd_more(x->c, shown, n, "functions");
        smpcmd_notes(x->c);
    }
    return err;
}

static void print_json_sampled(const struct top_ctx *x, const struct smp_stat *s)
{
    FILE *out = x->c->out;
    if (!s) {
        fputs("null", out);
        return;
    }
    fprintf(out, "{\"self_samples\": %lld, \"total_samples\": %lld, \"self_ns\": ",
            (long long)s->self_samples, (long long)s->total_samples);
    smpcmd_json_ns(out, smp_weight_ns(x->c->prof, s->self_weight));
    fputs(", \"total_ns\": ", out);
    smpcmd_json_ns(out, smp_weight_ns(x->c->prof, s->total_weight));
    fputs(", \"self_pct\": ", out);
    smpcmd_json_pct(out, s->self_weight, x->t->weight);
    fputs(", \"total_pct\": ", out);
    smpcmd_json_pct(out, s->total_weight, x->t->weight);
    putc('}', out);
}

static void print_json(const struct top_ctx *x, const struct top_row *rows, size_t n,
                       enum sort_key sort)
{
    static const char *const kinds[] = {"python", "builtin", "native"};
    size_t shown = smpcmd_shown(x->c, n);
    FILE *out = x->c->out;

    putc('{', out);
    smpcmd_json_head(x->c);
    fprintf(out, "  \"sort\": \"%s\",\n  \"functions\": [", sort_names[sort]);
    for (size_t i = 0; i < shown; i++) {
        const struct smp_function *fn = rows[i].fn;
        fputs(i ? ",\n    {" : "\n    {", out);
        fprintf(out, "\"id\": %lld, \"kind\": \"%s\", \"name\": ", (long long)fn->id,
                kinds[fn->kind]);
        fmt_json_str(out, fn->name);
        fputs(", \"qualname\": ", out);
        fmt_json_str(out, fn->qualname);
        fputs(", \"filename\": ", out);
        fmt_json_str(out, fn->filename);
        fputs(", \"firstlineno\": ", out);
        if (fn->firstlineno > 0)
            fprintf(out, "%lld", (long long)fn->firstlineno);
        else
            fputs("null", out);
        fputs(",\n     \"sampled\": ", out);
        print_json_sampled(x, rows[i].sampled);
        putc('}', out);
    }
    fprintf(out, "%s],\n  \"count\": %zu\n}\n", shown ? "\n  " : "", n);
}

int cmd_top(int argc, char **argv)
{
    struct smpcmd c;
    struct smp_fn_stat *stats = NULL;
    struct top_row *rows = NULL;
    enum sort_key sort = SORT_SELF;
    size_t n = 0;
    int status, err;

    smpcmd_init(&c, "top", cmd_top_usage,
                SMPCMD_CLOCK | SMPCMD_THREAD | SMPCMD_PROCESS | SMPCMD_FUNCTION | SMPCMD_LIMIT |
                    SMPCMD_JSON);
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r = smpcmd_arg(&c, argc, argv, &i);
        if (r == SMPCMD_HELP)
            return CLI_OK;
        if (r == SMPCMD_ERROR)
            return CLI_USAGE;
        if (r == SMPCMD_TAKEN)
            continue;
        if ((r = smpcmd_value("--sort", argc, argv, &i, &v)) < 0)
            return CLI_USAGE;
        if (!r)
            return smpcmd_unknown(&c, argv[i]);
        size_t k = 0;
        while (k < sizeof sort_names / sizeof sort_names[0] && strcmp(v, sort_names[k]))
            k++;
        if (k == sizeof sort_names / sizeof sort_names[0]) {
            cli_error("'--sort' is self, total, samples, name or file, not '%s'", v);
            return CLI_USAGE;
        }
        sort = (enum sort_key)k;
    }
    if ((status = smpcmd_open(&c)) != CLI_OK)
        return smpcmd_close(&c, status);
    if ((err = smp_functions(c.prof, &stats, &n)) < 0)
        goto out;
    if (!(rows = malloc((n ? n : 1) * sizeof *rows))) {
        err = PYSCOPE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        rows[i] = (struct top_row){stats[i].fn, &stats[i].s};
    qsort(rows, n, sizeof *rows, comparators[sort]);

    struct top_ctx x = {&c, smp_totals(c.prof)};
    if (c.json)
        print_json(&x, rows, n, sort);
    else
        err = print_text(&x, rows, n);
out:
    if (err < 0) {
        cli_error("%s", pyscope_strerror(err));
        status = CLI_FAIL;
    }
    free(rows);
    free(stats);
    return smpcmd_close(&c, status);
}
