/*
 * `pyscope profile`: the launcher. It checks everything that can be checked
 * before anything is created (the script, the interpreter, the output path),
 * forks the program, which waits on a pipe until the database exists, then
 * runs the recorder in this process until the program and its children are
 * done, and finally ends the way the program ended: same exit status, or
 * the same signal raised again.
 *
 * The program is started exactly as `python3.X script.py args` with one
 * difference: PYTHONPATH starts with the directory holding the _pyscope
 * extensions and their sitecustomize bootstraps, one per CPython version the
 * build has; the site module imports the one of its own version at start-up.
 */
#define _GNU_SOURCE
#include "launcher.h"
#include "cli.h"
#include "error.h"
#include "interp.h"
#include "recorder.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

const char launcher_usage[] =
    "usage: pyscope profile [options] script.py [args...]\n"
    "       pyscope profile [options] -m module [args...]\n"
    "       pyscope profile [options] -c code [args...]\n"
    "\n"
    "Run a Python program exactly as python would, and record it into a SQLite\n"
    "database. The program keeps its own stdin, stdout, stderr and exit status;\n"
    "the summary goes to stderr. This build runs it under CPython " PYSCOPE_BUILT_VERSIONS ".\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  the database (default: pyscope-<name>-<pid>.db)\n"
    "      --force        replace FILE if it exists (a regular file or a symlink)\n"
    "      --python PATH  the interpreter (default: the active virtualenv's python,\n"
    "                     else python3 on PATH if it is one of those versions,\n"
    "                     else " PYSCOPE_BUILD_PYTHON ")\n"
    "      --rate HZ      sample every thread's stack HZ times a second (default 1000)\n"
    "      --no-sample    do not sample\n"
    "      --calls        count every call of every function on every thread, with\n"
    "                     cProfile's statistics (see 'pyscope top')\n"
    "      --calls=python count calls of Python functions only, not of builtins:\n"
    "                     the same numbers for them, for a fraction of the cost\n"
    "      --native       samples also take the native (C) stack: C functions show\n"
    "                     under the Python line that called them\n"
    "      --native-all   the same, with the interpreter's own frames\n"
    "      --native-without-gil  with --native or --native-all (alone: --native),\n"
    "                     also interrupt threads that run without the GIL (C code\n"
    "                     that released it: zlib, hashing, numpy) for their native\n"
    "                     frames; where the kernel refuses perf events, a system\n"
    "                     call such a thread is in may then return early\n"
    "      --heap         each snapshot (see --memory for when they are taken) also\n"
    "                     records the object graph, for 'pyscope cycles'; implies --gc\n"
    "      --gc           record every collection of the cyclic garbage collector\n"
    "                     (see 'pyscope gc')\n"
    "      --memory       trace every allocation with its traceback, as tracemalloc\n"
    "                     does, and record snapshots of live memory: at exit, at\n"
    "                     the peak, on pyscope.snapshot(label) from the program, on\n"
    "                     the snapshot signal (see 'pyscope snapshots')\n"
    "      --memory-depth N  frames kept per traceback, 1 to 512 (default 128);\n"
    "                     implies --memory\n"
    "      --snapshot-signal SIG  take a snapshot when the process receives SIG\n"
    "                     (default USR2; 'none' for no signal)\n"
    "      --snapshot-interval SEC  also take one every SEC seconds\n"
    "  -q, --quiet        do not print the summary after the run\n"
    "  -h, --help         show this help\n";

const char launcher_pythons[] = PYSCOPE_BUILT_VERSIONS;

enum target_kind { TARGET_SCRIPT, TARGET_MODULE, TARGET_CODE };

struct profile_opts {
    const char *output;
    const char *python;
    int force;
    int quiet;
    unsigned rate_hz; /* 0: no sampling */
    int calls;        /* --calls: 1 every call, 2 Python functions only */
    int gc;           /* --gc: record collections */
    int heap;         /* --heap: snapshots record the object graph */
    int native;       /* --native: 1, --native-all: 2 */
    int native_nogil; /* --native-without-gil */
    int memory_depth; /* 0: allocations not traced */
    int snapshot_signal;
    uint64_t snapshot_interval_ms;
    enum target_kind kind;
    const char *target; /* script path, module name or code */
    char **args;        /* the program's arguments after the target */
    int nargs;
    char **optv; /* pyscope's own options, for meta */
    int optc;
};

