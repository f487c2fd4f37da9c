/*
 * `pyscope summary [--json] [--limit N] RUN.db`: what a recorded run holds.
 * What ran and with which interpreter, when and for how long, how it ended,
 * the process tree with each process's threads, and how much of each kind of
 * evidence was recorded. `pyscope profile` prints the same after every run
 * through summary_print, so this is the first thing a user reads: it must
 * fit a terminal for a run of hundreds of processes (--limit) and still say
 * something useful about a run that crashed or is still recording.
 *
 * The run is loaded into memory first (meta, processes, threads, counts),
 * then rendered as text or JSON from the same data. A run with memory
 * snapshots also gets its peak, its RSS and the lines that held the most
 * memory at the peak, from a few queries on the snapshot tables alone.
 */
#include "calls.h"
#include "cli.h"
#include "cmd.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "heapgraph.h"
#include "memory.h"
#include "opts.h"
#include "samples.h"
#include "smpcmd.h"
#include "source.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char cmd_summary_usage[] =
    "usage: pyscope summary [--json] [--limit N] RUN.db\n"
    "\n"
    "Say what a recorded run holds: the command and interpreter, when it ran and\n"
    "for how long, how it ended, its processes and threads, and how many samples,\n"
    "call records, snapshots, heap objects and gc collections were recorded.\n"
    "With memory snapshots, also the peak of traced memory, the RSS and the lines\n"
    "that held the most memory at the peak. With --gc, the collections and\n"
    "the time paused for them; with --heap, the largest groups of garbage cycles.\n"
    "\n"
    "options:\n"
    "   --json       print one JSON object instead of text\n"
    "   --limit N    list at most N processes (text: 20 by default; JSON: all;\n"
    "                0 lists all); the counts always cover the whole run\n"
    "   -h, --help   show this help\n";

#define DEFAULT_LIMIT 20 /* processes listed in the text form */
#define ARGV_COLS 50     /* a command line in the process tree is cut here */
#define NAMES_SHOWN 8    /* thread names listed per process */
#define MAX_INDENT 12    /* tree levels indented; deeper ones line up */

struct kv {
    char *key, *value;
};

struct thread_row {
    int64_t id, process_id, os_tid, ident, started_ns, ended_ns;
    int has_os_tid, has_ident, has_started, has_ended, is_main;
    char *name;
};

struct process_row {
    int64_t id, pid, parent_id, ppid, started_ns, ended_ns;
    int has_parent, has_ppid, has_started, has_ended;
    int has_code, exit_code, has_signal, signal, forked;
    char *argv, *executable, *python_version;
    size_t first_thread, nthreads; /* this process's run of run.threads */
};

/* The evidence tables counted, in the order they are reported. */
static const struct {
    const char *table, *one, *many;
} counted[] = {
    {"samples", "sample", "samples"},
    {"calls", "call record", "call records"},
    {"snapshots", "snapshot", "snapshots"},
    {"heap_objects", "heap object", "heap objects"},
    {"gc_collections", "gc collection", "gc collections"},
};
#define NCOUNTED (sizeof counted / sizeof counted[0])

struct run {
    const char *path;
    int version;
    struct kv *meta;
    size_t nmeta;
    struct process_row *procs; /* by id */
    size_t nprocs;
    struct thread_row *threads; /* by process, main thread first, then by start */
    size_t nthreads;
    int64_t counts[NCOUNTED];
    size_t *order; /* process indices in tree order (preorder, children by id) */
    int *depth;    /* per process index */
};

/* An integer column in *out; returns whether it was not NULL. */
static int col_int(sqlite3_stmt *st, int col, int64_t *out)
{
    *out = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return 0;
    *out = sqlite3_column_int64(st, col);
    return 1;
}

static int load_meta(sqlite3 *db, struct run *r)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc, err = vdb_prepare(db, "SELECT key, value FROM meta ORDER BY key", &st);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&r->meta, &cap, r->nmeta, sizeof *r->meta)) < 0)
            goto out;
        struct kv *m = &r->meta[r->nmeta++];
        m->value = NULL;
        if ((err = vdb_col_text(st, 0, &m->key)) < 0 || (err = vdb_col_text(st, 1, &m->value)) < 0)
            goto out;
        if (!m->key) { /* a NULL key cannot be looked up; drop it */
            free(m->value);
            r->nmeta--;
        }
    }
    if (rc != SQLITE_DONE)
        err = vdb_err(rc);
out:
    sqlite3_finalize(st);
    return err;
}

static int load_processes(sqlite3 *db, struct run *r)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc, err = vdb_prepare(db,
                              "SELECT id, pid, parent_id, argv, started_ns, ended_ns, exit_code,"
                              " signal, ppid, executable, python_version, forked"
                              " FROM processes ORDER BY id",
                              &st);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&r->procs, &cap, r->nprocs, sizeof *r->procs)) < 0)
            goto out;
        struct process_row *p = &r->procs[r->nprocs++];
        int64_t v;
        memset(p, 0, sizeof *p);
        col_int(st, 0, &p->id);
        col_int(st, 1, &p->pid);
        p->has_parent = col_int(st, 2, &p->parent_id);
        p->has_started = col_int(st, 4, &p->started_ns);
        p->has_ended = col_int(st, 5, &p->ended_ns);
        p->has_code = col_int(st, 6, &v);
        p->exit_code = (int)v;
        p->has_signal = col_int(st, 7, &v) && v != 0;
        p->signal = (int)v;
        p->has_ppid = col_int(st, 8, &p->ppid);
        col_int(st, 11, &v);
        p->forked = v != 0;
        if ((err = vdb_col_text(st, 3, &p->argv)) < 0 ||
            (err = vdb_col_text(st, 9, &p->executable)) < 0 ||
            (err = vdb_col_text(st, 10, &p->python_version)) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE)
        err = vdb_err(rc);
out:
    sqlite3_finalize(st);
    return err;
}

