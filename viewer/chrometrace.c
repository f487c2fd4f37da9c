/*
 * The Chrome trace export of chrometrace.h. The samples of a thread are
 * read in time order and turned into nested complete ("X") events as they
 * come: the events of the path open so far (state, then frames) are kept
 * with their start, and a sample closes those its own path does not share
 * and opens the rest. Nothing is held per sample, so a long run costs
 * memory by its deepest stack, not by its length.
 */
#include "chrometrace.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "samples.h"
#include "stacks.h"
#include "util.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The tracks of a process besides its threads': their thread ids lie above
 * any a kernel hands out (at most 2^22 on Linux). */
#define TRACK_PROCESS 0x40000000
#define TRACK_GC (TRACK_PROCESS + 1)

/* An event of the open path: the state (fn STACKS_NONE) or a frame. */
struct open_ev {
    uint32_t fn;
    int state;
    int64_t start;
};

struct writer {
    FILE *out;
    sqlite3 *db;
    struct stacks *st;
    int64_t interval_ns;
    int n;                /* events written */
    struct open_ev *open; /* the path open on the current thread */
    size_t nopen, capopen;
    uint32_t *path; /* a sample's frames, outermost first */
    size_t cappath;
    int64_t pid, tid; /* of the current thread's events */
};

/* A time as "ts" and, from start to end, "dur": whole microseconds, the
 * start's and the end's rounded down. A viewer adds ts and dur as
 * floating point numbers to find an event's end: with fractions, a child
 * and its parent that end together can end a hair apart, the parent
 * first, and speedscope then drops the end; whole numbers add exactly. */
static int64_t us(int64_t ns)
{
    return ns > 0 ? ns / 1000 : 0;
}

static void put_ts(FILE *out, int64_t ns)
{
    fprintf(out, "\"ts\":%" PRId64, us(ns));
}

static void put_span(FILE *out, int64_t start, int64_t end)
{
    fprintf(out, "\"ts\":%" PRId64 ",\"dur\":%" PRId64, us(start),
            end > start ? us(end) - us(start) : 0);
}

/* The separator before an event, and its phase, name, pid and tid. */
static void ev_head(struct writer *w, const char *ph, const char *name, int64_t pid, int64_t tid)
{
    fputs(w->n++ ? ",\n{" : "\n{", w->out);
    fprintf(w->out, "\"ph\":\"%s\",\"name\":", ph);
    fmt_json_str(w->out, name);
    fprintf(w->out, ",\"pid\":%" PRId64 ",\"tid\":%" PRId64, pid, tid);
}

static void meta_name(struct writer *w, const char *what, int64_t pid, int64_t tid,
                      const char *name, int64_t sort)
{
    ev_head(w, "M", what, pid, tid);
    fputs(",\"args\":{\"name\":", w->out);
    fmt_json_str(w->out, name);
    fputs("}}", w->out);
    const char *sort_what =
        strcmp(what, "process_name") ? "thread_sort_index" : "process_sort_index";
    ev_head(w, "M", sort_what, pid, tid);
    fprintf(w->out, ",\"args\":{\"sort_index\":%" PRId64 "}}", sort);
}

/* Close the open events from index keep on, at end. They are written
 * outermost first: viewers order events of the same start and length as
 * the file does (catapult's), and take the first for the parent. */
static void close_from(struct writer *w, size_t keep, int64_t end)
{
    for (size_t i = keep; i < w->nopen; i++) {
        const struct open_ev *e = &w->open[i];
        if (e->fn == STACKS_NONE) {
            const char *name = smp_state_name(e->state);
            ev_head(w, "X", name, w->pid, w->tid);
            fputs(",\"cat\":\"state\",", w->out);
        } else {
            const struct stacks_function *fn = &w->st->fns[e->fn];
            const char *name = fn->qualname ? fn->qualname : fn->name ? fn->name : "?";
            ev_head(w, "X", name, w->pid, w->tid);
            fprintf(w->out, ",\"cat\":\"%s\",\"args\":{\"file\":",
                    fn->kind == STACKS_NATIVE    ? "native"
                    : fn->kind == STACKS_BUILTIN ? "builtin"
                                                 : "python");
            fmt_json_str(w->out,
                         fn->kind == STACKS_NATIVE && fn->source ? fn->source : fn->filename);
            if (fn->firstlineno > 0)
                fprintf(w->out, ",\"first_line\":%" PRId64, fn->firstlineno);
            fputs("},", w->out);
        }
        put_span(w->out, e->start, end);
        fputc('}', w->out);
    }
    if (w->nopen > keep)
        w->nopen = keep;
}

/* The frames of stack id, outermost first, into w->path; their count, or
 * a negative PYSCOPE_E* code. A stack the table lacks has none. */
