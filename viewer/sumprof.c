/*
 * The summary's sections on the sampled stacks and the call statistics
 * (sumprof.h): what the threads did with their wall time, the hottest
 * functions and lines as `top` and `hot` rank them, the functions with the
 * most tottime.
 */
#include "sumprof.h"
#include "calls.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "smpcmd.h"
#include "source.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define HOT_ROWS 5

static int by_self_fn(const void *a, const void *b)
{
    const struct smp_fn_stat *x = a, *y = b;
    return (y->s.self_weight > x->s.self_weight) - (y->s.self_weight < x->s.self_weight);
}

static int by_self_line(const void *a, const void *b)
{
    const struct smp_line_stat *x = a, *y = b;
    return (y->s.self_weight > x->s.self_weight) - (y->s.self_weight < x->s.self_weight);
}

/* What the threads did with their wall time, by sample state. */
static void print_states(const struct smp_totals *t, FILE *out)
{
    static const char *const what[SMP_NSTATES] = {
        [SMP_STATE_RUNNING] = "running Python",
        [SMP_STATE_NATIVE] = "native",
        [SMP_STATE_GIL] = "waiting for the GIL",
        [SMP_STATE_IDLE] = "idle",
        [SMP_STATE_RUNNABLE] = "runnable, waiting for a CPU",
    };
    static const int order[SMP_NSTATES] = {SMP_STATE_RUNNING, SMP_STATE_NATIVE, SMP_STATE_GIL,
                                           SMP_STATE_RUNNABLE, SMP_STATE_IDLE};
    int64_t all = 0;
    for (int k = 0; k < SMP_NSTATES; k++)
        all += t->by_state[k];
    if (all <= 0)
        return;
    char buf[FMT_BUFSZ];
    fprintf(out, "  %-12s", "wall time");
    const char *sep = " ";
    for (int k = 0; k < SMP_NSTATES; k++) {
        int64_t n = t->by_state[order[k]];
        if (!n)
            continue;
        fprintf(out, "%s%s %s", sep, fmt_pct(buf, sizeof buf, (double)n, (double)all),
                what[order[k]]);
        sep = ", ";
    }
    putc('\n', out);
}

/* A meta value as a count; 0 when absent or not a number. */
static int64_t meta_count(const struct sumrun *r, const char *key)
{
    const char *v = sumrun_meta(r, key);
    char *end;
    long long n = v ? strtoll(v, &end, 10) : 0;
    return v && *v && !*end && n > 0 ? (int64_t)n : 0;
}

/*
 * "sampling": how many of the ticks the rate asked for the sampler took (a
 * sampler kept from the CPUs takes fewer, and each sample then stands for
 * more time), and the samples that could not be recorded, with those whose
 * stack could not be read whole apart; the native samples signalled
 * directly, which may have cut a system call short. Nothing when
 * there is nothing to say: no sampler, or a run from before the ticks were
 * counted that lost nothing.
 */
static void print_sampling(const struct sumrun *r, FILE *out)
{
    int64_t taken = meta_count(r, "sample_ticks"), due = meta_count(r, "sample_ticks_due");
    int64_t dropped = meta_count(r, "dropped_samples"), torn = meta_count(r, "torn_samples");
    int64_t direct = meta_count(r, "direct_signals");
    const char *rate = sumrun_meta(r, "sample_rate_hz");
    char a[FMT_BUFSZ], b[FMT_BUFSZ], c[FMT_BUFSZ];
    if (!due && !dropped)
        return;
    fprintf(out, "  %-12s ", "sampling");
    if (due && taken >= due) {
        /* The count due is the running time over the mean interval; with
         * the interval jittered, the ticks taken come out a little either
         * side of it. More than due is not more than every tick. */
        fprintf(out, "every tick due at %s Hz taken (%s, with %s due over the run)",
                rate ? rate : "?", fmt_int(a, sizeof a, taken), fmt_int(b, sizeof b, due));
        if (dropped)
            fputs("; ", out);
    } else if (due) {
        fprintf(out, "%s of the ticks due at %s Hz taken (%s of %s)",
                fmt_pct(c, sizeof c, (double)taken, (double)due), rate ? rate : "?",
                fmt_int(a, sizeof a, taken), fmt_int(b, sizeof b, due));
        if (dropped)
            fputs("; ", out);
    }
    if (dropped) {
        fprintf(out, "%s sample%s could not be recorded", fmt_int(a, sizeof a, dropped),
                dropped == 1 ? "" : "s");
        if (torn)
            fprintf(out, " (%s of them with a stack that could not be read whole)",
                    fmt_int(b, sizeof b, torn));
    }
    putc('\n', out);
    if (direct)
        fprintf(out,
                "  %-12s %s native sample%s signalled the thread at any point, the kernel "
                "refusing perf events: a system call it had just entered may have returned "
                "early\n",
                "", fmt_int(a, sizeof a, direct), direct == 1 ? "" : "s");
}