/* The number of a signal given as a number, "USR2" or "SIGUSR2"; 0 for "none". */
static int parse_signal(const char *v)
{
    if (!strcmp(v, "none"))
        return 0;
    int64_t n;
    if (util_parse_i64(v, &n) == 0)
        return n > 0 && n < NSIG ? (int)n : -1;
    if (!strncmp(v, "SIG", 3))
        v += 3;
    for (int sig = 1; sig < NSIG; sig++) {
        const char *name = util_signal_name(sig);
        if (name && !strcmp(name + 3, v))
            return sig;
    }
    return -1;
}

/* --memory-depth, --snapshot-signal, --snapshot-interval (the name is a's first nlen bytes). */
static int parse_memory_option(const char *a, size_t nlen, const char *v, struct profile_opts *o)
{
    if (!v || !*v) {
        cli_error("option '%.*s' needs a value", (int)nlen, a);
        return -1;
    }
    if (!strncmp(a, "--memory-depth", nlen)) {
        int64_t depth;
        if (util_parse_i64(v, &depth) < 0 || depth < 1 || depth > 512) {
            cli_error("option '--memory-depth' needs a number of frames from 1 to 512, not '%s'", v);
            return -1;
        }
        o->memory_depth = (int)depth;
    } else if (!strncmp(a, "--snapshot-signal", nlen)) {
        int sig = parse_signal(v);
        if (sig < 0 || sig == SIGKILL || sig == SIGSTOP) {
            cli_error("option '--snapshot-signal' needs a signal that can be caught (USR2, "
                      "SIGUSR1, 12, none), not '%s'", v);
            return -1;
        }
        o->snapshot_signal = sig;
    } else {
        char *end;
        double sec = strtod(v, &end);
        if (*end || !(sec >= 0.01 && sec <= 86400)) {
            cli_error("option '--snapshot-interval' needs seconds from 0.01 to 86400, not '%s'", v);
            return -1;
        }
        o->snapshot_interval_ms = (uint64_t)(sec * 1000 + 0.5);
    }
    return 0;
}