static long stack_path(struct writer *w, sqlite3_stmt *row, int col)
{
    if (sqlite3_column_type(row, col) == SQLITE_NULL)
        return 0;
    size_t idx;
    int err = stacks_find_node(w->st, sqlite3_column_int64(row, col), &idx);
    if (err < 0)
        return err;
    size_t n = 0;
    for (size_t i = idx; i != SIZE_MAX && i != STACKS_NONE && i < w->st->node_ids.n;
         i = w->st->nodes[i].parent) {
        if (n > w->st->node_ids.n)
            break; /* a loop in a damaged file */
        if (util_grow((void **)&w->path, &w->cappath, n, sizeof *w->path) < 0)
            return PYSCOPE_ENOMEM;
        w->path[n++] = w->st->nodes[i].frame;
    }
    for (size_t a = 0, b = n; a + 1 < b; a++, b--) {
        uint32_t t = w->path[a];
        w->path[a] = w->path[b - 1];
        w->path[b - 1] = t;
    }
    return (long)n;
}

/* One thread's samples, in time order, as nested events. */
static int write_thread(struct writer *w, int64_t thread_id)
{
    sqlite3_stmt *st;
    int err = vdb_prepare(w->db,
                          "SELECT t_ns, ticks, state, stack_id FROM samples WHERE thread_id = ?1 "
                          "ORDER BY t_ns",
                          &st);
    if (err < 0)
        return err;
    sqlite3_bind_int64(st, 1, thread_id);
    int64_t last_end = INT64_MIN;
    int rc;
    w->nopen = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t t = sqlite3_column_int64(st, 0), ticks = sqlite3_column_int64(st, 1);
        int state = sqlite3_column_int(st, 2);
        if (state < 0 || state >= SMP_NSTATES)
            continue;
        long depth = stack_path(w, st, 3);
        if (depth < 0) {
            err = (int)depth;
            break;
        }
        /* a sample stands for its ticks from its time on, until the next
         * one; one that comes over an interval after the last one's end
         * follows a gap */
        int64_t end = t + (ticks > 0 ? ticks : 1) * (w->interval_ns > 0 ? w->interval_ns : 1);
        if (last_end != INT64_MIN && t - last_end > w->interval_ns)
            close_from(w, 0, last_end);
        int64_t at = t; /* no earlier than any open event's start: rows come in time order */
        /* what stays open: the same state, then the same functions */
        size_t keep = 0;
        if (w->nopen && w->open[0].state == state) {
            keep = 1;
            while (keep < w->nopen && keep - 1 < (size_t)depth &&
                   w->path[keep - 1] != STACKS_NONE &&
                   w->st->frames[w->path[keep - 1]].fn == w->open[keep].fn)
                keep++;
        }
        close_from(w, keep, at);
        if (util_reserve((void **)&w->open, &w->capopen, (size_t)depth + 1, sizeof *w->open, 64) <
            0) {
            err = PYSCOPE_ENOMEM;
            break;
        }
        if (!w->nopen)
            w->open[w->nopen++] = (struct open_ev){STACKS_NONE, state, at};
        for (size_t i = w->nopen - 1; i < (size_t)depth; i++) {
            uint32_t frame = w->path[i];
            if (frame == STACKS_NONE || w->st->frames[frame].fn == STACKS_NONE)
                break; /* the rest is not in the tables */
            w->open[w->nopen++] = (struct open_ev){w->st->frames[frame].fn, state, at};
        }
        /* a run of idle ticks is counted, not timed: the ticks of one can
         * come later than the intervals say, and the next sample ends it */
        last_end = end;
    }
    if (!err && rc != SQLITE_DONE)
        err = PYSCOPE_EDB;
    sqlite3_finalize(st);
    if (last_end != INT64_MIN)
        close_from(w, 0, last_end);
    return err;
}

