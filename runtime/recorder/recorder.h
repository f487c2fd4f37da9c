/*
 * The recorder: accepts one connection per traced process on a listening
 * SOCK_SEQPACKET socket, decodes their records and writes them to the store.
 * It runs in the pyscope process, which is the parent of the program, so it
 * outlives any crash of the program.
 */
#ifndef PYSCOPE_RECORDER_H
#define PYSCOPE_RECORDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;
struct recorder;

/*
 * A recorder writing to st (borrowed). origin_ns is the CLOCK_MONOTONIC time
 * stored times count from. main_pid is the program's process: its exit
 * status comes from waitpid. NULL without memory.
 */
struct recorder *recorder_new(struct store *st, int64_t origin_ns, pid_t main_pid);
void recorder_free(struct recorder *r);

/*
 * Create the listening socket at an abstract address unique to this process;
 * its name ("@...", for PYSCOPE_SOCKET) into name. Returns the fd or a
 * negative PYSCOPE_E*.
 */
int recorder_listen(char *name, size_t namelen);

/*
 * Run until the main process has ended and every connection has closed (or
 * a grace period has passed since the main process ended). sigfd is a
 * signalfd for SIGCHLD, SIGINT, SIGTERM, SIGHUP and SIGQUIT. The program
 * leads its own process group (main_pid is its id); SIGINT and SIGQUIT sent
 * to pyscope are passed on to that group, SIGTERM and SIGHUP to the program.
 * When the program stops, pyscope stops too, and continues it when continued.
 * *wait_status is the main process's status from waitpid. 0 or PYSCOPE_E*.
 */
int recorder_run(struct recorder *r, int listen_fd, int sigfd, int *wait_status);

/* The terminal whose foreground the program has (-1: none): used to follow
 * job control (Ctrl-Z, fg). Borrowed. */
void recorder_set_terminal(struct recorder *r, int tty);

/* Connection-level entry points, used by recorder_run and by the tests. */
int recorder_conn_open(struct recorder *r); /* returns a connection handle >= 0 */
/* One message from connection c. PYSCOPE_EPROTO drops the connection. */
int recorder_conn_message(struct recorder *r, int c, const void *msg, size_t len);
/* The connection closed (the process ended or closed it). */
void recorder_conn_close(struct recorder *r, int c);
/* The main process ended with this waitpid status. */
void recorder_main_exited(struct recorder *r, int wait_status);
/* Commit the open batch. */
int recorder_commit(struct recorder *r);

/* Whether the program ended before pyscope's bootstrap in it connected
 * (it failed to load, or the program was killed while starting): nothing
 * of it but its end was recorded. */
int recorder_main_unrecorded(const struct recorder *r);

/* Why the main process refused to run the program under pyscope (its
 * REFUSED record), or NULL. */
const char *recorder_main_refusal(const struct recorder *r);

/* Counters for the summary and meta: connections refused, protocol errors. */
uint64_t recorder_protocol_errors(const struct recorder *r);

/* Samples stored, and what the processes said they dropped. */
/* The call profiler's own time, left out of the call statistics, over every thread (ns). */
uint64_t recorder_calls_overhead(const struct recorder *r);

struct recorder_counts {
    uint64_t samples; /* stored */
    /* What the processes said, summed: samples and records they could not
     * record, ticks that missed a thread, and of the samples lost, those
     * lost to frame chains that kept changing while read. */
    uint64_t dropped_samples, dropped_records, missed_ticks, torn_samples;
    uint64_t ticks, ticks_due; /* sampler ticks taken, and asked for by the rate */
    uint64_t gil_takes;        /* the GIL taken from the program by pyscope's own thread */
    uint64_t direct_signals;   /* native samples signalled at any point, without a user trap */
};

void recorder_counts(const struct recorder *r, struct recorder_counts *out);

#endif