/* Parse argv (argv[0] is "profile"). 0, or CLI_USAGE after printing why. */
static int parse_options(int argc, char **argv, struct profile_opts *o)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-' || !strcmp(a, "-"))
            break;
        if (!strcmp(a, "-m") || !strcmp(a, "-c")) {
            if (i + 1 >= argc) {
                cli_error("option '%s' needs an argument", a);
                return CLI_USAGE;
            }
            o->kind = a[1] == 'm' ? TARGET_MODULE : TARGET_CODE;
            o->target = argv[i + 1];
            o->optc = i - 1;
            o->args = argv + i + 2;
            o->nargs = argc - i - 2;
            return 0;
        }
        if (!strncmp(a, "-m", 2) || !strncmp(a, "-c", 2)) { /* -mmodule, -ccode */
            o->kind = a[1] == 'm' ? TARGET_MODULE : TARGET_CODE;
            o->target = a + 2;
            o->optc = i - 1;
            o->args = argv + i + 1;
            o->nargs = argc - i - 1;
            return 0;
        }
        if (cli_is_help(a)) {
            fputs(launcher_usage, stdout);
            return -1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
        } else if (!strcmp(a, "--no-sample")) {
            o->rate_hz = 0;
        } else if (!strcmp(a, "--calls") || !strcmp(a, "--calls=all")) {
            o->calls = 1;
        } else if (!strcmp(a, "--calls=python")) {
            o->calls = 2;
        } else if (!strncmp(a, "--calls=", 8)) {
            cli_error("option '--calls' is --calls, --calls=all or --calls=python, not '%s'", a);
            return CLI_USAGE;
        } else if (!strcmp(a, "--gc")) {
            o->gc = 1;
        } else if (!strcmp(a, "--native")) {
            o->native = 1;
        } else if (!strcmp(a, "--native-all")) {
            o->native = 2;
        } else if (!strcmp(a, "--native-without-gil")) {
            o->native_nogil = 1;
        } else if (!strcmp(a, "--heap")) {
            o->heap = o->gc = 1;
        } else if (!strcmp(a, "--memory")) {
            if (!o->memory_depth)
                o->memory_depth = 128;
        } else if (!strcmp(a, "--memory-depth") || !strncmp(a, "--memory-depth=", 15) ||
                   !strcmp(a, "--snapshot-signal") || !strncmp(a, "--snapshot-signal=", 18) ||
                   !strcmp(a, "--snapshot-interval") ||
                   !strncmp(a, "--snapshot-interval=", 20)) {
            size_t nlen = strcspn(a, "=");
            const char *v = a[nlen] == '=' ? a + nlen + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (parse_memory_option(a, nlen, v, o) < 0)
                return CLI_USAGE;
        } else if (!strcmp(a, "--rate") || !strncmp(a, "--rate=", 7)) {
            const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
            char *end;
            unsigned long hz = v ? strtoul(v, &end, 10) : 0;
            if (!v || !*v || *end || hz < 1 || hz > 100000) {
                cli_error("option '--rate' needs a number of samples per second from 1 to "
                          "100000");
                return CLI_USAGE;
            }
            o->rate_hz = (unsigned)hz;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--python")) {
            if (i + 1 >= argc) {
                cli_error("option '%s' needs an argument", a);
                return CLI_USAGE;
            }
            val = argv[++i];
            if (!strcmp(a, "--python"))
                o->python = val;
            else
                o->output = val;
        } else if (!strncmp(a, "--output=", 9)) {
            o->output = a + 9;
        } else if (!strncmp(a, "--python=", 9)) {
            o->python = a + 9;
        } else if (!strncmp(a, "-o", 2)) {
            o->output = a + 2;
        } else {
            cli_error("unknown option '%s'; see 'pyscope profile --help'", a);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        cli_error("no program to run; see 'pyscope profile --help'");
        return CLI_USAGE;
    }
    o->kind = TARGET_SCRIPT;
    o->target = argv[i];
    o->optc = i - 1;
    o->args = argv + i + 1;
    o->nargs = argc - i - 1;
    if (o->output && !*o->output) {
        cli_error("option '-o' needs a file name");
        return CLI_USAGE;
    }
    return 0;
}

static int check_script(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        cli_error("cannot open script '%s': %s", path, strerror(errno));
        return CLI_USAGE;
    }
    if (S_ISDIR(st.st_mode)) {
        /* python runs a directory's __main__.py; anything else is an error. */
        char main_py[PATH_MAX];
        snprintf(main_py, sizeof main_py, "%s/__main__.py", path);
        if (access(main_py, R_OK) < 0) {
            cli_error("'%s' is a directory without a __main__.py", path);
            return CLI_USAGE;
        }
        return 0;
    }
    if (access(path, R_OK) < 0) {
        cli_error("cannot open script '%s': %s", path, strerror(errno));
        return CLI_USAGE;
    }
    return 0;
}

/* Whether dir is where a build put pyscope's Python files. */
static int is_pydir(const char *dir)
{
    char probe[2 * PATH_MAX];
    snprintf(probe, sizeof probe, "%s/pyscope.py", dir);
    return access(probe, R_OK) == 0;
}

/*
 * The directory holding pyscope.py and, for each version the build has, the
 * _pyscope extension and its bootstrap: python/ beside the executable (a
 * build directory), lib/pyscope/python beside its bin/ (an installation),
 * or where the build said it would be installed; the first that exists.
 * Whether it holds the files of the interpreter chosen is checked once that
 * is known. 0 or PYSCOPE_ENOTFOUND.
 */
