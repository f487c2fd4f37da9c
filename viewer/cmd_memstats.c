/*
 * `pyscope stats RUN.db SNAPSHOT` and `pyscope diff RUN.db OLD NEW` (or
 * `pyscope diff OLD.db:ID NEW.db:ID`): tracemalloc's Snapshot.statistics
 * and Snapshot.compare_to over recorded snapshots, grouped by line, file
 * or whole traceback (memory.h does the grouping), as a table with each
 * line's code, tracebacks written the way Python writes them (most recent
 * call last), or JSON.
 *
 * The two snapshots of a diff may come from two databases; one database
 * named twice is opened once, so what is read from it serves both.
 */
#include "cli.h"
#include "cmd.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "memory.h"
#include "memsnap.h"
#include "opts.h"
#include "smpcmd.h"
#include "source.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define OPTIONS_HELP                                                                               \
    "options:\n"                                                                                   \
    "   --by KEY             lineno (default): by the line that allocated, the most\n"             \
    "                        recent frame of each traceback; filename: by its file;\n"             \
    "                        traceback: by the whole traceback\n"                                  \
    "   --cumulative         count the blocks of a traceback in each of its frames,\n"             \
    "                        not only the most recent one (lineno and filename)\n"                 \
    "   --no-native          leave out native frames (recorded with --memory\n"                   \
    "                        --native); with them, lineno, filename and the\n"                    \
    "                        filters go by the most recent Python frame\n"                        \
    "   --include PATTERN    only blocks allocated (most recent frame) in a file that\n"           \
    "                        matches the shell pattern ('*/myapp/*'), as\n"                        \
    "                        tracemalloc.Filter; repeatable, any may match\n"                      \
    "   --exclude PATTERN    leave out blocks allocated in a file that matches it\n"               \
    "                        ('<frozen importlib._bootstrap>'); repeatable\n"                      \
    "   --limit N            show N entries (text: 20 by default, 10 with --by\n"                  \
    "                        traceback; JSON: all; 0: all)\n"                                      \
    "   --json               print one JSON object instead of the text\n"                          \
    "   -h, --help           show this help\n"

const char cmd_stats_usage[] =
    "usage: pyscope stats [options] RUN.db SNAPSHOT\n"
    "\n"
    "The live memory of a snapshot (an id from 'pyscope snapshots') grouped as\n"
    "tracemalloc's Snapshot.statistics() groups it, the biggest first: size,\n"
    "blocks and their average size, with the code of each line when its file can\n"
    "be read. Needs a run recorded with 'pyscope profile --memory'.\n"
    "\n" OPTIONS_HELP;

const char cmd_diff_usage[] =
    "usage: pyscope diff [options] RUN.db OLD NEW\n"
    "   or: pyscope diff [options] OLD.db:ID NEW.db:ID\n"
    "\n"
    "What changed from snapshot OLD to snapshot NEW, as tracemalloc's\n"
    "Snapshot.compare_to() reports it: for each group, its size and blocks in NEW\n"
    "and the change from OLD, the biggest change first. Groups found in one\n"
    "snapshot only are included (size 0 when gone). The two snapshots may come\n"
    "from two runs.\n"
    "\n" OPTIONS_HELP;

#define LOC_COLS 50
#define CODE_COLS 60
#define TB_CODE_COLS 160

/* One snapshot of the command. */
struct side {
    const char *path;
    int64_t id;
    sqlite3 *db;
    int owns_db;
    char *cwd; /* the run's directory, for short names and source lines */
    struct memsnap snap;
    struct mem_group g;
};

struct memcmd {
    const char *name;
    const char *usage;
    int diff;
    struct mem_options o;
    const char **include, **exclude;
    int64_t limit;
    int json;
    char *pos[3]; /* from argv, which a DATABASE:SNAPSHOT argument is cut in */
    int npos;
    struct side side[2]; /* stats: side[0]; diff: old, new */
    struct mem_space *sp;
    struct src_cache *src;
};

/* --by's values, by enum mem_by; NULL-terminated for the option table. */
static const char *const by_names[] = {"lineno", "filename", "traceback", NULL};