static int load_threads(sqlite3 *db, struct run *r)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc, err = vdb_prepare(db,
                              "SELECT id, process_id, os_tid, ident, name, is_main, started_ns,"
                              " ended_ns FROM threads"
                              " ORDER BY process_id, is_main DESC, started_ns, id",
                              &st);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = util_grow((void **)&r->threads, &cap, r->nthreads, sizeof *r->threads)) < 0)
            goto out;
        struct thread_row *t = &r->threads[r->nthreads++];
        int64_t v;
        memset(t, 0, sizeof *t);
        col_int(st, 0, &t->id);
        col_int(st, 1, &t->process_id);
        t->has_os_tid = col_int(st, 2, &t->os_tid);
        t->has_ident = col_int(st, 3, &t->ident);
        col_int(st, 5, &v);
        t->is_main = v != 0;
        t->has_started = col_int(st, 6, &t->started_ns);
        t->has_ended = col_int(st, 7, &t->ended_ns);
        if ((err = vdb_col_text(st, 4, &t->name)) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE)
        err = vdb_err(rc);
out:
    sqlite3_finalize(st);
    return err;
}

/* Index of the process with id, or SIZE_MAX; procs are sorted by id. */
static size_t find_process(const struct run *r, int64_t id)
{
    size_t lo = 0, hi = r->nprocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->procs[mid].id < id)
            lo = mid + 1;
        else if (r->procs[mid].id > id)
            hi = mid;
        else
            return mid;
    }
    return SIZE_MAX;
}

/* Give each process its run of threads; both arrays are sorted by process id. */
static void attach_threads(struct run *r)
{
    size_t t = 0;
    for (size_t i = 0; i < r->nprocs; i++) {
        struct process_row *p = &r->procs[i];
        while (t < r->nthreads && r->threads[t].process_id < p->id)
            t++; /* threads of no known process: counted, not listed */
        p->first_thread = t;
        while (t < r->nthreads && r->threads[t].process_id == p->id)
            t++;
        p->nthreads = t - p->first_thread;
    }
}

/*
 * Order the processes as a tree: preorder, children by id. A parent that is
 * missing makes a root; a cycle of parent_ids (a damaged file) is broken
 * where it is first entered. Iterative, so a long chain of forks cannot
 * overflow the C stack.
 */
