/*
 * The user traps of usertrap.h: a software perf event on the thread's own
 * task clock, sampling, with the kernel's time excluded. The clock event
 * runs a timer while the thread is on a CPU; each expiry that interrupted
 * the thread in user mode is an overflow, and one that interrupted it in
 * the kernel is not counted. Arming is PERF_EVENT_IOC_REFRESH with 1: the
 * event is enabled for one overflow and disables itself at it. The
 * overflow is told as the descriptor's SIGIO, sent to the thread itself
 * (F_OWNER_TID) as sig: the kernel queues it from the interrupt that found
 * the thread in user mode, and delivers it on the return there. A thread
 * asleep in a call is not on a CPU and has no timer running: its trap
 * waits until it is back in its own code.
 *
 * The timer's period is the kernel's shortest, so that the signal comes
 * soon after the arming even to a thread that spends most of its time in
 * the kernel. A trap left enabled at a longer period, firing whether a
 * signal is wanted or not, saves the arming's interrupt of the thread's
 * CPU, but fires more often than it is wanted, and late: a thread that
 * went to sleep in a call before its trap fired is read from outside, where
 * it sleeps, not where it ran.
 */
#define _GNU_SOURCE
#include "usertrap.h"
#include "error.h"
#include "util.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define USERTRAP_PERIOD_NS 10000 /* the kernel's shortest for clock events */

int usertrap_open(uint64_t tid, int sig)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.sample_period = USERTRAP_PERIOD_NS;
    attr.disabled = 1;
    attr.exclude_kernel = 1; /* the point, and what perf_event_paranoid 2 asks */
    attr.exclude_hv = 1;
    int fd = (int)syscall(SYS_perf_event_open, &attr, (pid_t)tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0)
        return PYSCOPE_EIO;
    fd = util_fd_high(fd);
    struct f_owner_ex owner = {F_OWNER_TID, (pid_t)tid};
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETOWN_EX, &owner) < 0 || fcntl(fd, F_SETSIG, sig) < 0 ||
        fcntl(fd, F_SETFL, flags | O_ASYNC) < 0) {
        close(fd);
        return PYSCOPE_EIO;
    }
    return fd;
}

int usertrap_arm(int fd)
{
    return ioctl(fd, PERF_EVENT_IOC_REFRESH, 1) == 0 ? 0 : PYSCOPE_EIO;
}
