/*
 * The emitter thread of emitter.h. It never takes the GIL and never calls
 * Python code: it wakes every EMIT_PERIOD_MS, drains the thread rings into
 * one message buffer and sends it. It takes the GIL only to describe code
 * objects samples name for the first time, and never once the interpreter
 * has begun to finalize (emitter_python_gone). Sending blocks when the recorder is behind;
 * the rings then fill and the hooks count what they drop, which keeps the
 * program's threads from ever waiting on the recorder.
 */
#define _GNU_SOURCE
#include "emitter.h"
#include "callstats.h"
#include "coderef.h"
#include "error.h"
#include "pyframe.h"
#include "threads.h"
#include "tracemem.h"
#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define EMIT_PERIOD_MS 10

static pthread_t emitter_thread;
static int running;
static int conn_fd = -1;
static _Atomic int stop_requested;
static _Atomic int peer_gone;
static _Atomic int python_usable = 1; /* the emitter may take the GIL */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond;
static uint8_t msg[WIRE_MSG_MAX];
/* emitter_last_flush: 1 asked, 2 done (under wake_lock) */
static int last_flush;
static pthread_cond_t last_flush_done;

int emitter_send(int fd, const void *buf, size_t len)
{
    if (atomic_load(&peer_gone) || fd < 0)
        return PYSCOPE_EIO;
    for (;;) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n == (ssize_t)len)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        atomic_store(&peer_gone, 1);
        return PYSCOPE_EIO;
    }
}

/*
 * Drain every ring through the code registry. Samples that name code
 * objects not described yet stay queued until coderef_resolve has described
 * them, which needs the GIL: may_resolve says whether it can be had.
 */
static int drain_once(int fd)
{
    int err = 0;
    size_t n;
    while ((n = threads_drain(msg, sizeof msg, coderef_sink, NULL)) > 0 ||
           (n = threads_drain_ring(callstats_ring(), msg, sizeof msg, coderef_sink, NULL)) > 0) {
        if (emitter_send(fd, msg, n) < 0)
            err = PYSCOPE_EIO; /* keep draining so rings do not stay full */
    }
    return err;
}

static int drain_and_send(int fd, int may_resolve)
{
    coderef_cycle(may_resolve);
    int err = drain_once(fd);
    /* Samples naming new code objects wait; a few rounds describe them, and
     * those still waiting (new code keeps coming) wait for the next cycle. */
    for (int round = 0; round < 3 && coderef_pending(); round++) {
        coderef_resolve(may_resolve);
        if (drain_once(fd) < 0)
            err = PYSCOPE_EIO;
    }
    if (coderef_settle_ready()) {
        if (drain_once(fd) < 0) /* what the last handlers committed */
            err = PYSCOPE_EIO;
        coderef_settle();
    }
    return err;
}

/*
 * Queue the call statistics the program's threads counted since the last
 * time: every CALLS_EVERY-th period, with the GIL, when there are any.
 */
#define CALLS_EVERY 10

static void flush_calls(void)
{
    if (!atomic_load(&python_usable) || !callstats_wants_flush())
        return;
    int g = pyframe_gil_take();
    if (g < 0)
        return;
    callstats_flush();
    pyframe_gil_drop(g);
}

/* Memory snapshots asked for by a signal or due on the interval. */
static void take_snapshots(void)
{
    if (!atomic_load(&python_usable) || !tracemem_due())
        return;
    int g = pyframe_gil_take();
    if (g < 0)
        return;
    tracemem_take_due();
    pyframe_gil_drop(g);
}

/* The process is being terminated (emitter_last_flush): its exit and
 * peak snapshots go out with the rest. */
static void finish_memory(void)
{
    if (!atomic_load(&python_usable) || !tracemem_active())
        return;
    int g = pyframe_gil_take();
    if (g < 0)
        return;
    tracemem_finish();
    pyframe_gil_drop(g);
}

static void *emitter_main(void *arg)
{
    struct timespec deadline;
    unsigned periods = 0;
    tracemem_ignore_thread();
    pthread_mutex_lock(&wake_lock);
    while (!atomic_load(&stop_requested)) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += EMIT_PERIOD_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        if (last_flush != 1)
            pthread_cond_timedwait(&wake_cond, &wake_lock, &deadline);
        int last = last_flush == 1;
        pthread_mutex_unlock(&wake_lock);
        if (++periods % CALLS_EVERY == 0 || last)
            flush_calls();
        take_snapshots();
        if (last)
            finish_memory();
        drain_and_send(conn_fd, atomic_load(&python_usable));
        pthread_mutex_lock(&wake_lock);
        if (last) {
            last_flush = 2;
            pthread_cond_broadcast(&last_flush_done);
        }
    }
    pthread_mutex_unlock(&wake_lock);
    return NULL;
}

int emitter_start(int fd)
{
    if (running)
        return PYSCOPE_EEXISTS;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wake_cond, &ca);
    pthread_cond_init(&last_flush_done, &ca);
    pthread_condattr_destroy(&ca);
    last_flush = 0;
    conn_fd = fd;
    atomic_store(&stop_requested, 0);
    atomic_store(&peer_gone, 0);

    /* The emitter must not receive the program's signals (SIGINT and the
     * like go to the main thread anyway, but a process-directed signal may
     * pick any thread that does not block it). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&emitter_thread, NULL, emitter_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return PYSCOPE_ENOMEM;
    running = 1;
    return 0;
}

int emitter_stop(int bounded)
{
    if (!running)
        return 0;
    pthread_mutex_lock(&wake_lock);
    atomic_store(&stop_requested, 1);
    pthread_cond_signal(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
    if (!bounded) {
        pthread_join(emitter_thread, NULL);
        running = 0;
        return 0;
    }
    /* A process that calls exit() from C while holding the GIL may find the
     * emitter waiting for it: give up on the join rather than hang. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 2;
    int rc = pthread_timedjoin_np(emitter_thread, NULL, &deadline);
    running = 0;
    return rc == 0 ? 0 : PYSCOPE_EIO;
}

int emitter_flush(int fd, int may_resolve)
{
    return drain_and_send(fd, may_resolve);
}

void emitter_wake(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&wake_lock);
    pthread_cond_signal(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
}

int emitter_last_flush(int timeout_ms)
{
    if (!running)
        return PYSCOPE_EIO;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&wake_lock);
    last_flush = 1;
    pthread_cond_signal(&wake_cond);
    while (last_flush != 2 && rc == 0)
        rc = pthread_cond_timedwait(&last_flush_done, &wake_lock, &deadline);
    int done = last_flush == 2;
    pthread_mutex_unlock(&wake_lock);
    return done ? 0 : PYSCOPE_EIO;
}

void emitter_python_gone(void)
{
    atomic_store(&python_usable, 0);
}

void emitter_after_fork_child(void)
{
    /* The thread does not exist in the child; its lock may have been held. */
    running = 0;
    pthread_mutex_init(&wake_lock, NULL);
    conn_fd = -1;
    atomic_store(&python_usable, 1);
}
