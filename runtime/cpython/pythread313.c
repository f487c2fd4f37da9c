/*
 * pythread.h for CPython 3.13: threading starts its threads through
 * _thread.start_joinable_thread(function, handle=None, daemon=True), bound
 * as threading._start_joinable_thread when threading is imported, and
 * _thread.start_new_thread(function, args[, kwargs]) is still there for
 * code that starts threads itself. Both are replaced; the replacement of
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
static PyObject *orig_start, *orig_joinable; /* the originals, strong references, set once */

/* _thread.start_new_thread's replacement: same checks, same messages. */
static PyObject *start_new_thread(PyObject *self, PyObject *fargs)
{
    PyObject *func, *args, *kwargs = NULL;
    if (!PyArg_UnpackTuple(fargs, "start_new_thread", 2, 3, &func, &args, &kwargs))
        return NULL;
    if (!PyCallable_Check(func)) {
        PyErr_SetString(PyExc_TypeError, "first arg must be callable");
        return NULL;
    }
    if (!PyTuple_Check(args)) {
        PyErr_SetString(PyExc_TypeError, "2nd arg must be a tuple");
        return NULL;
    }
    if (kwargs != NULL && !PyDict_Check(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "optional 3rd arg must be a dictionary");
        return NULL;
    }
    PyObject *run = wrap_fn(func, args, kwargs);
    if (!run)
        return NULL;
    PyObject *res = PyObject_CallFunction(orig_start, "O()", run);
    Py_DECREF(run);
    return res;
}

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

static PyMethodDef start_def = {
    "start_new_thread", start_new_thread, METH_VARARGS,
    "start_new_thread(function, args[, kwargs])\n--\n\n"
    "Start a new thread (traced by pyscope) and return its identifier."};

static PyMethodDef joinable_def = {
    "start_joinable_thread", (PyCFunction)(void (*)(void))start_joinable_thread,
    METH_FASTCALL | METH_KEYWORDS,
    "start_joinable_thread($module, /, function, handle=None, daemon=True)\n--\n\n"
    "Start a new thread (traced by pyscope) and return its handle."};

int pythread_hook(void *self, pythread_wrap wrap)
{
    wrap_fn = wrap;
    PyObject *fn = PyCFunction_NewEx(&start_def, (PyObject *)self, NULL);
    PyObject *joinable = PyCFunction_NewEx(&joinable_def, (PyObject *)self, NULL);
    int rc = -1;
    if (!fn || !joinable)
        goto out;
    if (pyapi_replace_attr("_thread", "start_new_thread", fn, (void **)&orig_start) < 0 ||
        pyapi_replace_attr("_thread", "start_new", fn, NULL) < 0 ||
        pyapi_replace_attr("_thread", "start_joinable_thread", joinable,
                           (void **)&orig_joinable) < 0)
        goto out;
    PyObject *threading_name = PyUnicode_FromString("threading");
    PyObject *threading = threading_name ? PyImport_GetModule(threading_name) : NULL;
    Py_XDECREF(threading_name);
    if (threading) {
        /* threading keeps its own reference, taken when it was imported. */
        int err = PyObject_HasAttrString(threading, "_start_joinable_thread")
                      ? PyObject_SetAttrString(threading, "_start_joinable_thread", joinable)
                      : 0;
        Py_DECREF(threading);
        if (err < 0)
            goto out;
    }
    rc = 0;
out:
    Py_XDECREF(fn);
    Py_XDECREF(joinable);
    return rc;
}
