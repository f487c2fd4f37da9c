/*
 * The emitter thread of emitter.h. It never takes the GIL and never calls
 * Python: it wakes every EMIT_PERIOD_MS, drains the thread rings into one
 * message buffer and sends it. Sending blocks when the recorder is behind;
 * the rings then fill and the hooks count what they drop, which keeps the
 * program's threads from ever waiting on the recorder.
 */
#define _GNU_SOURCE
#include "emitter.h"
#include "error.h"
#include "threads.h"
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
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond;
static uint8_t msg[WIRE_MSG_MAX];

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

static int drain_and_send(int fd)
{
    int err = 0;
    size_t n;
    while ((n = threads_drain(msg, sizeof msg)) > 0) {
        if (emitter_send(fd, msg, n) < 0)
            err = PYSCOPE_EIO; /* keep draining so rings do not stay full */
    }
    return err;
}

static void *emitter_main(void *arg)
{
    struct timespec deadline;
    pthread_mutex_lock(&wake_lock);
    while (!atomic_load(&stop_requested)) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += EMIT_PERIOD_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&wake_cond, &wake_lock, &deadline);
        pthread_mutex_unlock(&wake_lock);
        drain_and_send(conn_fd);
        pthread_mutex_lock(&wake_lock);
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
    pthread_condattr_destroy(&ca);
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

void emitter_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&wake_lock);
    atomic_store(&stop_requested, 1);
    pthread_cond_signal(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
    pthread_join(emitter_thread, NULL);
    running = 0;
}

int emitter_flush(int fd)
{
    return drain_and_send(fd);
}

void emitter_after_fork_child(void)
{
    /* The thread does not exist in the child; its lock may have been held. */
    running = 0;
    pthread_mutex_init(&wake_lock, NULL);
    conn_fd = -1;
}
