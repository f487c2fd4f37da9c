/*
 * The run a summary describes (cmd_summary.c and its sections, sum*.c):
 * its meta, processes (as a tree) and threads, and how many rows of each
 * kind of evidence it holds, loaded once; and the forms every section of
 * the summary writes in (a labelled text line, a JSON integer or null).
 */
#ifndef PYSCOPE_VIEWER_SUMRUN_H
#define PYSCOPE_VIEWER_SUMRUN_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sumrun_kv {
    char *key, *value;
};

struct sumrun_thread {
    int64_t id, process_id, os_tid, ident, started_ns, ended_ns;
    int has_os_tid, has_ident, has_started, has_ended, is_main;
    char *name;
};

struct sumrun_process {
    int64_t id, pid, parent_id, ppid, started_ns, ended_ns;
    int has_parent, has_ppid, has_started, has_ended;
    int has_code, exit_code, has_signal, signal, forked;
    char *argv, *executable, *python_version;
    size_t first_thread, nthreads; /* this process's run of sumrun.threads */
};

/* The evidence tables counted, in the order they are reported. */
enum {
    SUMRUN_SAMPLES,
    SUMRUN_CALLS,
    SUMRUN_SNAPSHOTS,
    SUMRUN_HEAP_OBJECTS,
    SUMRUN_GC_COLLECTIONS,
    SUMRUN_NCOUNTED
};

/* A counted table: its name, and what one and many of its rows are called. */
struct sumrun_table {
    const char *table, *one, *many;
};

extern const struct sumrun_table sumrun_counted[SUMRUN_NCOUNTED];

struct sumrun {
    const char *path;
    int version;
    struct sumrun_kv *meta;
    size_t nmeta;
    struct sumrun_process *procs; /* by id */
    size_t nprocs;
    struct sumrun_thread *threads; /* by process, main thread first, then by start */
    size_t nthreads;
    int64_t counts[SUMRUN_NCOUNTED];
    size_t *order; /* process indices in tree order (preorder, children by id) */
    int *depth;    /* per process index */
};

/*
 * Load the run of db into r, whose path the caller set: the schema
 * version, meta, processes and threads, the counts. Release with
 * sumrun_release, also after a failure. 0, PYSCOPE_ENOMEM or PYSCOPE_EDB.
 */
int sumrun_load(sqlite3 *db, struct sumrun *r);

void sumrun_release(struct sumrun *r);

/* The meta value for key, or NULL when absent or empty. Borrowed from r. */
const char *sumrun_meta(const struct sumrun *r, const char *key);

/* The root process: the first in tree order, or NULL when there is none. */
const struct sumrun_process *sumrun_root(const struct sumrun *r);

/* The run's duration in *ns: 1, or 0 when it was not recorded. */
int sumrun_duration(const struct sumrun *r, int64_t *ns);

/* Index of the process with id, or SIZE_MAX. */
size_t sumrun_find_process(const struct sumrun *r, int64_t id);

/* The pid of the process with id, or 0 when it is not known. */
int64_t sumrun_pid_of(const struct sumrun *r, int64_t process_id);

/* filename relative to the run's directory when below it; points into filename. */
const char *sumrun_path(const struct sumrun *r, const char *filename);

/*
 * One "  label        text" line of the text form, the text printf-style.
 * It holds strings from the program (names, paths, argv), so it is written
 * through fmt_put_text.
 */
void sumrun_line(FILE *out, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* v as a JSON integer when has, else null. */
void sumrun_json_opt(FILE *out, int has, int64_t v);

/* An integer column in *out (0 for NULL); returns whether it was not NULL. */
int sumrun_col_int(sqlite3_stmt *st, int col, int64_t *out);

/*
 * Run sql with ?1 bound to a (when bind), stepping to its first row: 1 with
 * a row in *st (the caller finalizes it), 0 for none, or a negative error.
 */
int sumrun_first_row(sqlite3 *db, const char *sql, int bind, int64_t a, sqlite3_stmt **st);

#endif
