/*
 * `pyscope cycles RUN.db [SNAPSHOT]`: the reference cycles of a snapshot's
 * object graph (recorded with --heap) that the cyclic garbage collector
 * would free, grouped by shape and allocation site, each group with an
 * example path; with --all also the cycles still reachable, with --growth
 * the groups that grow from snapshot to snapshot, with --dot one group as
 * Graphviz.
 */
#include "cli.h"
#include "cmd.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "heapcmd.h"
#include "heapgraph.h"
#include "opts.h"
#include "smpcmd.h"
#include "source.h"
#include "util.h"
#include "vcmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char cmd_cycles_usage[] =
    "usage: pyscope cycles [options] RUN.db [SNAPSHOT]\n"
    "       pyscope cycles [options] RUN.db OLD NEW    (what grew from OLD to NEW)\n"
    "\n"
    "Find the reference cycles in a snapshot's object graph (a run recorded with\n"
    "'pyscope profile --heap'; SNAPSHOT defaults to the last one with a graph) and\n"
    "say which the cyclic garbage collector would free, computed as CPython's\n"
    "collector computes it: reference counts minus the references between\n"
    "tracked objects, then what is reachable from the rest. Cycles are grouped by\n"
    "shape (the types of their objects and the references between them) and by\n"
    "the lines that allocated them (with --memory); each group shows how many\n"
    "cycles, objects and bytes it holds and one cycle as a path.\n"
    "\n"
    "options:\n"
    "   --all                also the cycles that are still reachable\n"
    "   --growth             the garbage groups of every snapshot of the process\n"
    "                        with a graph, in time order: which grow\n"
    "   --dot FILE           write one group's example cycle as Graphviz\n"
    "   --group N            the group for --dot (default 1, the largest)\n"
    "   --limit N            show N groups (text: 10 by default; JSON: all; 0: all)\n"
    "   --json               print one JSON object instead of text\n"
    "   -h, --help           show this help\n";

#define MAX_GROUP 1000000000 /* --group: more groups than any graph has */

struct cyc_args {
    const char *path;
    int64_t snapshot; /* 0: the last one with a graph */
    int64_t other;    /* a second snapshot to compare with (growth); 0: none */
    int all, growth, json;
    const char *dot;
    int64_t group, limit;
    FILE *out; /* where the JSON goes: stdout, or the report's page */
};

/* The distinct allocation stacks of a cycle's members that can be trusted
 * (of all when none can), in order. */
static size_t cycle_stacks(const struct hg *g, const struct hg_cycle *c, int64_t *out, size_t cap)
{
    size_t n = 0;
    int any = 0;
    for (size_t i = 0; i < c->nmembers; i++)
        any |= hg_site_reliable(g, c->members[i]);
    for (size_t i = 0; i < c->nmembers && n < cap; i++) {
        if (any && !hg_site_reliable(g, c->members[i]))
            continue;
        int64_t s = g->stack[c->members[i]];
        size_t k = 0;
        while (k < n && out[k] != s)
            k++;
        if (k == n && s)
            out[n++] = s;
    }
    return n;
}

/* The types of a cycle's members with their counts, as JSON objects. */
static void put_types_json(FILE *out, const struct hg *g, const struct hg_cycle *c)
{
    size_t shown = 0;
    for (size_t i = 0; i < c->nmembers; i++) {
        size_t count = hg_type_count_at(g, c, i);
        if (!count)
            continue;
        fputs(shown++ ? ", {\"type\": " : "{\"type\": ", out);
        fmt_json_str(out, g->types[g->type[c->members[i]]]);
        fprintf(out, ", \"count\": %zu}", count);
    }
}