/*
 * Where the CPU time went, in brief: the hottest functions and lines by
 * self time, as `pyscope top` and `pyscope hot` show them in full.
 */
int sumprof_print_hot(const struct sumrun *r, const struct smp_profile *p, FILE *out)
{
    print_sampling(r, out);
    if (!r->counts[SUMRUN_SAMPLES] || !p)
        return 0;
    struct smp_fn_stat *fns = NULL;
    struct smp_line_stat *lines = NULL;
    struct src_cache *src = NULL;
    size_t nfns = 0, nlines = 0;
    char loc[1024], code[256], buf[FMT_BUFSZ];
    int err = 0;
    const struct smp_totals *t = smp_totals(p);
    if (t->weight <= 0)
        goto out;
    if ((err = smp_functions(p, &fns, &nfns)) < 0 || (err = smp_lines(p, &lines, &nlines)) < 0)
        goto out;
    qsort(fns, nfns, sizeof *fns, by_self_fn);
    qsort(lines, nlines, sizeof *lines, by_self_line);
    src = src_cache_new(smp_cwd(p));
    print_states(t, out);
    fprintf(out,
            "  %-12s %s of CPU in %" PRId64 " samples; 'pyscope top' and 'pyscope hot' show more\n",
            "hottest", fmt_duration(buf, sizeof buf, smp_weight_ns(p, t->weight)), t->samples);
    if (t->own_weight > 0) {
        char dur[FMT_BUFSZ];
        fprintf(out, "  %-12s %s of CPU (%s) in pyscope's own hooks, left out of these\n", "",
                fmt_duration(dur, sizeof dur, smp_weight_ns(p, t->own_weight)),
                fmt_pct(buf, sizeof buf, (double)t->own_weight,
                        (double)(t->weight + t->own_weight)));
    }
    for (size_t i = 0; i < nfns && i < HOT_ROWS && fns[i].s.self_weight > 0; i++) {
        fprintf(out, "    %6s  ",
                fmt_pct(buf, sizeof buf, (double)fns[i].s.self_weight, (double)t->weight));
        fmt_put_text(out, smpcmd_function_text(p, fns[i].fn, 0, loc, sizeof loc));
        putc('\n', out);
    }
    if (nlines && lines[0].s.self_weight > 0)
        fputs("  hot lines\n", out);
    for (size_t i = 0; i < nlines && i < HOT_ROWS && lines[i].s.self_weight > 0; i++) {
        fprintf(out, "    %6s  ",
                fmt_pct(buf, sizeof buf, (double)lines[i].s.self_weight, (double)t->weight));
        fmt_put_text(out, smp_location(p, lines[i].fn, lines[i].line, loc, sizeof loc));
        const char *text =
            src && lines[i].fn->filename
                ? src_line(src, lines[i].fn->filename, lines[i].line, code, sizeof code, 60)
                : NULL;
        if (text) {
            fputs("  ", out);
            fmt_put_text(out, text);
        }
        putc('\n', out);
    }
out:
    src_cache_free(src);
    free(fns);
    free(lines);
    return err == PYSCOPE_ENOMEM ? err : 0; /* the rest of the summary stands on its own */
}

static int by_tottime(const void *a, const void *b)
{
    const struct cls_function *x = a, *y = b;
    return (y->s.tottime_ns > x->s.tottime_ns) - (y->s.tottime_ns < x->s.tottime_ns);
}

