/*
 * The emitter thread of emitter.h. It never calls Python code of the
 * program's: it wakes every EMITTER_PERIOD_MS, drains the thread rings into
 * one message buffer and sends it. It takes the GIL only to run the tasks
 * the recorders added and to describe code objects samples name for the
 * first time, and never once the interpreter has begun to finalize
 * (emitter_python_gone). Sending blocks when the recorder is behind; the
 * rings then fill and the hooks count what they drop, which keeps the
 * program's threads from ever waiting on the recorder.
 */
#define _GNU_SOURCE
#include "emitter.h"
#include "channel.h"
#include "coderef.h"
#include "error.h"
#include "pyframe.h"
#include "threads.h"
#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

static pthread_t emitter_thread;
static int running;
static _Atomic int stop_requested;
static _Atomic int python_usable = 1; /* the emitter may take the GIL */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond;
static uint8_t msg[WIRE_MSG_MAX];
/* emitter_last_flush: 1 asked, 2 done (under wake_lock) */
static int last_flush;
static pthread_cond_t last_flush_done;

/* What the recorders registered: work with the GIL, and rings of no thread. */
#define MAX_TASKS 4
#define MAX_RINGS 4
static struct emitter_task tasks[MAX_TASKS];
static size_t ntasks;
static struct ring *(*rings[MAX_RINGS])(void);
static size_t nrings;

int emitter_add_task(const struct emitter_task *t)
{
    if (ntasks == MAX_TASKS)
        return PYSCOPE_ENOMEM;
    for (size_t i = 0; i < ntasks; i++)
        if (tasks[i].run == t->run)
            return 0; /* registered already (a session started again) */
    tasks[ntasks++] = *t;
    return 0;
}

int emitter_add_ring(struct ring *(*ring)(void))
{
    if (nrings == MAX_RINGS)
        return PYSCOPE_ENOMEM;
    for (size_t i = 0; i < nrings; i++)
        if (rings[i] == ring)
            return 0;
    rings[nrings++] = ring;
    return 0;
}

/*
 * Drain every ring through the code registry. Samples that name code
 * objects not described yet stay queued until coderef_resolve has described
 * them, which needs the GIL: may_resolve says whether it can be had.
 */
/* One pass over the threads' rings, then over the registered ones. */
static size_t drain_rings(void)
{
    size_t n = threads_drain(msg, sizeof msg, coderef_sink, NULL);
    for (size_t i = 0; !n && i < nrings; i++)
        n = threads_drain_ring(rings[i](), msg, sizeof msg, coderef_sink, NULL);
    return n;
}

static int drain_once(void)
{
    int err = 0;
    size_t n;
    while ((n = drain_rings()) > 0) {
        if (channel_send(msg, n) < 0)
            err = PYSCOPE_EIO; /* keep draining so rings do not stay full */
    }
    return err;
}

/* Samples naming new code objects wait; a few rounds describe them, and
 * those still waiting (new code keeps coming) wait for the next cycle. */
#define RESOLVE_ROUNDS 3

static int drain_and_send(int may_resolve)
{
    coderef_cycle(may_resolve);
    int err = drain_once();
    for (int round = 0; round < RESOLVE_ROUNDS && coderef_pending(); round++) {
        coderef_resolve(may_resolve);
        if (drain_once() < 0)
            err = PYSCOPE_EIO;
    }
    if (coderef_settle_ready()) {
        if (drain_once() < 0) /* what the last handlers committed */
            err = PYSCOPE_EIO;
        coderef_settle();
    }
    return err;
}

/* The registered tasks that have work: each every-th period, and at the
 * last flush. With the GIL, taken once for all of them. */
static void run_tasks(unsigned period, int last)
{
    if (!atomic_load(&python_usable))
        return;
    int due[MAX_TASKS] = {0}, any = 0;
    for (size_t i = 0; i < ntasks; i++) {
        const struct emitter_task *t = &tasks[i];
        int now = last || (t->every && period % t->every == 0);
        any |= due[i] = now && t->wanted(last);
    }
    if (!any)
        return;
    int g = pyframe_gil_take();
    if (g < 0)
        return;
    for (size_t i = 0; i < ntasks; i++)
        if (due[i])
            tasks[i].run(last);
    pyframe_gil_drop(g);
}

static void *emitter_main(void *arg)
{
    struct timespec deadline;
    unsigned periods = 0;
    pthread_mutex_lock(&wake_lock);
    while (!atomic_load(&stop_requested)) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += EMITTER_PERIOD_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        if (last_flush != 1)
            pthread_cond_timedwait(&wake_cond, &wake_lock, &deadline);
        int last = last_flush == 1;
        pthread_mutex_unlock(&wake_lock);
        run_tasks(++periods, last);
        drain_and_send(atomic_load(&python_usable));
        pthread_mutex_lock(&wake_lock);
        if (last) {
            last_flush = 2;
            pthread_cond_broadcast(&last_flush_done);
        }
    }
    pthread_mutex_unlock(&wake_lock);
    return NULL;
}

int emitter_start(void)
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
    atomic_store(&stop_requested, 0);
    if (threads_start_own(&emitter_thread, NULL, emitter_main, NULL) < 0)
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

int emitter_flush(int may_resolve)
{
    return drain_and_send(may_resolve);
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

void emitter_fork_child(void)
{
    /* The thread does not exist in the child; its lock may have been held. */
    running = 0;
    pthread_mutex_init(&wake_lock, NULL);
    atomic_store(&python_usable, 1);
}