static int find_pydir(char *out, size_t len)
{
    char exe[PATH_MAX], probe[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(probe, sizeof probe, "%s/python", exe);
            if (is_pydir(probe) && (size_t)snprintf(out, len, "%s", probe) < len)
                return 0;
            snprintf(probe, sizeof probe, "%s/../lib/pyscope/python", exe);
            if (is_pydir(probe) && realpath(probe, out))
                return 0;
        }
    }
    if (is_pydir(PYSCOPE_INSTALL_PYDIR)) {
        snprintf(out, len, "%s", PYSCOPE_INSTALL_PYDIR);
        return 0;
    }
    return PYSCOPE_ENOTFOUND;
}

/* The name part of the default output file: letters, digits, '.', '_', '-'. */
static void default_output(const struct profile_opts *o, pid_t pid, char *out, size_t len)
{
    char name[128];
    const char *src = "c";
    char buf[PATH_MAX];
    if (o->kind == TARGET_MODULE) {
        src = o->target;
    } else if (o->kind == TARGET_SCRIPT) {
        snprintf(buf, sizeof buf, "%s", o->target);
        size_t l = strlen(buf);
        while (l > 1 && buf[l - 1] == '/')
            buf[--l] = '\0';
        char *base = strrchr(buf, '/');
        base = base ? base + 1 : buf;
        char *dot = strrchr(base, '.');
        if (dot && dot != base)
            *dot = '\0';
        src = base;
    }
    size_t n = 0;
    for (const char *p = src; *p && n < sizeof name - 1; p++)
        name[n++] = (strchr("._-", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= 'A' && *p <= 'Z'))
                        ? *p
                        : '_';
    name[n] = '\0';
    snprintf(out, len, "pyscope-%s-%d.db", n ? name : "run", (int)pid);
}

/* The database's own files: SQLite keeps its journal beside it under these names. */
static const char *const output_suffixes[] = {"", "-wal", "-shm", "-journal"};
#define NOUTPUT_FILES (sizeof output_suffixes / sizeof *output_suffixes)

/* What a file that --force will not replace is, for the message. */
static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a fifo";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "not a regular file";
}

/*
 * Create path exclusively. Without --force, the database or a journal beside
 * it that already exists is refused: a journal would even be replayed into
 * the new database. --force replaces only what a run leaves, regular files
 * (a symlink is replaced itself, never its target); every name is checked
 * before any is removed, so a refusal removes nothing. 0 or -1 after saying why.
 */
