/*
 * Where the program's threads start, which changes between CPython
 * versions: 3.11's threading starts every thread through
 * _thread.start_new_thread (3.13's through start_joinable_thread). What
 * every version shares is in pythread.c, what differs in pythread311.c and
 * pythread313.c (pythread_hook_version). The hook puts a function of
 * its own in place of each such callable, with the same checks and
 * messages, which starts the thread running what wrap makes of the
 * thread's function instead of the function itself.
 */
#ifndef PYSCOPE_PYTHREAD_H
#define PYSCOPE_PYTHREAD_H

/*
 * What a new thread runs in place of func(*args, **kwargs) (kwargs may be
 * NULL): a new reference to a callable taking no arguments, or NULL with
 * an exception set. All are PyObject *. With the GIL, on the starting
 * thread.
 */
typedef void *(*pythread_wrap)(void *func, void *args, void *kwargs);

/*
 * Hook every place a thread starts. Each replacement looks like the
 * builtin it replaces, to the program (pyapi_builtin_like). 0, or -1 with
 * an exception set. With the GIL, once.
 */
int pythread_hook(pythread_wrap wrap);

/*
 * The version's own part of the hook (pythread311.c, pythread313.c), called
 * by the shared part (pythread.c) once it has replaced
 * _thread.start_new_thread: replace what this version's threading starts
 * its threads through. start (a PyObject *) is the replacement of
 * start_new_thread. 0, or -1 with an exception set.
 */
int pythread_hook_version(void *start, pythread_wrap wrap);

#endif