/* The threads f selects, named and sorted, each with its samples. */
static int write_threads(struct writer *w, const struct smp_filter *f, int64_t *nthreads)
{
    sqlite3_stmt *st;
    int err = vdb_prepare(w->db,
                          "SELECT t.id, p.pid, t.os_tid, t.name, t.is_main FROM threads t "
                          "JOIN processes p ON p.id = t.process_id "
                          "WHERE (?1 IS NULL OR p.pid = ?1) "
                          "AND (?2 IS NULL OR t.name = ?2 OR t.id = ?3) "
                          "ORDER BY p.started_ns, p.id, t.is_main DESC, t.started_ns, t.id",
                          &st);
    if (err < 0)
        return err;
    if (f && f->has_pid)
        sqlite3_bind_int64(st, 1, f->pid);
    int64_t id;
    if (f && f->thread) { /* its id or its name, as the other commands take it */
        sqlite3_bind_text(st, 2, f->thread, -1, SQLITE_STATIC);
        if (util_parse_i64(f->thread, &id) == 0)
            sqlite3_bind_int64(st, 3, id);
    }
    int rc = SQLITE_DONE;
    int64_t sort = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t thread = sqlite3_column_int64(st, 0);
        w->pid = sqlite3_column_int64(st, 1);
        /* a thread the kernel did not name keeps its own id, above the
         * kernel's and the process's tracks */
        w->tid = sqlite3_column_type(st, 2) == SQLITE_NULL ? TRACK_GC + 1 + thread
                                                           : sqlite3_column_int64(st, 2);
        const char *name = (const char *)sqlite3_column_text(st, 3);
        char label[64];
        snprintf(label, sizeof label, "thread %" PRId64, thread);
        meta_name(w, "thread_name", w->pid, w->tid, name ? name : label, ++sort);
        err = write_thread(w, thread);
        ++*nthreads;
    }
    if (!err && rc != SQLITE_DONE)
        err = PYSCOPE_EDB;
    sqlite3_finalize(st);
    return err;
}

/* How a process ended, for its lifetime's event. */
static void put_end(FILE *out, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) != SQLITE_NULL)
        fprintf(out, ",\"exit_code\":%d", sqlite3_column_int(st, col));
    if (sqlite3_column_type(st, col + 1) != SQLITE_NULL)
        fprintf(out, ",\"signal\":%d", sqlite3_column_int(st, col + 1));
}

/* ",\"key\":value" of a column, or nothing when it is NULL (not measured). */
static void put_known(FILE *out, const char *key, sqlite3_stmt *st, int col, int *first)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return;
    fprintf(out, "%s\"%s\":%lld", *first ? "" : ",", key, (long long)sqlite3_column_int64(st, col));
    *first = 0;
}

/* The snapshots of process id (pid): instants, and the memory counter. */
static int write_snapshots(struct writer *w, int64_t id, int64_t pid)
{
    sqlite3_stmt *q;
    int err = vdb_prepare(w->db,
                          "SELECT id, t_ns, trigger, label, traced_bytes, traced_blocks, "
                          "rss_bytes FROM snapshots WHERE process_id = ?1 ORDER BY t_ns",
                          &q);
    if (err < 0)
        return err;
    sqlite3_bind_int64(q, 1, id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        char name[128];
        const char *trigger = (const char *)sqlite3_column_text(q, 2);
        snprintf(name, sizeof name, "snapshot %lld (%s)", (long long)sqlite3_column_int64(q, 0),
                 trigger ? trigger : "?");
        ev_head(w, "i", name, pid, TRACK_PROCESS);
        fputs(",\"s\":\"t\",\"cat\":\"snapshot\",\"args\":{\"label\":", w->out);
        fmt_json_str(w->out, (const char *)sqlite3_column_text(q, 3));
        int first = 0;
        put_known(w->out, "traced_bytes", q, 4, &first);
        put_known(w->out, "traced_blocks", q, 5, &first);
        put_known(w->out, "rss_bytes", q, 6, &first);
        fputs("},", w->out);
        put_ts(w->out, sqlite3_column_int64(q, 1));
        fputc('}', w->out);
        if (sqlite3_column_type(q, 4) == SQLITE_NULL && sqlite3_column_type(q, 6) == SQLITE_NULL)
            continue; /* nothing measured: no point, rather than a drop to 0 */
        ev_head(w, "C", "memory", pid, TRACK_PROCESS);
        fputs(",\"args\":{", w->out);
        first = 1;
        put_known(w->out, "traced", q, 4, &first);
        put_known(w->out, "rss", q, 6, &first);
        fputs("},", w->out);
        put_ts(w->out, sqlite3_column_int64(q, 1));
        fputc('}', w->out);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : PYSCOPE_EDB;
}

/* The collections of process id (pid), on its gc track. */
static int write_collections(struct writer *w, int64_t id, int64_t pid)
{
    sqlite3_stmt *q;
    int err = vdb_prepare(w->db,
                          "SELECT g.t_ns, g.duration_ns, g.generation, g.collected, "
                          "g.uncollectable, t.name FROM gc_collections g "
                          "LEFT JOIN threads t ON t.id = g.thread_id "
                          "WHERE g.process_id = ?1 ORDER BY g.t_ns",
                          &q);
    if (err < 0)
        return err;
    sqlite3_bind_int64(q, 1, id);
    int rc, named = 0;
    int64_t lane_end = INT64_MIN;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!named++)
            meta_name(w, "thread_name", pid, TRACK_GC, "gc", -1);
        int64_t t = sqlite3_column_int64(q, 0), dur = sqlite3_column_int64(q, 1);
        if (t < lane_end) { /* collections do not overlap: one ends before the next */
            dur -= lane_end - t;
            t = lane_end;
        }
        dur = dur > 0 ? dur : 0;
        lane_end = t + dur;
        char name[32];
        snprintf(name, sizeof name, "gc gen %d", sqlite3_column_int(q, 2));
        ev_head(w, "X", name, pid, TRACK_GC);
        fprintf(w->out,
                ",\"cat\":\"gc\",\"args\":{\"collected\":%lld,\"uncollectable\":%lld,\"thread\":",
                (long long)sqlite3_column_int64(q, 3), (long long)sqlite3_column_int64(q, 4));
        fmt_json_str(w->out, (const char *)sqlite3_column_text(q, 5));
        fputs("},", w->out);
        put_span(w->out, t, t + dur);
        fputc('}', w->out);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : PYSCOPE_EDB;
}