static int claim_output(const char *path, int force)
{
    char p[NOUTPUT_FILES][PATH_MAX + 16];
    int present[NOUTPUT_FILES] = {0};
    for (size_t i = 0; i < NOUTPUT_FILES; i++) {
        snprintf(p[i], sizeof p[i], "%s%s", path, output_suffixes[i]);
        struct stat st;
        if (lstat(p[i], &st) < 0) {
            if (errno == ENOENT || errno == ENOTDIR)
                continue; /* ENOTDIR: the directory is missing, which open says */
            cli_error("cannot create '%s': %s", path, strerror(errno));
            return -1;
        }
        present[i] = 1;
        if (!force) {
            if (i == 0)
                cli_error("'%s' already exists; use --force to overwrite it", path);
            else
                cli_error("'%s' exists beside '%s'; use --force to overwrite it", p[i], path);
            return -1;
        }
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
            cli_error("cannot replace '%s': it is %s; --force replaces only a regular file or "
                      "a symbolic link",
                      p[i], file_kind(st.st_mode));
            return -1;
        }
    }
    for (size_t i = 0; i < NOUTPUT_FILES; i++) {
        if (present[i] && unlink(p[i]) < 0 && errno != ENOENT) {
            cli_error("cannot overwrite '%s': %s", p[i], strerror(errno));
            return -1;
        }
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            cli_error("'%s' already exists; use --force to overwrite it", path);
        else
            cli_error("cannot create '%s': %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/*
 * Remove what a run that never started made: the database and the journal
 * files SQLite made beside it. claim_output saw none of these names in use,
 * so whatever holds them now is this run's.
 */
static void unclaim_output(const char *path)
{
    char p[PATH_MAX + 16];
    for (size_t i = 0; i < NOUTPUT_FILES; i++) {
        snprintf(p, sizeof p, "%s%s", path, output_suffixes[i]);
        unlink(p);
    }
}

static void set_meta_time(struct store *st, const char *key, int64_t wall_ns)
{
    char buf[64];
    time_t secs = (time_t)(wall_ns / 1000000000);
    struct tm tm;
    localtime_r(&secs, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
    store_meta_set(st, key, buf);
}

static void write_start_meta(struct store *st, const struct profile_opts *o,
                             const struct interp *in, int64_t wall_ns)
{
    char buf[PATH_MAX];
    struct sbuf sb = {0};
    store_meta_set(st, "pyscope_version", PYSCOPE_VERSION);
    store_meta_set(st, "python_version", in->version);
    store_meta_set(st, "python_executable", in->path);
    if (o->kind == TARGET_MODULE)
        sbuf_add(&sb, "-m ", 3);
    else if (o->kind == TARGET_CODE)
        sbuf_add(&sb, "-c ", 3);
    char *target = (char *)o->target;
    sbuf_add_argv(&sb, &target, 1);
    if (o->nargs) {
        sbuf_add(&sb, " ", 1);
        sbuf_add_argv(&sb, o->args, o->nargs);
    }
    store_meta_set(st, "argv", sbuf_str(&sb));
    sbuf_release(&sb);
    store_meta_set(st, "cwd", getcwd(buf, sizeof buf) ? buf : "");
    set_meta_time(st, "started_at", wall_ns);
    snprintf(buf, sizeof buf, "%lld", (long long)wall_ns);
    store_meta_set(st, "start_wall_ns", buf);
    sbuf_add_argv(&sb, o->optv, o->optc);
    store_meta_set(st, "options", sbuf_str(&sb));
    snprintf(buf, sizeof buf, "%u", o->rate_hz);
    store_meta_set(st, "sample_rate_hz", buf);
    sbuf_release(&sb);
    if (gethostname(buf, sizeof buf) == 0) {
        buf[sizeof buf - 1] = '\0';
        store_meta_set(st, "host", buf);
    }
}

static void write_end_meta(struct store *st, int status, int64_t duration_ns,
                           const struct recorder *rec)
{
    char buf[64];
    uint64_t errors = recorder_protocol_errors(rec);
    struct recorder_counts n;
    recorder_counts(rec, &n);
    const struct {
        const char *key;
        uint64_t value;
    } counted[] = {
        {"missed_ticks", n.missed_ticks},
        {"dropped_samples", n.dropped_samples},
        {"dropped_records", n.dropped_records},
        {"torn_samples", n.torn_samples},
        {"sample_ticks", n.ticks},
        {"sample_ticks_due", n.ticks_due},
        {"gil_takes", n.gil_takes},
        {"direct_signals", n.direct_signals},
    };
    for (size_t i = 0; i < sizeof counted / sizeof *counted; i++) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)counted[i].value);
        store_meta_set(st, counted[i].key, buf);
    }
    uint64_t overhead = recorder_calls_overhead(rec);
    if (overhead) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)overhead);
        store_meta_set(st, "calls_overhead_ns", buf);
    }
    set_meta_time(st, "ended_at", util_wall_ns());
    snprintf(buf, sizeof buf, "%lld", (long long)duration_ns);
    store_meta_set(st, "duration_ns", buf);
    if (WIFSIGNALED(status))
        snprintf(buf, sizeof buf, "signal %d", WTERMSIG(status));
    else
        snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(status));
    store_meta_set(st, "exit_status", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)errors);
    store_meta_set(st, "protocol_errors", buf);
    struct rusage self;
    if (getrusage(RUSAGE_SELF, &self) == 0) { /* the recorder's: the program is a child */
        snprintf(buf, sizeof buf, "%lld", (long long)self.ru_maxrss * 1024);
        store_meta_set(st, "recorder_rss_bytes", buf);
    }
}

