/*
 * `pyscope hot RUN.db`: the source lines where the sampled time went,
 * ranked by self time (the line was the one running), with total time (the
 * line was anywhere on the stack, counted once per sample however deep a
 * recursion goes), the function, and the code of the line read from the
 * file when it can still be read. With --function it reads like
 * line_profiler's report of those functions: only their lines, and the
 * percentages are of the samples that passed through them.
 */
#include "cli.h"
#include "cmd.h"
#include "error.h"
#include "format.h"
#include "samples.h"
#include "smpcmd.h"
#include "source.h"

#include <stdlib.h>
#include <string.h>

const char cmd_hot_usage[] =
    "usage: pyscope hot [options] RUN.db\n"
    "\n"
    "Rank the source lines where the sampled time went: self time (the line was\n"
    "running) and total time (the line was on the stack, once per sample however\n"
    "deep the recursion), with each line's code when its file can be read.\n"
    "\n"
    "options:\n"
    SMPCMD_HELP_CLOCK
    SMPCMD_HELP_STATE
    SMPCMD_HELP_SELECT
    SMPCMD_HELP_NATIVE
    "   --function PATTERN   only the lines of functions whose qualname or name\n"
    "                        matches the shell pattern ('parse', '*.load*'); the\n"
    "                        percentages are then of the samples through them\n"
    "   --sort self|total    rank by self time (default) or total time\n"
    "   --limit N            show N lines (text: 20 by default; JSON: all; 0: all)\n"
    "   --json               print one JSON object instead of the table\n"
    "   -h, --help           show this help\n";

#define LOC_COLS 40
#define FN_COLS 32
#define CODE_COLS 60

/* Rows by key (then the other weight), ties by file and line. */
static int cmp_by(const struct smp_line_stat *a, const struct smp_line_stat *b, int by_total)
{
    int64_t ka = by_total ? a->s.total_weight : a->s.self_weight;
    int64_t kb = by_total ? b->s.total_weight : b->s.self_weight;
    int c;
    if (ka != kb)
        return ka > kb ? -1 : 1;
    ka = by_total ? a->s.self_weight : a->s.total_weight;
    kb = by_total ? b->s.self_weight : b->s.total_weight;
    if (ka != kb)
        return ka > kb ? -1 : 1;
    if (a->fn->filename && b->fn->filename && (c = strcmp(a->fn->filename, b->fn->filename)))
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return strcmp(a->fn->qualname, b->fn->qualname);
}

static int cmp_self(const void *x, const void *y)
{
    return cmp_by(x, y, 0);
}

static int cmp_total(const void *x, const void *y)
{
    return cmp_by(x, y, 1);
}

static int print_text(struct smpcmd *c, const struct smp_line_stat *rows, size_t n,
                      struct src_cache *src)
{
    const struct smp_totals *t = smp_totals(c->prof);
    struct fmt_table *tab;
    char self[FMT_BUFSZ], total[FMT_BUFSZ], loc[1024], cut[256], code[512];
    size_t shown = smpcmd_shown(c, n);
    int err;

    if (!smpcmd_heading(c))
        return 0;
    if (!(tab = fmt_table_new("rrrrlll")))
        return PYSCOPE_ENOMEM;
    fmt_table_add(tab, "self%");
    fmt_table_add(tab, "total%");
    fmt_table_add(tab, "self");
    fmt_table_add(tab, "total");
    fmt_table_add(tab, "line");
    fmt_table_add(tab, "function");
    fmt_table_add(tab, "code");
    for (size_t i = 0; i < shown; i++) {
        const struct smp_line_stat *r = &rows[i];
        fmt_table_add(tab, fmt_pct(self, sizeof self, (double)r->s.self_weight, (double)t->weight));
        fmt_table_add(tab,
                      fmt_pct(total, sizeof total, (double)r->s.total_weight, (double)t->weight));
        fmt_table_add(tab, smpcmd_weight_text(c, r->s.self_weight, self, sizeof self));
        fmt_table_add(tab, smpcmd_weight_text(c, r->s.total_weight, total, sizeof total));
        smp_location(c->prof, r->fn, r->line ? r->line : -1, loc, sizeof loc);
        fmt_table_add(tab, smpcmd_cut_left(cut, sizeof cut, *loc ? loc : r->fn->name, LOC_COLS));
        fmt_table_add(tab, fmt_ellipsize(cut, sizeof cut, r->fn->qualname, FN_COLS));
        const char *file = r->fn->kind == SMP_KIND_NATIVE ? r->fn->source : r->fn->filename;
        const char *text =
            r->line && file ? src_line(src, file, r->line, code, sizeof code, CODE_COLS) : NULL;
        fmt_table_add(tab, text);
    }
    err = fmt_table_print(tab, c->out, "  ");
    fmt_table_free(tab);
    if (!err) {
        smpcmd_more(c, shown, n, "lines");
        smpcmd_notes(c);
    }
    return err;
}

