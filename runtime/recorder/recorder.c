/*
 * The recorder of recorder.h. It owns the connections and the map from what
 * the target calls things (pids, kernel thread ids) to the store's row ids;
 * the target's own ids never reach the database. Everything runs on one
 * thread around poll(): the listening socket, a signalfd and the
 * connections. A batch is committed at least every COMMIT_PERIOD_MS, so a
 * crash of the program or of pyscope loses at most that much of what
 * reached the recorder. Once the store is lost (a full disk, the file
 * removed) nothing more can be recorded: the connections are closed, and
 * the processes, seeing the recorder gone, stop sending and go on.
 */
#define _GNU_SOURCE
#include "recorder.h"
#include "error.h"
#include "intern.h"
#include "store.h"
#include "util.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COMMIT_PERIOD_MS 100
#define GRACE_MS 1000 /* wait for other processes after the main one ends */
#define READS_PER_WAKE 64
#define THREADS_FIRST 8 /* a connection's threads: most programs run a few */

struct rthread {
    uint64_t tid;
    int64_t id;
    int64_t last_stack; /* repeated by idle samples */
};

struct rproc {
    pid_t pid;
    int64_t id;
};

struct conn {
    uint64_t serial; /* unique per connection: code keys are per connection */
    int fd;          /* -1 for connections fed by tests */
    int open;
    int hello;
    pid_t pid;
    int64_t process_id;
    int has_exit;
    struct store_exit exit;
    struct rthread *threads;
    size_t nthreads, cap;
    /* A snapshot the target waits for: its id goes back once all of it is in. */
    uint64_t reply_seq;
    int64_t reply_id;
    int reply_pending;
    /* The type names of the snapshot being received (WIRE_HEAP_TYPE key - 1). */
    char **heap_types;
    size_t nheap_types, capheap_types;
};

struct recorder {
    struct store *st;
    int64_t origin_ns;
    pid_t main_pid;
    struct conn *conns;
    size_t nconns, capconns;
    struct rproc *procs;
    size_t nprocs, proccap;
    int main_exited;
    int main_status;
    int64_t main_end_ns;
    int64_t main_process_id; /* 0 until its hello */
    int main_unrecorded;     /* it ended before its bootstrap connected */
    int main_end_pending;    /* its connection closed before waitpid told how it ended */
    char *main_refusal;      /* why it refused to be traced, or NULL */
    int dirty;
    int tty; /* the terminal the program has in the foreground, or -1 */
    uint64_t proto_errors;
    uint64_t next_serial;
    struct imap *codes;      /* (connection serial, code key) -> functions.id */
    struct imap *callfns;    /* (connection serial, WIRE_FUNCTION key) -> functions.id */
    struct smap *funcs;      /* kind, filename, name, qualname, firstlineno -> functions.id */
    struct imap *frames;     /* (functions.id, line) -> frames.id */
    struct imap *stacks;     /* (parent stacks.id, frames.id) -> stacks.id */
    struct imap *tids;       /* (connection serial, kernel thread id) -> index in conn.threads */
    struct imap *tracebacks; /* (connection serial, WIRE_TRACEBACK key) -> stacks.id */
    struct imap *snaps;      /* (connection serial, snapshot seq) -> snapshots.id */
    int64_t truncated_frame;
    int64_t own_frame; /* "[pyscope]": the leaf of a sample taken in pyscope's own work */
    int64_t unknown_frame; /* the frame of an allocation with no Python frame */
    struct recorder_counts counts;
    uint64_t calls_overhead_ns;
};

static void conn_heap_types_free(struct conn *c)
{
    for (size_t k = 0; k < c->nheap_types; k++)
        free(c->heap_types[k]);
    free(c->heap_types);
    c->heap_types = NULL;
    c->nheap_types = c->capheap_types = 0;
}

struct recorder *recorder_new(struct store *st, int64_t origin_ns, pid_t main_pid)
{
    struct recorder *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->st = st;
    r->origin_ns = origin_ns;
    r->main_pid = main_pid;
    r->tty = -1;
    r->codes = imap_new();
    r->callfns = imap_new();
    r->funcs = smap_new();
    r->frames = imap_new();
    r->stacks = imap_new();
    r->tids = imap_new();
    r->tracebacks = imap_new();
    r->snaps = imap_new();
    if (!r->codes || !r->callfns || !r->funcs || !r->frames || !r->stacks || !r->tids ||
        !r->tracebacks || !r->snaps) {
        recorder_free(r);
        return NULL;
    }
    return r;
}

void recorder_free(struct recorder *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nconns; i++) {
        if (r->conns[i].fd >= 0)
            close(r->conns[i].fd);
        free(r->conns[i].threads);
        conn_heap_types_free(&r->conns[i]);
    }
    free(r->conns);
    free(r->procs);
    imap_free(r->codes);
    imap_free(r->callfns);
    smap_free(r->funcs);
    imap_free(r->frames);
    imap_free(r->stacks);
    imap_free(r->tids);
    imap_free(r->tracebacks);
    imap_free(r->snaps);
    free(r->main_refusal);
    free(r);
}

uint64_t recorder_protocol_errors(const struct recorder *r)
{
    return r->proto_errors;
}

uint64_t recorder_calls_overhead(const struct recorder *r)
{
    return r->calls_overhead_ns;
}

void recorder_counts(const struct recorder *r, struct recorder_counts *out)
{
    *out = r->counts;
}

static int64_t rel_ns(const struct recorder *r, uint64_t mono)
{
    return mono ? (int64_t)mono - r->origin_ns : 0;
}

int recorder_listen(char *name, size_t namelen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int n = snprintf(name, namelen, "@pyscope-%d-%lx", (int)getpid(),
                     (unsigned long)(ts.tv_nsec ^ (ts.tv_sec << 20)));
    if (n < 0 || (size_t)n >= namelen || (size_t)n >= sizeof sa.sun_path)
        return PYSCOPE_EINVAL;
    memcpy(sa.sun_path + 1, name + 1, (size_t)n - 1);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return PYSCOPE_EIO;
    if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 128) < 0) {
        close(fd);
        return PYSCOPE_EIO;
    }
    return fd;
}

