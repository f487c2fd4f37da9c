/*
 * `pyscope retained RUN.db [SNAPSHOT]`: what keeps memory alive in a
 * snapshot's object graph (recorded with --heap): the objects that retain
 * the most (retained.h: the dominator tree), with how many objects they
 * hold, where they were allocated and what holds them; or the retained
 * size grouped by type or by allocation line.
 */
#include "cli.h"
#include "cmd.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "heapcmd.h"
#include "heapgraph.h"
#include "intern.h"
#include "opts.h"
#include "retained.h"
#include "smpcmd.h"
#include "util.h"
#include "vcmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const char cmd_retained_usage[] =
    "usage: pyscope retained [options] RUN.db [SNAPSHOT]\n"
    "\n"
    "What keeps memory alive in a snapshot's object graph (a run recorded with\n"
    "'pyscope profile --heap'; SNAPSHOT defaults to the last one with a graph).\n"
    "An object held from outside the graph (its reference count is above the\n"
    "references the graph has to it: a frame's local, a module, a C global) is\n"
    "a root; an object dominates another when every path from the roots to it\n"
    "goes through it. An object's retained size is its own and that of all it\n"
    "dominates: what freeing it would free. The graph holds the objects the\n"
    "garbage collector tracks (containers and instances); strings, bytes and\n"
    "numbers are not in it, and not in the sizes.\n"
    "\n"
    "options:\n"
    "   --by object|type|line  the objects that retain the most (default), or the\n"
    "                        retained size of each type or allocation line (with\n"
    "                        --memory): what its objects retain that no other of\n"
    "                        them does\n"
    "   --limit N            show N rows (text: 20 by default; JSON: all; 0: all)\n"
    "   --json               print one JSON object instead of text\n"
    "   -h, --help           show this help\n";

enum by { BY_OBJECT, BY_TYPE, BY_LINE };

struct ret_args {
    const char *path;
    int64_t snapshot; /* 0: the last one with a graph */
    int by, json;
    int64_t limit;
};

#define PATH_TYPES 4 /* of an object's dominators, the nearest shown */

static int parse(int argc, char **argv, struct ret_args *o)
{
    static const char *const by_names[] = {"object", "type", "line", NULL};
    const struct opts_cmd cmd = {.name = "retained", .usage = cmd_retained_usage};
    const struct opts_spec specs[] = {
        {.name = "--by",
         .kind = OPTS_ENUM,
         .dest = &o->by,
         .choices = by_names,
         .bad = "'--by' is object, type or line, not '%s'"},
        {.name = "--json", .kind = OPTS_FLAG, .dest = &o->json},
        SMPCMD_OPT_LIMIT(&o->limit),
    };
    int npos = opts_parse(&cmd, specs, sizeof specs / sizeof *specs, argc, argv);
    if (npos < 0)
        return npos == OPTS_HELP ? -1 : CLI_USAGE;
    if (npos < 1 || npos > 2) {
        opts_usage_error(&cmd);
        return CLI_USAGE;
    }
    o->path = argv[1];
    if (npos == 2 && (util_parse_i64(argv[2], &o->snapshot) < 0 || o->snapshot < 1)) {
        cli_error("'%s' is not a snapshot id (see 'pyscope snapshots')", argv[2]);
        return CLI_USAGE;
    }
    return 0;
}

/* A row: an object, or a group (a type, a line). */
struct row {
    uint32_t v; /* the object; or the group */
    int64_t retained, shallow;
    uint32_t objects;
};

static int by_retained(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->retained != y->retained)
        return x->retained > y->retained ? -1 : 1;
    if (x->objects != y->objects)
        return x->objects > y->objects ? -1 : 1;
    return x->v < y->v ? -1 : x->v > y->v;
}

/* Each object's allocation line as a group: the distinct sites of the
 * graph's stacks ("file:line (function)"), into key[] and names. */
static int line_keys(sqlite3 *db, const struct hg *g, uint32_t *key, char ***names, size_t *n)
{
    struct smap *seen = smap_new();
    struct imap *by_stack = imap_new();
    size_t cap = 0;
    int err = seen && by_stack ? 0 : PYSCOPE_ENOMEM;
    *names = NULL;
    *n = 0;
    for (size_t v = 0; v < g->n && !err; v++) {
        int64_t k;
        if (imap_get(by_stack, (uint64_t)g->stack[v], 0, &k)) {
            key[v] = (uint32_t)k;
            continue;
        }
        char name[1024];
        struct heapcmd_site s = {0};
        if (!g->stack[v] || (err = heapcmd_site_of(db, g->stack[v], &s)) < 0 || !s.file)
            snprintf(name, sizeof name, "(allocation not traced)");
        else
            snprintf(name, sizeof name, "%s:%lld (%s)", s.file, (long long)s.line,
                     s.function ? s.function : "?");
        heapcmd_site_release(&s);
        if (err < 0)
            break;
        if (!smap_get(seen, name, strlen(name), &k)) {
            k = (int64_t)*n;
            if (util_grow((void **)names, &cap, *n, sizeof **names) < 0 ||
                !((*names)[*n] = strdup(name))) {
                err = PYSCOPE_ENOMEM;
                break;
            }
            ++*n; /* counted, so freed with the rest */
            if (smap_put(seen, name, strlen(name), k) < 0) {
                err = PYSCOPE_ENOMEM;
                break;
            }
        }
        key[v] = (uint32_t)k;
        if (imap_put(by_stack, (uint64_t)g->stack[v], 0, k) < 0)
            err = PYSCOPE_ENOMEM;
    }
    smap_free(seen);
    imap_free(by_stack);
    return err;
}