/* The call statistics in brief: what was counted, and the functions with the most tottime. */
int sumprof_print_calls(const struct sumrun *r, sqlite3 *db, const struct smp_profile *p, FILE *out)
{
    struct cls_profile calls;
    char num[FMT_BUFSZ], dur[FMT_BUFSZ], own[FMT_BUFSZ], loc[1024];
    int err = cls_load(db, NULL, 0, &calls);
    if (err < 0 || !calls.nfns || !p)
        goto out;
    fprintf(out, "  %-12s %s calls of %zu functions, %s in them", "calls",
            fmt_int(num, sizeof num, calls.calls), calls.nfns,
            fmt_duration(dur, sizeof dur, calls.tottime_ns));
    fputs("; 'pyscope top' shows more\n", out);
    const char *overhead = sumrun_meta(r, "calls_overhead_ns");
    int64_t ns;
    if (util_parse_i64(overhead, &ns) == 0 && ns > 0)
        fprintf(out, "  %-12s (the profiler's own %s is left out of these times)\n", "",
                fmt_duration(own, sizeof own, ns));
    qsort(calls.fns, calls.nfns, sizeof *calls.fns, by_tottime);
    for (size_t i = 0, shown = 0; i < calls.nfns && shown < HOT_ROWS; i++) {
        const struct smp_function *fn = smp_function_by_id(p, calls.fns[i].id);
        if (!fn || calls.fns[i].s.tottime_ns <= 0)
            continue;
        fprintf(out, "    %8s  %9s  ", cls_ncalls_text(&calls.fns[i].s, num, sizeof num),
                fmt_duration(dur, sizeof dur, calls.fns[i].s.tottime_ns));
        fmt_put_text(out, smpcmd_function_text(p, fn, 0, loc, sizeof loc));
        putc('\n', out);
        shown++;
    }
out:
    cls_release(&calls);
    return err == PYSCOPE_ENOMEM ? err : 0;
}

/* "states": samples of every thread by state, or null without samples. */
int sumprof_json_states(sqlite3 *db, FILE *out)
{
    int64_t n[SMP_NSTATES] = {0}, all = 0;
    sqlite3_stmt *st;
    char *sql =
        sqlite3_mprintf("SELECT state, sum(%s) FROM samples GROUP BY state", vdb_sample_ticks(db));
    if (!sql)
        return PYSCOPE_ENOMEM;
    int rc, err = vdb_prepare(db, sql, &st);
    sqlite3_free(sql);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t state = sqlite3_column_int64(st, 0), count = sqlite3_column_int64(st, 1);
        if (state >= 0 && state < SMP_NSTATES)
            n[state] = count;
        all += count;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return PYSCOPE_EDB;
    fputs(",\n  \"states\": ", out);
    if (!all) {
        fputs("null", out);
        return 0;
    }
    for (int k = 0; k < SMP_NSTATES; k++)
        fprintf(out, "%s\"%s\": %" PRId64, k ? ", " : "{", smp_state_name(k), n[k]);
    putc('}', out);
    return 0;
}

/* "calls": what the call profiler counted, or null without call statistics. */
int sumprof_json_calls(const struct sumrun *r, sqlite3 *db, FILE *out)
{
    struct cls_profile calls;
    int err = cls_load(db, NULL, 0, &calls);
    if (err < 0)
        return err;
    fputs(",\n  \"calls\": ", out);
    if (!calls.nfns) {
        fputs("null", out);
    } else {
        int64_t overhead = 0;
        const char *o = sumrun_meta(r, "calls_overhead_ns");
        int has = util_parse_i64(o, &overhead) == 0;
        fprintf(out,
                "{\"calls\": %" PRId64 ", \"functions\": %zu, \"threads\": %" PRId64
                ", \"tottime_ns\": %" PRId64 ", \"overhead_ns\": ",
                calls.calls, calls.nfns, calls.nthreads, calls.tottime_ns);
        sumrun_json_opt(out, has, overhead);
        putc('}', out);
    }
    cls_release(&calls);
    return 0;
}
