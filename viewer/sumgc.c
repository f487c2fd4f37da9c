/*
 * The summary's sections on the garbage collector (sumgc.h): its
 * collections and pauses (--gc), and the garbage cycles of the last object
 * graph (--heap), in brief; `pyscope gc` and `pyscope cycles` show them in
 * full.
 */
#include "sumgc.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "heapgraph.h"

#include <stdlib.h>
#include <string.h>

/* What the gc line shows, from gc_collections. */
struct gcsum {
    int64_t collections, by_gen[3], paused_ns, longest_ns, collected, uncollectable;
    char *site_file, *site_function; /* where the most time was paused; NULL: no frame */
    int64_t site_line, site_collections, site_paused_ns;
};

static int load_gc(sqlite3 *db, struct gcsum *g)
{
    memset(g, 0, sizeof *g);
    sqlite3_stmt *st;
    int err = sumrun_first_row(db,
                               "SELECT count(*), total(generation = 0), total(generation = 1),"
                               " total(generation = 2), total(duration_ns), max(duration_ns),"
                               " total(collected), total(uncollectable) FROM gc_collections",
                               0, 0, &st);
    if (err <= 0)
        return err;
    g->collections = sqlite3_column_int64(st, 0);
    for (int k = 0; k < 3; k++)
        g->by_gen[k] = sqlite3_column_int64(st, 1 + k);
    g->paused_ns = sqlite3_column_int64(st, 4);
    g->longest_ns = sqlite3_column_int64(st, 5);
    g->collected = sqlite3_column_int64(st, 6);
    g->uncollectable = sqlite3_column_int64(st, 7);
    sqlite3_finalize(st);
    if (!g->collections)
        return 0;
    err = sumrun_first_row(
        db,
        "SELECT fn.filename, coalesce(fn.qualname, fn.name), f.line, count(*),"
        " sum(g.duration_ns) FROM gc_collections g"
        " LEFT JOIN stacks s ON s.id = g.stack_id LEFT JOIN frames f ON f.id = s.frame_id"
        " LEFT JOIN functions fn ON fn.id = f.function_id"
        " GROUP BY f.id ORDER BY sum(g.duration_ns) DESC LIMIT 1",
        0, 0, &st);
    if (err <= 0)
        return err;
    if ((err = vdb_col_text(st, 0, &g->site_file)) >= 0)
        err = vdb_col_text(st, 1, &g->site_function);
    g->site_line = sqlite3_column_int64(st, 2);
    g->site_collections = sqlite3_column_int64(st, 3);
    g->site_paused_ns = sqlite3_column_int64(st, 4);
    sqlite3_finalize(st);
    return err;
}

static void release_gc(struct gcsum *g)
{
    free(g->site_file);
    free(g->site_function);
}

/* The gc line of the text form, when collections were recorded (--gc). */
int sumgc_print(sqlite3 *db, FILE *out)
{
    struct gcsum g;
    char n[FMT_BUFSZ], a[FMT_BUFSZ], b[FMT_BUFSZ];
    int err = load_gc(db, &g);
    if (err >= 0 && g.collections) {
        sumrun_line(out, "gc",
                    "%s collections (generations 0/1/2: %lld/%lld/%lld), %s paused, longest %s;"
                    " 'pyscope gc' shows where",
                    fmt_int(n, sizeof n, g.collections), (long long)g.by_gen[0],
                    (long long)g.by_gen[1], (long long)g.by_gen[2],
                    fmt_duration(a, sizeof a, g.paused_ns),
                    fmt_duration(b, sizeof b, g.longest_ns));
        if (g.site_file)
            sumrun_line(out, "", "most paused at %s:%lld (%s): %s collections, %s", g.site_file,
                        (long long)g.site_line, g.site_function ? g.site_function : "?",
                        fmt_int(n, sizeof n, g.site_collections),
                        fmt_duration(a, sizeof a, g.site_paused_ns));
    }
    release_gc(&g);
    return err < 0 ? err : 0;
}

