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

/* The environment variable the launcher sets: "1" to take native stacks too. */
#define SAMPLER_ENV_NATIVE "PYSCOPE_NATIVE"

/*
 * From the next sample on, also record each sample's native call stack
 * (return addresses, innermost first, as a second string of the raw
 * sample). Before sampler_start.
 */
void sampler_set_native(int on);

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
