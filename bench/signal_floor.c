/*
 * The floor under any signal-based sampler on this machine: one thread
 * spins counting, another sends it an empty-handler signal at a fixed rate;
 * the loss in count per signal is what one signal costs the spinning thread.
 * Built and run by bench/sampling.py.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic int stop;
static _Atomic pid_t spinner_tid;

static void on_signal(int sig)
{
    (void)sig;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *spin(void *arg)
{
    volatile unsigned long *count = arg;
    spinner_tid = (pid_t)syscall(SYS_gettid);
    while (!stop)
        (*count)++;
    return NULL;
}

/* Spin for seconds while signalling at rate Hz (0: none); iterations per second. */
static double run(double seconds, int rate)
{
    volatile unsigned long count = 0;
    pthread_t t;
    stop = 0;
    spinner_tid = 0;
    pthread_create(&t, NULL, spin, (void *)&count);
    while (!spinner_tid)
        ;
    double start = now(), next = start;
    unsigned long sent = 0;
    while (now() - start < seconds) {
        if (rate) {
            next += 1.0 / rate;
            struct timespec ts = {(time_t)next, (long)((next - (time_t)next) * 1e9)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            syscall(SYS_tgkill, getpid(), spinner_tid, SIGPROF);
            sent++;
        } else {
            usleep(10000);
        }
    }
    double elapsed = now() - start;
    stop = 1;
    pthread_join(t, NULL);
    return (double)count / elapsed;
}

int main(int argc, char **argv)
{
    int rate = argc > 1 ? atoi(argv[1]) : 10000;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);
    double base = 0, with = 0;
    for (int i = 0; i < 3; i++) { /* alternate to share the machine's noise */
        base += run(1.0, 0);
        with += run(1.0, rate);
    }
    double per_iter = 3.0 / base; /* seconds per iteration */
    double lost = (base - with) / 3.0 / rate; /* iterations lost per signal */
    printf("%.2f\n", lost * per_iter * 1e6 * 3.0 / 3.0);
    return 0;
}
