/*
 * `pyscope top RUN.db`: one row per function. A run with call statistics
 * (--calls) gets cProfile's table (ncalls, tottime, percall, cumtime,
 * percall) with the sampled self and total shares beside it when the run
 * was sampled too; a run with samples only gets the sampled table: self
 * time (the function was the innermost frame), total time (it was on the
 * stack; once per sample however deep it recursed), their shares and the
 * sample counts behind them.
 *
 * The table is a list of columns over a row that holds each source of
 * evidence about a function as an optional member.
 */
#include "calls.h"
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
    "The functions of a run. With call statistics (profile --calls), cProfile's\n"
    "table: ncalls (all/primitive when some were recursive), tottime (in the\n"
    "function itself), cumtime (with its callees) and both per call, merged over\n"
    "the selected threads and processes, with the sampled shares beside them when\n"
    "the run was sampled too. Without them, the sampled table: self time (the\n"
    "function was running), total time (it was on the stack, once per sample\n"
    "however deep it recursed), their shares, and the samples behind them.\n"
    "\n"
    "options:\n"
    SMPCMD_HELP_CLOCK
    SMPCMD_HELP_STATE
    SMPCMD_HELP_SELECT
    SMPCMD_HELP_NATIVE
    "   --function PATTERN   only the samples whose stack holds a function whose\n"
    "                        qualname or name matches the shell pattern; the\n"
    "                        percentages are then of those samples; in cProfile's\n"
    "                        table, only the functions that match\n"
    "   --sort KEY           tottime (the default with call statistics), cumtime,\n"
    "                        ncalls, pcalls, percall (tottime per call); self (the\n"
    "                        default without), total, samples (self samples, not\n"
    "                        weighed); name or file\n"
    "   --samples            the sampled table even when there are call statistics\n"
    "   --limit N            show N functions (text: 20 by default; JSON: all;\n"
    "                        0: all)\n"
    "   --json               print one JSON object instead of the table\n"
    "   -h, --help           show this help\n";

#define LOC_COLS 40

enum sort_key {
    SORT_SELF,
    SORT_TOTAL,
    SORT_SAMPLES,
    SORT_NAME,
    SORT_FILE,
    SORT_TOTTIME,
    SORT_CUMTIME,
    SORT_NCALLS,
    SORT_PCALLS,
    SORT_PERCALL,
    NSORT
};

/* --sort's values, by key; NULL-terminated for the option table. */
static const char *const sort_names[NSORT + 1] = {"self",   "total",   "samples", "name",
                                                  "file",   "tottime", "cumtime", "ncalls",
                                                  "pcalls", "percall"};

/* A function and what each source of evidence knows of it (NULL: nothing). */
struct top_row {
    const struct smp_function *fn;
    const struct smp_stat *sampled;
    const struct cls_stat *called;
};

struct top_ctx {
    struct smpcmd *c;
    const struct smp_totals *t;
    const struct cls_profile *calls;
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
    return smpcmd_function_text(x->c->prof, r->fn, LOC_COLS, buf, len);
}

static const char *cell_ncalls(const struct top_ctx *x, const struct top_row *r, char *buf,
                               size_t len)
{
    (void)x;
    return r->called ? cls_ncalls_text(r->called, buf, len) : NULL;
}

static const char *cell_tottime(const struct top_ctx *x, const struct top_row *r, char *buf,
                                size_t len)
{
    (void)x;
    return r->called ? fmt_duration(buf, len, r->called->tottime_ns) : NULL;
}

static const char *cell_cumtime(const struct top_ctx *x, const struct top_row *r, char *buf,
                                size_t len)
{
    (void)x;
    return r->called ? fmt_duration(buf, len, r->called->cumtime_ns) : NULL;
}

/* cProfile's per-call columns: tottime over all calls, cumtime over primitive ones. */
static const char *cell_percall(const struct top_ctx *x, const struct top_row *r, char *buf,
                                size_t len)
{
    (void)x;
    if (!r->called || !r->called->ncalls)
        return NULL;
    return fmt_duration(buf, len, r->called->tottime_ns / r->called->ncalls);
}

