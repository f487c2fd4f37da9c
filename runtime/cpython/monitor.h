/*
 * Every call and return of the interpreter as events, where the interpreter
 * has them for tools (sys.monitoring, from 3.12 on; cProfile counts with
 * them there). Unlike a profile function, the events are the
 * interpreter's, not a thread's: they come from every thread once started,
 * and no frame object is made for them. One implementation per Python
 * version (monitor311.c: none). Objects are PyObject *.
 */
#ifndef PYSCOPE_MONITOR_H
#define PYSCOPE_MONITOR_H

struct monitor_events {
    /* A Python frame starts, resumes (a generator's next step) or has an
     * exception thrown into it: code is its code object. */
    void (*py_start)(void *code);
    /* A Python frame returns, yields or is left by an exception. */
    void (*py_end)(void *code);
    /* A builtin is called, and returns or raises: what cProfile counts as
     * one, a PyCFunction (method descriptors called with their self are
     * given as the PyMethodDescrObject, see monitor_builtin_def). */
    void (*c_start)(void *callable);
    void (*c_end)(void *callable);
};

/*
 * Start the events (with builtins: the builtins' too), under a tool id of
 * pyscope's own that leaves cProfile's free. With the GIL. 0, or
 * PYSCOPE_ENOTFOUND when this version has no such events (nothing
 * changed), or PYSCOPE_EBUSY when the tool id is taken, PYSCOPE_ENOMEM; no
 * exception is left set.
 */
int monitor_start(const struct monitor_events *ev, int builtins);

/* Stop them; with the GIL. Starting again is allowed. */
void monitor_stop(void);

#endif