static int conn_add(struct recorder *r, int fd)
{
    for (size_t i = 0; i < r->nconns; i++) {
        if (!r->conns[i].open && !r->conns[i].threads) {
            memset(&r->conns[i], 0, sizeof r->conns[i]);
            r->conns[i].fd = fd;
            r->conns[i].open = 1;
            r->conns[i].serial = ++r->next_serial;
            return (int)i;
        }
    }
    if (util_grow((void **)&r->conns, &r->capconns, r->nconns, sizeof *r->conns) < 0)
        return PYSCOPE_ENOMEM;
    struct conn *c = r->conns;
    memset(&c[r->nconns], 0, sizeof *c);
    c[r->nconns].fd = fd;
    c[r->nconns].open = 1;
    c[r->nconns].serial = ++r->next_serial;
    return (int)r->nconns++;
}

int recorder_conn_open(struct recorder *r)
{
    return conn_add(r, -1);
}

static int proc_add(struct recorder *r, pid_t pid, int64_t id)
{
    if (util_grow((void **)&r->procs, &r->proccap, r->nprocs, sizeof *r->procs) < 0)
        return PYSCOPE_ENOMEM;
    r->procs[r->nprocs++] = (struct rproc){pid, id};
    return 0;
}

/* The newest process row for pid, 0 when none. */
static int64_t proc_find(const struct recorder *r, pid_t pid)
{
    for (size_t i = r->nprocs; i-- > 0;)
        if (r->procs[i].pid == pid)
            return r->procs[i].id;
    return 0;
}

/* The parent pid of pid from /proc, 0 when unknown. */
static pid_t proc_parent_of(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (util_read_file(path, buf, sizeof buf) < 0)
        return 0;
    const char *p = strrchr(buf, ')');
    int ppid;
    if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
        return 0;
    return (pid_t)ppid;
}

/*
 * The nearest traced ancestor: the parent itself, or, for a program started
 * through a shell or another non-Python process, an ancestor further up.
 */
static int64_t find_parent(const struct recorder *r, pid_t ppid)
{
    for (int depth = 0; ppid > 1 && depth < 32; depth++) {
        int64_t id = proc_find(r, ppid);
        if (id)
            return id;
        ppid = proc_parent_of(ppid);
    }
    return 0;
}

/* The argv string: NUL-separated arguments joined by spaces, quoted as a shell would. */
static char *argv_string(struct wire_str s)
{
    char *copy = malloc((size_t)s.len + 1);
    char **args = calloc((size_t)s.len + 1, sizeof *args);
    struct sbuf sb = {0};
    char *out = NULL;
    if (!copy || !args)
        goto out;
    memcpy(copy, s.p, s.len);
    copy[s.len] = '\0';
    int n = 0;
    for (size_t i = 0; s.len && i <= s.len; i++) {
        if (i == 0 || copy[i - 1] == '\0')
            args[n++] = copy + i;
    }
    if (sbuf_add_argv(&sb, args, n) == 0 && sbuf_add(&sb, "", 0) == 0) {
        out = sb.buf;
        sb.buf = NULL;
    }
out:
    sbuf_release(&sb);
    free(copy);
    free(args);
    return out;
}

static char *str_dup(struct wire_str s)
{
    char *p = malloc((size_t)s.len + 1);
    if (p) {
        memcpy(p, s.p, s.len);
        p[s.len] = '\0';
    }
    return p;
}

static int on_hello(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_hello h;
    struct wire_str version, exe, cwd, argv;
    wire_fixed(rec, &h, sizeof h);
    if (c->hello || h.magic != WIRE_MAGIC || h.version != WIRE_VERSION)
        return PYSCOPE_EPROTO;
    if (wire_string(rec, 0, &version) || wire_string(rec, 1, &exe) || wire_string(rec, 2, &cwd) ||
        wire_string(rec, 3, &argv))
        return PYSCOPE_EPROTO;
    char *s_version = str_dup(version), *s_exe = str_dup(exe), *s_argv = argv_string(argv);
    int err = PYSCOPE_ENOMEM;
    if (!s_version || !s_exe || !s_argv)
        goto out;
    struct store_process p = {
        .pid = h.pid,
        .ppid = h.ppid,
        .parent_id = (pid_t)h.pid == r->main_pid ? 0 : find_parent(r, (pid_t)h.ppid),
        .argv = s_argv,
        .executable = s_exe,
        .python_version = s_version,
        .forked = (h.flags & WIRE_HELLO_FORKED) != 0,
        .started_ns = rel_ns(r, h.mono_ns),
    };
    err = store_process_add(r->st, &p, &c->process_id);
    if (err < 0)
        goto out;
    err = proc_add(r, (pid_t)h.pid, c->process_id);
    if (err < 0)
        goto out;
    c->hello = 1;
    c->pid = (pid_t)h.pid;
    if (c->pid == r->main_pid)
        r->main_process_id = c->process_id;
out:
    free(s_version);
    free(s_exe);
    free(s_argv);
    return err;
}

/*
 * A connection's threads stay known after they end: their last samples
 * may follow their end on the wire. A reused kernel thread id maps to the
 * newest thread.
 */
static struct rthread *thread_find(struct recorder *r, struct conn *c, uint64_t tid)
{
    int64_t i;
    if (!imap_get(r->tids, c->serial, tid, &i) || (size_t)i >= c->nthreads)
        return NULL;
    return &c->threads[i];
}

