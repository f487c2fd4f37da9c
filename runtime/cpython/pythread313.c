/*
 * pythread_hook_version (pythread.h) for CPython 3.13: threading starts
 * its threads through _thread.start_joinable_thread(function, handle=None,
 * daemon=True), bound as threading._start_joinable_thread when threading
 * is imported (_thread.start_new_thread is still there for code that
 * starts threads itself, and replaced by the shared part). The replacement of
 * start_joinable_thread hands the original the wrapped function and every
 * other argument as it was given, so its checks and messages are the
 * original's own.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyapi.h"
#include "pythread.h"

#include <alloca.h>
#include <string.h>

static pythread_wrap wrap_fn;
static PyObject *orig_joinable; /* the original, a strong reference, set once */

/* _thread.start_joinable_thread's replacement. */
static PyObject *start_joinable_thread(PyObject *self, PyObject *const *args, size_t nargsf,
                                       PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    Py_ssize_t at = nargs > 0 ? 0 : -1; /* where function is */
    for (Py_ssize_t i = 0; at < 0 && i < nkw; i++)
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, i), "function") == 0)
            at = nargs + i;
    if (at < 0 || !PyCallable_Check(args[at]))
        return PyObject_Vectorcall(orig_joinable, args, nargsf, kwnames); /* its error */
    PyObject *empty = PyTuple_New(0);
    PyObject *run = empty ? wrap_fn(args[at], empty, NULL) : NULL;
    Py_XDECREF(empty);
    if (!run)
        return NULL;
    PyObject **copy = alloca((size_t)(nargs + nkw) * sizeof *copy);
    memcpy(copy, args, (size_t)(nargs + nkw) * sizeof *copy);
    copy[at] = run;
    PyObject *res = PyObject_Vectorcall(orig_joinable, copy, (size_t)nargs, kwnames);
    Py_DECREF(run);
    return res;
}

/* Filled from the original: the replacement looks like it. */
static PyMethodDef joinable_def;

int pythread_hook_version(void *start, pythread_wrap wrap)
{
    (void)start; /* threading no longer starts threads through it */
    wrap_fn = wrap;
    PyObject *joinable =
        pyapi_builtin_like("_thread", "start_joinable_thread", &joinable_def,
                           (void *)(void (*)(void))start_joinable_thread, METH_FASTCALL | METH_KEYWORDS);
    if (!joinable)
        return -1;
    int rc = pyapi_replace_attr("_thread", "start_joinable_thread", joinable,
                                (void **)&orig_joinable) < 0 ||
                     pyapi_replace_loaded_attr("threading", "_start_joinable_thread", joinable) < 0
                 ? -1
                 : 0;
    Py_DECREF(joinable);
    return rc;
}
