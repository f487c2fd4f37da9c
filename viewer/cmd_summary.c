/*
 * `pyscope summary [--json] [--limit N] RUN.db`: what a recorded run holds.
 * What ran and with which interpreter, when and for how long, how it ended,
 * the process tree with each process's threads, and how much of each kind of
 * evidence was recorded. `pyscope profile` prints the same after every run
 * through summary_print, so this is the first thing a user reads: it must
 * fit a terminal for a run of hundreds of processes (--limit) and still say
 * something useful about a run that crashed or is still recording.
 *
 * The run is loaded into memory first (sumrun.h: meta, processes, threads,
 * counts), then rendered as text or JSON from the same data: here what ran,
 * how it ended and the process tree; each kind of evidence in its own
 * section (sumprof.h: samples and calls, summem.h: memory snapshots,
 * sumgc.h: the garbage collector).
 */
#include "cli.h"
#include "cmd.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "opts.h"
#include "samples.h"
#include "sumgc.h"
#include "summem.h"
#include "sumprof.h"
#include "sumrun.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
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
static char *run_ending(char *buf, size_t len, const struct sumrun *r)
{
    const char *status = sumrun_meta(r, "exit_status");
    const struct sumrun_process *root = sumrun_root(r);
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
static char *process_ending(char *buf, size_t len, const struct sumrun_process *p)
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
             n == 1 ? sumrun_counted[i].one : sumrun_counted[i].many);
    return buf;
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
static char *process_command(char *buf, size_t len, const struct sumrun_process *p)
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

static void print_header(const struct sumrun *r, FILE *out)
{
    const char *argv = sumrun_meta(r, "argv");
    const struct sumrun_process *root = sumrun_root(r);
    const char *version = sumrun_meta(r, "python_version");
    const char *exe = sumrun_meta(r, "python_executable");
    const char *started = sumrun_meta(r, "started_at");
    const char *host = sumrun_meta(r, "host");
    const char *cwd = sumrun_meta(r, "cwd");
    const char *options = sumrun_meta(r, "options");
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
    fmt_put_text(out, sumrun_meta(r, "pyscope_version") ? sumrun_meta(r, "pyscope_version") : "?");
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
        sumrun_line(out, "interpreter", "%s%s%s", impl, *impl && exe ? "  " : "", exe ? exe : "");
    }
    if (cwd)
        sumrun_line(out, "directory", "%s", cwd);

    /* The recorded local time of day reads best; the raw ns is the fallback. */
    if (started && strlen(started) >= 19 && (started[10] == 'T' || started[10] == ' ')) {
        snprintf(when, sizeof when, "%.19s", started);
        when[10] = ' ';
    } else if (started) {
        snprintf(when, sizeof when, "%s", started);
    } else if (util_parse_i64(sumrun_meta(r, "start_wall_ns"), &ns) == 0) {
        fmt_datetime(when, sizeof when, ns);
    } else {
        snprintf(when, sizeof when, "(time not recorded)");
    }
    if (sumrun_duration(r, &ns))
        fmt_duration(dur, sizeof dur, ns);
    else
        snprintf(dur, sizeof dur, "unknown");
    sumrun_line(out, "started", "%s%s%s   duration %s", when, host ? " on " : "", host ? host : "",
                dur);
    sumrun_line(out, "ended", "%s", run_ending(ending, sizeof ending, r));
    if (options)
        sumrun_line(out, "options", "%s", options);
    if (util_parse_i64(sumrun_meta(r, "protocol_errors"), &ns) == 0 && ns > 0)
        sumrun_line(out, "warning", "%" PRId64 " malformed record%s from the program %s dropped",
                    ns, ns == 1 ? "" : "s", ns == 1 ? "was" : "were");
}