static void print_json(struct smpcmd *c, const struct smp_line_stat *rows, size_t n,
                       struct src_cache *src, int by_total)
{
    static const char *const kinds[] = {"python", "builtin", "native"};
    const struct smp_totals *t = smp_totals(c->prof);
    size_t shown = smpcmd_shown(c, n);
    char code[1024];
    FILE *out = c->out;

    putc('{', out);
    smpcmd_json_head(c);
    fprintf(out, "  \"sort\": \"%s\",\n  \"lines\": [", by_total ? "total" : "self");
    for (size_t i = 0; i < shown; i++) {
        const struct smp_line_stat *r = &rows[i];
        fputs(i ? ",\n    {\"filename\": " : "\n    {\"filename\": ", out);
        fmt_json_str(out, r->fn->filename);
        fputs(", \"line\": ", out);
        if (r->line > 0)
            fprintf(out, "%lld", (long long)r->line);
        else
            fputs("null", out);
        fputs(", \"source\": ", out);
        fmt_json_str(out, r->fn->source);
        fputs(", \"function\": ", out);
        fmt_json_str(out, r->fn->qualname);
        fprintf(out, ", \"kind\": \"%s\",\n     \"self_samples\": %lld, \"total_samples\": %lld",
                kinds[r->fn->kind], (long long)r->s.self_samples, (long long)r->s.total_samples);
        fputs(", \"self_ns\": ", out);
        smpcmd_json_ns(out, smp_weight_ns(c->prof, r->s.self_weight));
        fputs(", \"total_ns\": ", out);
        smpcmd_json_ns(out, smp_weight_ns(c->prof, r->s.total_weight));
        fputs(", \"self_pct\": ", out);
        smpcmd_json_pct(out, r->s.self_weight, t->weight);
        fputs(", \"total_pct\": ", out);
        smpcmd_json_pct(out, r->s.total_weight, t->weight);
        fputs(",\n     \"code\": ", out);
        const char *file = r->fn->kind == SMP_KIND_NATIVE ? r->fn->source : r->fn->filename;
        fmt_json_str(out, r->line && file ? src_line(src, file, r->line, code, sizeof code,
                                                     sizeof code)
                                          : NULL);
        putc('}', out);
    }
    fprintf(out, "%s],\n  \"count\": %zu\n}\n", shown ? "\n  " : "", n);
}

int cmd_hot(int argc, char **argv)
{
    struct smpcmd c;
    struct smp_line_stat *rows = NULL;
    struct src_cache *src = NULL;
    size_t n = 0;
    int status, err, by_total = 0;

    smpcmd_init(&c, "hot", cmd_hot_usage,
                SMPCMD_CLOCK | SMPCMD_THREAD | SMPCMD_PROCESS | SMPCMD_FUNCTION | SMPCMD_NATIVE | SMPCMD_LIMIT |
                    SMPCMD_JSON);
    static const char *const sort_names[] = {"self", "total", NULL};
    const struct opts_spec own[] = {
        {.name = "--sort",
         .kind = OPTS_ENUM,
         .dest = &by_total,
         .choices = sort_names,
         .bad = "'--sort' is self or total, not '%s'"},
    };
    int npos = smpcmd_parse(&c, own, sizeof own / sizeof *own, argc, argv);
    if (npos < 0)
        return opts_status(npos);
    if ((status = smpcmd_open(&c)) != CLI_OK)
        return smpcmd_close(&c, status);
    if ((err = smp_lines(c.prof, &rows, &n)) < 0)
        goto out;
    if (!(src = src_cache_new(smp_cwd(c.prof)))) {
        err = PYSCOPE_ENOMEM;
        goto out;
    }
    qsort(rows, n, sizeof *rows, by_total ? cmp_total : cmp_self);
    if (c.json)
        print_json(&c, rows, n, src, by_total);
    else
        err = print_text(&c, rows, n, src);
out:
    if (err < 0) {
        cli_error("%s", pyscope_strerror(err));
        status = CLI_FAIL;
    }
    free(rows);
    src_cache_free(src);
    return smpcmd_close(&c, status);
}