static int put_path(FILE *out, const struct hg *g, const struct hg_cycle *c, int json)
{
    uint32_t *path, *labels;
    size_t n;
    int err = hg_cycle_path(g, c, &path, &labels, &n);
    if (err < 0)
        return err;
    for (size_t i = 0; i <= n; i++) {
        const char *type = g->types[g->type[path[i]]];
        const char *label = i < n ? g->labels[labels[i]] : NULL;
        if (json) {
            fputs(i ? ", {\"type\": " : "{\"type\": ", out);
            fmt_json_str(out, type);
            fputs(", \"reference\": ", out);
            fmt_json_str(out, i < n ? (*label ? label : "?") : NULL);
            putc('}', out);
        } else {
            fmt_put_text(out, type);
            if (i < n) {
                fputs(" --", out);
                fmt_put_text(out, *label ? label : "?");
                fputs("--> ", out);
            }
        }
    }
    free(path);
    free(labels);
    return 0;
}

static int print_group_text(sqlite3 *db, struct src_cache *src, const struct hg *g,
                            const struct hg_cycles *cy, size_t gi)
{
    const struct hg_group *gr = &cy->groups[gi];
    const struct hg_cycle *ex = &cy->cycles[gr->first];
    char a[FMT_BUFSZ], b[FMT_BUFSZ], code[256];
    printf("  #%zu  %s cycle%s of %zu object%s%s: %s object%s, %s\n", gi + 1,
           fmt_int(a, sizeof a, (int64_t)gr->ncycles), gr->ncycles == 1 ? "" : "s", ex->nmembers,
           ex->nmembers == 1 ? "" : "s", gr->garbage ? "" : " (still reachable)",
           fmt_int(b, sizeof b, (int64_t)gr->nobjects), gr->nobjects == 1 ? "" : "s",
           fmt_bytes(code, sizeof code, gr->bytes));
    char types[1024];
    fputs("      types      ", stdout);
    fmt_put_text(stdout, hg_cycle_types(g, ex, types, sizeof types));
    putchar('\n');
    int64_t stacks[8];
    size_t ns = cycle_stacks(g, ex, stacks, 8);
    for (size_t i = 0; i < ns; i++) {
        struct heapcmd_site s;
        int err = heapcmd_site_of(db, stacks[i], &s);
        if (err < 0)
            return err;
        fputs(i ? "                 " : "      allocated  ", stdout);
        fmt_put_text(stdout, s.file ? s.file : "?");
        printf(":%lld (", (long long)s.line);
        fmt_put_text(stdout, s.function ? s.function : "?");
        putchar(')');
        const char *text = s.file ? src_line(src, s.file, s.line, code, sizeof code, 50) : NULL;
        if (text) {
            fputs("  ", stdout);
            fmt_put_text(stdout, text);
        }
        putchar('\n');
        heapcmd_site_release(&s);
    }
    fputs("      example    ", stdout);
    int err = put_path(stdout, g, ex, 0);
    putchar('\n');
    return err;
}

static int print_group_json(FILE *out, sqlite3 *db, const struct hg *g, const struct hg_cycles *cy,
                            size_t gi)
{
    const struct hg_group *gr = &cy->groups[gi];
    const struct hg_cycle *ex = &cy->cycles[gr->first];
    fprintf(out,
            "%s\n    {\"group\": %zu, \"garbage\": %s, \"cycles\": %zu, \"objects_per_cycle\": %zu,"
            " \"objects\": %zu, \"bytes\": %lld,\n     \"types\": [",
            gi ? "," : "", gi + 1, gr->garbage ? "true" : "false", gr->ncycles, ex->nmembers,
            gr->nobjects, (long long)gr->bytes);
    put_types_json(out, g, ex);
    fputs("],\n     \"allocated\": [", out);
    int64_t stacks[8];
    size_t ns = cycle_stacks(g, ex, stacks, 8);
    for (size_t i = 0; i < ns; i++) {
        struct heapcmd_site s;
        int err = heapcmd_site_of(db, stacks[i], &s);
        if (err < 0)
            return err;
        fputs(i ? ", {\"filename\": " : "{\"filename\": ", out);
        fmt_json_str(out, s.file);
        fprintf(out, ", \"line\": %lld, \"function\": ", (long long)s.line);
        fmt_json_str(out, s.function);
        putc('}', out);
        heapcmd_site_release(&s);
    }
    fputs("],\n     \"example\": [", out);
    int err = put_path(out, g, ex, 1);
    fputs("]}", out);
    return err;
}

