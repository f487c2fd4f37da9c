/*
 * Unit tests of usertrap.h: an armed trap signals its thread once, in the
 * thread's own code, and never inside a system call, where a signal sent
 * with tgkill cuts a pipe write short. Skipped where the kernel gives no
 * perf events.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "usertrap.h"

#define TRAP_SIGNAL SIGPROF

static _Atomic int signals;
static _Atomic int last_code, last_fd;

static void on_trap(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    last_code = si->si_code;
    last_fd = si->si_fd;
    signals++;
}

static struct sigaction before;

static int setup(void **state)
{
    (void)state;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_trap;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    signals = 0;
    return sigaction(TRAP_SIGNAL, &sa, &before);
}

static int teardown(void **state)
{
    (void)state;
    return sigaction(TRAP_SIGNAL, &before, NULL);
}

static uint64_t own_tid(void)
{
    return (uint64_t)syscall(SYS_gettid);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the thread's own code until signals reaches want, or limit_s goes by. */
static void spin_until(int want, double limit_s)
{
    volatile uint64_t x = 0;
    double end = now_s() + limit_s;
    while (signals < want && now_s() < end)
        for (int i = 0; i < 10000; i++)
            x += (uint64_t)i;
}

static int open_or_skip(uint64_t tid)
{
    int fd = usertrap_open(tid, TRAP_SIGNAL);
    if (fd < 0)
        skip(); /* no perf events here: pyscope signals directly, as documented */
    return fd;
}

static void test_fires_once_per_arming_in_own_code(void **state)
{
    (void)state;
    int fd = open_or_skip(own_tid());
    assert_true(fd >= 3);
    spin_until(1, 0.05);
    assert_int_equal(signals, 0); /* not armed yet */
    assert_int_equal(usertrap_arm(fd), 0);
    spin_until(1, 5);
    assert_int_equal(signals, 1);
    assert_int_equal(last_fd, fd);
    assert_true(last_code > 0); /* from the kernel, for the descriptor */
    spin_until(2, 0.05);
    assert_int_equal(signals, 1); /* once */
    assert_int_equal(usertrap_arm(fd), 0);
    spin_until(2, 5);
    assert_int_equal(signals, 2);
    close(fd);
}

static void test_sleep_is_not_cut(void **state)
{
    (void)state;
    int fd = open_or_skip(own_tid());
    for (int round = 0; round < 20; round++) {
        int before_round = signals;
        assert_int_equal(usertrap_arm(fd), 0);
        struct timespec ts = {0, 2000000}, left = {0, 0};
        double start = now_s();
        assert_int_equal(nanosleep(&ts, &left), 0);
        assert_true(now_s() - start >= 0.002);
        spin_until(before_round + 1, 5); /* it fires in its own code, before or after */
        assert_int_equal(signals, before_round + 1);
    }
    close(fd);
}

/*
 * A writer puts 4 MiB at a time into a pipe that a slow reader drains (a
 * pipe holds 64 KiB: each write blocks many times), with a little work of
 * its own between writes, while another thread signals it every
 * millisecond: through its trap, or with tgkill.
 */
#define WRITES 30
#define WRITE_BYTES (4u << 20)

struct pipe_run {
    int fds[2];
    pid_t writer_tid;
    int trap_fd; /* -1: tgkill */
    _Atomic int done;
    int short_writes;
};

static void *slow_reader(void *arg)
{
    struct pipe_run *run = arg;
    static char buf[65536];
    struct timespec pause = {0, 50000};
    while (read(run->fds[0], buf, sizeof buf) > 0)
        nanosleep(&pause, NULL);
    return NULL;
}

static void *signaller(void *arg)
{
    struct pipe_run *run = arg;
    struct timespec tick = {0, 1000000};
    while (!run->done) {
        nanosleep(&tick, NULL);
        if (run->trap_fd >= 0)
            usertrap_arm(run->trap_fd);
        else
            syscall(SYS_tgkill, getpid(), run->writer_tid, TRAP_SIGNAL);
    }
    return NULL;
}

static void pipe_run(struct pipe_run *run, int use_trap)
{
    memset(run, 0, sizeof *run);
    assert_int_equal(pipe(run->fds), 0);
    run->writer_tid = (pid_t)own_tid();
    run->trap_fd = use_trap ? open_or_skip(own_tid()) : -1;
    char *data = malloc(WRITE_BYTES);
    assert_non_null(data);
    pthread_t reader, sender;
    assert_int_equal(pthread_create(&reader, NULL, slow_reader, run), 0);
    assert_int_equal(pthread_create(&sender, NULL, signaller, run), 0);
    for (int i = 0; i < WRITES; i++) {
        memset(data, 'a' + i % 26, WRITE_BYTES); /* work of its own */
        ssize_t n = write(run->fds[1], data, WRITE_BYTES);
        assert_true(n > 0);
        if (n != (ssize_t)WRITE_BYTES)
            run->short_writes++;
    }
    run->done = 1;
    pthread_join(sender, NULL);
    close(run->fds[1]);
    pthread_join(reader, NULL);
    close(run->fds[0]);
    if (run->trap_fd >= 0)
        close(run->trap_fd);
    free(data);
}

static void test_pipe_writes_are_not_cut(void **state)
{
    (void)state;
    struct pipe_run run;
    pipe_run(&run, 1);
    assert_int_equal(run.short_writes, 0);
    assert_true(signals > WRITES); /* it was signalled, between its calls */
}

static void test_tgkill_cuts_pipe_writes(void **state)
{
    (void)state;
    /* What the trap is for: the same run signalled with tgkill. */
    struct pipe_run run;
    pipe_run(&run, 0);
    assert_true(run.short_writes > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fires_once_per_arming_in_own_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sleep_is_not_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipe_writes_are_not_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tgkill_cuts_pipe_writes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