static struct rthread *thread_add(struct recorder *r, struct conn *c, uint64_t tid, int64_t id)
{
    if (util_reserve((void **)&c->threads, &c->cap, c->nthreads + 1, sizeof *c->threads,
                     THREADS_FIRST) < 0)
        return NULL;
    if (imap_put(r->tids, c->serial, tid, (int64_t)c->nthreads) < 0)
        return NULL;
    c->threads[c->nthreads] = (struct rthread){tid, id, 0};
    return &c->threads[c->nthreads++];
}

static int on_thread_start(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_thread_start t;
    struct wire_str name = {0};
    wire_fixed(rec, &t, sizeof t);
    char *s_name = NULL;
    if (rec->nstr >= 1) {
        wire_string(rec, 0, &name);
        if (!(s_name = str_dup(name)))
            return PYSCOPE_ENOMEM;
    }
    int64_t id;
    int err = store_thread_add(r->st, c->process_id, (int64_t)t.tid, (int64_t)t.ident, s_name,
                               (int)t.is_main, rel_ns(r, t.t_ns), &id);
    free(s_name);
    if (err < 0)
        return err;
    return thread_add(r, c, t.tid, id) ? 0 : PYSCOPE_ENOMEM;
}

static int on_thread_end(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_thread_end t;
    struct wire_str name;
    wire_fixed(rec, &t, sizeof t);
    struct rthread *th = thread_find(r, c, t.tid);
    if (!th)
        return 0; /* started before its process was traced */
    char *s_name = NULL;
    if (rec->nstr >= 1 && wire_string(rec, 0, &name) == 0 && !(s_name = str_dup(name)))
        return PYSCOPE_ENOMEM;
    int err = store_thread_end(r->st, th->id, rel_ns(r, t.t_ns), s_name);
    free(s_name);
    return err;
}

static int on_exit_record(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_process_exit e;
    wire_fixed(rec, &e, sizeof e);
    c->has_exit = 1;
    c->exit.ended_ns = rel_ns(r, e.t_ns);
    c->exit.has_code = e.how == WIRE_EXIT_CODE;
    c->exit.exit_code = e.how == WIRE_EXIT_CODE ? e.code : 0;
    c->exit.signal = e.how == WIRE_EXIT_SIGNAL ? e.code : 0;
    return 0;
}

/* The functions row for a function, made once across every process. */
static int intern_function(struct recorder *r, const char *kind, struct wire_str file,
                           struct wire_str name, struct wire_str qualname, int firstlineno,
                           int64_t *id)
{
    /* The key: the fields NUL-separated. */
    struct sbuf key = {0};
    int err = 0;
    const struct wire_str parts[4] = {{kind, (uint32_t)strlen(kind)}, file, name, qualname};
    for (int i = 0; !err && i < 4; i++)
        err = sbuf_add(&key, parts[i].p, parts[i].len) < 0 || sbuf_add(&key, "", 1) < 0
                  ? PYSCOPE_ENOMEM
                  : 0;
    if (!err)
        err = sbuf_addf(&key, "%d", firstlineno);
    if (err)
        goto out;
    if (smap_get(r->funcs, key.buf, key.len, id))
        goto out;
    char *f = file.len ? str_dup(file) : NULL, *n = str_dup(name), *q = str_dup(qualname);
    if ((file.len && !f) || !n || !q)
        err = PYSCOPE_ENOMEM;
    else
        err = store_function_add(r->st, kind, f, n, q, firstlineno, id);
    free(f);
    free(n);
    free(q);
    if (!err)
        err = smap_put(r->funcs, key.buf, key.len, *id);
out:
    sbuf_release(&key);
    return err;
}

static int intern_frame(struct recorder *r, int64_t function_id, int line, int64_t *id)
{
    if (imap_get(r->frames, (uint64_t)function_id, (uint64_t)(int64_t)line, id))
        return 0;
    int err = store_frame_add(r->st, function_id, line, id);
    return err ? err : imap_put(r->frames, (uint64_t)function_id, (uint64_t)(int64_t)line, *id);
}

static int intern_stack(struct recorder *r, int64_t parent, int64_t frame_id, int64_t *id)
{
    if (imap_get(r->stacks, (uint64_t)parent, (uint64_t)frame_id, id))
        return 0;
    int err = store_stack_add(r->st, parent, frame_id, id);
    return err ? err : imap_put(r->stacks, (uint64_t)parent, (uint64_t)frame_id, *id);
}

static int on_code(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_code code;
    struct wire_str file, name, qualname;
    wire_fixed(rec, &code, sizeof code);
    if (wire_string(rec, 0, &file) || wire_string(rec, 1, &name) || wire_string(rec, 2, &qualname))
        return PYSCOPE_EPROTO;
    int64_t id;
    int err = intern_function(r, "python", file, name, qualname, code.firstlineno, &id);
    return err ? err : imap_put(r->codes, c->serial, code.key, id);
}

static int on_native(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_native w;
    struct wire_str object, name;
    wire_fixed(rec, &w, sizeof w);
    if (wire_string(rec, 0, &object) || wire_string(rec, 1, &name))
        return PYSCOPE_EPROTO;
    int64_t id;
    struct wire_str source = {"", 0};
    if (rec->nstr >= 3 && wire_string(rec, 2, &source))
        return PYSCOPE_EPROTO;
    int err = intern_function(r, "native", object, name, name, 0, &id);
    if (!err && source.len) {
        char *file = str_dup(source);
        err = file ? store_function_source(r->st, id, file) : PYSCOPE_ENOMEM;
        free(file);
    }
    return err ? err : imap_put(r->codes, c->serial, w.key, id);
}

static int on_function(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_function f;
    struct wire_str file, name, qualname;
    wire_fixed(rec, &f, sizeof f);
    if (wire_string(rec, 0, &file) || wire_string(rec, 1, &name) ||
        wire_string(rec, 2, &qualname) || f.key == 0 || f.kind > WIRE_FUNCTION_BUILTIN)
        return PYSCOPE_EPROTO;
    int64_t id;
    int err = intern_function(r, f.kind == WIRE_FUNCTION_BUILTIN ? "builtin" : "python", file, name,
                              qualname, f.firstlineno, &id);
    return err ? err : imap_put(r->callfns, c->serial, f.key, id);
}

