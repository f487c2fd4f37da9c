/*
 * The per-process session of session.h. There is one per process, so its
 * state is file-static: the connection, whether it is running, and the
 * executable name sent in every hello. The exit paths (on_exit, os._exit,
 * the end of finalization) all funnel into session_exit, which runs once.
 */
#define _GNU_SOURCE
#include "session.h"
#include "callstats.h"
#include "channel.h"
#include "coderef.h"
#include "emitter.h"
#include "error.h"
#include "native.h"
#include "gcwatch.h"
#include "pyframe.h"
#include "sampler.h"
#include "term.h"
#include "threads.h"
#include "unwind.h"
#include "tracemem.h"
#include "util.h"
#include "wire.h"

#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int active;
static unsigned sample_hz; /* 0: the sampler is off */
static _Atomic int exited;
static _Atomic int exit_sent; /* session_exit has sent the last records */
static int exit_hook_installed;
static char exe_name[PATH_MAX];

/* The hello's command line is cut there; the record holds it, two paths
 * (the executable, the working directory) and the head, with room left. */
#define CMDLINE_MAX 8192
#define HELLO_MAX (CMDLINE_MAX + 2 * PATH_MAX + 8192)

/* /proc/self/cmdline: the arguments, NUL-separated, trailing NUL removed. */
static size_t read_cmdline(char *buf, size_t cap)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    ssize_t n;
    while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
        len += (size_t)n;
    close(fd);
    while (len && buf[len - 1] == '\0')
        len--;
    return len;
}

static int send_hello(uint32_t flags)
{
    static char cmdline[CMDLINE_MAX];
    char cwd[PATH_MAX];
    char version[64];
    const char *v = Py_GetVersion();
    size_t vlen = strcspn(v, " ");
    if (vlen >= sizeof version)
        vlen = sizeof version - 1;
    memcpy(version, v, vlen);
    version[vlen] = '\0';
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';

    struct wire_hello h = {
        .magic = WIRE_MAGIC,
        .version = WIRE_VERSION,
        .pid = (uint32_t)getpid(),
        .ppid = (uint32_t)getppid(),
        .flags = flags,
        .mono_ns = (uint64_t)util_mono_ns(),
        .wall_ns = (uint64_t)util_wall_ns(),
    };
    struct wire_str s[4] = {
        {version, (uint32_t)vlen},
        {exe_name, (uint32_t)strlen(exe_name)},
        {cwd, (uint32_t)strlen(cwd)},
        {cmdline, (uint32_t)read_cmdline(cmdline, sizeof cmdline)},
    };
    static uint8_t buf[HELLO_MAX];
    size_t n = wire_encode(buf, sizeof buf, WIRE_HELLO, &h, sizeof h, s, 4);
    if (!n)
        return PYSCOPE_EINVAL;
    return channel_send(buf, n);
}

static void on_process_exit(int status, void *arg)
{
    session_exit(WIRE_EXIT_CODE, status & 0xff, 0);
}

/* A SIGTERM at its default action (term.h): send everything and say how
 * the process ends. With no emitter running the process is on its way out
 * already: let it send its last records, as it would have without the
 * SIGTERM. */
static void end_by_sigterm(void)
{
    if (emitter_last_flush(TERM_FLUSH_MS) == 0)
        session_exit(WIRE_EXIT_SIGNAL, SIGTERM, 0);
    session_wait_exit(TERM_FLUSH_MS);
}

static int begin(uint32_t flags, const char *thread_name)
{
    const char *addr = getenv(WIRE_ENV_SOCKET);
    if (!addr || !*addr)
        return 1;
    int err = channel_connect(addr);
    if (err < 0)
        return err;
    tracemem_set_connected(1);
    err = send_hello(flags);
    if (err < 0)
        goto fail;
    sampler_prepare_thread(); /* before the sampler can see it */
    err = threads_register(thread_name, 1, pyframe_current_tstate());
    if (err < 0 && err != PYSCOPE_EEXISTS)
        goto fail;
    /* The main thread's start goes out now: a process killed in its first
     * milliseconds still shows who ran. */
    emitter_flush(1);
    pyframe_helper_make(); /* the emitter's thread state */
    err = emitter_start();
    if (err < 0)
        goto fail;
    if (sample_hz && sampler_start(sample_hz) < 0)
        sample_hz = 0;            /* run unsampled rather than not at all */
    term_install(end_by_sigterm); /* without it SIGTERM loses the last moments, nothing more */
    active = 1;
    atomic_store(&exited, 0);
    atomic_store(&exit_sent, 0);
    return 0;
fail:
    tracemem_set_connected(0);
    channel_close();
    return err;
}