/* Graphviz of group gi's example cycle: its objects and the references among them. */
static int write_dot(const char *file, const struct hg *g, const struct hg_cycles *cy, size_t gi)
{
    FILE *f = fopen(file, "w");
    if (!f) {
        cli_error("cannot write '%s': %s", file, strerror(errno));
        return PYSCOPE_EIO;
    }
    const struct hg_cycle *c = &cy->cycles[cy->groups[gi].first];
    fprintf(f, "digraph cycle {\n  node [shape=box, fontname=\"monospace\"];\n");
    for (size_t i = 0; i < c->nmembers; i++) {
        uint32_t v = c->members[i];
        fprintf(f, "  o%u [label=", v);
        fmt_json_str(f, g->types[g->type[v]]); /* a JSON string is a valid DOT string */
        fprintf(f, "];\n");
    }
    for (size_t i = 0; i < c->nmembers; i++) {
        uint32_t v = c->members[i];
        for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
            uint32_t w = g->dst[e];
            size_t k = 0;
            while (k < c->nmembers && c->members[k] != w)
                k++;
            if (k == c->nmembers)
                continue;
            fprintf(f, "  o%u -> o%u [label=", v, w);
            fmt_json_str(f, *g->labels[g->label[e]] ? g->labels[g->label[e]] : "?");
            fprintf(f, "];\n");
        }
    }
    fprintf(f, "}\n");
    if (fclose(f) != 0) {
        cli_error("cannot write '%s': %s", file, strerror(errno));
        return PYSCOPE_EIO;
    }
    return 0;
}

static void put_header(const struct cyc_args *o, const struct heapcmd_snap *s, const struct hg *g,
                       const struct hg_cycles *cy)
{
    char a[FMT_BUFSZ], b[FMT_BUFSZ], c[FMT_BUFSZ];
    size_t ngarbage_cycles = 0;
    for (size_t i = 0; i < cy->ncycles; i++)
        ngarbage_cycles += cy->cycles[i].garbage;
    printf("cycles in snapshot %lld", (long long)s->id);
    if (s->label) {
        fputs(" '", stdout);
        fmt_put_text(stdout, s->label);
        putchar('\'');
    }
    fputs(" of '", stdout);
    fmt_put_text(stdout, o->path);
    printf("' (pid %lld, %s at %s): %s objects tracked, %s garbage (the collector would free "
           "them), %zu garbage cycle%s\n",
           (long long)s->pid, s->trigger ? s->trigger : "?", fmt_duration(a, sizeof a, s->t_ns),
           fmt_int(b, sizeof b, (int64_t)g->n), fmt_int(c, sizeof c, (int64_t)g->ngarbage),
           ngarbage_cycles, ngarbage_cycles == 1 ? "" : "s");
}

/* ---- growth ------------------------------------------------------------------ */

static int growth_of(sqlite3 *db, const struct cyc_args *o, const struct heapcmd_snap *last,
                     int64_t *ids, size_t nids);

static int growth(sqlite3 *db, const struct cyc_args *o, const struct heapcmd_snap *last)
{
    sqlite3_stmt *st;
    int64_t *ids = NULL;
    size_t nids = 0, cap = 0;
    if (o->other) { /* the two snapshots asked for, in that order */
        if (!(ids = malloc(2 * sizeof *ids)))
            return PYSCOPE_ENOMEM;
        ids[nids++] = o->snapshot;
        ids[nids++] = o->other;
        return growth_of(db, o, last, ids, nids);
    }
    int err = vdb_prepare(db,
                          "SELECT s.id FROM snapshots s WHERE s.process_id = ?1 AND EXISTS"
                          " (SELECT 1 FROM heap_objects h WHERE h.snapshot_id = s.id)"
                          " ORDER BY s.t_ns, s.id",
                          &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, last->process_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&ids, &cap, nids, sizeof *ids)) < 0)
            break;
        ids[nids++] = sqlite3_column_int64(st, 0);
    }
    if (!err && rc != SQLITE_DONE)
        err = vdb_err(rc);
    sqlite3_finalize(st);
    if (err) {
        free(ids);
        return err;
    }
    return growth_of(db, o, last, ids, nids);
}