static struct rthread *sample_thread(struct recorder *r, struct conn *c, uint64_t tid);

static int on_calls(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_calls w;
    wire_fixed(rec, &w, sizeof w);
    if (w.flags & WIRE_CALLS_OVERHEAD) {
        r->calls_overhead_ns += w.tottime_ns;
        return 0;
    }
    int total = (w.flags & WIRE_CALLS_TOTAL) != 0;
    int64_t caller = 0, callee;
    if (!imap_get(r->callfns, c->serial, w.callee, &callee) ||
        (!total && w.caller && !imap_get(r->callfns, c->serial, w.caller, &caller)))
        return PYSCOPE_EPROTO; /* named before use, always */
    struct rthread *th = sample_thread(r, c, w.tid);
    if (!th)
        return PYSCOPE_ENOMEM;
    struct store_calls sc = {
        .process_id = c->process_id,
        .thread_id = th->id,
        .caller_id = total ? -1 : caller,
        .callee_id = callee,
        .ncalls = (int64_t)w.ncalls,
        .pcalls = (int64_t)w.pcalls,
        .tottime_ns = (int64_t)w.tottime_ns,
        .cumtime_ns = (int64_t)w.cumtime_ns,
    };
    return store_calls_add(r->st, &sc);
}

/* The thread a sample names; threads the target did not announce are made. */
static struct rthread *sample_thread(struct recorder *r, struct conn *c, uint64_t tid)
{
    struct rthread *th = thread_find(r, c, tid);
    if (th)
        return th;
    int64_t id;
    if (store_thread_add(r->st, c->process_id, (int64_t)tid, 0, NULL, 0, 0, &id) < 0)
        return NULL;
    return thread_add(r, c, tid, id);
}

/* A frame of a function the target cannot name, made once: "[truncated]" or "<unknown>". */
static int marker_frame(struct recorder *r, const char *file, const char *name, int64_t *frame)
{
    if (*frame)
        return 0;
    struct wire_str f = {file, (uint32_t)strlen(file)}, n = {name, (uint32_t)strlen(name)};
    int64_t fn;
    int err = intern_function(r, "python", f, n, n, 0, &fn);
    return err ? err : intern_frame(r, fn, -1, frame);
}

/* The stack of a string of struct wire_frame, innermost first, in *stack. */
static int frames_stack(struct recorder *r, struct conn *c, struct wire_str fs, int truncated,
                        int64_t *stack)
{
    *stack = 0;
    int err = 0;
    if (truncated) {
        err = marker_frame(r, "", "[truncated]", &r->truncated_frame);
        if (!err)
            err = intern_stack(r, 0, r->truncated_frame, stack);
    }
    size_t n = fs.len / sizeof(struct wire_frame);
    for (size_t i = n; !err && i-- > 0;) { /* outermost first */
        struct wire_frame f;
        memcpy(&f, fs.p + i * sizeof f, sizeof f);
        int64_t fn, frame;
        if (!imap_get(r->codes, c->serial, f.code, &fn))
            return PYSCOPE_EPROTO; /* a code key the target never described */
        err = intern_frame(r, fn, f.line, &frame);
        if (!err)
            err = intern_stack(r, *stack, frame, stack);
    }
    return err;
}

static int on_sample(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_sample s;
    struct wire_str fs;
    wire_fixed(rec, &s, sizeof s);
    if (wire_string(rec, 0, &fs) || fs.len % sizeof(struct wire_frame) || s.state > 4)
        return PYSCOPE_EPROTO;
    struct rthread *th = sample_thread(r, c, s.tid);
    if (!th)
        return PYSCOPE_ENOMEM;
    int64_t stack;
    int err = frames_stack(r, c, fs, (s.flags & WIRE_SAMPLE_TRUNCATED) != 0, &stack);
    if (err)
        return err;
    th->last_stack = stack; /* an idle thread is not in pyscope's work */
    if (s.flags & WIRE_SAMPLE_OWN) {
        /* Under the frames the thread was at: the hook those frames set off. */
        err = marker_frame(r, "", "[pyscope]", &r->own_frame);
        if (!err)
            err = intern_stack(r, stack, r->own_frame, &stack);
        if (err)
            return err;
    }
    r->counts.samples++;
    return store_sample_add(r->st, th->id, stack, rel_ns(r, s.t_ns), (int64_t)s.cpu_ns,
                            (int)s.state);
}

static int on_traceback(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_traceback t;
    struct wire_str fs;
    wire_fixed(rec, &t, sizeof t);
    if (wire_string(rec, 0, &fs) || fs.len % sizeof(struct wire_frame) || !t.key)
        return PYSCOPE_EPROTO;
    int64_t stack;
    int err;
    if (fs.len == 0 && !(t.flags & WIRE_SAMPLE_TRUNCATED)) {
        /* Allocated where no Python code ran: tracemalloc's "<unknown>". */
        err = marker_frame(r, "<unknown>", "<unknown>", &r->unknown_frame);
        if (!err)
            err = intern_stack(r, 0, r->unknown_frame, &stack);
    } else {
        err = frames_stack(r, c, fs, (t.flags & WIRE_SAMPLE_TRUNCATED) != 0, &stack);
    }
    return err ? err : imap_put(r->tracebacks, c->serial, t.key, stack);
}