static void set_exe_name(const char *executable)
{
    size_t len = strlen(executable);
    if (len >= sizeof exe_name)
        len = sizeof exe_name - 1;
    memcpy(exe_name, executable, len);
    exe_name[len] = '\0';
}

int session_refuse(const char *executable, const char *why)
{
    const char *addr = getenv(WIRE_ENV_SOCKET);
    if (!addr || !*addr)
        return PYSCOPE_EINVAL;
    set_exe_name(executable);
    int err = channel_connect(addr);
    if (err < 0)
        return err;
    err = send_hello(0);
    if (err == 0) {
        uint8_t buf[512];
        struct wire_str s = {why, (uint32_t)strnlen(why, 400)};
        size_t n = wire_encode(buf, sizeof buf, WIRE_REFUSED, NULL, 0, &s, 1);
        err = n ? channel_send(buf, n) : PYSCOPE_EINVAL;
    }
    channel_close();
    return err;
}

/* The native functions samples name, told once to the recorder. */
static long put_native(uint64_t key, uint8_t *dst, size_t cap, int pending)
{
    return native_put(key, NATIVE_WRITER_SAMPLES, dst, cap, pending);
}

int session_start(const char *executable)
{
    if (active)
        return PYSCOPE_EEXISTS;
    set_exe_name(executable);
    const char *hz = getenv(SESSION_ENV_SAMPLE_HZ);
    sample_hz = hz ? (unsigned)strtoul(hz, NULL, 10) : 0;
    if (sample_hz > 100000)
        sample_hz = 100000;
    if (sample_hz && coderef_install() < 0)
        sample_hz = 0;
    const char *native = getenv(SAMPLER_ENV_NATIVE);
    int want_native = native && (!strcmp(native, "1") || !strcmp(native, "all")) &&
                      native_init(!strcmp(native, "all")) == 0;
    if (sample_hz && want_native) {
        static const struct coderef_natives natives = {native_merge, put_native};
        coderef_set_natives(&natives);
        const char *nogil = getenv(SAMPLER_ENV_NATIVE_WITHOUT_GIL);
        sampler_set_native(1, nogil && !strcmp(nogil, "1"));
    }
    const char *gc = getenv(GCWATCH_ENV);
    int watch_gc = gc && !strcmp(gc, "1") && coderef_install() >= 0;
    /* Before the sampler starts: measuring what an event costs runs code of
     * pyscope's own, which samples must not show. Without it the run goes
     * on, uncounted. */
    const char *calls = getenv(SESSION_ENV_CALLS), *addr = getenv(WIRE_ENV_SOCKET);
    int counting = addr && *addr && calls && (!strcmp(calls, "1") || !strcmp(calls, "python"));
    if (counting)
        callstats_start(!strcmp(calls, "python") ? CALLSTATS_PYTHON : CALLSTATS_ALL);
    /* Before any thread of pyscope's own starts: the RAW allocator must
     * not be replaced while another thread may be calling it. */
    const char *depth = getenv(TRACEMEM_ENV_DEPTH), *heap = getenv(TRACEMEM_ENV_HEAP);
    int want_heap = heap && !strcmp(heap, "1");
    if (addr && *addr && ((depth && atoi(depth) > 0) || want_heap)) {
        const char *sig = getenv(TRACEMEM_ENV_SIGNAL), *ms = getenv(TRACEMEM_ENV_INTERVAL);
        tracemem_start(depth ? atoi(depth) : 0, sig ? atoi(sig) : 0,
                       ms ? strtoull(ms, NULL, 10) : 0, want_heap, want_native);
    }
    int err = begin(0, "MainThread");
    if (err != 0) {
        if (counting)
            callstats_stop();
        return err;
    }
    if (watch_gc)
        gcwatch_start(); /* without it the run goes on, collections unrecorded */
    if (!exit_hook_installed) {
        /* on_exit, unlike atexit, is told the exit status. */
        on_exit(on_process_exit, NULL);
        exit_hook_installed = 1;
    }
    return 0;
}

int session_active(void)
{
    return active;
}

void session_thread_begin(const char *name)
{
    sampler_prepare_thread(); /* before the sampler can see it */
    threads_register(name, 0, pyframe_current_tstate());
    callstats_thread_begin();
}

void session_thread_end(const char *name)
{
    callstats_thread_end();
    threads_unregister(name);
}

/*
 * The fork protocol of every module that keeps state across fork(): before
 * it, prepare in reverse order of this table (so the locks are taken in
 * the order the modules take them otherwise: the native tables, then the
 * descriptors' turn, which is taken inside any of the others, last); after
 * it, parent or child in table order. A child is single-threaded: each
 * module's child step resets what the other threads left.
 */
struct fork_steps {
    void (*prepare)(void);
    void (*parent)(void);
    void (*child)(void);
};

