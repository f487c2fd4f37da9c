/*
 * Target side: the sampling profiler. A sampler thread ticks at the chosen
 * rate; it reads the Python stack of a registered thread that used CPU
 * since its last sample (or, with native stacks, sends it a signal whose
 * handler records its own stack); a thread that used none is recorded as
 * idle without being interrupted.
 */
#ifndef PYSCOPE_SAMPLER_H
#define PYSCOPE_SAMPLER_H

#include <stdint.h>

/* The signal the sampler sends to running threads. */
#define SAMPLER_SIGNAL SIGPROF

/*
 * Install the signal handler and start the sampler thread at rate_hz ticks
 * per second. Call with the GIL held, once per process (again after fork).
 * 0 or a negative PYSCOPE_E*.
 */
int sampler_start(unsigned rate_hz);

/* The environment variables the launcher sets: "1" to take native stacks
 * too; "1" to take them from threads without the GIL too. */
#define SAMPLER_ENV_NATIVE "PYSCOPE_NATIVE"
#define SAMPLER_ENV_NATIVE_WITHOUT_GIL "PYSCOPE_NATIVE_WITHOUT_GIL"

/*
 * From the next sample on, also record each sample's native call stack
 * (return addresses, innermost first, as a second string of the raw
 * sample): of the threads that hold the GIL, and with without_gil of those
 * that run without it too. The threads are signalled through their user
 * traps (usertrap.h), or directly where the kernel gives none, and then a
 * system call a thread has just entered may be cut short.
 * Before sampler_start.
 */
void sampler_set_native(int on, int without_gil);

/*
 * On a thread that may be sampled, before it can be: with native stacks,
 * the unwinder's per-thread memory is made now, since making it in the
 * signal handler would allocate there.
 */
void sampler_prepare_thread(void);

/* Stop and join the sampler thread; signals in flight are still handled. */
void sampler_stop(void);

/* In the child of a fork: the sampler thread is gone; forget it. */
void sampler_fork_child(void);

/*
 * The ticks the sampler took in this process, and the ticks its rate asked
 * for while it ran (its running time over the interval): fewer taken than
 * due means its thread was kept waiting for a CPU. After sampler_stop.
 */
void sampler_ticks(uint64_t *taken, uint64_t *due);

/*
 * How many samples of native stacks this process's sampler signalled a
 * thread for directly, at any point of its code, where the kernel gave no
 * user trap (usertrap.h): each could have cut short a system call the
 * thread had just entered. After sampler_stop.
 */
uint64_t sampler_direct_signals(void);

#endif