static int on_gc(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_gc g;
    struct wire_str fs;
    wire_fixed(rec, &g, sizeof g);
    if (wire_string(rec, 0, &fs) || fs.len % sizeof(struct wire_frame) || g.generation < 0 ||
        g.generation > 2)
        return PYSCOPE_EPROTO;
    struct rthread *th = sample_thread(r, c, g.tid);
    if (!th)
        return PYSCOPE_ENOMEM;
    int64_t stack;
    int err = frames_stack(r, c, fs, (g.flags & WIRE_SAMPLE_TRUNCATED) != 0, &stack);
    if (err)
        return err;
    struct store_gc sg = {
        .process_id = c->process_id,
        .thread_id = th->id,
        .stack_id = stack,
        .generation = g.generation,
        .t_ns = rel_ns(r, g.t_ns),
        .duration_ns = (int64_t)g.duration_ns,
        .collected = (int64_t)g.collected,
        .uncollectable = (int64_t)g.uncollectable,
    };
    return store_gc_add(r->st, &sg);
}

static const char *const trigger_names[] = {"api", "signal", "interval", "peak", "exit"};

/* Tell the target which id its snapshot got; it may have stopped waiting. */
static void reply_snapshot(struct conn *c, uint64_t seq, int64_t id)
{
    if (c->fd < 0)
        return;
    uint8_t buf[64];
    struct wire_snapshot_id w = {.seq = seq, .id = id};
    size_t n = wire_encode(buf, sizeof buf, WIRE_SNAPSHOT_ID, &w, sizeof w, NULL, 0);
    (void)!send(c->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static int on_snapshot(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_snapshot w;
    wire_fixed(rec, &w, sizeof w);
    if (w.trigger >= sizeof trigger_names / sizeof *trigger_names)
        return PYSCOPE_EPROTO;
    struct wire_str label = {NULL, 0};
    char *text = NULL;
    if (rec->nstr && (wire_string(rec, 0, &label) || !(text = str_dup(label))))
        return label.p ? PYSCOPE_ENOMEM : PYSCOPE_EPROTO;
    struct store_snapshot s = {
        .process_id = c->process_id,
        .label = text,
        .t_ns = rel_ns(r, w.t_ns),
        .trigger = trigger_names[w.trigger],
        .traced = !(w.flags & WIRE_SNAPSHOT_UNTRACED),
        .traced_bytes = (int64_t)w.traced_bytes,
        .traced_blocks = (int64_t)w.traced_blocks,
        .peak_bytes = (int64_t)w.peak_bytes,
        .rss_bytes = (int64_t)w.rss_bytes,
        .pyscope_bytes = (int64_t)w.own_bytes,
    };
    int64_t id = 0;
    int err = store_snapshot_add(r->st, &s, &id);
    free(text);
    if (!err)
        err = imap_put(r->snaps, c->serial, w.seq, id);
    if (c->reply_pending)
        reply_snapshot(c, c->reply_seq, 0); /* the last one never finished */
    c->reply_pending = (w.flags & WIRE_SNAPSHOT_REPLY) != 0;
    c->reply_seq = w.seq;
    c->reply_id = err ? 0 : id;
    for (size_t k = 0; k < c->nheap_types; k++)
        free(c->heap_types[k]);
    c->nheap_types = 0;
    return err;
}

/* The whole snapshot is in: answer the target if it waits, committed
 * first, since the program may hand the id to a viewer at once. */
static int on_snapshot_end(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_snapshot_traces w;
    wire_fixed(rec, &w, sizeof w);
    if (!c->reply_pending || c->reply_seq != w.seq)
        return 0;
    c->reply_pending = 0;
    int err = store_commit(r->st);
    reply_snapshot(c, w.seq, err ? 0 : c->reply_id);
    return err;
}

static int on_heap_type(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_heap_type w;
    struct wire_str name;
    wire_fixed(rec, &w, sizeof w);
    if (wire_string(rec, 0, &name) || w.key != c->nheap_types + 1)
        return PYSCOPE_EPROTO;
    char *text = str_dup(name);
    if (!text || util_grow((void **)&c->heap_types, &c->capheap_types, c->nheap_types,
                           sizeof *c->heap_types) < 0) {
        free(text);
        return PYSCOPE_ENOMEM;
    }
    c->heap_types[c->nheap_types++] = text;
    return 0;
}

static int on_heap_objects(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_heap_objects w;
    struct wire_str os;
    int64_t snap;
    wire_fixed(rec, &w, sizeof w);
    if (wire_string(rec, 0, &os) || os.len % sizeof(struct wire_heap_obj) ||
        !imap_get(r->snaps, c->serial, w.seq, &snap))
        return PYSCOPE_EPROTO;
    int err = 0;
    for (size_t i = 0; !err && i < os.len / sizeof(struct wire_heap_obj); i++) {
        struct wire_heap_obj o;
        memcpy(&o, os.p + i * sizeof o, sizeof o);
        int64_t stack = 0;
        if (!o.type || o.type > c->nheap_types ||
            (o.traceback && !imap_get(r->tracebacks, c->serial, o.traceback, &stack)))
            return PYSCOPE_EPROTO;
        err = store_heap_object_add(r->st, snap, o.obj, c->heap_types[o.type - 1], (int64_t)o.size,
                                    o.refcnt, stack);
    }
    return err;
}

static int on_heap_edges(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_heap_edges w;
    struct wire_str es;
    int64_t snap;
    wire_fixed(rec, &w, sizeof w);
    if (wire_string(rec, 0, &es) || !imap_get(r->snaps, c->serial, w.seq, &snap))
        return PYSCOPE_EPROTO;
    int err = 0;
    for (size_t at = 0; !err && at < es.len;) {
        uint64_t src, dst;
        uint32_t len;
        if (es.len - at < WIRE_EDGE_LABEL_AT)
            return PYSCOPE_EPROTO;
        memcpy(&src, es.p + at, 8);
        memcpy(&dst, es.p + at + 8, 8);
        memcpy(&len, es.p + at + 16, 4);
        size_t size = WIRE_EDGE_SIZE(len);
        if (len > es.len || size > es.len - at)
            return PYSCOPE_EPROTO;
        err = store_heap_edge_add(r->st, snap, src, dst, es.p + at + WIRE_EDGE_LABEL_AT, len);
        at += size;
    }
    return err;
}

static int on_snapshot_traces(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_snapshot_traces w;
    struct wire_str ts;
    wire_fixed(rec, &w, sizeof w);
    int64_t snap;
    if (wire_string(rec, 0, &ts) || ts.len % sizeof(struct wire_trace) ||
        !imap_get(r->snaps, c->serial, w.seq, &snap))
        return PYSCOPE_EPROTO;
    int err = 0;
    for (size_t i = 0; !err && i < ts.len / sizeof(struct wire_trace); i++) {
        struct wire_trace t;
        memcpy(&t, ts.p + i * sizeof t, sizeof t);
        int64_t stack;
        if (!imap_get(r->tracebacks, c->serial, t.traceback, &stack))
            return PYSCOPE_EPROTO;
        err = store_snapshot_trace_add(r->st, snap, stack, (int64_t)t.size, (int64_t)t.count);
    }
    return err;
}

static int on_sample_idle(struct recorder *r, struct conn *c, const struct wire_rec *rec)
{
    struct wire_sample_idle s;
    wire_fixed(rec, &s, sizeof s);
    struct rthread *th = sample_thread(r, c, s.tid);
    if (!th)
        return PYSCOPE_ENOMEM;
    /* A thread not sampled with its frames yet has its ticks all the same,
     * with no stack. */
    uint32_t ticks = s.ticks ? s.ticks : 1;
    r->counts.samples += ticks;
    struct store_samples x = {
        .stack_id = th->last_stack,
        .t_ns = rel_ns(r, s.t_ns),
        .last_ns = rel_ns(r, s.last_ns > s.t_ns ? s.last_ns : s.t_ns),
        .state = s.state == WIRE_STATE_GIL || s.state == WIRE_STATE_RUNNABLE ? (int)s.state
                                                                             : WIRE_STATE_IDLE,
        .ticks = ticks,
    };
    return store_samples_add(r->st, th->id, &x);
}

static int on_dropped(struct recorder *r, const struct wire_rec *rec)
{
    struct wire_dropped d;
    wire_fixed(rec, &d, sizeof d);
    r->counts.dropped_samples += d.samples;
    r->counts.dropped_records += d.records;
    r->counts.missed_ticks += d.missed;
    r->counts.torn_samples += d.torn;
    r->counts.ticks += d.ticks;
    r->counts.ticks_due += d.ticks_due;
    r->counts.gil_takes += d.gil_takes;
    r->counts.direct_signals += d.direct_signals;
    return 0;
}

static int on_meta(struct recorder *r, const struct wire_rec *rec)
{
    struct wire_str k, v;
    if (wire_string(rec, 0, &k) || wire_string(rec, 1, &v))
        return PYSCOPE_EPROTO;
    char *key = str_dup(k), *value = str_dup(v);
    int err = key && value ? store_meta_set(r->st, key, value) : PYSCOPE_ENOMEM;
    free(key);
    free(value);
    return err;
}

/* The main process will not run the program under pyscope: the launcher
 * says why (a child that refuses exits as the main one does, and its end is
 * recorded as any child's). */
static int on_refused(struct recorder *r, const struct conn *c, const struct wire_rec *rec)
{
    struct wire_str why;
    if (wire_string(rec, 0, &why))
        return PYSCOPE_EPROTO;
    if (c->pid != r->main_pid || r->main_refusal)
        return 0;
    r->main_refusal = str_dup(why);
    if (!r->main_refusal)
        return PYSCOPE_ENOMEM;
    for (char *p = r->main_refusal; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' '; /* one line on the user's terminal */
    return 0;
}

int recorder_conn_message(struct recorder *r, int ci, const void *msg, size_t len)
{
    struct conn *c = &r->conns[ci];
    const uint8_t *p = msg;
    while (len) {
        struct wire_rec rec;
        long n = wire_decode(p, len, &rec);
        if (n < 0)
            goto proto;
        if (!c->hello && rec.type != WIRE_HELLO)
            goto proto;
        int err = 0;
        switch (rec.type) {
        case WIRE_HELLO:
            err = on_hello(r, c, &rec);
            break;
        case WIRE_THREAD_START:
            err = on_thread_start(r, c, &rec);
            break;
        case WIRE_THREAD_END:
            err = on_thread_end(r, c, &rec);
            break;
        case WIRE_PROCESS_EXIT:
            err = on_exit_record(r, c, &rec);
            break;
        case WIRE_META:
            err = on_meta(r, &rec);
            break;
        case WIRE_REFUSED:
            err = on_refused(r, c, &rec);
            break;
        case WIRE_CODE:
            err = on_code(r, c, &rec);
            break;
        case WIRE_SAMPLE:
            err = on_sample(r, c, &rec);
            break;
        case WIRE_SAMPLE_IDLE:
            err = on_sample_idle(r, c, &rec);
            break;
        case WIRE_DROPPED:
            err = on_dropped(r, &rec);
            break;
        case WIRE_FUNCTION:
            err = on_function(r, c, &rec);
            break;
        case WIRE_TRACEBACK:
            err = on_traceback(r, c, &rec);
            break;
        case WIRE_SNAPSHOT:
            err = on_snapshot(r, c, &rec);
            break;
        case WIRE_SNAPSHOT_TRACES:
            err = on_snapshot_traces(r, c, &rec);
            break;
        case WIRE_SNAPSHOT_END:
            err = on_snapshot_end(r, c, &rec);
            break;
        case WIRE_HEAP_TYPE:
            err = on_heap_type(r, c, &rec);
            break;
        case WIRE_HEAP_OBJECTS:
            err = on_heap_objects(r, c, &rec);
            break;
        case WIRE_HEAP_EDGES:
            err = on_heap_edges(r, c, &rec);
            break;
        case WIRE_GC:
            err = on_gc(r, c, &rec);
            break;
        case WIRE_NATIVE:
            err = on_native(r, c, &rec);
            break;
        case WIRE_CALLS:
            err = on_calls(r, c, &rec);
            break;
        default:
            break; /* WIRE_PAD, or a type from a newer target */
        }
        if (err == PYSCOPE_EPROTO)
            goto proto;
        if (err < 0)
            return err;
        r->dirty = 1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
proto:
    r->proto_errors++;
    return PYSCOPE_EPROTO;
}

static void exit_from_status(int status, int64_t ended_ns, struct store_exit *e)
{
    memset(e, 0, sizeof *e);
    e->ended_ns = ended_ns;
    if (WIFEXITED(status)) {
        e->has_code = 1;
        e->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        e->signal = WTERMSIG(status);
    }
}

/*
 * How a process we are not the parent of ended, read from its zombie before
 * its parent reaps it. Its connection closes a moment before it becomes a
 * zombie, so look a few times. 0 when found.
 */
static int zombie_status(pid_t pid, int *status)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int attempt = 0; attempt < 5; attempt++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return PYSCOPE_ENOTFOUND;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            return PYSCOPE_ENOTFOUND;
        buf[n] = '\0';
        const char *p = strrchr(buf, ')');
        if (!p)
            return PYSCOPE_ENOTFOUND;
        char state = p[2];
        if (state == 'Z' || state == 'X') {
            /* exit_code is the 52nd field; p points before the 3rd. */
            int field = 2;
            for (const char *q = p + 1; *q; q++) {
                if (*q == ' ' && ++field == 52)
                    return sscanf(q + 1, "%d", status) == 1 ? 0 : PYSCOPE_ENOTFOUND;
            }
            return PYSCOPE_ENOTFOUND;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return PYSCOPE_ENOTFOUND;
}

void recorder_conn_close(struct recorder *r, int ci)
{
    struct conn *c = &r->conns[ci];
    if (!c->open)
        return;
    c->open = 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->threads);
    c->threads = NULL;
    c->nthreads = c->cap = 0;
    conn_heap_types_free(c);
    if (!c->hello)
        return;
    int64_t now = util_mono_ns() - r->origin_ns;
    struct store_exit e;
    if (c->pid == r->main_pid) {
        if (!r->main_exited) {
            r->main_end_pending = 1; /* waitpid will tell */
            r->main_end_ns = now;
            return;
        }
        exit_from_status(r->main_status, c->has_exit ? c->exit.ended_ns : now, &e);
    } else if (c->has_exit) {
        e = c->exit;
    } else {
        int status;
        if (zombie_status(c->pid, &status) == 0)
            exit_from_status(status, now, &e);
        else
            e = (struct store_exit){.ended_ns = now};
    }
    store_threads_end_all(r->st, c->process_id, e.ended_ns);
    store_process_end(r->st, c->process_id, &e);
    r->dirty = 1;
}

void recorder_main_exited(struct recorder *r, int wait_status)
{
    r->main_exited = 1;
    r->main_status = wait_status;
    if (r->main_end_pending) {
        struct store_exit e;
        exit_from_status(wait_status, r->main_end_ns, &e);
        store_threads_end_all(r->st, r->main_process_id, e.ended_ns);
        store_process_end(r->st, r->main_process_id, &e);
        r->main_end_pending = 0;
        r->dirty = 1;
    } else {
        r->main_end_ns = util_mono_ns() - r->origin_ns;
    }
}

int recorder_commit(struct recorder *r)
{
    if (!r->dirty)
        return 0;
    r->dirty = 0;
    return store_commit(r->st);
}

static void accept_all(struct recorder *r, int listen_fd)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        if (store_lost(r->st)) {
            close(fd);
            continue;
        }
        struct ucred cred;
        socklen_t len = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != getuid() ||
            conn_add(r, fd) < 0)
            close(fd);
    }
}