static const struct fork_steps fork_table[] = {
    {util_fd_fork_prepare, util_fd_fork_parent, util_fd_fork_child},
    {native_fork_prepare, native_fork_parent, native_fork_child},
    {tracemem_fork_prepare, tracemem_fork_parent, tracemem_fork_child},
    {coderef_fork_prepare, coderef_fork_parent, coderef_fork_child},
    {threads_fork_prepare, threads_fork_parent, threads_fork_child},
    {unwind_fork_prepare, unwind_fork_parent, unwind_fork_child},
    {NULL, NULL, sampler_fork_child},
    {NULL, NULL, emitter_fork_child},
    {NULL, NULL, callstats_fork_child},
    {NULL, NULL, pyframe_fork_child},
    {NULL, NULL, channel_fork_child},
};
#define FORK_STEPS (sizeof fork_table / sizeof *fork_table)

void session_before_fork(void)
{
    if (!active)
        return;
    for (size_t i = FORK_STEPS; i-- > 0;)
        if (fork_table[i].prepare)
            fork_table[i].prepare();
}

/* The parent's steps ran early for this fork (session_fork_parent_early). */
static int parent_done;

void session_fork_parent_early(void)
{
    session_after_fork_parent();
    parent_done = 1;
}

void session_after_fork_parent(void)
{
    if (parent_done) {
        parent_done = 0;
        return;
    }
    if (!active)
        return;
    for (size_t i = 0; i < FORK_STEPS; i++)
        if (fork_table[i].parent)
            fork_table[i].parent();
}

void session_after_fork_child(const char *name)
{
    if (!active)
        return;
    for (size_t i = 0; i < FORK_STEPS; i++)
        if (fork_table[i].child)
            fork_table[i].child();
    threads_announce_main(name);
    active = 0;
    begin(WIRE_HELLO_FORKED, name);
    /* Once the child can send: a SIGTERM that came before this is its end,
     * recorded as such. */
    term_fork_child();
}

/*
 * Stop the sampler and the emitter and send what is queued. With the GIL
 * held, it is let go while the emitter stops (the emitter may be waiting for
 * it) and new code objects can still be described.
 */
static void stop_and_flush(int have_gil)
{
    sampler_stop();
    if (have_gil)
        callstats_stop();
    if (have_gil) {
        /* Without the GIL while joining: the emitter may be waiting for it. */
        Py_BEGIN_ALLOW_THREADS emitter_stop(0);
        Py_END_ALLOW_THREADS
    } else {
        emitter_python_gone();
        if (emitter_stop(1) < 0)
            return; /* still running: two writers would corrupt the stream */
    }
    /* The call tables need the GIL; without it, what the last periodic
     * flush queued goes out. */
    while (have_gil && callstats_flush() > 0)
        emitter_flush(have_gil);
    emitter_flush(have_gil);
}

void session_atexit(void)
{
    if (!active || atomic_load(&exited))
        return;
    sampler_stop(); /* the exit snapshot is pyscope's work, not the program's */
    tracemem_finish();
    stop_and_flush(1);
    pyframe_helper_release();
    /* From here on the interpreter finalizes: nothing may take the GIL. */
    emitter_python_gone();
}

void session_flush(void)
{
    if (!active || atomic_load(&exited))
        return;
    stop_and_flush(0);
}

void session_exit(int how, int code, int have_gil)
{
    if (!active || atomic_exchange(&exited, 1))
        return;
    sampler_stop();
    if (have_gil)
        tracemem_finish();
    stop_and_flush(have_gil);
    uint8_t buf[128];
    struct wire_dropped d;
    threads_dropped(&d.records, &d.samples, &d.missed, &d.torn);
    sampler_ticks(&d.ticks, &d.ticks_due);
    d.gil_takes = pyframe_gil_takes();
    d.direct_signals = sampler_direct_signals();
    d.records += gcwatch_dropped() + tracemem_untracked();
    d.samples += coderef_dropped();
    size_t n = wire_encode(buf, sizeof buf, WIRE_DROPPED, &d, sizeof d, NULL, 0);
    struct wire_process_exit rec = {
        .t_ns = (uint64_t)util_mono_ns(),
        .how = how,
        .code = code,
    };
    n += wire_encode(buf + n, sizeof buf - n, WIRE_PROCESS_EXIT, &rec, sizeof rec, NULL, 0);
    channel_send(buf, n);
    tracemem_set_connected(0); /* before the descriptor can be reused */
    channel_close();
    active = 0;
    atomic_store(&exit_sent, 1);
}

int session_wait_exit(int timeout_ms)
{
    for (int waited = 0; !atomic_load(&exit_sent); waited++) {
        if (waited >= timeout_ms)
            return PYSCOPE_EIO;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return 0;
}
