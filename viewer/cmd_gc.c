/*
 * `pyscope gc RUN.db`: what the cyclic garbage collector did in a run
 * recorded with --gc: collections and pauses per generation, the lines
 * whose allocations started collections (the innermost frame of the thread
 * that collected), and the longest pauses.
 */
#include "cli.h"
#include "cmd.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "smpcmd.h"
#include "source.h"
#include "util.h"
#include "vcmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char cmd_gc_usage[] =
    "usage: pyscope gc [options] RUN.db\n"
    "\n"
    "Show what the cyclic garbage collector did in a run recorded with\n"
    "'pyscope profile --gc': collections, objects collected and time paused per\n"
    "generation; where in the program collections started (the line whose\n"
    "allocation set one off, or that called gc.collect()), by time paused; and\n"
    "the longest pauses.\n"
    "\n"
    "options:\n"
    "   --process PID        only the collections of that process\n"
    "   --limit N            show N lines and N longest pauses (text: 10 by\n"
    "                        default; JSON: all; 0: all)\n"
    "   --json               print one JSON object instead of the tables\n"
    "   -h, --help           show this help\n";

#define CODE_COLS 50

/* The part of every query that picks the collections. */
#define GC_FROM                                                                                    \
    " FROM gc_collections g JOIN processes p ON p.id = g.process_id"                               \
    " LEFT JOIN stacks s ON s.id = g.stack_id LEFT JOIN frames f ON f.id = s.frame_id"             \
    " LEFT JOIN functions fn ON fn.id = f.function_id WHERE (?1 IS NULL OR p.pid = ?1)"

struct gen_row {
    int64_t collections, collected, uncollectable, total_ns, longest_ns;
};

struct site {
    char *filename, *function;
    int64_t line; /* 0: none */
    int64_t collections, by_gen[3], total_ns, longest_ns, collected;
};

struct pause {
    int64_t t_ns, pid, generation, duration_ns, collected, uncollectable, line;
    char *filename, *function;
};

struct report {
    const char *path;
    struct gen_row gens[3];
    int64_t collections, total_ns, run_ns, nprocs;
    struct site *sites;
    size_t nsites;
    struct pause *pauses;
    size_t npauses;
    char *cwd;
};

static int prepare(sqlite3 *db, const char *sql, const int64_t *pid, sqlite3_stmt **st)
{
    int err = vdb_prepare(db, sql, st);
    if (!err && pid)
        sqlite3_bind_int64(*st, 1, *pid);
    return err;
}

static int load_generations(sqlite3 *db, const int64_t *pid, struct report *r)
{
    sqlite3_stmt *st;
    int err = prepare(db,
                      "SELECT g.generation, count(*), sum(g.collected), sum(g.uncollectable),"
                      " sum(g.duration_ns), max(g.duration_ns)" GC_FROM " GROUP BY g.generation",
                      pid, &st);
    int rc;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t gen = sqlite3_column_int64(st, 0);
        if (gen < 0 || gen > 2)
            continue;
        struct gen_row *g = &r->gens[gen];
        g->collections = sqlite3_column_int64(st, 1);
        g->collected = sqlite3_column_int64(st, 2);
        g->uncollectable = sqlite3_column_int64(st, 3);
        g->total_ns = sqlite3_column_int64(st, 4);
        g->longest_ns = sqlite3_column_int64(st, 5);
        r->collections += g->collections;
        r->total_ns += g->total_ns;
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    if (err)
        return err;
    err = prepare(db, "SELECT count(DISTINCT g.process_id)" GC_FROM, pid, &st);
    if (!err && (rc = sqlite3_step(st)) == SQLITE_ROW)
        r->nprocs = sqlite3_column_int64(st, 0);
    else if (!err)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    return err;
}

