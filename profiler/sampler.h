/*
 * Target side: the sampling profiler. A sampler thread ticks at the chosen
 * rate; a registered thread that used CPU since its last sample is sent a
 * signal and its handler records its own Python stack; a thread that used
 * none is recorded as idle without being interrupted.
 */
#ifndef PYSCOPE_SAMPLER_H
#define PYSCOPE_SAMPLER_H

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
 * that run without it too, whose system calls a signal may cut short.
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

#endif