/* "gc": the collections, or null without any. */
int sumgc_json(sqlite3 *db, FILE *out)
{
    struct gcsum g;
    int err = load_gc(db, &g);
    if (err >= 0) {
        fputs(",\n  \"gc\": ", out);
        if (!g.collections)
            fputs("null", out);
        else
            fprintf(out,
                    "{\"collections\": %lld, \"by_generation\": [%lld, %lld, %lld],"
                    " \"paused_ns\": %lld, \"longest_ns\": %lld, \"collected\": %lld,"
                    " \"uncollectable\": %lld}",
                    (long long)g.collections, (long long)g.by_gen[0], (long long)g.by_gen[1],
                    (long long)g.by_gen[2], (long long)g.paused_ns, (long long)g.longest_ns,
                    (long long)g.collected, (long long)g.uncollectable);
    }
    release_gc(&g);
    return err < 0 ? err : 0;
}

/* The garbage cycles of the last snapshot with an object graph (--heap). */
struct cycsum {
    int64_t snapshot; /* 0: no graph */
    struct hg g;
    struct hg_cycles cy;
};

static int load_cycles(sqlite3 *db, struct cycsum *c)
{
    memset(c, 0, sizeof *c);
    sqlite3_stmt *st;
    int err = sumrun_first_row(db, "SELECT max(snapshot_id) FROM heap_objects", 0, 0, &st);
    if (err <= 0)
        return err;
    c->snapshot = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (!c->snapshot)
        return 0;
    if ((err = hg_load(db, c->snapshot, &c->g)) < 0 || (err = hg_find_garbage(&c->g)) < 0 ||
        (err = hg_cycles(&c->g, 0, &c->cy)) < 0)
        c->snapshot = 0;
    return err == PYSCOPE_ENOTFOUND ? 0 : err;
}

static void release_cycles(struct cycsum *c)
{
    hg_cycles_release(&c->cy);
    hg_release(&c->g);
}

/* "7 x __main__.Tree, 4 x list" for group gi's example cycle. */
static char *cycle_types(const struct cycsum *c, size_t gi, char *buf, size_t cap)
{
    return hg_cycle_types(&c->g, &c->cy.cycles[c->cy.groups[gi].first], buf, cap);
}

#define CYCLE_ROWS 3

/* The cycles lines of the text form, after a --heap run. */
int sumgc_print_cycles(sqlite3 *db, FILE *out)
{
    struct cycsum c;
    char a[FMT_BUFSZ], b[FMT_BUFSZ], types[512];
    int err = load_cycles(db, &c);
    if (err >= 0 && c.snapshot) {
        size_t ncycles = c.cy.ncycles;
        sumrun_line(
            out, "cycles",
            "%s garbage objects in %zu cycle%s at snapshot %lld; 'pyscope cycles' shows them",
            fmt_int(a, sizeof a, (int64_t)c.g.ngarbage), ncycles, ncycles == 1 ? "" : "s",
            (long long)c.snapshot);
        for (size_t i = 0; i < c.cy.ngroups && i < CYCLE_ROWS; i++) {
            cycle_types(&c, i, types, sizeof types);
            sumrun_line(out, "", "%s cycle%s (%s), %s",
                        fmt_int(a, sizeof a, (int64_t)c.cy.groups[i].ncycles),
                        c.cy.groups[i].ncycles == 1 ? "" : "s", types,
                        fmt_bytes(b, sizeof b, c.cy.groups[i].bytes));
        }
    }
    release_cycles(&c);
    return err < 0 ? err : 0;
}

/* "cycles": the largest garbage-cycle groups, or null without a graph. */
int sumgc_json_cycles(sqlite3 *db, FILE *out)
{
    struct cycsum c;
    char types[512];
    int err = load_cycles(db, &c);
    if (err >= 0) {
        fputs(",\n  \"cycles\": ", out);
        if (!c.snapshot) {
            fputs("null", out);
        } else {
            fprintf(out,
                    "{\"snapshot\": %lld, \"garbage\": %zu, \"garbage_cycles\": %zu, \"groups\": [",
                    (long long)c.snapshot, c.g.ngarbage, c.cy.ncycles);
            for (size_t i = 0; i < c.cy.ngroups && i < CYCLE_ROWS; i++) {
                cycle_types(&c, i, types, sizeof types);
                fprintf(out, "%s{\"cycles\": %zu, \"objects\": %zu, \"bytes\": %lld, \"types\": ",
                        i ? ", " : "", c.cy.groups[i].ncycles, c.cy.groups[i].nobjects,
                        (long long)c.cy.groups[i].bytes);
                fmt_json_str(out, types);
                putc('}', out);
            }
            fputs("]}", out);
        }
    }
    release_cycles(&c);
    return err < 0 ? err : 0;
}