/* The garbage groups of snapshots ids (nids of them, in order; takes ids). */
static int growth_of(sqlite3 *db, const struct cyc_args *o, const struct heapcmd_snap *last,
                     int64_t *ids, size_t nids)
{
    int err = 0;
    /* Per group key: cycles and bytes in each snapshot. */
    struct row {
        char *key, *example;
        int64_t *cycles, *bytes;
    } *rows = NULL;
    size_t nrows = 0, rcap = 0;
    for (size_t k = 0; !err && k < nids; k++) {
        struct hg g;
        struct hg_cycles cy;
        if ((err = hg_load(db, ids[k], &g)) < 0)
            break;
        if ((err = hg_find_garbage(&g)) < 0 || (err = hg_cycles(&g, 0, &cy)) < 0) {
            hg_release(&g);
            break;
        }
        for (size_t gi = 0; !err && gi < cy.ngroups; gi++) {
            size_t r = 0;
            while (r < nrows && strcmp(rows[r].key, cy.groups[gi].key))
                r++;
            if (r == nrows) {
                if ((err = util_grow((void **)&rows, &rcap, nrows, sizeof *rows)) < 0)
                    break;
                rows[r].key = strdup(cy.groups[gi].key);
                rows[r].cycles = calloc(nids, sizeof *rows[r].cycles);
                rows[r].bytes = calloc(nids, sizeof *rows[r].bytes);
                /* The example: the types of one cycle. */
                char types[1024];
                rows[r].example = strdup(
                    hg_cycle_types(&g, &cy.cycles[cy.groups[gi].first], types, sizeof types));
                nrows++;
                if (!rows[r].key || !rows[r].cycles || !rows[r].bytes || !rows[r].example) {
                    err = PYSCOPE_ENOMEM;
                    break;
                }
            }
            rows[r].cycles[k] = (int64_t)cy.groups[gi].ncycles;
            rows[r].bytes[k] = cy.groups[gi].bytes;
        }
        hg_cycles_release(&cy);
        hg_release(&g);
    }
    if (!err) {
        char a[FMT_BUFSZ];
        FILE *out = o->out;
        if (o->json) {
            fputs("{\n  \"database\": ", out);
            fmt_json_str(out, o->path);
            fprintf(out, ",\n  \"pid\": %lld,\n  \"snapshots\": [", (long long)last->pid);
            for (size_t k = 0; k < nids; k++)
                fprintf(out, "%s%lld", k ? ", " : "", (long long)ids[k]);
            fputs("],\n  \"groups\": [", out);
        } else {
            printf("garbage cycles over %zu snapshot%s of pid %lld in '", nids,
                   nids == 1 ? "" : "s", (long long)last->pid);
            fmt_put_text(stdout, o->path);
            fputs("' (cycles per snapshot; growing groups first):\n", stdout);
        }
        size_t shown = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t r = 0; r < nrows; r++) {
                int grows = nids > 1 && (rows[r].cycles[nids - 1] > rows[r].cycles[0] ||
                                         rows[r].bytes[nids - 1] > rows[r].bytes[0]);
                if (grows != (pass == 0))
                    continue;
                if (o->json) {
                    fprintf(out, "%s\n    {\"grows\": %s, \"types\": ", shown++ ? "," : "",
                            grows ? "true" : "false");
                    fmt_json_str(out, rows[r].example);
                    fputs(", \"cycles\": [", out);
                    for (size_t k = 0; k < nids; k++)
                        fprintf(out, "%s%lld", k ? ", " : "", (long long)rows[r].cycles[k]);
                    fputs("], \"bytes\": [", out);
                    for (size_t k = 0; k < nids; k++)
                        fprintf(out, "%s%lld", k ? ", " : "", (long long)rows[r].bytes[k]);
                    fputs("]}", out);
                    continue;
                }
                if (o->limit > 0 && shown >= (size_t)o->limit)
                    continue;
                shown++;
                printf("  %s ", grows ? "grows " : "steady");
                for (size_t k = 0; k < nids; k++)
                    printf("%s%lld", k ? " -> " : "", (long long)rows[r].cycles[k]);
                printf("  (%s at the last)  ", fmt_bytes(a, sizeof a, rows[r].bytes[nids - 1]));
                fmt_put_text(stdout, rows[r].example);
                putchar('\n');
            }
        }
        if (o->json)
            fputs(shown ? "\n  ]\n}\n" : "]\n}\n", out);
        else if (!nrows)
            puts("  no garbage cycles in any of them");
    }
    for (size_t r = 0; r < nrows; r++) {
        free(rows[r].key);
        free(rows[r].example);
        free(rows[r].cycles);
        free(rows[r].bytes);
    }
    free(rows);
    free(ids);
    return err;
}