static void put_usage_lines(const struct memcmd *c)
{
    opts_usage_error(&(struct opts_cmd){.name = c->name, .usage = c->usage, .usage_lines = 1});
}

static int parse_id(const char *s, int64_t *id)
{
    return util_parse_i64(s, id) < 0 ? -1 : 0;
}

/* "path:id", split at the last ':'. */
static int parse_pair(char *arg, struct side *s)
{
    char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || parse_id(colon + 1, &s->id) < 0) {
        cli_error("'%s' is not DATABASE:SNAPSHOT (as in 'run.db:2'); see 'pyscope diff --help'",
                  arg);
        return -1;
    }
    *colon = '\0';
    s->path = arg;
    return 0;
}

/* A repeatable pattern option: the patterns so far, in room for one per argument. */
struct patterns {
    const char **v;
    size_t n;
};

static int add_pattern(const char *value, void *ctx)
{
    struct patterns *p = ctx;
    p->v[p->n++] = value;
    return 0;
}

static int parse_args(struct memcmd *c, int argc, char **argv)
{
    struct patterns inc = {calloc((size_t)argc, sizeof *inc.v), 0};
    struct patterns exc = {calloc((size_t)argc, sizeof *exc.v), 0};
    int by = MEM_BY_LINENO;

    c->include = inc.v;
    c->exclude = exc.v;
    if (!c->include || !c->exclude) {
        cli_error("%s", pyscope_strerror(PYSCOPE_ENOMEM));
        return CLI_FAIL;
    }
    const struct opts_cmd cmd = {
        .name = c->name, .usage = c->usage, .max_pos = 3, .usage_lines = 1};
    const struct opts_spec specs[] = {
        {.name = "--json", .kind = OPTS_FLAG, .dest = &c->json},
        {.name = "--cumulative", .kind = OPTS_FLAG, .dest = &c->o.cumulative},
        {.name = "--no-native", .kind = OPTS_FLAG, .dest = &c->o.no_native},
        {.name = "--by",
         .kind = OPTS_ENUM,
         .dest = &by,
         .choices = by_names,
         .bad = "'--by' is lineno, filename or traceback, not '%s'"},
        {.name = "--include",
         .kind = OPTS_CALLBACK,
         .flags = OPTS_NONEMPTY,
         .cb = add_pattern,
         .ctx = &inc,
         .bad = "'--include' needs a file name pattern"},
        {.name = "--exclude",
         .kind = OPTS_CALLBACK,
         .flags = OPTS_NONEMPTY,
         .cb = add_pattern,
         .ctx = &exc,
         .bad = "'--exclude' needs a file name pattern"},
        SMPCMD_OPT_LIMIT(&c->limit),
    };
    int npos = opts_parse(&cmd, specs, sizeof specs / sizeof *specs, argc, argv);
    if (npos < 0)
        return npos == OPTS_HELP ? -1 : CLI_USAGE;
    c->npos = npos;
    for (int k = 0; k < npos; k++)
        c->pos[k] = argv[1 + k];
    c->o.by = (enum mem_by)by;
    c->o.include = c->include;
    c->o.ninclude = inc.n;
    c->o.exclude = c->exclude;
    c->o.nexclude = exc.n;
    if (c->o.cumulative && c->o.by == MEM_BY_TRACEBACK) {
        cli_error("'--cumulative' groups by lineno or filename, not by traceback");
        return CLI_USAGE;
    }
    if (!c->diff) {
        if (c->npos != 2) {
            put_usage_lines(c);
            return CLI_USAGE;
        }
        c->side[0].path = c->pos[0];
        if (parse_id(c->pos[1], &c->side[0].id) < 0) {
            cli_error("'%s' is not a snapshot id (see 'pyscope snapshots')", c->pos[1]);
            return CLI_USAGE;
        }
        return CLI_OK;
    }
    if (c->npos == 3) {
        for (int k = 0; k < 2; k++) {
            c->side[k].path = c->pos[0];
            if (parse_id(c->pos[k + 1], &c->side[k].id) < 0) {
                cli_error("'%s' is not a snapshot id (see 'pyscope snapshots')", c->pos[k + 1]);
                return CLI_USAGE;
            }
        }
        return CLI_OK;
    }
    if (c->npos != 2) {
        put_usage_lines(c);
        return CLI_USAGE;
    }
    for (int k = 0; k < 2; k++)
        if (parse_pair(c->pos[k], &c->side[k]) < 0)
            return CLI_USAGE;
    return CLI_OK;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!strcmp(a, b))
        return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Open the database of each side and find its snapshot. CLI_OK or the exit status. */