static int load_sites(sqlite3 *db, const int64_t *pid, struct report *r)
{
    sqlite3_stmt *st;
    int err = prepare(db,
                      "SELECT fn.filename, coalesce(fn.qualname, fn.name), f.line, count(*),"
                      " sum(g.generation = 0), sum(g.generation = 1), sum(g.generation = 2),"
                      " sum(g.duration_ns), max(g.duration_ns), sum(g.collected)" GC_FROM
                      " GROUP BY f.id ORDER BY sum(g.duration_ns) DESC, count(*) DESC",
                      pid, &st);
    int rc;
    size_t cap = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&r->sites, &cap, r->nsites, sizeof *r->sites)) < 0)
            break;
        struct site *s = &r->sites[r->nsites];
        memset(s, 0, sizeof *s);
        if ((err = vdb_col_text(st, 0, &s->filename)) < 0 ||
            (err = vdb_col_text(st, 1, &s->function)) < 0) {
            free(s->filename);
            break;
        }
        r->nsites++;
        s->line = sqlite3_column_int64(st, 2);
        s->collections = sqlite3_column_int64(st, 3);
        for (int k = 0; k < 3; k++)
            s->by_gen[k] = sqlite3_column_int64(st, 4 + k);
        s->total_ns = sqlite3_column_int64(st, 7);
        s->longest_ns = sqlite3_column_int64(st, 8);
        s->collected = sqlite3_column_int64(st, 9);
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    return err;
}

static int load_pauses(sqlite3 *db, const int64_t *pid, long limit, struct report *r)
{
    sqlite3_stmt *st;
    int err =
        prepare(db,
                "SELECT g.t_ns, p.pid, g.generation, g.duration_ns, g.collected,"
                " g.uncollectable, fn.filename, coalesce(fn.qualname, fn.name), f.line" GC_FROM
                " ORDER BY g.duration_ns DESC, g.t_ns LIMIT ?2",
                pid, &st);
    if (err)
        return err;
    sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
    int rc;
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&r->pauses, &cap, r->npauses, sizeof *r->pauses)) < 0)
            break;
        struct pause *p = &r->pauses[r->npauses];
        memset(p, 0, sizeof *p);
        if ((err = vdb_col_text(st, 6, &p->filename)) < 0 ||
            (err = vdb_col_text(st, 7, &p->function)) < 0) {
            free(p->filename);
            break;
        }
        r->npauses++;
        p->t_ns = sqlite3_column_int64(st, 0);
        p->pid = sqlite3_column_int64(st, 1);
        p->generation = sqlite3_column_int64(st, 2);
        p->duration_ns = sqlite3_column_int64(st, 3);
        p->collected = sqlite3_column_int64(st, 4);
        p->uncollectable = sqlite3_column_int64(st, 5);
        p->line = sqlite3_column_int64(st, 8);
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    return err;
}

static void report_release(struct report *r)
{
    for (size_t i = 0; i < r->nsites; i++) {
        free(r->sites[i].filename);
        free(r->sites[i].function);
    }
    for (size_t i = 0; i < r->npauses; i++) {
        free(r->pauses[i].filename);
        free(r->pauses[i].function);
    }
    free(r->sites);
    free(r->pauses);
    free(r->cwd);
}

/* "app.py:12", or "[no Python frame]" for a collection started outside Python code. */
static const char *where(char *buf, size_t len, const char *filename, int64_t line)
{
    if (!filename)
        return "[no Python frame]";
    snprintf(buf, len, "%s:%lld", filename, (long long)line);
    return buf;
}