static void read_conn(struct recorder *r, int ci, uint8_t *buf)
{
    for (int i = 0; i < READS_PER_WAKE; i++) {
        ssize_t n = recv(r->conns[ci].fd, buf, WIRE_MSG_MAX, MSG_TRUNC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* A lost store takes no more: a process that waits for its
         * snapshot's id sees the connection close and goes on. */
        if (n <= 0 || n > WIRE_MSG_MAX ||
            recorder_conn_message(r, ci, buf, (size_t)n) == PYSCOPE_EPROTO || store_lost(r->st)) {
            recorder_conn_close(r, ci);
            return;
        }
    }
}

void recorder_set_terminal(struct recorder *r, int tty)
{
    r->tty = tty;
}

/* Whether process pid is stopped; a process that is gone is not. */
static int is_stopped(const char *stat_path)
{
    char buf[512];
    int fd = open(stat_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *paren = strrchr(buf, ')'); /* the name may hold anything */
    return paren && paren[1] == ' ' && (paren[2] == 'T' || paren[2] == 't');
}

/*
 * A stop that ends without the shell (the program stopped itself with
 * os.kill(0, SIGSTOP), and someone continued it with kill -CONT) must end
 * pyscope's too, but pyscope is stopped and cannot see it. A watcher process
 * of its own group, which a stop of pyscope's does not reach, looks at the
 * program and continues pyscope once the program runs again or is gone,
 * and pyscope has stopped: the program may be continued before pyscope
 * stops, and a SIGCONT sent before the stop would be lost.
 * -1 when none could be made: pyscope then waits for its own SIGCONT.
 */
#define WATCH_TICK_MS 10

static pid_t watch_stop(const char *path)
{
    pid_t pyscope = getpid();
    char own[64];
    snprintf(own, sizeof own, "/proc/%d/stat", (int)pyscope);
    pid_t w = fork();
    if (w != 0)
        return w;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const struct timespec tick = {0, WATCH_TICK_MS * 1000000L};
    while (getppid() == pyscope && (is_stopped(path) || !is_stopped(own)))
        nanosleep(&tick, NULL);
    kill(pyscope, SIGCONT);
    _exit(0);
}

/*
 * The program stopped (Ctrl-Z, SIGTSTP, or a SIGSTOP): stop pyscope too, so
 * the shell sees its job stop and gets the terminal back. When the job is
 * continued by the shell (fg), the terminal is pyscope's again: hand it back
 * to the program and continue it. When only the program was continued, it
 * runs in the background as it would without pyscope, and so does pyscope.
 */
static void follow_stop(struct recorder *r)
{
    recorder_commit(r);
    if (r->tty >= 0)
        util_give_terminal(r->tty, getpgrp());
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)r->main_pid);
    pid_t watcher = watch_stop(path);
    raise(SIGSTOP);
    if (watcher > 0) {
        kill(watcher, SIGKILL);
        waitpid(watcher, NULL, 0);
    }
    if (r->tty >= 0 && tcgetpgrp(r->tty) == getpgrp())
        util_give_terminal(r->tty, r->main_pid);
    if (is_stopped(path)) /* pyscope's job was continued, not the program */
        killpg(r->main_pid, SIGCONT);
}