static int order_tree(struct run *r)
{
    size_t n = r->nprocs;
    int err = PYSCOPE_ENOMEM;
    size_t *parent = malloc(n * sizeof *parent + 1);
    size_t *child = malloc(n * sizeof *child + 1); /* first child, in descending id */
    size_t *sibling = malloc(n * sizeof *sibling + 1);
    size_t *stack = malloc(n * sizeof *stack + 1);
    char *seen = calloc(n + 1, 1);
    size_t norder = 0;

    r->order = malloc(n * sizeof *r->order + 1);
    r->depth = calloc(n + 1, sizeof *r->depth);
    if (!parent || !child || !sibling || !stack || !seen || !r->order || !r->depth)
        goto out;
    for (size_t i = 0; i < n; i++) {
        child[i] = SIZE_MAX;
        parent[i] = r->procs[i].has_parent ? find_process(r, r->procs[i].parent_id) : SIZE_MAX;
        if (parent[i] == i)
            parent[i] = SIZE_MAX;
    }
    /* Prepending in ascending order leaves each list descending, so pushing a
     * list onto the stack in its order pops the children in ascending order. */
    for (size_t i = 0; i < n; i++) {
        if (parent[i] == SIZE_MAX)
            continue;
        sibling[i] = child[parent[i]];
        child[parent[i]] = i;
    }
    /* Roots first, then whatever a cycle kept out of reach. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t root = 0; root < n; root++) {
            if (seen[root] || (pass == 0 && parent[root] != SIZE_MAX))
                continue;
            size_t top = 0;
            stack[top++] = root;
            seen[root] = 1;
            r->depth[root] = 0;
            while (top) {
                size_t i = stack[--top];
                r->order[norder++] = i;
                for (size_t c = child[i]; c != SIZE_MAX; c = sibling[c]) {
                    if (seen[c])
                        continue;
                    seen[c] = 1;
                    r->depth[c] = r->depth[i] + 1;
                    stack[top++] = c;
                }
            }
        }
    }
    err = 0;
out:
    free(parent);
    free(child);
    free(sibling);
    free(stack);
    free(seen);
    return err;
}

static int load_run(sqlite3 *db, struct run *r)
{
    int err = vdb_schema_version(db, &r->version);
    if (!err)
        err = load_meta(db, r);
    if (!err)
        err = load_processes(db, r);
    if (!err)
        err = load_threads(db, r);
    for (size_t i = 0; !err && i < NCOUNTED; i++)
        err = vdb_count(db, counted[i].table, &r->counts[i]);
    if (!err) {
        attach_threads(r);
        err = order_tree(r);
    }
    return err;
}

static void release_run(struct run *r)
{
    for (size_t i = 0; i < r->nmeta; i++) {
        free(r->meta[i].key);
        free(r->meta[i].value);
    }
    for (size_t i = 0; i < r->nprocs; i++) {
        free(r->procs[i].argv);
        free(r->procs[i].executable);
        free(r->procs[i].python_version);
    }
    for (size_t i = 0; i < r->nthreads; i++)
        free(r->threads[i].name);
    free(r->meta);
    free(r->procs);
    free(r->threads);
    free(r->order);
    free(r->depth);
}

/* The meta value for key, or NULL when absent or empty. Borrowed from r. */
static const char *meta(const struct run *r, const char *key)
{
    for (size_t i = 0; i < r->nmeta; i++)
        if (!strcmp(r->meta[i].key, key))
            return r->meta[i].value && *r->meta[i].value ? r->meta[i].value : NULL;
    return NULL;
}

/* The root process: the first in tree order, or NULL when there is none. */
static const struct process_row *root_process(const struct run *r)
{
    return r->nprocs ? &r->procs[r->order[0]] : NULL;
}

static int run_duration(const struct run *r, int64_t *ns)
{
    const struct process_row *root = root_process(r);
    if (util_parse_i64(meta(r, "duration_ns"), ns) == 0)
        return 1;
    if (root && root->has_ended && root->has_started) {
        *ns = root->ended_ns - root->started_ns;
        return 1;
    }
    return 0;
}

/* "signal 9 (SIGKILL)", or "signal 40" for a signal without a name. */
static char *signal_text(char *buf, size_t len, const char *prefix, int sig)
{
    const char *name = util_signal_name(sig);
    if (name)
        snprintf(buf, len, "%ssignal %d (%s)", prefix, sig, name);
    else
        snprintf(buf, len, "%ssignal %d", prefix, sig);
    return buf;
}

/* How the run ended, for the "ended" line. */
static char *run_ending(char *buf, size_t len, const struct run *r)
{
    const char *status = meta(r, "exit_status");
    const struct process_row *root = root_process(r);
    int v, n = 0;

    if (status && sscanf(status, "exit %d%n", &v, &n) == 1 && !status[n])
        snprintf(buf, len, "exit status %d", v);
    else if (status && sscanf(status, "signal %d%n", &v, &n) == 1 && !status[n])
        signal_text(buf, len, "killed by ", v);
    else if (status)
        snprintf(buf, len, "%s", status);
    else if (root && root->has_signal)
        signal_text(buf, len, "killed by ", root->signal);
    else if (root && root->has_code)
        snprintf(buf, len, "exit status %d", root->exit_code);
    else
        snprintf(buf, len, "not recorded (still running, or the recording was cut short)");
    return buf;
}

/* A process's own ending, for its line in the tree. */
static char *process_ending(char *buf, size_t len, const struct process_row *p)
{
    if (p->has_signal)
        signal_text(buf, len, "", p->signal);
    else if (p->has_code)
        snprintf(buf, len, "exit %d", p->exit_code);
    else if (p->has_ended)
        snprintf(buf, len, "ended");
    else
        snprintf(buf, len, "no end seen");
    return buf;
}

/* "12,345 samples", with the singular for one. */
static char *count_text(char *buf, size_t len, size_t i, int64_t n)
{
    char num[FMT_BUFSZ];
    snprintf(buf, len, "%s %s", fmt_int(num, sizeof num, n),
             n == 1 ? counted[i].one : counted[i].many);
    return buf;
}

static void print_line(FILE *out, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * One "  label        text" line of the text form. The text holds strings
 * from the program (names, paths, argv), so it goes through fmt_put_text.
 */
static void print_line(FILE *out, const char *label, const char *fmt, ...)
{
    char stack[512], *text = stack;
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    /* Longer lines (a deep cwd) are formatted again in the heap; cut if that fails. */
    if (n >= (int)sizeof stack && (text = malloc((size_t)n + 1)) != NULL) {
        va_start(ap, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, ap);
        va_end(ap);
    } else if (!text) {
        text = stack;
    }
    fprintf(out, "  %-12s ", label);
    fmt_put_text(out, text);
    putc('\n', out);
    if (text != stack)
        free(text);
}

/* The last component of path. Borrowed. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/*
 * p's command line cut to ARGV_COLS, with the interpreter by its base name
 * when argv starts with its path: a virtualenv's long path would otherwise
 * use the whole width.
 */
static char *process_command(char *buf, size_t len, const struct process_row *p)
{
    char full[512]; /* longer is cut below ARGV_COLS code points anyway */
    const char *argv = p->argv ? p->argv : "(command not recorded)";
    size_t n = p->executable ? strlen(p->executable) : 0;

    if (n && !strncmp(argv, p->executable, n) && (argv[n] == ' ' || !argv[n]))
        snprintf(full, sizeof full, "%s%s", base_name(p->executable), argv + n);
    else
        snprintf(full, sizeof full, "%s", argv);
    return fmt_ellipsize(buf, len, full, ARGV_COLS);
}

static void print_header(const struct run *r, FILE *out)
{
    const char *argv = meta(r, "argv");
    const struct process_row *root = root_process(r);
    const char *version = meta(r, "python_version");
    const char *exe = meta(r, "python_executable");
    const char *started = meta(r, "started_at");
    const char *host = meta(r, "host");
    const char *cwd = meta(r, "cwd");
    const char *options = meta(r, "options");
    char when[FMT_BUFSZ], dur[FMT_BUFSZ], ending[128];
    int64_t ns = 0;

    int from_meta = argv != NULL;
    if (!argv && root)
        argv = root->argv;
    if (!version && root)
        version = root->python_version;
    if (!exe && root)
        exe = root->executable;
    /* meta argv is what followed `pyscope profile`; say it as a python command line. */
    fputs("pyscope ", out);
    fmt_put_text(out, meta(r, "pyscope_version") ? meta(r, "pyscope_version") : "?");
    fputs(" run of: ", out);
    if (from_meta && exe) {
        fmt_put_text(out, base_name(exe));
        putc(' ', out);
    }
    fmt_put_text(out, argv ? argv : "(command not recorded)");
    putc('\n', out);

    if (version || exe) {
        char impl[FMT_BUFSZ] = "";
        /* A bare "3.11.2", or sys.version whose first word it is, is CPython's. */
        if (version && version[0] >= '0' && version[0] <= '9')
            snprintf(impl, sizeof impl, "CPython %.*s", (int)strcspn(version, " \t\n"), version);
        else if (version)
            snprintf(impl, sizeof impl, "%s", version);
        print_line(out, "interpreter", "%s%s%s", impl, *impl && exe ? "  " : "", exe ? exe : "");
    }
    if (cwd)
        print_line(out, "directory", "%s", cwd);

    /* The recorded local time of day reads best; the raw ns is the fallback. */
    if (started && strlen(started) >= 19 && (started[10] == 'T' || started[10] == ' ')) {
        snprintf(when, sizeof when, "%.19s", started);
        when[10] = ' ';
    } else if (started) {
        snprintf(when, sizeof when, "%s", started);
    } else if (util_parse_i64(meta(r, "start_wall_ns"), &ns) == 0) {
        fmt_datetime(when, sizeof when, ns);
    } else {
        snprintf(when, sizeof when, "(time not recorded)");
    }
    if (run_duration(r, &ns))
        fmt_duration(dur, sizeof dur, ns);
    else
        snprintf(dur, sizeof dur, "unknown");
    print_line(out, "started", "%s%s%s   duration %s", when, host ? " on " : "", host ? host : "",
               dur);
    print_line(out, "ended", "%s", run_ending(ending, sizeof ending, r));
    if (options)
        print_line(out, "options", "%s", options);
    if (util_parse_i64(meta(r, "protocol_errors"), &ns) == 0 && ns > 0)
        print_line(out, "warning", "%" PRId64 " malformed record%s from the program %s dropped", ns,
                   ns == 1 ? "" : "s", ns == 1 ? "was" : "were");
}

static int print_processes(const struct run *r, FILE *out, size_t shown)
{
    static const char spaces[] = "                        "; /* 2 * MAX_INDENT */
    char dur[FMT_BUFSZ], cmd[ARGV_COLS * 4 + 4], ending[64];
    struct fmt_table *t = fmt_table_new("lrl");
    char num[FMT_BUFSZ];
    int err;

    print_line(out, "processes", "%s", fmt_int(num, sizeof num, (int64_t)r->nprocs));
    if (!t)
        return PYSCOPE_ENOMEM;
    for (size_t k = 0; k < shown; k++) {
        const struct process_row *p = &r->procs[r->order[k]];
        int depth = r->depth[r->order[k]] < MAX_INDENT ? r->depth[r->order[k]] : MAX_INDENT;
        if (p->forked)
            snprintf(cmd, sizeof cmd, "(fork)");
        else
            process_command(cmd, sizeof cmd, p);
        if (p->has_ended && p->has_started)
            fmt_duration(dur, sizeof dur, p->ended_ns - p->started_ns);
        else
            snprintf(dur, sizeof dur, "-");
        fmt_table_addf(t, "%.*s%" PRId64 "  %s", 2 * depth, spaces, p->pid, cmd);
        fmt_table_add(t, dur);
        fmt_table_add(t, process_ending(ending, sizeof ending, p));
    }
    err = fmt_table_print(t, out, "    ");
    fmt_table_free(t);
    if (!err && shown < r->nprocs)
        fprintf(out, "    ... and %zu more (--limit 0 lists all)\n", r->nprocs - shown);
    return err;
}

/* p's thread names, "MainThread, worker-1, ... (+N more)", into sb. 0 or PYSCOPE_ENOMEM. */
static int thread_names(struct sbuf *sb, const struct run *r, const struct process_row *p)
{
    int err = 0;
    for (size_t j = 0; j < p->nthreads && j < NAMES_SHOWN && !err; j++) {
        const char *name = r->threads[p->first_thread + j].name;
        err = sbuf_addf(sb, "%s%s", j ? ", " : "", name ? name : "(unnamed)");
    }
    if (!err && p->nthreads > NAMES_SHOWN)
        err = sbuf_addf(sb, ", ... (+%zu more)", p->nthreads - NAMES_SHOWN);
    return err;
}

static int print_threads(const struct run *r, FILE *out, size_t shown)
{
    char num[FMT_BUFSZ];
    size_t with_threads = 0;
    struct sbuf names = {0};
    struct fmt_table *t = NULL;
    int err = 0;

    for (size_t i = 0; i < r->nprocs; i++)
        with_threads += r->procs[i].nthreads > 0;
    fmt_int(num, sizeof num, (int64_t)r->nthreads);
    if (!r->nthreads) {
        print_line(out, "threads", "none recorded");
    } else if (r->nprocs == 1) {
        if ((err = thread_names(&names, r, &r->procs[0])) == 0)
            print_line(out, "threads", "%s: %s", num, sbuf_str(&names));
    } else {
        print_line(out, "threads", "%s in %zu process%s", num, with_threads,
                   with_threads == 1 ? "" : "es");
        if (!(t = fmt_table_new("rl")))
            return PYSCOPE_ENOMEM;
        for (size_t k = 0; k < shown && !err; k++) {
            const struct process_row *p = &r->procs[r->order[k]];
            if (!p->nthreads)
                continue;
            sbuf_release(&names);
            fmt_table_addf(t, "%" PRId64, p->pid);
            if ((err = thread_names(&names, r, p)) == 0)
                fmt_table_add(t, sbuf_str(&names));
        }
        if (!err)
            err = fmt_table_print(t, out, "    ");
        size_t hidden = 0;
        for (size_t k = shown; k < r->nprocs; k++)
            hidden += r->procs[r->order[k]].nthreads > 0;
        if (!err && hidden)
            fprintf(out, "    ... and the threads of %zu more process%s\n", hidden,
                    hidden == 1 ? "" : "es");
    }
    fmt_table_free(t);
    sbuf_release(&names);
    return err;
}

static void print_recorded(const struct run *r, FILE *out)
{
    char buf[FMT_BUFSZ * 2];
    int any = 0, nzero = 0, zeros_done = 0;

    fprintf(out, "  %-12s ", "recorded");
    for (size_t i = 0; i < NCOUNTED; i++) {
        if (r->counts[i]) {
            fprintf(out, "%s%s", any ? ", " : "", count_text(buf, sizeof buf, i, r->counts[i]));
            any = 1;
        } else {
            nzero++;
        }
    }
    /* The empty ones in one phrase: "; no snapshots, heap objects or gc collections". */
    for (size_t i = 0; i < NCOUNTED; i++) {
        if (r->counts[i])
            continue;
        const char *sep = !zeros_done               ? (any ? "; no " : "no ")
                          : zeros_done + 1 == nzero ? " or "
                                                    : ", ";
        fprintf(out, "%s%s", sep, counted[i].many);
        zeros_done++;
    }
    putc('\n', out);
}

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

/*
 * Where the CPU time went, in brief: the hottest functions and lines by
 * self time, as `pyscope top` and `pyscope hot` show them in full.
 */
static int print_hot(const struct run *r, const struct smp_profile *p, FILE *out)
{
    const char *dropped = meta(r, "dropped_samples");
    if (dropped && strcmp(dropped, "0"))
        fprintf(out, "  %-12s %s samples could not be recorded\n", "dropped", dropped);
    if (!r->counts[0] || !p)
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
static int print_calls(const struct run *r, sqlite3 *db, const struct smp_profile *p, FILE *out)
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
    const char *overhead = meta(r, "calls_overhead_ns");
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

#define SITE_ROWS 5 /* allocation sites listed at the peak */

/* An allocation site at the peak: a line, as `pyscope stats --by lineno` keys it. */
struct site {
    int has_fn;            /* the frame and its function were found */
    int64_t line;          /* 0 when unknown */
    int64_t size, count;   /* bytes and blocks still allocated from there */
    char *filename, *name; /* name: the function's qualname; NULL without has_fn */
};

/* What the memory section shows, from the snapshot tables. */
struct memory {
    int64_t nsnapshots;
    int has_peak; /* a snapshot with peak_bytes */
    int64_t peak_bytes, peak_process_id;
    int has_snap; /* the snapshot the sites come from: the peak one of that process */
    int64_t snap_id, snap_t_ns, snap_bytes, snap_blocks; /* bytes and blocks -1 when NULL */
    char *snap_label, *snap_trigger;
    int64_t whole; /* the 100 % of the sites: the snapshot's traced bytes, or its traces' sum */
    int has_rss, has_rss_exit;
    int64_t rss_max, rss_process_id, rss_exit;
    struct site sites[SITE_ROWS];
    size_t nsites;
};

static void release_memory(struct memory *m)
{
    for (size_t i = 0; i < m->nsites; i++) {
        free(m->sites[i].filename);
        free(m->sites[i].name);
    }
    free(m->snap_label);
    free(m->snap_trigger);
}

/*
 * Run sql with ?1 bound to a (when bind), stepping to its first row: 1 with
 * a row in *st (the caller finalizes it), 0 for none, or a negative error.
 */
static int first_row(sqlite3 *db, const char *sql, int bind, int64_t a, sqlite3_stmt **st)
{
    int rc, err = vdb_prepare(db, sql, st);
    if (err < 0)
        return err;
    if (bind)
        sqlite3_bind_int64(*st, 1, a);
    if ((rc = sqlite3_step(*st)) == SQLITE_ROW)
        return 1;
    sqlite3_finalize(*st);
    *st = NULL;
    return rc == SQLITE_DONE ? 0 : vdb_err(rc);
}

/* The peak: the process with the largest peak_bytes (or, when none was traced, the largest
 * traced_bytes), and that process's peak snapshot, else its fullest. */
static int load_peak(sqlite3 *db, struct memory *m)
{
    sqlite3_stmt *st;
    int err = first_row(db,
                        "SELECT process_id, peak_bytes FROM snapshots"
                        " ORDER BY peak_bytes IS NULL, peak_bytes DESC, traced_bytes DESC, id"
                        " LIMIT 1",
                        0, 0, &st);
    if (err <= 0)
        return err;
    int64_t process_id = sqlite3_column_int64(st, 0);
    m->has_peak = col_int(st, 1, &m->peak_bytes);
    m->peak_process_id = process_id;
    sqlite3_finalize(st);
    err = first_row(db,
                    "SELECT id, t_ns, traced_bytes, traced_blocks, label, trigger FROM snapshots"
                    " WHERE process_id = ?1"
                    " ORDER BY trigger = 'peak' DESC, traced_bytes DESC, id LIMIT 1",
                    1, process_id, &st);
    if (err <= 0)
        return err;
    m->has_snap = 1;
    col_int(st, 0, &m->snap_id);
    col_int(st, 1, &m->snap_t_ns);
    if (!col_int(st, 2, &m->snap_bytes))
        m->snap_bytes = -1;
    if (!col_int(st, 3, &m->snap_blocks))
        m->snap_blocks = -1;
    if ((err = vdb_col_text(st, 4, &m->snap_label)) == 0)
        err = vdb_col_text(st, 5, &m->snap_trigger);
    sqlite3_finalize(st);
    return err;
}

/* The largest RSS seen, and the same process's at its exit snapshot. */
static int load_rss(sqlite3 *db, struct memory *m)
{
    sqlite3_stmt *st;
    int err = first_row(db,
                        "SELECT process_id, rss_bytes FROM snapshots WHERE rss_bytes IS NOT NULL"
                        " ORDER BY rss_bytes DESC, id LIMIT 1",
                        0, 0, &st);
    if (err <= 0)
        return err;
    m->has_rss = 1;
    col_int(st, 0, &m->rss_process_id);
    col_int(st, 1, &m->rss_max);
    sqlite3_finalize(st);
    err = first_row(db,
                    "SELECT rss_bytes FROM snapshots WHERE process_id = ?1 AND trigger = 'exit'"
                    " AND rss_bytes IS NOT NULL ORDER BY t_ns DESC, id DESC LIMIT 1",
                    1, m->rss_process_id, &st);
    if (err <= 0)
        return err;
    m->has_rss_exit = 1;
    col_int(st, 0, &m->rss_exit);
    sqlite3_finalize(st);
    return 0;
}

/*
 * The sites of the chosen snapshot that hold the most bytes: the first
 * lines of `pyscope stats SNAP --by lineno`, from the same grouping, so the
 * two always agree (a block allocated in C counts for the Python line
 * under it, two functions on one line are one site).
 */
static int load_sites(sqlite3 *db, struct memory *m)
{
    const struct mem_options by_line = {.by = MEM_BY_LINENO};
    struct mem_space *sp = NULL;
    struct mem_group g = {0};
    int err;

    if ((err = mem_space_new(&by_line, &sp)) < 0 || (err = mem_group(sp, db, m->snap_id, &g)) < 0 ||
        (err = mem_sort(sp, g.stats, g.n)) < 0)
        goto out;
    m->whole = m->snap_bytes > 0 ? m->snap_bytes : g.all.size;
    for (size_t i = 0; i < g.n && m->nsites < SITE_ROWS && g.stats[i].size > 0; i++) {
        struct mem_frame f = mem_key_frame(sp, g.stats[i].key, 0);
        struct site *site = &m->sites[m->nsites++];
        *site = (struct site){.has_fn = f.function != NULL,
                              .line = f.line,
                              .size = g.stats[i].size,
                              .count = g.stats[i].count};
        if (site->has_fn &&
            (!(site->filename = strdup(f.filename)) || !(site->name = strdup(f.function)))) {
            err = PYSCOPE_ENOMEM;
            break;
        }
    }
out:
    mem_group_release(&g);
    mem_space_free(sp);
    return err;
}

/* The memory section's data; m->nsnapshots 0 (and nothing else) without snapshots. */
static int load_memory(sqlite3 *db, const struct run *r, struct memory *m)
{
    int err = 0;
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < NCOUNTED; i++)
        if (!strcmp(counted[i].table, "snapshots"))
            m->nsnapshots = r->counts[i];
    if (!m->nsnapshots)
        return 0;
    if ((err = load_peak(db, m)) < 0 || (err = load_rss(db, m)) < 0)
        return err;
    if (m->has_snap)
        err = load_sites(db, m);
    return err;
}

/* The pid of the process with id, or 0 when it is not known. */
static int64_t pid_of(const struct run *r, int64_t process_id)
{
    size_t i = find_process(r, process_id);
    return i == SIZE_MAX ? 0 : r->procs[i].pid;
}

/* filename relative to the run's directory when below it; points into filename. */
static const char *run_path(const struct run *r, const char *filename)
{
    const char *cwd = meta(r, "cwd");
    size_t n = cwd ? strlen(cwd) : 0;
    while (n > 0 && cwd[n - 1] == '/')
        n--;
    if (n && !strncmp(filename, cwd, n) && filename[n] == '/' && filename[n + 1])
        return filename + n + 1;
    return filename;
}

/* "app.py:12" for a site; the file alone without a line. */
static char *site_location(const struct run *r, const struct site *s, char *buf, size_t len)
{
    if (!s->filename)
        snprintf(buf, len, "%s", "");
    else if (s->line > 0)
        snprintf(buf, len, "%s:%" PRId64, run_path(r, s->filename), s->line);
    else
        snprintf(buf, len, "%s", run_path(r, s->filename));
    return buf;
}

/* "12.3 MiB (pid 42)", or "12.3 MiB" when the process is unknown. */
static char *bytes_in(char *buf, size_t len, const struct run *r, int64_t bytes, int64_t process_id)
{
    char b[FMT_BUFSZ];
    int64_t pid = pid_of(r, process_id);
    if (pid)
        snprintf(buf, len, "%s (pid %" PRId64 ")", fmt_bytes(b, sizeof b, bytes), pid);
    else
        snprintf(buf, len, "%s", fmt_bytes(b, sizeof b, bytes));
    return buf;
}

/*
 * The memory section of the text form: the peak of traced memory, the RSS,
 * and the lines that held the most at the peak.
 */
static int print_memory(const struct run *r, const struct memory *m, FILE *out)
{
    char buf[FMT_BUFSZ * 2], num[FMT_BUFSZ], dur[FMT_BUFSZ], loc[1024];
    if (!m->nsnapshots)
        return 0;
    fmt_int(num, sizeof num, m->nsnapshots);
    if (m->has_peak)
        print_line(out, "memory", "peak traced %s, %s snapshot%s; 'pyscope snapshots' lists them",
                   bytes_in(buf, sizeof buf, r, m->peak_bytes, m->peak_process_id), num,
                   m->nsnapshots == 1 ? "" : "s");
    else
        print_line(out, "memory", "%s snapshot%s, allocations not traced", num,
                   m->nsnapshots == 1 ? "" : "s");
    if (m->has_rss) {
        char max[FMT_BUFSZ], at_exit[FMT_BUFSZ * 2] = "", pid[FMT_BUFSZ] = "";
        int64_t rss_pid = pid_of(r, m->rss_process_id);
        if (m->has_rss_exit)
            snprintf(at_exit, sizeof at_exit, ", %s at exit",
                     fmt_bytes(num, sizeof num, m->rss_exit));
        if (rss_pid)
            snprintf(pid, sizeof pid, " (pid %" PRId64 ")", rss_pid);
        print_line(out, "rss", "%s at most%s%s", fmt_bytes(max, sizeof max, m->rss_max), at_exit,
                   pid);
    }
    if (!m->nsites)
        return 0;
    fprintf(out, "  %-12s snapshot %" PRId64, "peak sites", m->snap_id);
    if (m->snap_label) {
        fputs(" '", out);
        fmt_put_text(out, m->snap_label);
        putc('\'', out);
    }
    fprintf(out, " (%s) at %s, by line\n", m->snap_trigger ? m->snap_trigger : "?",
            fmt_duration(dur, sizeof dur, m->snap_t_ns));
    struct fmt_table *t = fmt_table_new("rrrll");
    if (!t)
        return PYSCOPE_ENOMEM;
    for (size_t i = 0; i < m->nsites; i++) {
        const struct site *s = &m->sites[i];
        fmt_table_add(t, fmt_pct(buf, sizeof buf, (double)s->size, (double)m->whole));
        fmt_table_add(t, fmt_bytes(buf, sizeof buf, s->size));
        fmt_table_addf(t, "%s block%s", fmt_int(num, sizeof num, s->count),
                       s->count == 1 ? "" : "s");
        fmt_table_add(t, s->has_fn ? site_location(r, s, loc, sizeof loc) : "");
        fmt_table_add(t, s->has_fn ? s->name : "[unknown]");
    }
    int err = fmt_table_print(t, out, "    ");
    fmt_table_free(t);
    return err;
}

static int print_text(const struct run *r, FILE *out, long limit)
{
    size_t shown = limit > 0 && (size_t)limit < r->nprocs ? (size_t)limit : r->nprocs;
    int err;

    print_header(r, out);
    if ((err = print_processes(r, out, shown)) < 0 || (err = print_threads(r, out, shown)) < 0)
        return err;
    print_recorded(r, out);
    return 0;
}

static void json_opt(FILE *out, int has, int64_t v)
{
    if (has)
        fprintf(out, "%" PRId64, v);
    else
        fputs("null", out);
}

static void print_json_thread(FILE *out, const struct thread_row *t)
{
    fprintf(out, "{\"id\": %" PRId64 ", \"name\": ", t->id);
    fmt_json_str(out, t->name);
    fputs(", \"os_tid\": ", out);
    json_opt(out, t->has_os_tid, t->os_tid);
    fputs(", \"ident\": ", out);
    json_opt(out, t->has_ident, t->ident);
    fprintf(out, ", \"is_main\": %s, \"started_ns\": ", t->is_main ? "true" : "false");
    json_opt(out, t->has_started, t->started_ns);
    fputs(", \"ended_ns\": ", out);
    json_opt(out, t->has_ended, t->ended_ns);
    fputc('}', out);
}

static void print_json_process(FILE *out, const struct run *r, const struct process_row *p)
{
    const char *signame = p->has_signal ? util_signal_name(p->signal) : NULL;

    fprintf(out, "    {\"id\": %" PRId64 ", \"pid\": %" PRId64 ", \"parent_id\": ", p->id, p->pid);
    json_opt(out, p->has_parent, p->parent_id);
    fputs(", \"ppid\": ", out);
    json_opt(out, p->has_ppid, p->ppid);
    fputs(",\n     \"argv\": ", out);
    fmt_json_str(out, p->argv);
    fputs(", \"executable\": ", out);
    fmt_json_str(out, p->executable);
    fputs(", \"python_version\": ", out);
    fmt_json_str(out, p->python_version);
    fprintf(out, ", \"forked\": %s,\n     \"started_ns\": ", p->forked ? "true" : "false");
    json_opt(out, p->has_started, p->started_ns);
    fputs(", \"ended_ns\": ", out);
    json_opt(out, p->has_ended, p->ended_ns);
    fputs(", \"exit_code\": ", out);
    json_opt(out, p->has_code, p->exit_code);
    fputs(", \"signal\": ", out);
    json_opt(out, p->has_signal, p->signal);
    fputs(", \"signal_name\": ", out);
    fmt_json_str(out, signame);
    fputs(",\n     \"threads\": [", out);
    for (size_t j = 0; j < p->nthreads; j++) {
        fputs(j ? ",\n       " : "\n       ", out);
        print_json_thread(out, &r->threads[p->first_thread + j]);
    }
    fputs("]}", out);
}

/* "states": samples of every thread by state, or null without samples. */
static int print_json_states(sqlite3 *db, FILE *out)
{
    static const char *const names[] = {"running", "native", "idle", "gil", "runnable"};
    enum { NAMES = sizeof names / sizeof *names };
    int64_t n[NAMES] = {0}, all = 0;
    sqlite3_stmt *st;
    int rc, err = vdb_prepare(db, "SELECT state, count(*) FROM samples GROUP BY state", &st);
    if (err < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t state = sqlite3_column_int64(st, 0), count = sqlite3_column_int64(st, 1);
        if (state >= 0 && state < NAMES)
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
    for (int k = 0; k < NAMES; k++)
        fprintf(out, "%s\"%s\": %" PRId64, k ? ", " : "{", names[k], n[k]);
    putc('}', out);
    return 0;
}

/* "calls": what the call profiler counted, or null without call statistics. */
static int print_json_calls(const struct run *r, sqlite3 *db, FILE *out)
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
        const char *o = meta(r, "calls_overhead_ns");
        int has = util_parse_i64(o, &overhead) == 0;
        fprintf(out,
                "{\"calls\": %" PRId64 ", \"functions\": %zu, \"threads\": %" PRId64
                ", \"tottime_ns\": %" PRId64 ", \"overhead_ns\": ",
                calls.calls, calls.nfns, calls.nthreads, calls.tottime_ns);
        json_opt(out, has, overhead);
        putc('}', out);
    }
    cls_release(&calls);
    return 0;
}

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
    int err = first_row(db,
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
    err =
        first_row(db,
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
static int print_gc(sqlite3 *db, FILE *out)
{
    struct gcsum g;
    char n[FMT_BUFSZ], a[FMT_BUFSZ], b[FMT_BUFSZ];
    int err = load_gc(db, &g);
    if (err >= 0 && g.collections) {
        print_line(out, "gc",
                   "%s collections (generations 0/1/2: %lld/%lld/%lld), %s paused, longest %s;"
                   " 'pyscope gc' shows where",
                   fmt_int(n, sizeof n, g.collections), (long long)g.by_gen[0],
                   (long long)g.by_gen[1], (long long)g.by_gen[2],
                   fmt_duration(a, sizeof a, g.paused_ns), fmt_duration(b, sizeof b, g.longest_ns));
        if (g.site_file)
            print_line(out, "", "most paused at %s:%lld (%s): %s collections, %s", g.site_file,
                       (long long)g.site_line, g.site_function ? g.site_function : "?",
                       fmt_int(n, sizeof n, g.site_collections),
                       fmt_duration(a, sizeof a, g.site_paused_ns));
    }
    release_gc(&g);
    return err < 0 ? err : 0;
}

/* "gc": the collections, or null without any. */
static int print_json_gc(sqlite3 *db, FILE *out)
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
    int err = first_row(db, "SELECT max(snapshot_id) FROM heap_objects", 0, 0, &st);
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
static int print_cycles(sqlite3 *db, FILE *out)
{
    struct cycsum c;
    char a[FMT_BUFSZ], b[FMT_BUFSZ], types[512];
    int err = load_cycles(db, &c);
    if (err >= 0 && c.snapshot) {
        size_t ncycles = c.cy.ncycles;
        print_line(
            out, "cycles",
            "%s garbage objects in %zu cycle%s at snapshot %lld; 'pyscope cycles' shows them",
            fmt_int(a, sizeof a, (int64_t)c.g.ngarbage), ncycles, ncycles == 1 ? "" : "s",
            (long long)c.snapshot);
        for (size_t i = 0; i < c.cy.ngroups && i < CYCLE_ROWS; i++) {
            cycle_types(&c, i, types, sizeof types);
            print_line(out, "", "%s cycle%s (%s), %s",
                       fmt_int(a, sizeof a, (int64_t)c.cy.groups[i].ncycles),
                       c.cy.groups[i].ncycles == 1 ? "" : "s", types,
                       fmt_bytes(b, sizeof b, c.cy.groups[i].bytes));
        }
    }
    release_cycles(&c);
    return err < 0 ? err : 0;
}

/* "cycles": the largest garbage-cycle groups, or null without a graph. */
static int print_json_cycles(sqlite3 *db, FILE *out)
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

/* "memory": the memory section, or null without snapshots. */
static int print_json_memory(const struct run *r, sqlite3 *db, FILE *out)
{
    struct memory m;
    int err = load_memory(db, r, &m);
    if (err < 0)
        goto out;
    fputs(",\n  \"memory\": ", out);
    if (!m.nsnapshots) {
        fputs("null", out);
        goto out;
    }
    int64_t peak_pid = m.has_peak ? pid_of(r, m.peak_process_id) : 0;
    int64_t rss_pid = m.has_rss ? pid_of(r, m.rss_process_id) : 0;
    fprintf(out, "{\"snapshots\": %" PRId64 ",\n    \"peak_bytes\": ", m.nsnapshots);
    json_opt(out, m.has_peak, m.peak_bytes);
    fputs(", \"peak_process_id\": ", out);
    json_opt(out, m.has_peak, m.peak_process_id);
    fputs(", \"peak_pid\": ", out);
    json_opt(out, peak_pid != 0, peak_pid);
    fputs(",\n    \"rss_max_bytes\": ", out);
    json_opt(out, m.has_rss, m.rss_max);
    fputs(", \"rss_pid\": ", out);
    json_opt(out, rss_pid != 0, rss_pid);
    fputs(", \"rss_exit_bytes\": ", out);
    json_opt(out, m.has_rss_exit, m.rss_exit);
    fputs(",\n    \"peak_snapshot\": ", out);
    if (m.has_snap) {
        fprintf(out, "{\"id\": %" PRId64 ", \"label\": ", m.snap_id);
        fmt_json_str(out, m.snap_label);
        fputs(", \"trigger\": ", out);
        fmt_json_str(out, m.snap_trigger);
        fprintf(out, ", \"t_ns\": %" PRId64 ", \"traced_bytes\": ", m.snap_t_ns);
        json_opt(out, m.snap_bytes >= 0, m.snap_bytes);
        fputs(", \"traced_blocks\": ", out);
        json_opt(out, m.snap_blocks >= 0, m.snap_blocks);
        putc('}', out);
    } else {
        fputs("null", out);
    }
    fputs(",\n    \"peak_sites\": [", out);
    for (size_t i = 0; i < m.nsites; i++) {
        const struct site *s = &m.sites[i];
        fputs(i ? ",\n      {\"filename\": " : "\n      {\"filename\": ", out);
        fmt_json_str(out, s->has_fn ? s->filename : NULL);
        fputs(", \"line\": ", out);
        json_opt(out, s->line > 0, s->line);
        fputs(", \"function\": ", out);
        fmt_json_str(out, s->has_fn ? s->name : NULL);
        fprintf(out, ", \"size\": %" PRId64 ", \"count\": %" PRId64 ", \"pct\": %.2f}", s->size,
                s->count, m.whole > 0 ? 100.0 * (double)s->size / (double)m.whole : 0.0);
    }
    fputs(m.nsites ? "\n    ]}" : "]}", out);
out:
    release_memory(&m);
    return err;
}

static int print_json(const struct run *r, sqlite3 *db, FILE *out, long limit)
{
    size_t shown = limit > 0 && (size_t)limit < r->nprocs ? (size_t)limit : r->nprocs;
    int64_t ns = 0;

    fputs("{\n  \"database\": ", out);
    fmt_json_str(out, r->path);
    fprintf(out, ",\n  \"schema_version\": %d,\n  \"duration_ns\": ", r->version);
    int has_duration = run_duration(r, &ns);
    json_opt(out, has_duration, ns);
    fputs(",\n  \"meta\": {", out);
    for (size_t i = 0; i < r->nmeta; i++) {
        fputs(i ? ",\n    " : "\n    ", out);
        fmt_json_str(out, r->meta[i].key);
        fputs(": ", out);
        fmt_json_str(out, r->meta[i].value);
    }
    fputs(r->nmeta ? "\n  },\n  \"processes\": [" : "},\n  \"processes\": [", out);
    /* In id order, parents before children as the recorder numbers them. */
    for (size_t i = 0; i < shown; i++) {
        fputs(i ? ",\n" : "\n", out);
        print_json_process(out, r, &r->procs[i]);
    }
    fprintf(out, "%s],\n  \"counts\": {\"processes\": %zu, \"threads\": %zu", shown ? "\n  " : "",
            r->nprocs, r->nthreads);
    for (size_t i = 0; i < NCOUNTED; i++)
        fprintf(out, ", \"%s\": %" PRId64, counted[i].table, r->counts[i]);
    putc('}', out);
    int err = print_json_states(db, out);
    if (!err)
        err = print_json_calls(r, db, out);
    if (!err)
        err = print_json_memory(r, db, out);
    if (!err)
        err = print_json_gc(db, out);
    if (!err)
        err = print_json_cycles(db, out);
    fputs("\n}\n", out);
    return err;
}

/*
 * Open, load and print the run at path. Prints its own one-line error;
 * *bad_db says the file itself was refused (a usage error for the CLI).
 */
static int summarize(const char *path, FILE *out, int json, long limit, int *bad_db)
{
    struct run r = {.path = path};
    sqlite3 *db = NULL;
    char msg[512];
    int err;

    *bad_db = 0;
    if ((err = vdb_open(path, &db, msg, sizeof msg)) < 0) {
        cli_error("%s", msg);
        *bad_db = 1;
        return err;
    }
    if ((err = load_run(db, &r)) < 0) {
        if (err == PYSCOPE_ENOMEM)
            cli_error("cannot read '%s': %s", path, pyscope_strerror(err));
        else
            cli_error("cannot read '%s': %s", path, sqlite3_errmsg(db));
        goto out;
    }
    if (json) {
        err = print_json(&r, db, out, limit);
    } else if ((err = print_text(&r, out, limit)) >= 0) {
        /* Samples and call statistics name their functions through one
         * profile, loaded once; without it the rest of the summary stands. */
        struct smp_profile *prof = NULL;
        if (r.counts[0] || r.counts[1])
            err = smp_load(db, path, NULL, &prof, msg, sizeof msg);
        if (err != PYSCOPE_ENOMEM && (err = print_hot(&r, prof, out)) >= 0)
            err = print_calls(&r, db, prof, out);
        smp_free(prof);
        if (err >= 0) {
            struct memory m;
            if ((err = load_memory(db, &r, &m)) >= 0)
                err = print_memory(&r, &m, out);
            release_memory(&m);
            if (err >= 0)
                err = print_gc(db, out);
            if (err >= 0)
                err = print_cycles(db, out);
            if (err != PYSCOPE_ENOMEM)
                err = 0; /* as with the calls: the rest of the summary stands on its own */
        }
    }
    if (err < 0)
        cli_error("%s", pyscope_strerror(err));
    if (!err && (fflush(out) == EOF || ferror(out))) {
        cli_error("cannot write the summary: %s", strerror(errno));
        err = PYSCOPE_EIO;
    }
out:
    release_run(&r);
    vdb_close(db);
    return err;
}

int summary_print(const char *path, FILE *out)
{
    int bad_db;
    return summarize(path, out, 0, DEFAULT_LIMIT, &bad_db);
}

int cmd_summary(int argc, char **argv)
{
    const struct opts_cmd cmd = {.name = "summary", .usage = cmd_summary_usage};
    int json = 0, bad_db;
    int64_t limit = -1; /* not given */
    const struct opts_spec specs[] = {
        {.name = "--json", .kind = OPTS_FLAG, .dest = &json},
        {.name = "--limit",
         .kind = OPTS_INT,
         .flags = OPTS_LOOSE | OPTS_MISSING_IS_BAD,
         .dest = &limit,
         .min = 0,
         .max = LONG_MAX,
         .bad = "'--limit' needs a number of processes (0 for all), not '%s'"},
    };
    int npos = opts_parse(&cmd, specs, sizeof specs / sizeof *specs, argc, argv);
    if (npos < 0)
        return opts_status(npos);
    if (npos != 1) {
        opts_usage_error(&cmd);
        return CLI_USAGE;
    }
    if (limit < 0)
        limit = json ? 0 : DEFAULT_LIMIT;
    if (summarize(argv[1], stdout, json, (long)limit, &bad_db) < 0)
        return bad_db ? CLI_USAGE : CLI_FAIL;
    return CLI_OK;
}
