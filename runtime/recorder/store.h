/*
 * The recorder's SQLite store: creates the schema of docs/schema.md and
 * writes rows in batched transactions. Only the recorder writes; the viewer
 * opens databases read-only through viewer/db.h. Not thread-safe: one
 * recorder, one thread.
 */
#ifndef PYSCOPE_STORE_H
#define PYSCOPE_STORE_H

#include <stdint.h>
#include <stddef.h>

#define STORE_SCHEMA_VERSION 2

struct store;

struct store_process {
    int64_t pid;
    int64_t ppid;
    int64_t parent_id; /* processes.id of the parent, 0 when none is known */
    const char *argv;  /* the command line, arguments joined by spaces */
    const char *executable;
    const char *python_version;
    int forked; /* started by fork() without exec */
    int64_t started_ns;
};

struct store_exit {
    int64_t ended_ns;
    int has_code; /* exit_code is known */
    int exit_code;
    int signal; /* 0 when not killed by a signal */
};

/*
 * Create the database at path with every table of the schema, in WAL mode.
 * The file must not exist or be empty (the launcher claims it with O_EXCL
 * first). On failure *err points to a static or store-owned message and NULL
 * is returned... callers print it; the message stays valid until the next call.
 */
struct store *store_create(const char *path, const char **err);

/*
 * Commit, checkpoint, switch the file back to a single-file journal mode and
 * close. Frees st. Returns 0; PYSCOPE_EBUSY when everything is committed but
 * the file stays in WAL mode (another connection, a live viewer, has it
 * open); PYSCOPE_EDB when the store is lost (see store_lost), the open batch
 * then being dropped, or the connection would not close.
 * store_close(NULL) does nothing and returns 0.
 */
int store_close(struct store *st);

/*
 * Commit the open batch, if any. Writes begin a batch lazily. Each commit
 * also checks that the database's name, and its journal files' names, still
 * lead to it. PYSCOPE_EDB when the batch did not reach the file.
 */
int store_commit(struct store *st);

/*
 * Why the database can no longer be finished, or NULL while it can: a write
 * failed in a way that may have taken the open batch with it (a full disk,
 * an I/O error), or a commit found the file removed or replaced. From then
 * on every write returns PYSCOPE_EDB without touching the file, which holds
 * what was committed before. One line for the user; owned by st.
 */
const char *store_lost(const struct store *st);

/* Insert or replace one meta row. */
int store_meta_set(struct store *st, const char *key, const char *value);

/* Add a processes row; its id in *id. */
int store_process_add(struct store *st, const struct store_process *p, int64_t *id);

/* Record how process id ended. PYSCOPE_ENOTFOUND when there is no such process. */
int store_process_end(struct store *st, int64_t id, const struct store_exit *e);

/* Add a threads row; its id in *id. name may be NULL. */
int store_thread_add(struct store *st, int64_t process_id, int64_t os_tid, int64_t ident,
                     const char *name, int is_main, int64_t started_ns, int64_t *id);

/*
 * Mark thread id ended; name, when not NULL, replaces its name.
 * PYSCOPE_ENOTFOUND when there is no such thread.
 */
int store_thread_end(struct store *st, int64_t id, int64_t ended_ns, const char *name);

/* End, at ended_ns, every thread of process_id that has not ended. */
int store_threads_end_all(struct store *st, int64_t process_id, int64_t ended_ns);

/*
 * Add a functions row (kind: "python", "builtin" or "native"; filename and
 * qualname may be NULL; firstlineno <= 0 is stored as NULL); its id in *id.
 * Callers intern: the store does not look for an equal row.
 */
int store_function_add(struct store *st, const char *kind, const char *filename, const char *name,
                       const char *qualname, int firstlineno, int64_t *id);

/* The source file debug information names for native function function_id
 * (kept once). 0 or a negative PYSCOPE_E*. */
int store_function_source(struct store *st, int64_t function_id, const char *filename);

/* Add a frames row (line < 0 stored as NULL); its id in *id. */
int store_frame_add(struct store *st, int64_t function_id, int line, int64_t *id);

/* Add a stacks node under parent_id (0: a root); its id in *id. */
int store_stack_add(struct store *st, int64_t parent_id, int64_t frame_id, int64_t *id);

/* Add one sample (stack_id 0 stored as NULL): to the thread's run of
 * samples with that stack and state, or as the start of a new one; a run is
 * one row, with its ticks counted, written when it ends and at each commit.
 * A second sample of the same thread at the same t_ns is ignored. */
int store_sample_add(struct store *st, int64_t thread_id, int64_t stack_id, int64_t t_ns,
                     int64_t cpu_ns, int state);

/* Ticks in a row of one thread at one stack and state, sent as one: the
 * first at t_ns, the last at last_ns. */
struct store_samples {
    int64_t stack_id; /* 0: NULL */
    int64_t t_ns, last_ns;
    int64_t cpu_ns; /* over all of them */
    int state;
    int64_t ticks;
};

/* Add ticks samples at once, as store_sample_add adds one. */
int store_samples_add(struct store *st, int64_t thread_id, const struct store_samples *x);

/* How many threads' runs the store holds: those sampled lately (a thread
 * silent for 10 s of sample time, once its run is written, is let go). */
size_t store_runs_held(const struct store *st);

/* The last SQLite error message of st. */
const char *store_errmsg(struct store *st);

/*
 * Call statistics, added to what the thread already has for the same pair:
 * a calls row (caller_id 0 for calls from the root, no caller) or, with
 * caller_id -1, the callee's call_stats row.
 */
struct store_calls {
    int64_t process_id, thread_id;
    int64_t caller_id, callee_id;
    int64_t ncalls, pcalls, tottime_ns, cumtime_ns;
};
int store_calls_add(struct store *st, const struct store_calls *c);

/* A snapshots row; rss_bytes 0 is stored as NULL (unknown), and so are the
 * traced figures (and pyscope_bytes) when traced is 0. */
struct store_snapshot {
    int64_t process_id;
    const char *label; /* may be NULL */
    int64_t t_ns;
    const char *trigger; /* api, signal, interval, peak or exit */
    int traced;          /* allocations were traced */
    int64_t traced_bytes, traced_blocks, peak_bytes, rss_bytes;
    int64_t pyscope_bytes; /* the memory tracer's own tables in the process */
};
int store_snapshot_add(struct store *st, const struct store_snapshot *s, int64_t *id);

/* Add size bytes in count blocks to what snapshot_id has for stack_id. */
int store_snapshot_trace_add(struct store *st, int64_t snapshot_id, int64_t stack_id, int64_t size,
                             int64_t count);

/* A heap_objects row (stack_id 0: NULL) and a heap_edges row (len 0: no label). */
int store_heap_object_add(struct store *st, int64_t snapshot_id, uint64_t obj, const char *type,
                          int64_t size, int64_t refcnt, int64_t stack_id);
int store_heap_edge_add(struct store *st, int64_t snapshot_id, uint64_t src, uint64_t dst,
                        const char *label, size_t len);

/* A gc_collections row; thread_id and stack_id 0 are stored as NULL. */
struct store_gc {
    int64_t process_id, thread_id, stack_id;
    int64_t generation, t_ns, duration_ns, collected, uncollectable;
};
int store_gc_add(struct store *st, const struct store_gc *g);

#endif