static const char *cell_cum_percall(const struct top_ctx *x, const struct top_row *r, char *buf,
                                    size_t len)
{
    (void)x;
    if (!r->called || !r->called->pcalls)
        return NULL;
    return fmt_duration(buf, len, r->called->cumtime_ns / r->called->pcalls);
}

static const struct column sampled_columns[] = {
    {"self%", 'r', cell_self_pct},  {"total%", 'r', cell_total_pct},
    {"self", 'r', cell_self_time},  {"total", 'r', cell_total_time},
    {"samples", 'r', cell_samples}, {"function", 'l', cell_function},
};

static const struct column call_columns[] = {
    {"ncalls", 'r', cell_ncalls},   {"tottime", 'r', cell_tottime},
    {"percall", 'r', cell_percall}, {"cumtime", 'r', cell_cumtime},
    {"percall", 'r', cell_cum_percall}, {"self%", 'r', cell_self_pct},
    {"total%", 'r', cell_total_pct}, {"function", 'l', cell_function},
};
#define MAXCOLUMNS 8

static int64_t row_key(const struct top_row *r, enum sort_key key)
{
    const struct smp_stat *s = r->sampled;
    const struct cls_stat *c = r->called;
    switch (key) {
    case SORT_TOTAL:
        return s ? s->total_weight : -1;
    case SORT_SAMPLES:
        return s ? s->self_samples : -1;
    case SORT_TOTTIME:
        return c ? c->tottime_ns : -1;
    case SORT_CUMTIME:
        return c ? c->cumtime_ns : -1;
    case SORT_NCALLS:
        return c ? c->ncalls : -1;
    case SORT_PCALLS:
        return c ? c->pcalls : -1;
    case SORT_PERCALL:
        return c && c->ncalls ? c->tottime_ns / c->ncalls : -1;
    default:
        return s ? s->self_weight : -1;
    }
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
    static const enum sort_key then[] = {SORT_TOTTIME, SORT_CUMTIME, SORT_NCALLS,
                                         SORT_SELF,    SORT_TOTAL,   SORT_SAMPLES};
    int64_t ka = row_key(a, key), kb = row_key(b, key);
    if (ka != kb)
        return ka > kb ? -1 : 1;
    for (size_t i = 0; i < sizeof then / sizeof then[0]; i++) {
        ka = row_key(a, then[i]);
        kb = row_key(b, then[i]);
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

static int cmp_tottime(const void *x, const void *y)
{
    return cmp_weight(x, y, SORT_TOTTIME);
}

static int cmp_cumtime(const void *x, const void *y)
{
    return cmp_weight(x, y, SORT_CUMTIME);
}

static int cmp_ncalls(const void *x, const void *y)
{
    return cmp_weight(x, y, SORT_NCALLS);
}

static int cmp_pcalls(const void *x, const void *y)
{
    return cmp_weight(x, y, SORT_PCALLS);
}

static int cmp_percall(const void *x, const void *y)
{
    return cmp_weight(x, y, SORT_PERCALL);
}

static int cmp_name(const void *x, const void *y)
{
    return cmp_names(x, y);
}

static int cmp_file(const void *x, const void *y)
{
    return cmp_files(x, y);
}

static int (*const comparators[NSORT])(const void *, const void *) = {
    [SORT_SELF] = cmp_self,       [SORT_TOTAL] = cmp_total,     [SORT_SAMPLES] = cmp_samples,
    [SORT_NAME] = cmp_name,       [SORT_FILE] = cmp_file,       [SORT_TOTTIME] = cmp_tottime,
    [SORT_CUMTIME] = cmp_cumtime, [SORT_NCALLS] = cmp_ncalls,   [SORT_PCALLS] = cmp_pcalls,
    [SORT_PERCALL] = cmp_percall,
};

/* cProfile's table heads with what was counted, and the sampled line when there are samples. */
static int calls_heading(const struct top_ctx *x, size_t nmatched)
{
    const struct smpcmd *c = x->c;
    char num[FMT_BUFSZ], fns[FMT_BUFSZ], dur[FMT_BUFSZ];
    smpcmd_put_source(c, "calls");
    fprintf(c->out, ": %s calls of %s functions on %lld thread%s, %s in them",
            fmt_int(num, sizeof num, x->calls->calls),
            fmt_int(fns, sizeof fns, (int64_t)x->calls->nfns), (long long)x->calls->nthreads,
            x->calls->nthreads == 1 ? "" : "s", fmt_duration(dur, sizeof dur, x->calls->tottime_ns));
    if (c->filter.function) {
        fprintf(c->out, "; %zu match '", nmatched);
        fmt_put_text(c->out, c->filter.function);
        putc('\'', c->out);
    }
    putc('\n', c->out);
    if (x->t->all_weight > 0)
        smpcmd_heading(c);
    return 1;
}

static int print_text(const struct top_ctx *x, const struct top_row *rows, size_t n, int called)
{
    const struct column *cols[MAXCOLUMNS];
    size_t ncols = 0;
    char spec[MAXCOLUMNS + 1], buf[1024];
    size_t shown = smpcmd_shown(x->c, n);
    struct fmt_table *tab;
    int err;

    if (called) {
        for (size_t k = 0; k < sizeof call_columns / sizeof call_columns[0]; k++) {
            int pct = call_columns[k].cell == cell_self_pct || call_columns[k].cell == cell_total_pct;
            if (!pct || x->t->weight > 0)
                cols[ncols++] = &call_columns[k];
        }
        size_t nmatched = 0;
        for (size_t i = 0; i < n; i++)
            nmatched += rows[i].called != NULL;
        calls_heading(x, nmatched);
    } else {
        for (size_t k = 0; k < sizeof sampled_columns / sizeof sampled_columns[0]; k++)
            cols[ncols++] = &sampled_columns[k];
        if (!smpcmd_heading(x->c))
            return 0;
    }
    for (size_t k = 0; k < ncols; k++)
        spec[k] = cols[k]->align;
    spec[ncols] = '\0';
    if (!(tab = fmt_table_new(spec)))
        return PYSCOPE_ENOMEM;
    for (size_t k = 0; k < ncols; k++)
        fmt_table_add(tab, cols[k]->header);
    for (size_t i = 0; i < shown; i++)
        for (size_t k = 0; k < ncols; k++)
            fmt_table_add(tab, cols[k]->cell(x, &rows[i], buf, sizeof buf));
    err = fmt_table_print(tab, x->c->out, "  ");
    fmt_table_free(tab);
    if (!err) {
        smpcmd_more(x->c, shown, n, "functions");
        if (x->t->weight > 0)
            smpcmd_notes(x->c);
    }
    return err;
}

static void print_json_called(FILE *out, const struct cls_stat *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fprintf(out,
            "{\"ncalls\": %lld, \"pcalls\": %lld, \"tottime_ns\": %lld, \"cumtime_ns\": %lld}",
            (long long)s->ncalls, (long long)s->pcalls, (long long)s->tottime_ns,
            (long long)s->cumtime_ns);
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
    size_t shown = smpcmd_shown(x->c, n);
    FILE *out = x->c->out;

    putc('{', out);
    smpcmd_json_head(x->c);
    fprintf(out, "  \"calls\": {\"calls\": %lld, \"functions\": %zu, \"threads\": %lld,"
                 " \"tottime_ns\": %lld},\n",
            (long long)x->calls->calls, x->calls->nfns, (long long)x->calls->nthreads,
            (long long)x->calls->tottime_ns);
    fprintf(out, "  \"sort\": \"%s\",\n  \"functions\": [", sort_names[sort]);
    for (size_t i = 0; i < shown; i++) {
        const struct smp_function *fn = rows[i].fn;
        fputs(i ? ",\n    {" : "\n    {", out);
        smpcmd_json_function(out, fn);
        fputs(",\n     \"sampled\": ", out);
        print_json_sampled(x, rows[i].sampled);
        fputs(",\n     \"called\": ", out);
        print_json_called(out, rows[i].called);
        putc('}', out);
    }
    fprintf(out, "%s],\n  \"count\": %zu\n}\n", shown ? "\n  " : "", n);
}

/* By function id, for merging the two sources. */
static int by_id(const void *x, const void *y)
{
    const struct smp_fn_stat *a = x, *b = y;
    return (a->fn->id > b->fn->id) - (a->fn->id < b->fn->id);
}

/*
 * One row per function: those with call statistics (when called) joined
 * with those with samples, by functions.id (pseudo-functions, id 0, have
 * samples only). The function filter keeps the matching called ones.
 */
static int make_rows(struct smpcmd *c, const struct cls_profile *calls, int called,
                     struct smp_fn_stat *stats, size_t nstats, struct top_row **out, size_t *n)
{
    size_t cap = nstats + (called ? calls->nfns : 0), k = 0;
    struct top_row *rows = malloc((cap ? cap : 1) * sizeof *rows);
    if (!rows)
        return PYSCOPE_ENOMEM;
    qsort(stats, nstats, sizeof *stats, by_id);
    size_t j = 0;
    for (size_t i = 0; called && i < calls->nfns; i++) {
        const struct smp_function *fn = smp_function_by_id(c->prof, calls->fns[i].id);
        if (!fn || !fn->matched)
            continue;
        while (j < nstats && stats[j].fn->id < fn->id)
            rows[k++] = (struct top_row){stats[j].fn, &stats[j].s, NULL}, j++;
        struct top_row r = {fn, NULL, &calls->fns[i].s};
        if (j < nstats && stats[j].fn->id == fn->id)
            r.sampled = &stats[j++].s;
        rows[k++] = r;
    }
    while (j < nstats)
        rows[k++] = (struct top_row){stats[j].fn, &stats[j].s, NULL}, j++;
    *out = rows;
    *n = k;
    return 0;
}

int cmd_top(int argc, char **argv)
{
    struct smpcmd c;
    struct smp_fn_stat *stats = NULL;
    struct top_row *rows = NULL;
    struct cls_profile calls = {0};
    int sort = -1, samples_only = 0;
    size_t n = 0, nstats = 0;
    int status, err;

    smpcmd_init(&c, "top", cmd_top_usage,
                SMPCMD_CLOCK | SMPCMD_THREAD | SMPCMD_PROCESS | SMPCMD_FUNCTION | SMPCMD_NATIVE | SMPCMD_LIMIT |
                    SMPCMD_JSON);
    const struct opts_spec own[] = {
        {.name = "--samples", .kind = OPTS_FLAG, .dest = &samples_only},
        {.name = "--sort",
         .kind = OPTS_ENUM,
         .dest = &sort,
         .choices = sort_names,
         .bad = "'--sort' is tottime, cumtime, ncalls, pcalls, percall, self, total, samples, "
                "name or file, not '%s'"},
    };
    int npos = smpcmd_parse(&c, own, sizeof own / sizeof *own, argc, argv);
    if (npos < 0)
        return opts_status(npos);
    if ((status = smpcmd_open(&c)) != CLI_OK)
        return smpcmd_close(&c, status);
    if ((err = cls_load(c.db, &c.filter, 0, &calls)) < 0 ||
        (err = smp_functions(c.prof, &stats, &nstats)) < 0)
        goto out;
    int called = calls.nfns > 0 && !samples_only;
    if (sort < 0)
        sort = called ? SORT_TOTTIME : SORT_SELF;
    if ((err = make_rows(&c, &calls, called, stats, nstats, &rows, &n)) < 0)
        goto out;
    qsort(rows, n, sizeof *rows, comparators[sort]);

    struct top_ctx x = {&c, smp_totals(c.prof), &calls};
    if (c.json)
        print_json(&x, rows, n, (enum sort_key)sort);
    else
        err = print_text(&x, rows, n, called);
out:
    if (err < 0) {
        cli_error("%s", pyscope_strerror(err));
        status = CLI_FAIL;
    }
    free(rows);
    free(stats);
    cls_release(&calls);
    return smpcmd_close(&c, status);
}