/* The types of v's nearest dominators, outermost first, into buf. */
static char *held_by(const struct hg *g, const struct ret_tree *t, uint32_t v, char *buf,
                     size_t cap)
{
    uint32_t chain[PATH_TYPES];
    size_t n = 0;
    uint32_t d = t->idom[v];
    while (d != RET_ROOT && d != RET_NONE && n < PATH_TYPES) {
        chain[n++] = d;
        d = t->idom[d];
    }
    size_t len = (size_t)snprintf(buf, cap, "%s", d == RET_ROOT ? "" : "... > ");
    if (!n)
        snprintf(buf, cap, "(held from outside)");
    for (size_t i = n; i-- > 0 && len < cap;)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", g->types[g->type[chain[i]]],
                                i ? " > " : "");
    return buf;
}

static void put_header(const struct ret_args *o, const struct heapcmd_snap *s, const struct hg *g,
                       const struct ret_tree *t)
{
    char a[FMT_BUFSZ], b[FMT_BUFSZ], c[FMT_BUFSZ], d[FMT_BUFSZ], e[FMT_BUFSZ];
    int64_t garbage = 0;
    for (size_t v = 0; v < g->n; v++)
        if (t->idom[v] == RET_NONE)
            garbage += g->size[v] > 0 ? g->size[v] : 0;
    printf("retained in snapshot %lld", (long long)s->id);
    if (s->label) {
        fputs(" '", stdout);
        fmt_put_text(stdout, s->label);
        putchar('\'');
    }
    fputs(" of '", stdout);
    fmt_put_text(stdout, o->path);
    printf("' (pid %lld, %s at %s): %s in %s objects reachable, %s of them held from outside; "
           "%s garbage\n",
           (long long)s->pid, s->trigger ? s->trigger : "?", fmt_duration(a, sizeof a, s->t_ns),
           fmt_bytes(b, sizeof b, t->total), fmt_int(c, sizeof c, (int64_t)(g->n - g->ngarbage)),
           fmt_int(d, sizeof d, (int64_t)t->nroots), fmt_bytes(e, sizeof e, garbage));
}

static void put_json_str(const char *k, const char *v, int comma)
{
    printf("%s\"%s\": ", comma ? ", " : "", k);
    fmt_json_str(stdout, v);
}