static int print_processes(const struct sumrun *r, FILE *out, size_t shown)
{
    static const char spaces[] = "                        "; /* 2 * MAX_INDENT */
    char dur[FMT_BUFSZ], cmd[ARGV_COLS * 4 + 4], ending[64];
    struct fmt_table *t = fmt_table_new("lrl");
    char num[FMT_BUFSZ];
    int err;

    sumrun_line(out, "processes", "%s", fmt_int(num, sizeof num, (int64_t)r->nprocs));
    if (!t)
        return PYSCOPE_ENOMEM;
    for (size_t k = 0; k < shown; k++) {
        const struct sumrun_process *p = &r->procs[r->order[k]];
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
static int thread_names(struct sbuf *sb, const struct sumrun *r, const struct sumrun_process *p)
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

static int print_threads(const struct sumrun *r, FILE *out, size_t shown)
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
        sumrun_line(out, "threads", "none recorded");
    } else if (r->nprocs == 1) {
        if ((err = thread_names(&names, r, &r->procs[0])) == 0)
            sumrun_line(out, "threads", "%s: %s", num, sbuf_str(&names));
    } else {
        sumrun_line(out, "threads", "%s in %zu process%s", num, with_threads,
                    with_threads == 1 ? "" : "es");
        if (!(t = fmt_table_new("rl")))
            return PYSCOPE_ENOMEM;
        for (size_t k = 0; k < shown && !err; k++) {
            const struct sumrun_process *p = &r->procs[r->order[k]];
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

static void print_recorded(const struct sumrun *r, FILE *out)
{
    char buf[FMT_BUFSZ * 2];
    int any = 0, nzero = 0, zeros_done = 0;

    fprintf(out, "  %-12s ", "recorded");
    for (size_t i = 0; i < SUMRUN_NCOUNTED; i++) {
        if (r->counts[i]) {
            fprintf(out, "%s%s", any ? ", " : "", count_text(buf, sizeof buf, i, r->counts[i]));
            any = 1;
        } else {
            nzero++;
        }
    }
    /* The empty ones in one phrase: "; no snapshots, heap objects or gc collections". */
    for (size_t i = 0; i < SUMRUN_NCOUNTED; i++) {
        if (r->counts[i])
            continue;
        const char *sep = !zeros_done               ? (any ? "; no " : "no ")
                          : zeros_done + 1 == nzero ? " or "
                                                    : ", ";
        fprintf(out, "%s%s", sep, sumrun_counted[i].many);
        zeros_done++;
    }
    putc('\n', out);
}

static int print_text(const struct sumrun *r, FILE *out, long limit)
{
    size_t shown = limit > 0 && (size_t)limit < r->nprocs ? (size_t)limit : r->nprocs;
    int err;

    print_header(r, out);
    if ((err = print_processes(r, out, shown)) < 0 || (err = print_threads(r, out, shown)) < 0)
        return err;
    print_recorded(r, out);
    return 0;
}

static void print_json_thread(FILE *out, const struct sumrun_thread *t)
{
    fprintf(out, "{\"id\": %" PRId64 ", \"name\": ", t->id);
    fmt_json_str(out, t->name);
    fputs(", \"os_tid\": ", out);
    sumrun_json_opt(out, t->has_os_tid, t->os_tid);
    fputs(", \"ident\": ", out);
    sumrun_json_opt(out, t->has_ident, t->ident);
    fprintf(out, ", \"is_main\": %s, \"started_ns\": ", t->is_main ? "true" : "false");
    sumrun_json_opt(out, t->has_started, t->started_ns);
    fputs(", \"ended_ns\": ", out);
    sumrun_json_opt(out, t->has_ended, t->ended_ns);
    fputc('}', out);
}

static void print_json_process(FILE *out, const struct sumrun *r, const struct sumrun_process *p)
{
    const char *signame = p->has_signal ? util_signal_name(p->signal) : NULL;

    fprintf(out, "    {\"id\": %" PRId64 ", \"pid\": %" PRId64 ", \"parent_id\": ", p->id, p->pid);
    sumrun_json_opt(out, p->has_parent, p->parent_id);
    fputs(", \"ppid\": ", out);
    sumrun_json_opt(out, p->has_ppid, p->ppid);
    fputs(",\n     \"argv\": ", out);
    fmt_json_str(out, p->argv);
    fputs(", \"executable\": ", out);
    fmt_json_str(out, p->executable);
    fputs(", \"python_version\": ", out);
    fmt_json_str(out, p->python_version);
    fprintf(out, ", \"forked\": %s,\n     \"started_ns\": ", p->forked ? "true" : "false");
    sumrun_json_opt(out, p->has_started, p->started_ns);
    fputs(", \"ended_ns\": ", out);
    sumrun_json_opt(out, p->has_ended, p->ended_ns);
    fputs(", \"exit_code\": ", out);
    sumrun_json_opt(out, p->has_code, p->exit_code);
    fputs(", \"signal\": ", out);
    sumrun_json_opt(out, p->has_signal, p->signal);
    fputs(", \"signal_name\": ", out);
    fmt_json_str(out, signame);
    fputs(",\n     \"threads\": [", out);
    for (size_t j = 0; j < p->nthreads; j++) {
        fputs(j ? ",\n       " : "\n       ", out);
        print_json_thread(out, &r->threads[p->first_thread + j]);
    }
    fputs("]}", out);
}

static int print_json(const struct sumrun *r, sqlite3 *db, FILE *out, long limit)
{
    size_t shown = limit > 0 && (size_t)limit < r->nprocs ? (size_t)limit : r->nprocs;
    int64_t ns = 0;

    fputs("{\n  \"database\": ", out);
    fmt_json_str(out, r->path);
    fprintf(out, ",\n  \"schema_version\": %d,\n  \"duration_ns\": ", r->version);
    int has_duration = sumrun_duration(r, &ns);
    sumrun_json_opt(out, has_duration, ns);
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
    for (size_t i = 0; i < SUMRUN_NCOUNTED; i++)
        fprintf(out, ", \"%s\": %" PRId64, sumrun_counted[i].table, r->counts[i]);
    putc('}', out);
    int err = sumprof_json_states(db, out);
    if (!err)
        err = sumprof_json_calls(r, db, out);
    if (!err)
        err = summem_json(r, db, out);
    if (!err)
        err = sumgc_json(db, out);
    if (!err)
        err = sumgc_json_cycles(db, out);
    fputs("\n}\n", out);
    return err;
}

/*
 * Open, load and print the run at path. Prints its own one-line error;
 * *bad_db says the file itself was refused (a usage error for the CLI).
 */
static int summarize(const char *path, FILE *out, int json, long limit, int *bad_db)
{
    struct sumrun r = {.path = path};
    sqlite3 *db = NULL;
    char msg[512];
    int err;

    *bad_db = 0;
    if ((err = vdb_open(path, &db, msg, sizeof msg)) < 0) {
        cli_error("%s", msg);
        *bad_db = 1;
        return err;
    }
    if ((err = sumrun_load(db, &r)) < 0) {
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
        if (r.counts[SUMRUN_SAMPLES] || r.counts[SUMRUN_CALLS])
            err = smp_load(db, path, NULL, &prof, msg, sizeof msg);
        if (err != PYSCOPE_ENOMEM && (err = sumprof_print_hot(&r, prof, out)) >= 0)
            err = sumprof_print_calls(&r, db, prof, out);
        smp_free(prof);
        if (err >= 0) {
            err = summem_print(&r, db, out);
            if (err >= 0)
                err = sumgc_print(db, out);
            if (err >= 0)
                err = sumgc_print_cycles(db, out);
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
    sumrun_release(&r);
    vdb_close(db);
    return err;
}

int summary_json(sqlite3 *db, const char *path, FILE *out)
{
    struct sumrun r = {.path = path};
    int err = sumrun_load(db, &r);
    if (!err)
        err = print_json(&r, db, out, 0);
    sumrun_release(&r);
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