static void on_signal(struct recorder *r, int sigfd)
{
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
            int status;
            pid_t pid;
            while (!r->main_exited &&
                   (pid = waitpid(r->main_pid, &status, WNOHANG | WUNTRACED)) > 0) {
                if (WIFSTOPPED(status))
                    follow_stop(r);
                else
                    recorder_main_exited(r, status);
            }
            while (waitpid(-1, &status, WNOHANG) > 0)
                ; /* orphans of the program that were handed to us */
            continue;
        }
        /*
         * The program runs in its own process group, which has the terminal
         * when pyscope had it: Ctrl-C and Ctrl-\ reach it directly. Whatever
         * is sent to pyscope is passed on: the keyboard signals to the
         * program's whole group, as a terminal would, SIGTERM and SIGHUP to
         * the program itself.
         */
        if (r->main_exited)
            continue;
        if (sig == SIGINT || sig == SIGQUIT)
            killpg(r->main_pid, sig);
        else
            kill(r->main_pid, sig);
    }
}

static size_t open_conns(const struct recorder *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nconns; i++)
        n += r->conns[i].open;
    return n;
}

int recorder_run(struct recorder *r, int listen_fd, int sigfd, int *wait_status)
{
    uint8_t *buf = malloc(WIRE_MSG_MAX);
    struct pollfd *pfds = NULL;
    int *pidx = NULL;
    size_t cappfds = 0, cappidx = 0;
    int err = 0;
    if (!buf)
        return PYSCOPE_ENOMEM;
    int64_t last_commit = util_mono_ns();
    for (;;) {
        int64_t now = util_mono_ns();
        size_t nopen = open_conns(r);
        if (r->main_exited &&
            (nopen == 0 || now - (r->main_end_ns + r->origin_ns) > GRACE_MS * 1000000LL))
            break;
        /* The listening socket and the signal descriptor, then every
         * connection. */
        if (util_reserve((void **)&pfds, &cappfds, r->nconns + 2, sizeof *pfds, UTIL_GROW_FIRST) <
                0 ||
            util_reserve((void **)&pidx, &cappidx, r->nconns + 2, sizeof *pidx, UTIL_GROW_FIRST) <
                0) {
            err = PYSCOPE_ENOMEM;
            break;
        }
        size_t n = 0;
        pfds[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
        pfds[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
        for (size_t i = 0; i < r->nconns; i++) {
            if (r->conns[i].open && r->conns[i].fd >= 0) {
                pidx[n] = (int)i;
                pfds[n++] = (struct pollfd){.fd = r->conns[i].fd, .events = POLLIN};
            }
        }
        int64_t wait_ms = COMMIT_PERIOD_MS - (now - last_commit) / 1000000;
        if (wait_ms < 0)
            wait_ms = 0;
        if (r->main_exited && wait_ms > 50)
            wait_ms = 50;
        int rc = poll(pfds, n, (int)wait_ms);
        if (rc < 0 && errno != EINTR) {
            err = PYSCOPE_EIO;
            break;
        }
        if (rc > 0) {
            if (pfds[1].revents)
                on_signal(r, sigfd);
            for (size_t i = 2; i < n; i++)
                if (pfds[i].revents)
                    read_conn(r, pidx[i], buf);
            if (pfds[0].revents)
                accept_all(r, listen_fd);
        }
        if (util_mono_ns() - last_commit >= COMMIT_PERIOD_MS * 1000000LL) {
            recorder_commit(r);
            last_commit = util_mono_ns();
        }
    }
    /* Whatever is still queued on connections that stay open. The main
     * process has ended even if a child it forked still holds its connection;
     * other processes that outlive the grace period stay without an end. */
    for (size_t i = 0; i < r->nconns; i++) {
        struct conn *c = &r->conns[i];
        if (!c->open || c->fd < 0)
            continue;
        read_conn(r, (int)i, buf);
        if (c->open && c->pid == r->main_pid) {
            recorder_conn_close(r, (int)i);
        } else if (c->open) {
            close(c->fd);
            c->fd = -1;
            c->open = 0;
        }
    }
    if (!r->main_process_id && r->main_exited) {
        /* The program ended before its bootstrap connected. */
        r->main_unrecorded = 1;
        struct store_process p = {.pid = r->main_pid, .started_ns = 0};
        if (store_process_add(r->st, &p, &r->main_process_id) == 0)
            r->main_end_pending = 1;
    }
    if (r->main_end_pending && r->main_exited)
        recorder_main_exited(r, r->main_status);
    recorder_commit(r);
    *wait_status = r->main_status;
    free(buf);
    free(pfds);
    free(pidx);
    return err;
}

int recorder_main_unrecorded(const struct recorder *r)
{
    return r->main_unrecorded;
}

const char *recorder_main_refusal(const struct recorder *r)
{
    return r->main_refusal;
}