/* The cycles of snapshot s (graph g, cycles cy) as one JSON object, the
 * first shown groups, to o->out. */
static int put_json(const struct cyc_args *o, sqlite3 *db, const struct heapcmd_snap *s,
                    const struct hg *g, const struct hg_cycles *cy, size_t shown)
{
    FILE *out = o->out;
    size_t ncycles = 0;
    int err = 0;
    for (size_t i = 0; i < cy->ncycles; i++)
        ncycles += cy->cycles[i].garbage;
    fputs("{\n  \"database\": ", out);
    fmt_json_str(out, o->path);
    fprintf(out, ",\n  \"snapshot\": %lld, \"pid\": %lld, \"label\": ", (long long)s->id,
            (long long)s->pid);
    fmt_json_str(out, s->label);
    fprintf(out,
            ",\n  \"objects\": %zu, \"references\": %zu, \"garbage\": %zu,"
            " \"garbage_cycles\": %zu,\n  \"groups\": [",
            g->n, g->m, g->ngarbage, ncycles);
    for (size_t i = 0; !err && i < shown; i++)
        err = print_group_json(out, db, g, cy, i);
    fprintf(out, "%s]\n}\n", shown ? "\n  " : "");
    return err;
}

#define REPORT_GROUPS 100 /* the report's groups of the last graph, the largest */

int cycles_json(sqlite3 *db, const char *path, FILE *out)
{
    int64_t id = 0;
    int err = vdb_has_table(db, "heap_objects");
    if (err > 0)
        err = vdb_int(db, "SELECT max(snapshot_id) FROM heap_objects", NULL, &id);
    if (err < 0)
        return err;
    if (!id) {
        fputs("null", out);
        return 0;
    }
    struct cyc_args o = {.path = path, .json = 1, .out = out};
    struct heapcmd_snap s = {0};
    struct hg g = {0};
    struct hg_cycles cy = {0};
    fputs("{\"last\":", out);
    if ((err = heapcmd_snap_of(db, id, &s)) < 0 || (err = hg_load(db, id, &g)) < 0 ||
        (err = hg_find_garbage(&g)) < 0 || (err = hg_cycles(&g, 0, &cy)) < 0)
        goto out;
    err = put_json(&o, db, &s, &g, &cy, cy.ngroups < REPORT_GROUPS ? cy.ngroups : REPORT_GROUPS);
    if (!err) {
        fputs(",\"growth\":", out);
        err = growth(db, &o, &s);
    }
    fputc('}', out);
out:
    hg_cycles_release(&cy);
    hg_release(&g);
    heapcmd_snap_release(&s);
    return err;
}

/* ---- the command ------------------------------------------------------------- */

