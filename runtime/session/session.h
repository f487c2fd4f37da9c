/*
 * Target side: the profiling session of this process. It owns the recorder
 * connection: it connects and says hello, starts the emitter, follows the
 * process through fork, and says how the process ended.
 */
#ifndef PYSCOPE_SESSION_H
#define PYSCOPE_SESSION_H

/*
 * Start the session when the environment names a recorder (PYSCOPE_SOCKET);
 * otherwise do nothing and return 1. Registers the calling thread as the main
 * thread. Needs the GIL. Returns 0, 1, or a negative PYSCOPE_E*.
 */
int session_start(const char *executable);

/* Tell the recorder this process refuses to run the program under pyscope,
 * and why (one sentence, said to the user by the launcher). 0 once it was
 * told, or an error: then the caller says it. */
int session_refuse(const char *executable, const char *why);

/* Whether a session is running in this process. */
int session_active(void);

/* A thread the program started, on that thread with the GIL: before its
 * function runs (registered, sampled, its calls counted), and after. */
void session_thread_begin(const char *name);
void session_thread_end(const char *name);

/* Fork protocol, called around os.fork() with the GIL held. */
void session_before_fork(void);
void session_after_fork_parent(void);
/* The parent's part, run by os.fork itself before it can run Python code
 * (pyfork.h): the after-fork hook that follows does nothing. */
void session_fork_parent_early(void);
/* name: the forking thread's name, which becomes the child's main thread. */
void session_after_fork_child(const char *name);

/* The environment variable with the sampling rate in Hz (absent or 0: off). */
#define SESSION_ENV_SAMPLE_HZ "PYSCOPE_SAMPLE_HZ"
#define SESSION_ENV_CALLS                                                                          \
    "PYSCOPE_CALLS" /* "1": count calls, "python": Python ones (callstats.h) */

/*
 * The interpreter starts to finalize (an atexit function, GIL held): stop
 * sampling and send everything queued while code objects can still be
 * described.
 */
void session_atexit(void);

/*
 * Send everything queued (stops the emitter). Called when the interpreter
 * has finalized; later records are sent by session_exit.
 */
void session_flush(void);

/*
 * The process is about to end with an exit status (how = WIRE_EXIT_CODE) or
 * a signal: send what is queued, the drop counts and the exit record, then
 * close the connection. Only the first call acts. have_gil: the caller holds
 * the GIL and the interpreter still runs (os._exit).
 */
void session_exit(int how, int code, int have_gil);

/*
 * From a thread of pyscope's own: wait up to timeout_ms for session_exit
 * to have sent its last records. 0 when it has, PYSCOPE_EIO when not.
 */
int session_wait_exit(int timeout_ms);

#endif