static int open_sides(struct memcmd *c)
{
    char msg[1024];
    int nsides = c->diff ? 2 : 1;

    for (int k = 0; k < nsides; k++) {
        struct side *s = &c->side[k];
        int err;
        if (k && same_file(s->path, c->side[0].path)) {
            s->db = c->side[0].db;
        } else {
            if (vdb_open(s->path, &s->db, msg, sizeof msg) < 0) {
                cli_error("%s", msg);
                return CLI_USAGE;
            }
            s->owns_db = 1;
        }
        if ((err = vdb_meta(s->db, "cwd", &s->cwd)) < 0)
            goto fail;
        err = memsnap_find(s->db, s->path, s->id, &s->snap, msg, sizeof msg);
        if (err == PYSCOPE_ENOTFOUND) {
            cli_error("%s", msg);
            return CLI_USAGE;
        }
        if (err < 0)
            goto fail;
        continue;
    fail:
        if (err == PYSCOPE_EDB)
            cli_error("cannot read '%s': %s", s->path, sqlite3_errmsg(s->db));
        else
            cli_error("%s", pyscope_strerror(err));
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* ---- text ---- */

/* filename relative to the run's directory when below it. */
static const char *short_path(const struct memcmd *c, const char *filename)
{
    const char *cwd = c->side[c->diff ? 1 : 0].cwd;
    size_t n = cwd ? strlen(cwd) : 0;
    if (n && !strncmp(filename, cwd, n) && filename[n] == '/' && filename[n + 1])
        return filename + n + 1;
    return filename;
}

/* "snapshot 2 'label' of 'run.db' (pid 1234, api at 1.25 s)" */
static void put_snapshot(const struct side *s)
{
    char t[FMT_BUFSZ];
    printf("snapshot %lld", (long long)s->snap.id);
    if (s->snap.label) {
        fputs(" '", stdout);
        fmt_put_text(stdout, s->snap.label);
        putc('\'', stdout);
    }
    fputs(" of '", stdout);
    fmt_put_text(stdout, s->path);
    printf("' (pid %lld, ", (long long)s->snap.pid);
    fmt_put_text(stdout, s->snap.trigger);
    printf(" at %s)", fmt_duration(t, sizeof t, s->snap.t_ns));
}

static const char *blocks(int64_t n)
{
    return n == 1 || n == -1 ? "block" : "blocks";
}

static void put_totals(const struct memcmd *c, const struct side *s)
{
    char a[FMT_BUFSZ], b[FMT_BUFSZ];
    printf(": %s in %s %s", fmt_bytes(a, sizeof a, s->g.all.size),
           fmt_int(b, sizeof b, s->g.all.count), blocks(s->g.all.count));
    if (c->o.ninclude || c->o.nexclude)
        printf("; %s in %s %s kept by the filters", fmt_bytes(a, sizeof a, s->g.selected.size),
               fmt_int(b, sizeof b, s->g.selected.count), blocks(s->g.selected.count));
    putc('\n', stdout);
}

static char *count_delta(char *buf, size_t len, int64_t n)
{
    char num[FMT_BUFSZ];
    snprintf(buf, len, "%s%s", n > 0 ? "+" : "", fmt_int(num, sizeof num, n));
    return buf;
}

static void heading(const struct memcmd *c)
{
    if (!c->diff) {
        put_snapshot(&c->side[0]);
        put_totals(c, &c->side[0]);
    } else {
        char a[FMT_BUFSZ], b[FMT_BUFSZ];
        const struct mem_totals *o = &c->side[0].g.selected, *n = &c->side[1].g.selected;
        fputs("old: ", stdout);
        put_snapshot(&c->side[0]);
        put_totals(c, &c->side[0]);
        fputs("new: ", stdout);
        put_snapshot(&c->side[1]);
        put_totals(c, &c->side[1]);
        printf("change: %s in %s %s\n", fmt_bytes_delta(a, sizeof a, n->size - o->size),
               count_delta(b, sizeof b, n->count - o->count), blocks(n->count - o->count));
    }
    if (c->o.cumulative)
        puts("cumulative: the blocks of a traceback count in each of its frames, so the sizes"
             " add up to more");
}

/* A native function's object as the sampled views name it: libz.so.1. */
static const char *native_object(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "app.py:12" or, by filename, "app.py", cut at the left. */
static char *key_text(const struct memcmd *c, uint32_t key, char *buf, size_t len)
{
    char loc[4096];
    struct mem_frame f = mem_key_frame(c->sp, key, 0);
    if (f.native && c->o.by == MEM_BY_LINENO)
        snprintf(loc, sizeof loc, "%s [%s]", f.function ? f.function : "??",
                 native_object(f.filename));
    else if (c->o.by == MEM_BY_FILENAME)
        snprintf(loc, sizeof loc, "%s", short_path(c, f.filename));
    else
        snprintf(loc, sizeof loc, "%s:%lld", short_path(c, f.filename), (long long)f.line);
    return smpcmd_cut_left(buf, len, loc, LOC_COLS);
}

static int print_table(const struct memcmd *c, const struct mem_stat *st, size_t shown)
{
    int lineno = c->o.by == MEM_BY_LINENO;
    struct fmt_table *tab =
        fmt_table_new(c->diff ? (lineno ? "rrrrrll" : "rrrrrl") : (lineno ? "rrrll" : "rrrl"));
    char a[FMT_BUFSZ], buf[1024], code[512];
    int err;

    if (!tab)
        return PYSCOPE_ENOMEM;
    fmt_table_add(tab, "size");
    if (c->diff)
        fmt_table_add(tab, "change");
    fmt_table_add(tab, "count");
    if (c->diff)
        fmt_table_add(tab, "change");
    fmt_table_add(tab, "average");
    fmt_table_add(tab, lineno ? "line" : "file");
    if (lineno)
        fmt_table_add(tab, "code");
    for (size_t i = 0; i < shown; i++) {
        const struct mem_stat *s = &st[i];
        fmt_table_add(tab, fmt_bytes(a, sizeof a, s->size));
        if (c->diff)
            fmt_table_add(tab, fmt_bytes_delta(a, sizeof a, s->size_diff));
        fmt_table_add(tab, fmt_int(a, sizeof a, s->count));
        if (c->diff)
            fmt_table_add(tab, count_delta(a, sizeof a, s->count_diff));
        fmt_table_add(tab, s->count ? fmt_bytes(a, sizeof a, s->size / s->count) : NULL);
        fmt_table_add(tab, key_text(c, s->key, buf, sizeof buf));
        if (lineno) {
            struct mem_frame f = mem_key_frame(c->sp, s->key, 0);
            fmt_table_add(tab, src_line(c->src, f.filename, f.line, code, sizeof code, CODE_COLS));
        }
    }
    err = fmt_table_print(tab, stdout, "  ");
    fmt_table_free(tab);
    return err;
}

/* Each traceback as Python writes one: most recent call last. */
static void print_tracebacks(const struct memcmd *c, const struct mem_stat *st, size_t shown)
{
    char a[FMT_BUFSZ], b[FMT_BUFSZ], d[FMT_BUFSZ], e[FMT_BUFSZ], code[512];
    for (size_t i = 0; i < shown; i++) {
        const struct mem_stat *s = &st[i];
        if (i)
            putc('\n', stdout);
        if (c->diff)
            printf("#%zu: %s (%s) in %s %s (%s)", i + 1, fmt_bytes(a, sizeof a, s->size),
                   fmt_bytes_delta(b, sizeof b, s->size_diff), fmt_int(d, sizeof d, s->count),
                   blocks(s->count), count_delta(e, sizeof e, s->count_diff));
        else
            printf("#%zu: %s in %s %s", i + 1, fmt_bytes(a, sizeof a, s->size),
                   fmt_int(d, sizeof d, s->count), blocks(s->count));
        if (s->count)
            printf(", average %s", fmt_bytes(a, sizeof a, s->size / s->count));
        putc('\n', stdout);
        if (mem_key_truncated(c->sp, s->key))
            puts("  [truncated: older frames were not recorded]");
        size_t n = mem_key_nframes(c->sp, s->key);
        for (size_t k = 0; k < n; k++) {
            struct mem_frame f = mem_key_frame(c->sp, s->key, k);
            if (f.native) {
                fputs("  ", stdout);
                fmt_put_text(stdout, f.function ? f.function : "??");
                fputs(" [", stdout);
                fmt_put_text(stdout, native_object(f.filename));
                puts("]");
                continue;
            }
            fputs("  File \"", stdout);
            fmt_put_text(stdout, short_path(c, f.filename));
            printf("\", line %lld\n", (long long)f.line);
            if (src_line(c->src, f.filename, f.line, code, sizeof code, TB_CODE_COLS)) {
                fputs("    ", stdout);
                fmt_put_text(stdout, code);
                putc('\n', stdout);
            }
        }
    }
}

static int print_text(const struct memcmd *c, const struct mem_stat *st, size_t n, size_t shown)
{
    static const char *const nouns[] = {"lines", "files", "tracebacks"};
    int err = 0;
    heading(c);
    if (!n) {
        puts(c->o.ninclude || c->o.nexclude ? "(no blocks kept by the filters)" : "(no blocks)");
        return 0;
    }
    if (c->o.by == MEM_BY_TRACEBACK)
        print_tracebacks(c, st, shown);
    else
        err = print_table(c, st, shown);
    if (!err && shown < n)
        printf("%s(showing %zu of %zu %s; --limit 0 shows all)\n",
               c->o.by == MEM_BY_TRACEBACK ? "\n" : "", shown, n, nouns[c->o.by]);
    return err;
}

/* ---- JSON ---- */

static void json_patterns(const char *name, const char *const *p, size_t n)
{
    printf(",\n  \"%s\": [", name);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : "", stdout);
        fmt_json_str(stdout, p[i]);
    }
    putc(']', stdout);
}

static void json_side(const char *indent, const struct side *s)
{
    printf("%s\"database\": ", indent);
    fmt_json_str(stdout, s->path);
    printf(",\n%s\"snapshot\": ", indent);
    memsnap_json(stdout, &s->snap);
    printf(",\n%s\"total\": {\"size\": %lld, \"count\": %lld},\n%s\"selected\": {\"size\": %lld,"
           " \"count\": %lld}",
           indent, (long long)s->g.all.size, (long long)s->g.all.count, indent,
           (long long)s->g.selected.size, (long long)s->g.selected.count);
}

static void print_json(const struct memcmd *c, const struct mem_stat *st, size_t n, size_t shown)
{
    fputs("{\n", stdout);
    if (c->diff) {
        fputs("  \"old\": {\n", stdout);
        json_side("    ", &c->side[0]);
        fputs("\n  },\n  \"new\": {\n", stdout);
        json_side("    ", &c->side[1]);
        fputs("\n  }", stdout);
    } else {
        json_side("  ", &c->side[0]);
    }
    printf(",\n  \"by\": \"%s\",\n  \"cumulative\": %s", by_names[c->o.by],
           c->o.cumulative ? "true" : "false");
    json_patterns("include", c->o.include, c->o.ninclude);
    json_patterns("exclude", c->o.exclude, c->o.nexclude);
    fputs(",\n  \"stats\": [", stdout);
    for (size_t i = 0; i < shown; i++) {
        const struct mem_stat *s = &st[i];
        printf("%s{\"size\": %lld, ", i ? ",\n    " : "\n    ", (long long)s->size);
        if (c->diff)
            printf("\"size_diff\": %lld, ", (long long)s->size_diff);
        printf("\"count\": %lld, ", (long long)s->count);
        if (c->diff)
            printf("\"count_diff\": %lld, ", (long long)s->count_diff);
        if (c->o.by == MEM_BY_TRACEBACK)
            printf("\"truncated\": %s, ", mem_key_truncated(c->sp, s->key) ? "true" : "false");
        fputs("\"frames\": [", stdout);
        size_t nf = mem_key_nframes(c->sp, s->key);
        for (size_t k = 0; k < nf; k++) {
            struct mem_frame f = mem_key_frame(c->sp, s->key, k);
            fputs(k ? ", {\"filename\": " : "{\"filename\": ", stdout);
            fmt_json_str(stdout, f.filename);
            printf(", \"line\": %lld, \"function\": ", (long long)f.line);
            fmt_json_str(stdout, f.function);
            printf(", \"native\": %s}", f.native ? "true" : "false");
        }
        fputs("]}", stdout);
    }
    printf("%s],\n  \"count\": %zu\n}\n", shown ? "\n  " : "", n);
}

/* ---- the commands ---- */

static int run(int argc, char **argv, int diff)
{
    struct memcmd c = {
        .name = diff ? "diff" : "stats",
        .usage = diff ? cmd_diff_usage : cmd_stats_usage,
        .diff = diff,
        .limit = -1,
    };
    struct mem_stat *stats = NULL;
    size_t n = 0;
    int err = 0, status = parse_args(&c, argc, argv);
    const char *failed = NULL;

    if (status < 0) { /* --help */
        status = CLI_OK;
        goto out;
    }
    if (status != CLI_OK || (status = open_sides(&c)) != CLI_OK)
        goto out;
    if ((err = mem_space_new(&c.o, &c.sp)) < 0)
        goto out;
    for (int k = 0; k < (diff ? 2 : 1); k++) {
        if ((err = mem_group(c.sp, c.side[k].db, c.side[k].id, &c.side[k].g)) < 0) {
            failed = c.side[k].path;
            if (err == PYSCOPE_EDB)
                cli_error("cannot read '%s': %s", failed, sqlite3_errmsg(c.side[k].db));
            goto out;
        }
    }
    if (diff) {
        if ((err = mem_compare(c.sp, &c.side[1].g, &c.side[0].g, &stats, &n)) < 0)
            goto out;
    } else {
        stats = c.side[0].g.stats;
        n = c.side[0].g.n;
        if ((err = mem_sort(c.sp, stats, n)) < 0)
            goto out;
    }
    int64_t limit = c.limit >= 0 ? c.limit : c.json ? 0 : c.o.by == MEM_BY_TRACEBACK ? 10 : 20;
    size_t shown = limit > 0 && (size_t)limit < n ? (size_t)limit : n;
    if (c.json) {
        print_json(&c, stats, n, shown);
    } else {
        if (!(c.src = src_cache_new(c.side[diff ? 1 : 0].cwd))) {
            err = PYSCOPE_ENOMEM;
            goto out;
        }
        err = print_text(&c, stats, n, shown);
    }
out:
    if (err < 0) {
        if (!(failed && err == PYSCOPE_EDB))
            cli_error("%s", pyscope_strerror(err));
        status = CLI_FAIL;
    }
    if (diff)
        free(stats);
    src_cache_free(c.src);
    mem_space_free(c.sp);
    for (int k = 0; k < 2; k++) {
        mem_group_release(&c.side[k].g);
        memsnap_release(&c.side[k].snap);
        free(c.side[k].cwd);
        if (c.side[k].owns_db)
            vdb_close(c.side[k].db);
    }
    free(c.include);
    free(c.exclude);
    if ((fflush(stdout) == EOF || ferror(stdout)) && status == CLI_OK) {
        cli_error("cannot write '(standard output)': %s", strerror(errno ? errno : EIO));
        status = CLI_FAIL;
    }
    return status;
}

int cmd_stats(int argc, char **argv)
{
    return run(argc, argv, 0);
}

int cmd_diff(int argc, char **argv)
{
    return run(argc, argv, 1);
}
