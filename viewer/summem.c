/*
 * The summary's memory section (summem.h): the peak of traced memory and
 * the process that reached it, the RSS, and the lines that held the most
 * at the peak, from a few queries on the snapshot tables and the grouping
 * `pyscope stats --by lineno` makes (memory.h).
 */
#include "summem.h"
#include "db.h"
#include "error.h"
#include "format.h"
#include "memory.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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
    int has_own; /* snapshots.pyscope_bytes: the memory tracer's tables */
    int64_t own_max, own_process_id;
    int has_recorder; /* meta recorder_rss_bytes */
    int64_t recorder_rss;
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

/* The peak: the process with the largest peak_bytes (or, when none was traced, the largest
 * traced_bytes), and that process's peak snapshot, else its fullest. */
static int load_peak(sqlite3 *db, struct memory *m)
{
    sqlite3_stmt *st;
    int err =
        sumrun_first_row(db,
                         "SELECT process_id, peak_bytes FROM snapshots"
                         " ORDER BY peak_bytes IS NULL, peak_bytes DESC, traced_bytes DESC, id"
                         " LIMIT 1",
                         0, 0, &st);
    if (err <= 0)
        return err;
    int64_t process_id = sqlite3_column_int64(st, 0);
    m->has_peak = sumrun_col_int(st, 1, &m->peak_bytes);
    m->peak_process_id = process_id;
    sqlite3_finalize(st);
    err = sumrun_first_row(
        db,
        "SELECT id, t_ns, traced_bytes, traced_blocks, label, trigger FROM snapshots"
        " WHERE process_id = ?1"
        " ORDER BY trigger = 'peak' DESC, traced_bytes DESC, id LIMIT 1",
        1, process_id, &st);
    if (err <= 0)
        return err;
    m->has_snap = 1;
    sumrun_col_int(st, 0, &m->snap_id);
    sumrun_col_int(st, 1, &m->snap_t_ns);
    if (!sumrun_col_int(st, 2, &m->snap_bytes))
        m->snap_bytes = -1;
    if (!sumrun_col_int(st, 3, &m->snap_blocks))
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
    int err =
        sumrun_first_row(db,
                         "SELECT process_id, rss_bytes FROM snapshots WHERE rss_bytes IS NOT NULL"
                         " ORDER BY rss_bytes DESC, id LIMIT 1",
                         0, 0, &st);
    if (err <= 0)
        return err;
    m->has_rss = 1;
    sumrun_col_int(st, 0, &m->rss_process_id);
    sumrun_col_int(st, 1, &m->rss_max);
    sqlite3_finalize(st);
    err = sumrun_first_row(
        db,
        "SELECT rss_bytes FROM snapshots WHERE process_id = ?1 AND trigger = 'exit'"
        " AND rss_bytes IS NOT NULL ORDER BY t_ns DESC, id DESC LIMIT 1",
        1, m->rss_process_id, &st);
    if (err <= 0)
        return err;
    m->has_rss_exit = 1;
    sumrun_col_int(st, 0, &m->rss_exit);
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
/* The most the memory tracer's tables held in a process (a column a
 * database of an earlier pyscope lacks), and the recorder's peak RSS. */
static int load_own(sqlite3 *db, const struct sumrun *r, struct memory *m)
{
    const char *rec = sumrun_meta(r, "recorder_rss_bytes");
    int64_t v;
    if (rec && util_parse_i64(rec, &v) == 0 && v > 0) {
        m->has_recorder = 1;
        m->recorder_rss = v;
    }
    sqlite3_stmt *st;
    int err = vdb_prepare(db, "SELECT 1 FROM pragma_table_info('snapshots')"
                              " WHERE name = 'pyscope_bytes'", &st);
    if (err < 0)
        return err;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? 0 : vdb_err(rc);
    err = sumrun_first_row(db,
                           "SELECT process_id, pyscope_bytes FROM snapshots"
                           " WHERE pyscope_bytes IS NOT NULL ORDER BY pyscope_bytes DESC, id LIMIT 1",
                           0, 0, &st);
    if (err <= 0)
        return err;
    m->has_own = 1;
    sumrun_col_int(st, 0, &m->own_process_id);
    sumrun_col_int(st, 1, &m->own_max);
    sqlite3_finalize(st);
    return 0;
}

static int load_memory(sqlite3 *db, const struct sumrun *r, struct memory *m)
{
    int err = 0;
    memset(m, 0, sizeof *m);
    m->nsnapshots = r->counts[SUMRUN_SNAPSHOTS];
    if (!m->nsnapshots)
        return 0;
    if ((err = load_peak(db, m)) < 0 || (err = load_rss(db, m)) < 0 ||
        (err = load_own(db, r, m)) < 0)
        return err;
    if (m->has_snap)
        err = load_sites(db, m);
    return err;
}

/* "app.py:12" for a site; the file alone without a line. */
static char *site_location(const struct sumrun *r, const struct site *s, char *buf, size_t len)
{
    if (!s->filename)
        snprintf(buf, len, "%s", "");
    else if (s->line > 0)
        snprintf(buf, len, "%s:%" PRId64, sumrun_path(r, s->filename), s->line);
    else
        snprintf(buf, len, "%s", sumrun_path(r, s->filename));
    return buf;
}

/* "12.3 MiB (pid 42)", or "12.3 MiB" when the process is unknown. */
static char *bytes_in(char *buf, size_t len, const struct sumrun *r, int64_t bytes,
                      int64_t process_id)
{
    char b[FMT_BUFSZ];
    int64_t pid = sumrun_pid_of(r, process_id);
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
static int print_memory(const struct sumrun *r, const struct memory *m, FILE *out)
{
    char buf[FMT_BUFSZ * 2], num[FMT_BUFSZ], dur[FMT_BUFSZ], loc[1024];
    if (!m->nsnapshots)
        return 0;
    fmt_int(num, sizeof num, m->nsnapshots);
    if (m->has_peak)
        sumrun_line(out, "memory", "peak traced %s, %s snapshot%s; 'pyscope snapshots' lists them",
                    bytes_in(buf, sizeof buf, r, m->peak_bytes, m->peak_process_id), num,
                    m->nsnapshots == 1 ? "" : "s");
    else
        sumrun_line(out, "memory", "%s snapshot%s, allocations not traced", num,
                    m->nsnapshots == 1 ? "" : "s");
    if (m->has_rss) {
        char max[FMT_BUFSZ], at_exit[FMT_BUFSZ * 2] = "", pid[FMT_BUFSZ] = "";
        int64_t rss_pid = sumrun_pid_of(r, m->rss_process_id);
        if (m->has_rss_exit)
            snprintf(at_exit, sizeof at_exit, ", %s at exit",
                     fmt_bytes(num, sizeof num, m->rss_exit));
        if (rss_pid)
            snprintf(pid, sizeof pid, " (pid %" PRId64 ")", rss_pid);
        sumrun_line(out, "rss", "%s at most%s%s", fmt_bytes(max, sizeof max, m->rss_max), at_exit,
                    pid);
    }
    if (m->has_own || m->has_recorder) {
        /* What pyscope itself holds: the tracer's tables in the program (at
         * the snapshot where they were largest), the recorder's RSS. */
        char tables[FMT_BUFSZ * 3] = "", rec[FMT_BUFSZ * 2] = "";
        if (m->has_own)
            snprintf(tables, sizeof tables, "%s in its tables in the program at most",
                     bytes_in(buf, sizeof buf, r, m->own_max, m->own_process_id));
        if (m->has_recorder)
            snprintf(rec, sizeof rec, "%s%s RSS in the recorder", m->has_own ? ", " : "",
                     fmt_bytes(num, sizeof num, m->recorder_rss));
        sumrun_line(out, "pyscope", "%s%s", tables, rec);
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

/* "memory": the memory section, or null without snapshots. */
int summem_json(const struct sumrun *r, sqlite3 *db, FILE *out)
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
    int64_t peak_pid = m.has_peak ? sumrun_pid_of(r, m.peak_process_id) : 0;
    int64_t rss_pid = m.has_rss ? sumrun_pid_of(r, m.rss_process_id) : 0;
    fprintf(out, "{\"snapshots\": %" PRId64 ",\n    \"peak_bytes\": ", m.nsnapshots);
    sumrun_json_opt(out, m.has_peak, m.peak_bytes);
    fputs(", \"peak_process_id\": ", out);
    sumrun_json_opt(out, m.has_peak, m.peak_process_id);
    fputs(", \"peak_pid\": ", out);
    sumrun_json_opt(out, peak_pid != 0, peak_pid);
    fputs(",\n    \"rss_max_bytes\": ", out);
    sumrun_json_opt(out, m.has_rss, m.rss_max);
    fputs(", \"rss_pid\": ", out);
    sumrun_json_opt(out, rss_pid != 0, rss_pid);
    fputs(", \"rss_exit_bytes\": ", out);
    sumrun_json_opt(out, m.has_rss_exit, m.rss_exit);
    fputs(",\n    \"pyscope_bytes\": ", out);
    sumrun_json_opt(out, m.has_own, m.own_max);
    fputs(", \"pyscope_pid\": ", out);
    int64_t own_pid = m.has_own ? sumrun_pid_of(r, m.own_process_id) : 0;
    sumrun_json_opt(out, own_pid != 0, own_pid);
    fputs(", \"recorder_rss_bytes\": ", out);
    sumrun_json_opt(out, m.has_recorder, m.recorder_rss);
    fputs(",\n    \"peak_snapshot\": ", out);
    if (m.has_snap) {
        fprintf(out, "{\"id\": %" PRId64 ", \"label\": ", m.snap_id);
        fmt_json_str(out, m.snap_label);
        fputs(", \"trigger\": ", out);
        fmt_json_str(out, m.snap_trigger);
        fprintf(out, ", \"t_ns\": %" PRId64 ", \"traced_bytes\": ", m.snap_t_ns);
        sumrun_json_opt(out, m.snap_bytes >= 0, m.snap_bytes);
        fputs(", \"traced_blocks\": ", out);
        sumrun_json_opt(out, m.snap_blocks >= 0, m.snap_blocks);
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
        sumrun_json_opt(out, s->line > 0, s->line);
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

int summem_print(const struct sumrun *r, sqlite3 *db, FILE *out)
{
    struct memory m;
    int err = load_memory(db, r, &m);
    if (err >= 0)
        err = print_memory(r, &m, out);
    release_memory(&m);
    return err;
}