/* Room for the one descriptor the go-ahead may carry. */
union go_cmsg {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
};

/*
 * The go-ahead: the interpreter's path, NUL-terminated, carrying the
 * interpreter's open file when it is to run through it (struct interp).
 * 0 or -1.
 */
static int send_go(int sock, const struct interp *in)
{
    size_t len = strlen(in->path) + 1;
    union go_cmsg cm;
    struct iovec iov = {.iov_base = (void *)in->path, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (in->fd >= 0) {
        memset(&cm, 0, sizeof cm);
        mh.msg_control = cm.buf;
        mh.msg_controllen = sizeof cm.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &in->fd, sizeof(int));
    }
    ssize_t n;
    while ((n = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)len ? 0 : -1;
}

/* In the child: wait for the go-ahead, then become the program. */
static void exec_program(const struct profile_opts *o, const char *pydir, const char *sockname,
                         const sigset_t *mask, int go_fd, int err_fd, pid_t parent)
{
    /* End of file without the go-ahead means the launcher gave up (and
     * reports why). */
    char python[PATH_MAX];
    int exe_fd = -1;
    size_t len = 0;
    ssize_t n;
    while (len < sizeof python) {
        union go_cmsg cm;
        struct iovec iov = {.iov_base = python + len, .iov_len = sizeof python - len};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cm.buf,
                            .msg_controllen = sizeof cm.buf};
        n = recvmsg(go_fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                c->cmsg_len == CMSG_LEN(sizeof(int)) && exe_fd < 0)
                memcpy(&exe_fd, CMSG_DATA(c), sizeof(int));
        len += (size_t)n;
        if (python[len - 1] == '\0')
            break;
    }
    if (len == 0 || python[len - 1] != '\0')
        _exit(127);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    sigprocmask(SIG_SETMASK, mask, NULL);

    const char *old = getenv("PYTHONPATH");
    struct sbuf pp = {0};
    sbuf_add(&pp, pydir, strlen(pydir));
    if (old && *old) {
        sbuf_add(&pp, ":", 1);
        sbuf_add(&pp, old, strlen(old));
    }
    setenv("PYTHONPATH", sbuf_str(&pp), 1);
    setenv("PYSCOPE_SOCKET", sockname, 1);
    char hz[16];
    snprintf(hz, sizeof hz, "%u", o->rate_hz);
    setenv("PYSCOPE_SAMPLE_HZ", hz, 1);
    setenv("PYSCOPE_CALLS", o->calls == 2 ? "python" : o->calls ? "1" : "0", 1);
    char mem[3][24];
    snprintf(mem[0], sizeof mem[0], "%d", o->memory_depth);
    snprintf(mem[1], sizeof mem[1], "%d", o->snapshot_signal);
    snprintf(mem[2], sizeof mem[2], "%llu", (unsigned long long)o->snapshot_interval_ms);
    setenv("PYSCOPE_GC", o->gc ? "1" : "0", 1);
    setenv("PYSCOPE_HEAP", o->heap ? "1" : "0", 1);
    setenv("PYSCOPE_NATIVE",
           o->native == 2 ? "all" : o->native || o->native_nogil ? "1" : "0", 1);
    setenv("PYSCOPE_NATIVE_WITHOUT_GIL", o->native_nogil ? "1" : "0", 1);
    setenv("PYSCOPE_MEMORY_DEPTH", mem[0], 1);
    setenv("PYSCOPE_SNAPSHOT_SIGNAL", mem[1], 1);
    setenv("PYSCOPE_SNAPSHOT_INTERVAL_MS", mem[2], 1);

    char **argv = calloc((size_t)o->nargs + 5, sizeof *argv);
    int errnum = ENOMEM;
    if (argv) {
        int k = 0;
        argv[k++] = python;
        if (o->kind == TARGET_MODULE)
            argv[k++] = "-m";
        else if (o->kind == TARGET_CODE)
            argv[k++] = "-c";
        argv[k++] = (char *)o->target;
        for (int i = 0; i < o->nargs; i++)
            argv[k++] = o->args[i];
        argv[k] = NULL;
        if (exe_fd >= 0)
            fexecve(exe_fd, argv, environ); /* the very file that was asked */
        else
            execv(python, argv);
        errnum = errno;
    }
    if (write(err_fd, &errnum, sizeof errnum) < 0)
        _exit(127);
    _exit(127);
}

