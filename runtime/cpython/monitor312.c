/*
 * monitor.h for CPython 3.12 and later: sys.monitoring (PEP 669), as
 * cProfile uses it there, under a tool id of pyscope's own so that the
 * program's cProfile (the profiler id) and debuggers keep theirs. There
 * is no C interface to register callbacks in 3.12: they are registered
 * once through the sys.monitoring functions, as C functions.
 *
 * A builtin is what cProfile counts as one: a C function, or a method
 * descriptor called with an instance of its type as its first argument
 * (list.append(xs, 1)), which cProfile binds into a C function. Here the
 * descriptor itself is handed on (it names the same method definition),
 * so nothing is made per call. The same test picks the call and its
 * return, so that they pair.
 *
 * Stopping sets no events for the tool and leaves the callbacks and the
 * tool id registered: unregistering is audited, and at exit the program's
 * own audit hooks would see it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "error.h"
#include "monitor.h"

/* Not the debugger (0), coverage (1), profiler (2) or optimizer (5) ids. */
#define TOOL_ID 4

static struct monitor_events events;
static PyObject *missing;  /* sys.monitoring.MISSING: a call without arguments */
static int registered;     /* the tool id is ours and the callbacks are set */
static long mask_py, mask_c;

static PyObject *on_py_start(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    (void)self;
    if (n >= 1)
        events.py_start(args[0]);
    Py_RETURN_NONE;
}

static PyObject *on_py_end(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    (void)self;
    if (n >= 1)
        events.py_end(args[0]);
    Py_RETURN_NONE;
}

/* The builtin a call of callable with first argument arg0 runs, as
 * cProfile counts it; NULL for anything else (Python functions, classes). */
static PyObject *builtin_of(PyObject *callable, PyObject *arg0)
{
    if (PyCFunction_Check(callable))
        return callable;
    if (Py_TYPE(callable) == &PyMethodDescr_Type && arg0 != missing &&
        PyObject_TypeCheck(arg0, ((PyDescrObject *)callable)->d_type))
        return callable;
    return NULL;
}

static PyObject *on_call(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    (void)self;
    PyObject *b = n >= 4 ? builtin_of(args[2], args[3]) : NULL;
    if (b)
        events.c_start(b);
    Py_RETURN_NONE;
}

static PyObject *on_c_end(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    (void)self;
    PyObject *b = n >= 4 ? builtin_of(args[2], args[3]) : NULL;
    if (b)
        events.c_end(b);
    Py_RETURN_NONE;
}

static PyMethodDef defs[] = {
    {"py_start", (PyCFunction)(void (*)(void))on_py_start, METH_FASTCALL, NULL},
    {"py_end", (PyCFunction)(void (*)(void))on_py_end, METH_FASTCALL, NULL},
    {"call", (PyCFunction)(void (*)(void))on_call, METH_FASTCALL, NULL},
    {"c_end", (PyCFunction)(void (*)(void))on_c_end, METH_FASTCALL, NULL},
};

/* Which callback each event goes to (an index in defs), and whether it is
 * a builtin's. */
static const struct {
    const char *event;
    int def;
    int builtin;
} routes[] = {
    {"PY_START", 0, 0}, {"PY_RESUME", 0, 0}, {"PY_THROW", 0, 0},
    {"PY_RETURN", 1, 0}, {"PY_YIELD", 1, 0},  {"PY_UNWIND", 1, 0},
    {"CALL", 2, 1},      {"C_RETURN", 3, 1},  {"C_RAISE", 3, 1},
};

/* Take the tool id and register the callbacks. 0 or a PYSCOPE_E*, with an
 * exception possibly set. */
static int register_tool(PyObject *mon)
{
    PyObject *evs = PyObject_GetAttrString(mon, "events");
    if (!evs)
        return PYSCOPE_ENOMEM;
    PyObject *r = PyObject_CallMethod(mon, "use_tool_id", "is", TOOL_ID, "pyscope");
    if (!r) {
        Py_DECREF(evs);
        return PyErr_ExceptionMatches(PyExc_ValueError) ? PYSCOPE_EBUSY : PYSCOPE_ENOMEM;
    }
    Py_DECREF(r);
    int err = 0;
    for (size_t i = 0; i < sizeof routes / sizeof *routes && !err; i++) {
        PyObject *bit = PyObject_GetAttrString(evs, routes[i].event);
        long v = bit ? PyLong_AsLong(bit) : -1;
        PyObject *fn = v > 0 ? PyCFunction_New(&defs[routes[i].def], NULL) : NULL;
        r = fn ? PyObject_CallMethod(mon, "register_callback", "ilO", TOOL_ID, v, fn) : NULL;
        if (!r)
            err = PYSCOPE_ENOMEM;
        else if (routes[i].builtin)
            mask_c |= v;
        else
            mask_py |= v;
        Py_XDECREF(r);
        Py_XDECREF(fn);
        Py_XDECREF(bit);
    }
    Py_DECREF(evs);
    return err;
}

/* sys.monitoring.set_events(tool, mask). */
static int set_events(long mask)
{
    PyObject *mon = PyImport_ImportModule("sys");
    PyObject *m = mon ? PyObject_GetAttrString(mon, "monitoring") : NULL;
    PyObject *r = m ? PyObject_CallMethod(m, "set_events", "il", TOOL_ID, mask) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(m);
    Py_XDECREF(mon);
    return r ? 0 : PYSCOPE_ENOMEM;
}

int monitor_start(const struct monitor_events *ev, int builtins)
{
    PyObject *et, *evv, *tb;
    PyErr_Fetch(&et, &evv, &tb);
    int err = 0;
    events = *ev;
    if (!registered) {
        PyObject *sys = PyImport_ImportModule("sys");
        PyObject *mon = sys ? PyObject_GetAttrString(sys, "monitoring") : NULL;
        if (mon && !missing)
            missing = PyObject_GetAttrString(mon, "MISSING");
        err = !mon || !missing ? PYSCOPE_ENOTFOUND : register_tool(mon);
        Py_XDECREF(mon);
        Py_XDECREF(sys);
        registered = err == 0;
    }
    if (!err)
        err = set_events(mask_py | (builtins ? mask_c : 0));
    PyErr_Clear();
    PyErr_Restore(et, evv, tb);
    return err;
}

void monitor_stop(void)
{
    if (!registered)
        return;
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    set_events(0);
    PyErr_Clear();
    PyErr_Restore(et, ev, tb);
}