static int parse(int argc, char **argv, struct cyc_args *o)
{
    const struct opts_cmd cmd = {.name = "cycles", .usage = cmd_cycles_usage};
    const struct opts_spec specs[] = {
        {.name = "--all", .kind = OPTS_FLAG, .dest = &o->all},
        {.name = "--growth", .kind = OPTS_FLAG, .dest = &o->growth},
        {.name = "--json", .kind = OPTS_FLAG, .dest = &o->json},
        {.name = "--dot", .kind = OPTS_STRING, .dest = &o->dot},
        {.name = "--group",
         .kind = OPTS_INT,
         .dest = &o->group,
         .min = 1,
         .max = MAX_GROUP,
         .bad = "'--group' needs a group number (1 is the largest), not '%s'"},
        SMPCMD_OPT_LIMIT(&o->limit),
    };
    int npos = opts_parse(&cmd, specs, sizeof specs / sizeof *specs, argc, argv);
    if (npos < 0)
        return npos == OPTS_HELP ? -1 : CLI_USAGE;
    if (npos < 1 || npos > 3) {
        opts_usage_error(&cmd);
        return CLI_USAGE;
    }
    const char *pos[3] = {argv[1], npos > 1 ? argv[2] : NULL, npos > 2 ? argv[3] : NULL};
    o->path = pos[0];
    for (int k = 1; k < 3; k++) {
        int64_t *id = k == 1 ? &o->snapshot : &o->other;
        if (pos[k] && (util_parse_i64(pos[k], id) < 0 || *id < 1)) {
            cli_error("'%s' is not a snapshot id (see 'pyscope snapshots')", pos[k]);
            return CLI_USAGE;
        }
    }
    if (o->other)
        o->growth = 1; /* two snapshots: what grew from the first to the second */
    return 0;
}

int cmd_cycles(int argc, char **argv)
{
    struct cyc_args o = {.limit = -1, .group = 1, .out = stdout};
    int status = parse(argc, argv, &o);
    if (status)
        return status < 0 ? CLI_OK : status;
    sqlite3 *db = NULL;
    char msg[1024];
    if (vdb_open(o.path, &db, msg, sizeof msg) < 0) {
        cli_error("%s", msg);
        return CLI_USAGE;
    }
    struct heapcmd_snap s = {0};
    struct hg g = {0};
    struct hg_cycles cy = {0};
    struct src_cache *src = NULL;
    char *cwd = NULL;
    int err = 0;
    int64_t id = o.snapshot;
    for (int k = 0; k < (o.other ? 2 : 1); k++) {
        int r = k ? heapcmd_check_graph(db, o.path, o.other) : heapcmd_pick(db, o.path, &id);
        if (r) {
            err = r < 0 ? r : 0;
            status = r > 0 ? r : status;
            goto out;
        }
    }
    if ((err = heapcmd_snap_of(db, id, &s)) < 0)
        goto out;
    if (o.growth) {
        err = growth(db, &o, &s);
        goto out;
    }
    if ((err = hg_load(db, id, &g)) < 0 || (err = hg_find_garbage(&g)) < 0 ||
        (err = hg_cycles(&g, o.all, &cy)) < 0)
        goto out;
    if (o.dot) {
        if ((size_t)o.group > cy.ngroups) {
            cli_error("no group %lld: snapshot %lld has %zu", (long long)o.group, (long long)id,
                      cy.ngroups);
            status = CLI_USAGE;
            goto out;
        }
        if (write_dot(o.dot, &g, &cy, (size_t)o.group - 1) < 0) {
            status = CLI_FAIL;
            goto out;
        }
    }
    int64_t limit = o.limit >= 0 ? o.limit : o.json ? 0 : 10;
    size_t shown = limit > 0 && (size_t)limit < cy.ngroups ? (size_t)limit : cy.ngroups;
    if (o.json) {
        err = put_json(&o, db, &s, &g, &cy, shown);
        goto out;
    }
    put_header(&o, &s, &g, &cy);
    if ((err = vdb_meta(db, "cwd", &cwd)) < 0 || !(src = src_cache_new(cwd))) {
        err = err < 0 ? err : PYSCOPE_ENOMEM;
        goto out;
    }
    if (!cy.ngroups)
        puts(o.all ? "  no reference cycles"
                   : "  no garbage cycles (--all also lists the "
                     "reachable ones)");
    for (size_t i = 0; !err && i < shown; i++)
        err = print_group_text(db, src, &g, &cy, i);
    if (!err && shown < cy.ngroups)
        printf("(showing %zu of %zu groups; --limit 0 shows all)\n", shown, cy.ngroups);
out:
    src_cache_free(src);
    free(cwd);
    hg_cycles_release(&cy);
    hg_release(&g);
    heapcmd_snap_release(&s);
    return vcmd_finish(db, o.path, err, status);
}