/*
 * Asking the interpreter what it is takes as long as a Python start-up, so
 * it runs on a thread while the database is being created.
 */
struct probe_job {
    const char *python;
    struct interp in;
    char msg[PATH_MAX + 256];
    int err;
};

static void *probe_main(void *arg)
{
    struct probe_job *job = arg;
    job->err = interp_choose(job->python, &job->in, job->msg, sizeof job->msg);
    return NULL;
}

/* The terminal on stdin, stdout or stderr whose foreground is pyscope's group, or -1. */
static int foreground_terminal(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (isatty(fd) && tcgetpgrp(fd) == getpgrp())
            return fd;
    return -1;
}

/* How the program ended, for a message: "exited with status 0". */
static void describe_end(int status, char *out, size_t len)
{
    if (WIFSIGNALED(status)) {
        const char *name = util_signal_name(WTERMSIG(status));
        snprintf(out, len, "was killed by signal %d%s%s%s", WTERMSIG(status), name ? " (" : "",
                 name ? name : "", name ? ")" : "");
    } else {
        snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
    }
}

/* End the way the program ended: its exit status, or its signal. */
static int exit_like(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core); /* the program already dumped its core */
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        return 128 + sig;
    }
    return CLI_FAIL;
}

int launcher_profile(int argc, char **argv, launcher_report report)
{
    struct profile_opts o = {.rate_hz = 1000, .snapshot_signal = SIGUSR2};
    o.optv = argv + 1;
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (o.kind == TARGET_SCRIPT && (rc = check_script(o.target)) != 0)
        return rc;

    char pydir[PATH_MAX];
    if (find_pydir(pydir, sizeof pydir) < 0) {
        cli_error("cannot find pyscope's Python files (pyscope.py, the _pyscope extensions)");
        return CLI_FAIL;
    }

    int64_t origin = util_mono_ns(), wall = util_wall_ns();
    char sockname[108];
    int listen_fd = recorder_listen(sockname, sizeof sockname);
    if (listen_fd < 0) {
        cli_error("cannot create the recorder's socket: %s", strerror(errno));
        return CLI_FAIL;
    }

    sigset_t handled, old_mask;
    sigemptyset(&handled);
    sigaddset(&handled, SIGCHLD);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGHUP);
    sigaddset(&handled, SIGQUIT);
    sigprocmask(SIG_BLOCK, &handled, &old_mask);
    int sigfd = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    int go[2] = {-1, -1}, errp[2] = {-1, -1};
    if (sigfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) < 0 ||
        pipe2(errp, O_CLOEXEC) < 0) {
        cli_error("cannot start: %s", strerror(errno));
        return CLI_FAIL;
    }

    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("cannot start the program: %s", strerror(errno));
        return CLI_FAIL;
    }
    if (pid == 0) {
        setpgid(0, 0);
        close(go[1]);
        close(errp[0]);
        exec_program(&o, pydir, sockname, &old_mask, go[0], errp[1], parent);
    }
    close(go[0]);
    close(errp[1]);
    /* The program leads its own process group, as under a shell, so that
     * what is meant for it (Ctrl-C, kill -INT) reaches it exactly once. */
    setpgid(pid, pid);

    static struct probe_job probe;
    probe.python = o.python;
    probe.in.fd = -1;
    pthread_t probe_thread;
    int probing = pthread_create(&probe_thread, NULL, probe_main, &probe) == 0;
    if (!probing)
        probe_main(&probe);

    char path[PATH_MAX];
    if (o.output)
        snprintf(path, sizeof path, "%s", o.output);
    else
        default_output(&o, pid, path, sizeof path);

    struct store *st = NULL;
    struct recorder *rec = NULL;
    int status = 0, claimed = 0, started = 0, tty = -1;
    rc = CLI_USAGE;
    if (claim_output(path, o.force) < 0)
        goto abort;
    claimed = 1;
    const char *err = NULL;
    st = store_create(path, &err);
    if (!st) {
        cli_error("%s", err ? err : "cannot create the database");
        goto abort;
    }
    if (probing)
        pthread_join(probe_thread, NULL);
    probing = 0;
    if (probe.err < 0) {
        cli_error("%s", probe.msg);
        goto abort;
    }
    const struct interp *in = &probe.in;
    /* A version the build has, whose files are not where the others are
     * (an installation that lost one, a build directory built in part). */
    char boot[PATH_MAX + 128];
    snprintf(boot, sizeof boot, "%s/%s", pydir, interp_boot_file(interp_this_build(), in));
    if (access(boot, R_OK) < 0) {
        cli_error("'%s' is CPython %s, and pyscope's extension for it is missing: no '%s'",
                  in->path, in->version, boot);
        rc = CLI_FAIL;
        goto abort;
    }
    write_start_meta(st, &o, in, wall);
    if (store_commit(st) < 0) {
        cli_error("cannot write database '%s': %s", path, store_errmsg(st));
        goto abort;
    }
    rec = recorder_new(st, origin, pid);
    if (!rec) {
        cli_error("out of memory");
        rc = CLI_FAIL;
        goto abort;
    }

    tty = foreground_terminal();
    if (tty >= 0) {
        util_give_terminal(tty, pid);
        recorder_set_terminal(rec, tty);
    }
    if (send_go(go[1], in) < 0)
        goto abort;
    close(go[1]);
    go[1] = -1;
    interp_release(&probe.in); /* the child has its own */
    int errnum = 0;
    ssize_t n;
    while ((n = read(errp[0], &errnum, sizeof errnum)) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)sizeof errnum) {
        cli_error("cannot run '%s': %s", in->path, strerror(errnum));
        goto abort;
    }
    started = 1;

    recorder_run(rec, listen_fd, sigfd, &status);
    if (tty >= 0)
        util_give_terminal(tty, getpgrp());
    if (recorder_main_refusal(rec)) {
        /* The program never ran: no database of it stays. */
        cli_error("%s; the program was not run", recorder_main_refusal(rec));
        rc = CLI_USAGE;
        goto abort;
    }
    int unrecorded = recorder_main_unrecorded(rec);
    write_end_meta(st, status, util_mono_ns() - origin, rec);
    recorder_free(rec);
    rec = NULL;
    store_commit(st); /* the last batch, and a last look at the file */
    char lost[512] = "";
    if (store_lost(st))
        snprintf(lost, sizeof lost, "%s", store_lost(st));
    if (store_close(st) == PYSCOPE_EDB && !lost[0])
        snprintf(lost, sizeof lost, "it could not be closed");
    st = NULL;
    close(listen_fd);
    close(sigfd);
    close(errp[0]);
    if (lost[0]) {
        /* The run failed, whatever the program did: exit non-zero, with the
         * program's own status when it failed, and say how it ended. */
        char end[96];
        describe_end(status, end, sizeof end);
        cli_error("cannot finish '%s': %s; the program %s", path, lost, end);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? CLI_FAIL : exit_like(status);
    }
    if (unrecorded)
        cli_error("the program ended before pyscope could start recording in it: "
                  "only its end is in '%s'",
                  path);
    if (!o.quiet && report)
        report(path);
    return exit_like(status);

abort:
    /* Launcher errors leave nothing behind: the program never ran (or its
     * interpreter refused to run it). */
    if (probing)
        pthread_join(probe_thread, NULL);
    interp_release(&probe.in);
    if (tty >= 0)
        util_give_terminal(tty, getpgrp());
    if (go[1] >= 0)
        close(go[1]);
    if (!started) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    recorder_free(rec);
    store_close(st);
    if (claimed)
        unclaim_output(path);
    close(listen_fd);
    close(sigfd);
    close(errp[0]);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return rc;
}