static int report(sqlite3 *db, const struct ret_args *o, const struct heapcmd_snap *s,
                  const struct hg *g, const struct ret_tree *t)
{
    struct row *rows = NULL;
    uint32_t *key = NULL, *members = NULL;
    int64_t *out = NULL;
    char **names = NULL;
    size_t nrows = 0, nnames = 0;
    int err = 0;
    if (o->by == BY_OBJECT) {
        if (!(rows = malloc((g->n ? g->n : 1) * sizeof *rows)))
            return PYSCOPE_ENOMEM;
        for (size_t v = 0; v < g->n; v++)
            if (t->idom[v] != RET_NONE)
                rows[nrows++] = (struct row){(uint32_t)v, t->retained[v], g->size[v], t->count[v]};
    } else {
        key = malloc((g->n ? g->n : 1) * sizeof *key);
        if (!key)
            return PYSCOPE_ENOMEM;
        if (o->by == BY_TYPE) {
            memcpy(key, g->type, g->n * sizeof *key);
            nnames = g->ntypes;
        } else if ((err = line_keys(db, g, key, &names, &nnames)) < 0) {
            goto out;
        }
        out = malloc((nnames ? nnames : 1) * sizeof *out);
        members = malloc((nnames ? nnames : 1) * sizeof *members);
        rows = calloc(nnames ? nnames : 1, sizeof *rows);
        if (!out || !members || !rows || (err = ret_group(g, t, key, nnames, out, members)) < 0) {
            err = err < 0 ? err : PYSCOPE_ENOMEM;
            goto out;
        }
        for (size_t k = 0; k < nnames; k++)
            rows[k] = (struct row){(uint32_t)k, out[k], 0, members[k]};
        for (size_t v = 0; v < g->n; v++)
            if (t->idom[v] != RET_NONE)
                rows[key[v]].shallow += g->size[v] > 0 ? g->size[v] : 0;
        nrows = 0;
        for (size_t k = 0; k < nnames; k++)
            if (rows[k].objects)
                rows[nrows++] = rows[k];
    }
    qsort(rows, nrows, sizeof *rows, by_retained);
    int64_t limit = o->limit >= 0 ? o->limit : o->json ? 0 : 20;
    size_t shown = limit > 0 && (size_t)limit < nrows ? (size_t)limit : nrows;
    const char *by_name = o->by == BY_OBJECT ? "object" : o->by == BY_TYPE ? "type" : "line";
    char path[512];
    if (o->json) {
        printf("{\"database\": ");
        fmt_json_str(stdout, o->path);
        printf(", \"snapshot\": %lld, \"pid\": %lld, \"by\": \"%s\", \"total\": %" PRId64
               ", \"objects\": %zu, \"roots\": %zu, \"garbage_objects\": %zu, \"rows\": [",
               (long long)s->id, (long long)s->pid, by_name, t->total, g->n - g->ngarbage,
               t->nroots, g->ngarbage);
        for (size_t i = 0; i < shown && !err; i++) {
            const struct row *r = &rows[i];
            printf("%s\n  {\"retained\": %" PRId64 ", \"objects\": %u, \"shallow\": %" PRId64,
                   i ? "," : "", r->retained, r->objects, r->shallow);
            if (o->by == BY_OBJECT) {
                printf(", \"address\": %" PRIu64, g->addr[r->v]);
                put_json_str("type", g->types[g->type[r->v]], 1);
                put_json_str("held_by", held_by(g, t, r->v, path, sizeof path), 1);
                struct heapcmd_site site = {0};
                if (g->stack[r->v] && (err = heapcmd_site_of(db, g->stack[r->v], &site)) < 0)
                    break;
                if (site.file) {
                    printf(", \"site\": {\"file\": ");
                    fmt_json_str(stdout, site.file);
                    printf(", \"line\": %lld", (long long)site.line);
                    put_json_str("function", site.function, 1);
                    putchar('}');
                } else {
                    printf(", \"site\": null");
                }
                heapcmd_site_release(&site);
            } else {
                put_json_str(by_name, o->by == BY_TYPE ? g->types[r->v] : names[r->v], 1);
            }
            putchar('}');
        }
        printf("\n]}\n");
        goto out;
    }
    put_header(o, s, g, t);
    char a[FMT_BUFSZ], b[FMT_BUFSZ], c[FMT_BUFSZ];
    if (o->by == BY_OBJECT)
        printf("\n%10s %8s %10s  %-24s  %s\n", "retained", "objects", "own", "type",
               "held through (nearest last), allocated at");
    else
        printf("\n%10s %8s %10s  %s\n", "retained", "objects", "own", by_name);
    for (size_t i = 0; i < shown && !err; i++) {
        const struct row *r = &rows[i];
        printf("%10s %8s %10s  ", fmt_bytes(a, sizeof a, r->retained),
               fmt_int(b, sizeof b, r->objects), fmt_bytes(c, sizeof c, r->shallow));
        if (o->by != BY_OBJECT) {
            fmt_put_text(stdout, o->by == BY_TYPE ? g->types[r->v] : names[r->v]);
            putchar('\n');
            continue;
        }
        /* the type as text (a program names its types), padded */
        const char *type = g->types[g->type[r->v]];
        fmt_put_text(stdout, type);
        printf("%*s  ", strlen(type) < 24 ? (int)(24 - strlen(type)) : 0, "");
        fmt_put_text(stdout, held_by(g, t, r->v, path, sizeof path));
        struct heapcmd_site site = {0};
        if (g->stack[r->v] && (err = heapcmd_site_of(db, g->stack[r->v], &site)) < 0)
            break;
        if (site.file) {
            fputs(", ", stdout);
            fmt_put_text(stdout, site.file);
            printf(":%lld", (long long)site.line);
        }
        heapcmd_site_release(&site);
        putchar('\n');
    }
    if (!err && shown < nrows)
        printf("(showing %zu of %zu rows; --limit 0 shows all)\n", shown, nrows);
out:
    for (size_t k = 0; names && k < nnames; k++)
        free(names[k]);
    free(names);
    free(rows);
    free(key);
    free(out);
    free(members);
    return err;
}

int cmd_retained(int argc, char **argv)
{
    struct ret_args o = {.limit = -1};
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
    struct ret_tree t = {0};
    int err = 0;
    int64_t id = o.snapshot;
    int r = heapcmd_pick(db, o.path, &id);
    if (r) {
        err = r < 0 ? r : 0;
        status = r > 0 ? r : status;
        goto out;
    }
    if ((err = heapcmd_snap_of(db, id, &s)) < 0 || (err = hg_load(db, id, &g)) < 0 ||
        (err = hg_find_garbage(&g)) < 0 || (err = ret_build(&g, &t)) < 0)
        goto out;
    err = report(db, &o, &s, &g, &t);
out:
    ret_release(&t);
    hg_release(&g);
    heapcmd_snap_release(&s);
    return vcmd_finish(db, o.path, err, status);
}
