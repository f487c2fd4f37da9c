/*
 * Target side: a signal that reaches a thread only while it runs its own
 * code. A signal sent with tgkill lands wherever the thread is, and one
 * that finds it in a system call ends the call early: a pipe write that
 * moved part of its data returns that part, a timed wait returns before its
 * time. A user trap is a perf event of the thread's own CPU clock that
 * counts only its time outside the kernel: once armed, it fires at the
 * first clock interrupt that finds the thread in user mode, and the kernel
 * signals the thread on its way back there, before it can enter a call.
 */
#ifndef PYSCOPE_USERTRAP_H
#define PYSCOPE_USERTRAP_H

#include <stdint.h>

/*
 * A trap that sends sig to thread tid of this process when armed: a
 * descriptor (close-on-exec, placed out of the program's way) the caller
 * owns; closing it ends the trap. PYSCOPE_EIO when the kernel has no such
 * event or refuses it (perf_event_paranoid above 2 for a user without
 * CAP_PERFMON, a seccomp filter, no descriptor left).
 */
int usertrap_open(uint64_t tid, int sig);

/*
 * Arm trap fd for one signal, which comes within some 10 µs of the thread
 * running its own code. Arming a trap that is armed and has not fired yet
 * makes it fire twice. Any thread may arm; 0 or PYSCOPE_EIO.
 */
int usertrap_arm(int fd);

#endif