static int print_text(const struct report *r, size_t nsites)
{
    char a[FMT_BUFSZ], b[FMT_BUFSZ], loc[4096], code[CODE_COLS * 4 + 8];
    fputs("gc collections of '", stdout);
    fmt_put_text(stdout, r->path);
    if (!r->collections) {
        fputs("': none (record them with 'pyscope profile --gc')\n", stdout);
        return 0;
    }
    printf("': %s in %lld process%s, %s paused", fmt_int(a, sizeof a, r->collections),
           (long long)r->nprocs, r->nprocs == 1 ? "" : "es",
           fmt_duration(b, sizeof b, r->total_ns));
    if (r->run_ns > 0)
        printf(" (%s of the run's ", fmt_pct(a, sizeof a, (double)r->total_ns, (double)r->run_ns));
    if (r->run_ns > 0)
        printf("%s)", fmt_duration(b, sizeof b, r->run_ns));
    putchar('\n');

    struct fmt_table *t = fmt_table_new("rrrrrrr");
    if (!t)
        return PYSCOPE_ENOMEM;
    static const char *const heads[] = {"generation", "collections", "collected", "uncollectable",
                                        "paused",     "longest",     "mean"};
    for (size_t k = 0; k < 7; k++)
        fmt_table_add(t, heads[k]);
    for (int g = 0; g < 3; g++) {
        const struct gen_row *row = &r->gens[g];
        fmt_table_addf(t, "%d", g);
        fmt_table_add(t, fmt_int(a, sizeof a, row->collections));
        fmt_table_add(t, fmt_int(a, sizeof a, row->collected));
        fmt_table_add(t, fmt_int(a, sizeof a, row->uncollectable));
        fmt_table_add(t, fmt_duration(a, sizeof a, row->total_ns));
        fmt_table_add(t, row->collections ? fmt_duration(a, sizeof a, row->longest_ns) : "-");
        fmt_table_add(t, row->collections
                             ? fmt_duration(a, sizeof a, row->total_ns / row->collections)
                             : "-");
    }
    int err = fmt_table_print(t, stdout, "  ");
    fmt_table_free(t);
    if (err)
        return err;

    struct src_cache *src = src_cache_new(r->cwd);
    if (!src)
        return PYSCOPE_ENOMEM;
    puts("where collections started (the innermost frame), by time paused:");
    t = fmt_table_new("rrrrlll");
    static const char *const sh[] = {"collections", "gen 0/1/2", "paused", "longest",
                                     "line",        "function",  "code"};
    for (size_t k = 0; t && k < 7; k++)
        fmt_table_add(t, sh[k]);
    for (size_t i = 0; t && i < nsites; i++) {
        const struct site *s = &r->sites[i];
        fmt_table_add(t, fmt_int(a, sizeof a, s->collections));
        fmt_table_addf(t, "%lld/%lld/%lld", (long long)s->by_gen[0], (long long)s->by_gen[1],
                       (long long)s->by_gen[2]);
        fmt_table_add(t, fmt_duration(a, sizeof a, s->total_ns));
        fmt_table_add(t, fmt_duration(a, sizeof a, s->longest_ns));
        fmt_table_add(t, where(loc, sizeof loc, s->filename, s->line));
        fmt_table_add(t, s->function);
        fmt_table_add(t, s->filename
                             ? src_line(src, s->filename, s->line, code, sizeof code, CODE_COLS)
                             : NULL);
    }
    err = t ? fmt_table_print(t, stdout, "  ") : PYSCOPE_ENOMEM;
    fmt_table_free(t);
    src_cache_free(src);
    if (!err && nsites < r->nsites)
        printf("  (showing %zu of %zu lines; --limit 0 shows all)\n", nsites, r->nsites);
    if (err)
        return err;

    puts("longest pauses:");
    t = fmt_table_new("rrrrrrll");
    static const char *const ph[] = {"paused",        "at",   "pid",     "generation", "collected",
                                     "uncollectable", "line", "function"};
    for (size_t k = 0; t && k < 8; k++)
        fmt_table_add(t, ph[k]);
    for (size_t i = 0; t && i < r->npauses; i++) {
        const struct pause *p = &r->pauses[i];
        fmt_table_add(t, fmt_duration(a, sizeof a, p->duration_ns));
        fmt_table_add(t, fmt_duration(a, sizeof a, p->t_ns));
        fmt_table_addf(t, "%lld", (long long)p->pid);
        fmt_table_addf(t, "%lld", (long long)p->generation);
        fmt_table_add(t, fmt_int(a, sizeof a, p->collected));
        fmt_table_add(t, fmt_int(a, sizeof a, p->uncollectable));
        fmt_table_add(t, where(loc, sizeof loc, p->filename, p->line));
        fmt_table_add(t, p->function);
    }
    err = t ? fmt_table_print(t, stdout, "  ") : PYSCOPE_ENOMEM;
    fmt_table_free(t);
    return err;
}

static void json_site(const char *filename, const char *function, int64_t line)
{
    fputs("\"filename\": ", stdout);
    fmt_json_str(stdout, filename);
    fputs(", \"function\": ", stdout);
    fmt_json_str(stdout, function);
    if (filename)
        printf(", \"line\": %lld", (long long)line);
    else
        fputs(", \"line\": null", stdout);
}