/* Each process: its name, its lifetime and snapshots, and its collections. */
static int write_processes(struct writer *w, const struct smp_filter *f, int64_t last_ns)
{
    sqlite3_stmt *st;
    int has_snaps = vdb_has_table(w->db, "snapshots");
    int has_gc = vdb_has_table(w->db, "gc_collections");
    if (has_snaps < 0 || has_gc < 0)
        return PYSCOPE_EDB;
    int err = vdb_prepare(w->db,
                          "SELECT id, pid, argv, started_ns, ended_ns, exit_code, signal "
                          "FROM processes WHERE ?1 IS NULL OR pid = ?1 ORDER BY started_ns, id",
                          &st);
    if (err < 0)
        return err;
    if (f && f->has_pid)
        sqlite3_bind_int64(st, 1, f->pid);
    int rc = SQLITE_DONE;
    int64_t sort = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), pid = sqlite3_column_int64(st, 1);
        const char *argv = (const char *)sqlite3_column_text(st, 2);
        const char *label = argv ? argv : "python";
        meta_name(w, "process_name", pid, 0, label, ++sort);
        meta_name(w, "thread_name", pid, TRACK_PROCESS, "process", -2);
        int64_t start = sqlite3_column_int64(st, 3);
        int ended = sqlite3_column_type(st, 4) != SQLITE_NULL;
        int64_t end = ended ? sqlite3_column_int64(st, 4) : last_ns;
        ev_head(w, "X", label, pid, TRACK_PROCESS);
        fprintf(w->out, ",\"cat\":\"process\",\"args\":{\"pid\":%" PRId64 ",\"ended\":%s", pid,
                ended ? "true" : "false");
        put_end(w->out, st, 5);
        fputs("},", w->out);
        put_span(w->out, start, end);
        fputc('}', w->out);
        if (has_snaps)
            err = write_snapshots(w, id, pid);
        if (!err && has_gc)
            err = write_collections(w, id, pid);
    }
    if (!err && rc != SQLITE_DONE)
        err = PYSCOPE_EDB;
    sqlite3_finalize(st);
    return err;
}

int ctrace_write(FILE *out, sqlite3 *db, const char *path, const struct smp_filter *f, char *msg,
                 size_t msglen)
{
    struct writer w = {.out = out, .db = db};
    char *rate = NULL;
    if (vdb_meta(db, "sample_rate_hz", &rate) == 0 && rate && atof(rate) > 0)
        w.interval_ns = (int64_t)(1e9 / atof(rate) + 0.5);
    free(rate);
    int64_t last_ns = 0, nthreads = 0;
    vdb_int(db,
            "SELECT max(x) FROM (SELECT max(ended_ns) x FROM processes "
            "UNION ALL SELECT max(t_ns) FROM samples)",
            NULL, &last_ns);
    int err = stacks_open(db, &w.st);
    if (err == 0)
        err = stacks_load(w.st, INT64_MAX);
    if (err == 0) {
        fputs("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"pyscope\",\"argv\":", out);
        char *argv = NULL;
        vdb_meta(db, "argv", &argv);
        fmt_json_str(out, argv);
        free(argv);
        fputs("},\"traceEvents\":[", out);
        err = write_processes(&w, f, last_ns);
    }
    if (err == 0)
        err = write_threads(&w, f, &nthreads);
    if (err == 0) {
        fputs("\n]}\n", out);
        if (!nthreads) {
            vdb_msg(msg, msglen, "%s: no thread matches the selection", path);
            err = PYSCOPE_ENOTFOUND;
        }
    } else if (err == PYSCOPE_EDB) {
        vdb_msg(msg, msglen, "%s: %s", path, sqlite3_errmsg(db));
    } else {
        snprintf(msg, msglen, "%s", pyscope_strerror(err));
    }
    if (w.st)
        stacks_free(w.st);
    free(w.open);
    free(w.path);
    return err;
}