static void print_json(const struct report *r, const int64_t *pid)
{
    fputs("{\n  \"database\": ", stdout);
    fmt_json_str(stdout, r->path);
    if (pid)
        printf(",\n  \"pid\": %lld", (long long)*pid);
    else
        fputs(",\n  \"pid\": null", stdout);
    printf(",\n  \"collections\": %lld, \"processes\": %lld, \"paused_ns\": %lld, \"run_ns\": ",
           (long long)r->collections, (long long)r->nprocs, (long long)r->total_ns);
    if (r->run_ns > 0)
        printf("%lld", (long long)r->run_ns);
    else
        fputs("null", stdout);
    fputs(",\n  \"generations\": [", stdout);
    for (int g = 0; g < 3; g++) {
        const struct gen_row *row = &r->gens[g];
        printf("%s\n    {\"generation\": %d, \"collections\": %lld, \"collected\": %lld,"
               " \"uncollectable\": %lld, \"paused_ns\": %lld, \"longest_ns\": %lld}",
               g ? "," : "", g, (long long)row->collections, (long long)row->collected,
               (long long)row->uncollectable, (long long)row->total_ns, (long long)row->longest_ns);
    }
    fputs("\n  ],\n  \"sites\": [", stdout);
    for (size_t i = 0; i < r->nsites; i++) {
        const struct site *s = &r->sites[i];
        fputs(i ? ",\n    {" : "\n    {", stdout);
        json_site(s->filename, s->function, s->line);
        printf(", \"collections\": %lld, \"by_generation\": [%lld, %lld, %lld],"
               " \"paused_ns\": %lld, \"longest_ns\": %lld, \"collected\": %lld}",
               (long long)s->collections, (long long)s->by_gen[0], (long long)s->by_gen[1],
               (long long)s->by_gen[2], (long long)s->total_ns, (long long)s->longest_ns,
               (long long)s->collected);
    }
    fputs(r->nsites ? "\n  ],\n  \"longest\": [" : "],\n  \"longest\": [", stdout);
    for (size_t i = 0; i < r->npauses; i++) {
        const struct pause *p = &r->pauses[i];
        printf(
            "%s\n    {\"t_ns\": %lld, \"pid\": %lld, \"generation\": %lld, \"duration_ns\": %lld,"
            " \"collected\": %lld, \"uncollectable\": %lld, ",
            i ? "," : "", (long long)p->t_ns, (long long)p->pid, (long long)p->generation,
            (long long)p->duration_ns, (long long)p->collected, (long long)p->uncollectable);
        json_site(p->filename, p->function, p->line);
        putchar('}');
    }
    fputs(r->npauses ? "\n  ]\n}\n" : "]\n}\n", stdout);
}

int cmd_gc(int argc, char **argv)
{
    struct smpcmd_run_args args;
    int status = smpcmd_run_args(argc, argv, cmd_gc_usage, &args), err = 0;
    if (status)
        return status < 0 ? CLI_OK : status;
    const char *path = args.path;
    int64_t pid = args.pid;
    int has_pid = args.has_pid, json = args.json;
    long limit = args.limit;
    sqlite3 *db = NULL;
    char msg[1024];
    struct report r = {0};

    if (vdb_open(path, &db, msg, sizeof msg) < 0) {
        cli_error("%s", msg);
        return CLI_USAGE;
    }
    r.path = path;
    const int64_t *pp = has_pid ? &pid : NULL;
    if (has_pid && (err = vdb_has_pid(db, pid)) <= 0) {
        if (!err) {
            cli_error("no process with pid %lld in '%s'", (long long)pid, path);
            status = CLI_USAGE;
        }
        goto out;
    }
    if (limit < 0)
        limit = json ? 0 : 10;
    char *run = NULL;
    if ((err = vdb_meta(db, "duration_ns", &run)) < 0 || (err = vdb_meta(db, "cwd", &r.cwd)) < 0)
        goto out;
    if (run)
        util_parse_i64(run, &r.run_ns);
    free(run);
    if ((err = load_generations(db, pp, &r)) < 0 || (err = load_sites(db, pp, &r)) < 0 ||
        (err = load_pauses(db, pp, limit, &r)) < 0)
        goto out;
    size_t nsites = limit > 0 && (size_t)limit < r.nsites ? (size_t)limit : r.nsites;
    if (json)
        print_json(&r, pp);
    else
        err = print_text(&r, nsites);
out:
    report_release(&r);
    return vcmd_finish(db, path, err, status);
}
